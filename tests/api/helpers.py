"""Small helpers shared by the API tests: creating keys, reading problems, counting rows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import func, select

from neo_service_layer.config import RateLimitSettings
from neo_service_layer.db.models import Account, ApiKey, AuditEntry, IdempotencyRecord, Member
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap

PROBLEM_JSON = "application/problem+json"
# Tables a failed request must leave untouched (the audit log gets its "denied" entry instead).
RESOURCE_MODELS: dict[str, type[Any]] = {
    "accounts": Account,
    "members": Member,
    "api_keys": ApiKey,
    "idempotency_records": IdempotencyRecord,
}


def dependency_calls(dependant: Dependant) -> Iterator[object]:
    """Every callable a route depends on, its own endpoint first (``route.dependant``)."""
    yield dependant.call
    for sub in dependant.dependencies:
        yield from dependency_calls(sub)


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_key(
    client: httpx.AsyncClient,
    key: str,
    *,
    name: str = "key",
    role: str = "developer",
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /v1/api-keys as ``key``; the raw response (callers assert the status)."""
    body: dict[str, Any] = {"name": name, "role": role}
    if scopes is not None:
        body["scopes"] = scopes
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    return await client.post("/v1/api-keys", json=body, headers={**auth(key), **(headers or {})})


async def new_secret(client: httpx.AsyncClient, key: str, **kwargs: Any) -> str:
    """Create a key as ``key`` and return its one-time secret."""
    response = await create_key(client, key, **kwargs)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` and ``code``: the media type, the members RFC 9457
    defines (``instance``, when present, is the request's path) and ours; return its body.

    The one way the tests check an error response."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"urn:nsl:error:{code}"
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body.get("instance", response.request.url.path) == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per resource table (not the audit log)."""
    async with db.session() as session:
        return {
            name: int((await session.execute(select(func.count()).select_from(model))).scalar_one())
            for name, model in RESOURCE_MODELS.items()
        }


async def audit_entries(db: Database, account_id: str | None = None) -> list[AuditEntry]:
    """The audit log in order, optionally only one account's entries."""
    async with db.session() as session:
        statement = select(AuditEntry).order_by(AuditEntry.seq)
        if account_id is not None:
            statement = statement.where(AuditEntry.account_id == account_id)
        return list((await session.execute(statement)).scalars().all())


#: Rate limits out of the way of tests making many calls per key (``rate_limits=NO_RATE_LIMITS``).
NO_RATE_LIMITS = RateLimitSettings(
    key_per_second=100_000, key_burst=100_000, account_per_second=100_000, account_burst=100_000
)


def bootstrap_admin_key(url: str) -> str:
    """The system account's admin key, issued on the fresh, migrated database at ``url`` (for a
    module-scoped server or app, outside any test's event loop)."""

    async def issue() -> str:
        db = Database(url)
        try:
            async with db.transaction() as session:
                issued = await bootstrap(session)
        finally:
            await db.dispose()
        assert issued is not None, "the database was not fresh"
        return issued.plaintext

    return asyncio.run(issue())


def samples(text: str, name: str) -> list[Sample]:
    """The samples called ``name`` in a Prometheus text exposition."""
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
