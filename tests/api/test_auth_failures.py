"""Refused credentials are counted (metric per kind and reason), logged (by public key prefix and client
address) and audited per minute in aggregate; a flood of distinct bad keys cannot flood the audit chain
or memory, and the secret part of a key or the token itself shows up nowhere."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import structlog
from sqlalchemy import update

from neo_service_layer.api.auth_failures import (
    AUDIT_ACTION,
    OTHER,
    WINDOW_SECONDS,
    AuthFailure,
    AuthFailureMonitor,
)
from neo_service_layer.api.metrics import ApiMetrics
from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import ApiKey, AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.api_keys import split_key
from neo_service_layer.services.accounts.tokens import ALGORITHM
from neo_service_layer.services.audit.chain import verify
from neo_service_layer.services.audit.writer import AuditWriter
from tests.api.conftest import AppFactory
from tests.api.helpers import audit_entries, auth, bearer, create_key, new_secret, samples
from tests.api.test_auth import claims_of, issue_token, signing_key
from tests.conftest import Tenant

# The secret part of every credential a test presents: it must appear in no log, metric or audit entry.
MARKER = "S3CRETxPARTx" + secrets.token_hex(8)
CLIENT = "127.0.0.1"  # httpx's ASGI transport reports this peer


@dataclass(frozen=True)
class Expected:
    credential: str
    reason: str
    subject: str


@dataclass(frozen=True)
class Ctx:
    client: httpx.AsyncClient
    state: AppState
    tenant: Tenant
    settings: Settings
    admin_key: str


Presented = tuple[dict[str, str], Expected]
Presenter = Callable[[Ctx], Awaitable[Presented]]


async def unknown_key(_: Ctx) -> Presented:
    return auth(f"nsl_0123abcd_{MARKER}"), Expected("api_key", "unknown", "nsl_0123abcd")


async def wrong_secret(ctx: Ctx) -> Presented:
    prefix = split_key(ctx.tenant.owner_key)
    return auth(f"{prefix}_{MARKER}"), Expected("api_key", "unknown", prefix)


async def malformed_key(_: Ctx) -> Presented:
    return auth(f"nsl_{MARKER}"), Expected("api_key", "malformed", "api_key")


async def revoked_key(ctx: Ctx) -> Presented:
    created = (await create_key(ctx.client, ctx.tenant.owner_key)).json()
    revoked = await ctx.client.post(f"/v1/api-keys/{created['id']}/revoke", headers=ctx.tenant.headers)
    assert revoked.status_code == 200
    return auth(created["secret"]), Expected("api_key", "revoked", created["prefix"])


async def expired_key(ctx: Ctx) -> Presented:
    created = (
        await create_key(ctx.client, ctx.tenant.owner_key, expires_at=utcnow() + timedelta(hours=1))
    ).json()
    async with ctx.state.db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    return bearer(created["secret"]), Expected("api_key", "expired", created["prefix"])


async def disabled_account(ctx: Ctx) -> Presented:
    secret = await new_secret(ctx.client, ctx.tenant.owner_key)
    disabled = await ctx.client.patch(
        f"/v1/admin/accounts/{ctx.tenant.account_id}", json={"disabled": True}, headers=auth(ctx.admin_key)
    )
    assert disabled.status_code == 200
    return auth(secret), Expected("api_key", "account_disabled", split_key(secret))


async def garbage_jwt(_: Ctx) -> Presented:
    token = jwt.encode({"sub": MARKER}, "not-our-key-" + MARKER, algorithm="HS256", headers={"kid": "kid-1"})
    return bearer(token), Expected("jwt", "invalid", "jwt:kid-1")


async def jwt_with_hostile_kid(_: Ctx) -> Presented:
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "evil\nline " + MARKER})
    return bearer(token), Expected("jwt", "invalid", "jwt")


async def expired_jwt(ctx: Ctx) -> Presented:
    token = await issue_token(ctx.client, ctx.tenant.headers)
    claims = claims_of(token)
    now = utcnow()
    claims.update(
        iat=now - timedelta(minutes=10), nbf=now - timedelta(minutes=10), exp=now - timedelta(seconds=1)
    )
    kid = jwt.get_unverified_header(token)["kid"]
    expired = jwt.encode(claims, signing_key(ctx.settings), algorithm=ALGORITHM, headers={"kid": kid})
    return bearer(expired), Expected("jwt", "expired", f"jwt:{kid}")


async def jwt_of_revoked_key(ctx: Ctx) -> Presented:
    token = await issue_token(ctx.client, auth(await new_secret(ctx.client, ctx.tenant.owner_key)))
    revoked = await ctx.client.post(
        f"/v1/api-keys/{claims_of(token)['nsl_cred']}/revoke", headers=ctx.tenant.headers
    )
    assert revoked.status_code == 200
    return bearer(token), Expected("jwt", "revoked", f"jwt:{jwt.get_unverified_header(token)['kid']}")


async def no_credential(_: Ctx) -> Presented:
    return {}, Expected("none", "missing", "none")


CASES = [
    pytest.param(unknown_key, id="unknown-key"),
    pytest.param(wrong_secret, id="real-prefix-wrong-secret"),
    pytest.param(malformed_key, id="malformed-key"),
    pytest.param(revoked_key, id="revoked-key"),
    pytest.param(expired_key, id="expired-key-as-bearer"),
    pytest.param(disabled_account, id="disabled-account"),
    pytest.param(garbage_jwt, id="jwt-bad-signature"),
    pytest.param(jwt_with_hostile_kid, id="jwt-hostile-kid"),
    pytest.param(expired_jwt, id="jwt-expired"),
    pytest.param(jwt_of_revoked_key, id="jwt-of-revoked-key"),
    pytest.param(no_credential, id="no-credential"),
]


def failure_counts(metrics_text: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["credential"], s.labels["reason"]): s.value
        for s in samples(metrics_text, "nsl_auth_failures_total")
    }


async def auth_failure_entries(db: Database) -> list[AuditEntry]:
    return [entry for entry in await audit_entries(db) if entry.action == AUDIT_ACTION]


@pytest.mark.parametrize("present", CASES)
async def test_a_refused_credential_is_counted_logged_and_audited_without_its_secret(
    client: httpx.AsyncClient,
    state: AppState,
    tenant: Tenant,
    settings: Settings,
    admin_key: str,
    present: Presenter,
) -> None:
    headers, expected = await present(Ctx(client, state, tenant, settings, admin_key))
    before = failure_counts((await client.get("/metrics")).text)
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/v1/account", headers=headers)
    assert response.status_code == 401
    metrics_text = (await client.get("/metrics")).text
    after = failure_counts(metrics_text)
    key = (expected.credential, expected.reason)
    assert after[key] == before.get(key, 0) + 1
    assert sum(after.values()) == sum(before.values()) + 1

    [logged] = [entry for entry in logs if entry["event"] == "auth_failed"]
    assert {k: logged[k] for k in ("credential", "reason", "subject", "client")} == {
        "credential": expected.credential,
        "reason": expected.reason,
        "subject": expected.subject,
        "client": CLIENT,
    }

    assert await state.auth_failures.flush(everything=True) >= 1
    entries = await auth_failure_entries(state.db)
    mine = [
        e
        for e in entries
        if e.resource == expected.subject and e.details["credential"] == expected.credential
    ]
    assert len(mine) == 1
    assert mine[0].details["reasons"] == {expected.reason: 1}
    assert mine[0].details["client"] == CLIENT
    assert (mine[0].outcome, mine[0].status_code, mine[0].account_id) == ("denied", 401, None)

    everything = json.dumps(logs, default=str) + metrics_text
    everything += json.dumps([[e.actor, e.resource, e.request_id, e.details] for e in entries])
    assert MARKER not in everything
    for value in headers.values():  # nor the whole presented credential
        assert value.split(" ")[-1] not in everything


async def test_a_flood_of_distinct_bad_keys_is_bounded_in_the_audit_log_and_counted_exactly(
    app_factory: AppFactory,
) -> None:
    cap, flood, repeated = 20, 300, 5
    running = await app_factory(auth_failure_audit_max_keys=cap)
    client, state = running.client, running.state
    # One prefix several times first: it is one key of the window, whose count is exact.
    for _ in range(repeated):
        assert (await client.get("/v1/account", headers=auth(f"nsl_aaaa0000_{MARKER}"))).status_code == 401
    for n in range(flood):
        response = await client.get("/v1/account", headers=auth(f"nsl_{n:012x}_{MARKER}"))
        assert response.status_code == 401
    assert state.auth_failures.pending <= cap + 1  # memory: the window never holds more keys

    written = await state.auth_failures.flush(everything=True)
    entries = await auth_failure_entries(state.db)
    # The flood may straddle a minute boundary: then each window has up to cap + 1 entries.
    windows = {entry.details["window_start"] for entry in entries}
    assert written == len(entries) <= len(windows) * (cap + 1)
    assert sum(entry.details["count"] for entry in entries) == flood + repeated
    assert {entry.details["count"] for entry in entries if entry.resource == "nsl_aaaa0000"} == {repeated}
    assert any(entry.resource == OTHER for entry in entries)
    metric = failure_counts((await client.get("/metrics")).text)
    assert metric == {("api_key", "unknown"): flood + repeated}

    assert await state.auth_failures.flush(everything=True) == 0  # each window is written once
    async with state.db.session() as session:
        assert (await verify(session)).ok


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_each_minute_is_flushed_once_after_it_ends(db: Database) -> None:
    writer = AuditWriter(db)
    await writer.start()
    clock = FakeClock(1_800_000_000.0)  # a minute boundary
    monitor = AuthFailureMonitor(ApiMetrics().auth_failures, writer, max_keys=10, clock=clock)
    first = AuthFailure("api_key", "unknown", "nsl_abc", "10.0.0.1")
    try:
        monitor.record(first)
        monitor.record(first)
        monitor.record(AuthFailure("api_key", "revoked", "nsl_abc", "10.0.0.1"))
        clock.now += WINDOW_SECONDS - 1
        assert await monitor.flush() == 0  # the minute has not ended
        clock.now += 1
        monitor.record(first)  # the next minute
        assert await monitor.flush() == 1
        assert await monitor.flush() == 0
        clock.now += WINDOW_SECONDS
        assert await monitor.flush() == 1
    finally:
        await writer.stop()
    entries = await auth_failure_entries(db)
    assert [(e.resource, e.details["count"], e.details["reasons"]) for e in entries] == [
        ("nsl_abc", 3, {"revoked": 1, "unknown": 2}),
        ("nsl_abc", 1, {"unknown": 1}),
    ]
    starts = [datetime.fromisoformat(e.details["window_start"]) for e in entries]
    assert starts == [datetime.fromtimestamp(1_800_000_000, UTC), datetime.fromtimestamp(1_800_000_060, UTC)]


async def test_stop_writes_the_current_minute(db: Database) -> None:
    writer = AuditWriter(db)
    await writer.start()
    monitor = AuthFailureMonitor(ApiMetrics().auth_failures, writer, max_keys=10)
    await monitor.start()
    monitor.record(AuthFailure("jwt", "invalid", "jwt", "10.0.0.2"))
    await monitor.stop()
    await monitor.stop()  # idempotent
    await writer.stop()
    [entry] = await auth_failure_entries(db)
    assert (entry.resource, entry.details["client"], entry.details["count"]) == ("jwt", "10.0.0.2", 1)
