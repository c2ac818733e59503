"""The oracle service: send a checked request to the enclave, record its signed answer, serve records.

A request never holds a database transaction across the network: the secrets its placeholders name
are looked up in a short read session of their own (:func:`granted_secrets`, before the fetch), and the
answer is written in the request's unit of work after it (with its audit entry). On SQLite a write
transaction holds the one write lock, so a 5-second fetch inside one would stall every writer. (A
request with an Idempotency-Key has begun its transaction before the route runs: the grants are then
read in it — ``Database.reading_beside`` — as a second session would wait for its connection forever.)

The host checks what it records: the envelope's ``request_hash`` must be the hash of the request it
sent (``canonical.request_hash``) and the answer's request id the one it chose — an enclave answer to
another request is refused, not recorded.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.canonical import request_hash
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.oracle import FETCH, Extract, FetchArgs, GrantedSecret, Source
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.oracle.errors import OracleRequestNotFound, OracleSecretNotGranted
from neo_service_layer.services.oracle.models import OracleRequest
from neo_service_layer.services.oracle.params import OracleParams
from neo_service_layer.services.secrets.grants import granted_records
from neo_service_layer.services.secrets.models import GranteeKind


async def granted_secrets(
    db: Database, account_id: str, params: OracleParams, current: AsyncSession | None = None
) -> list[GrantedSecret]:
    """The stored records of the secrets the request's placeholders name, each granted to its host.

    In a read session of its own, closed before the fetch (module docstring). A name without a grant
    to its source's host is :class:`OracleSecretNotGranted`: nothing is sent, nothing recorded.
    """
    wanted = {(source.host, name) for source in params.sources for name in source.secret_names}
    if not wanted:
        return []
    found: list[GrantedSecret] = []
    async with db.reading_beside(current, account_id) as session:
        for host in sorted({host for host, _ in wanted}):
            records = await granted_records(session, account_id, GranteeKind.ORACLE, host)
            found += [GrantedSecret(host=host, stored=r) for r in records if (host, r.name) in wanted]
    missing = wanted - {(granted.host, granted.stored.name) for granted in found}
    if missing:
        host, name = sorted(missing)[0]
        raise OracleSecretNotGranted(
            f"secret {name} is not granted to oracle requests for {host} "
            f"(POST /v1/secrets/{name}/grants with grantee_kind oracle and grantee {host})",
            secret=name,
            host=host,
        )
    unsealed_for = sorted((g.host, g.stored.name) for g in found if g.host not in g.stored.allowed_hosts)
    if unsealed_for:
        host, name = unsealed_for[0]
        raise OracleSecretNotGranted(
            f"secret {name} is granted to {host} but its current version was not sealed with that host: "
            f"write it again with allowed_hosts including {host} (client.secrets.seal_secret_value)",
            secret=name,
            host=host,
        )
    return found


def fetch_args(
    account_id: str, request_id: str, params: OracleParams, secrets: Sequence[GrantedSecret]
) -> FetchArgs:
    """The enclave op's args for ``params``."""
    return FetchArgs(
        account_id=account_id,
        request_id=request_id,
        sources=[Source(url=s.url, method=s.method, headers=s.headers, body=s.body) for s in params.sources],
        filter=params.filter,
        filter_syntax=params.filter_syntax,
        extract=None
        if params.extract is None
        else Extract(type=params.extract.type, decimals=params.extract.decimals),
        aggregate=params.aggregate,
        quorum=params.quorum,
        max_spread=params.max_spread,
        max_response_bytes=params.max_response_bytes,
        timeout_ms=params.timeout_ms,
        secrets=list(secrets),
    )


async def request(
    session: AsyncSession,
    db: Database,
    enclave: EnclaveClient,
    account_id: str,
    params: OracleParams,
) -> OracleRequest:
    """Run ``params`` in the enclave and record the signed answer (in the caller's transaction)."""
    secrets = await granted_secrets(db, account_id, params, session)
    args = fetch_args(account_id, new_id(IdPrefix.ORACLE_REQUEST), params, secrets)
    signed = await enclave.run(FETCH, args)
    result, sent = signed.result, request_hash(FETCH.name, account_id, args.params()).hex()
    if result.request_id != args.request_id or signed.envelope.request_hash != sent:
        raise EnclaveRejected("the enclave's oracle answer is not for the request it was sent")
    record = OracleRequest(
        id=args.request_id,
        account_id=account_id,
        request=args.params(),
        request_hash=sent,
        code=result.code,
        result=result.result,
        abi=result.abi,
        detail=result.detail[:500],
        sources=[report.model_dump(mode="json") for report in result.sources],
        envelope=signed.envelope.model_dump(mode="json"),
        fetched_at=datetime.fromtimestamp(result.fetched_at / 1000, UTC),
        created_at=utcnow(),
    )
    session.add(record)
    await session.flush()
    return record


async def get_request(session: AsyncSession, request_id: str) -> OracleRequest:
    """The stored request ``request_id`` of the session's account; OracleRequestNotFound otherwise."""
    record = (
        await session.execute(select(OracleRequest).where(OracleRequest.id == request_id))
    ).scalar_one_or_none()
    if record is None:
        raise OracleRequestNotFound(f"no oracle request {request_id}", request_id=request_id)
    return record


def list_statement() -> Select[OracleRequest]:
    """The account's requests (the session adds the account filter)."""
    return select(OracleRequest)


def source_result_text(report: dict[str, Any]) -> str | None:
    """A stored source report's filtered result as JSON text (None when it has none)."""
    raw = base64.b64decode(report.get("result") or "")
    return raw.decode() if raw else None
