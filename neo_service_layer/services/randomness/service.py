"""The randomness service: prove VRF outputs in the enclave and record them before anyone sees them.

A request resolves its key (the caller's ``key_id``, or the account's default key for the scheme,
created on first use through the keys service), asks the enclave for ``randomness.prove`` under a new
request id, and stores the whole result — seed, enclave nonce, output spec, proof, β, output and the
enclave's signed envelope — in the request's transaction, so the response exists only once the record
does. The enclave derives the nonce from the request (account, request id, scheme, key version), so a
request id has exactly one output: reads return the record, and :func:`reprove` (re-checking a record)
gets the same nonce and output again. Sessions are tenant-scoped: another account's request or key is a 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Select, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import TENANT_KEY, WROTE_KEY, CrossTenantWrite
from neo_service_layer.enclave.client import EnclaveClient, Signed
from neo_service_layer.enclave.crypto.randomness import OutputSpec
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.enclave.opdefs.randomness import PROVE, ProveArgs, ProveResult
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.keys import operations
from neo_service_layer.services.keys import service as keys_service
from neo_service_layer.services.keys.errors import KeyNameTaken
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.operations import KeyUse
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.randomness.errors import (
    RandomnessBatchSize,
    RandomnessKeySchemeMismatch,
    RandomnessNotFound,
)
from neo_service_layer.services.randomness.models import RandomnessRequest
from neo_service_layer.services.randomness.params import RandomnessParams

MAX_BATCH: Final = 100
DEFAULT_KEY_PREFIX: Final = "randomness-"


def default_key_name(scheme: Scheme) -> str:
    """The name of the account's default key for ``scheme``: ``randomness-<scheme>``."""
    return f"{DEFAULT_KEY_PREFIX}{scheme.value}"


async def _key_id_named(session: AsyncSession, name: str) -> str | None:
    return (await session.execute(select(Key.id).where(Key.name == name))).scalar_one_or_none()


async def default_key_id(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, scheme: Scheme
) -> str:
    """The id of the account's default key for ``scheme``, created on first use (race-safe).

    It is a normal key of the keys service (the user sees, rotates, disables it), allowed only ``vrf``.
    Two concurrent first requests both try to create it; the loser's insert fails on the unique
    ``(account_id, name)`` constraint inside the keys service's savepoint (``KeyNameTaken``), and it
    reads the winner's key instead: one key either way.
    """
    name = default_key_name(scheme)
    existing = await _key_id_named(session, name)
    if existing is not None:
        return existing
    try:
        key, _ = await keys_service.create_key(
            session, enclave, account_id, name=name, key_type=scheme.key_type, allowed=[Operation.VRF]
        )
    except KeyNameTaken:
        winner = await _key_id_named(session, name)
        if winner is None:  # pragma: no cover - the constraint fired, so the row exists
            raise
        return winner
    return key.id


async def _key_use(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, params: RandomnessParams
) -> KeyUse:
    if params.key_id is not None:
        key_use = await operations.use(session, params.key_id, Operation.VRF, None)
    else:
        # The default key in one statement; on its first use (or if it was deleted) the slow path
        # creates it (or finds it) and says why it cannot be used.
        name = default_key_name(params.scheme)
        found = await operations.use_named(session, account_id, name, Operation.VRF)
        key_use = found or await operations.use(
            session, await default_key_id(session, enclave, account_id, params.scheme), Operation.VRF, None
        )
    if key_use.key_type is not params.scheme.key_type:
        raise RandomnessKeySchemeMismatch(
            f"key {key_use.key.id} is {key_use.key_type.value}; {params.scheme.value} needs a "
            f"{params.scheme.key_type.value} key",
            key_id=key_use.key.id,
        )
    return key_use


def _bound(value: int | None) -> str | None:
    return None if value is None else str(value)


async def _prove(
    enclave: EnclaveClient,
    key_use: KeyUse,
    scheme: Scheme,
    request_id: str,
    seed: bytes,
    spec: OutputSpec,
) -> Signed[ProveResult]:
    args = ProveArgs(
        **key_use.args(),
        scheme=scheme,
        request_id=request_id,
        seed=seed,
        output=spec.kind,
        count=spec.count,
        min=_bound(spec.minimum),
        max=_bound(spec.maximum),
    )
    signed = await enclave.run(PROVE, args)
    if signed.result.public_key != key_use.version.public_key:
        # The enclave proved with material whose public key is not the version's: refuse to record it.
        raise EnclaveRejected("the enclave's VRF public key does not match the key version")
    return signed


def output_json(result: ProveResult) -> dict[str, Any]:
    """The stored and returned output: ``{"words": [decimal, ...]}`` or ``{"bytes": hex}``."""
    if result.data is not None:
        return {"bytes": result.data.hex()}
    return {"words": list(result.words or [])}


_COLUMNS: Final = tuple((attr.key, attr.columns[0].key) for attr in inspect(RandomnessRequest).column_attrs)
_INSERT: Final = insert(RandomnessRequest.metadata.tables[RandomnessRequest.__tablename__])


async def _insert(session: AsyncSession, account_id: str, records: Sequence[RandomnessRequest]) -> None:
    """Store ``records`` in the session's transaction: one Core INSERT, no flush and no read back.

    Core skips the session's tenant check on flush (``db.session``): it is made here. The records stay
    out of the session (built whole in Python, ``created_at`` included: nothing to read back).
    """
    tenant = session.info.get(TENANT_KEY)
    if tenant is not None and tenant != account_id:
        raise CrossTenantWrite(f"randomness requests of {account_id} in a session of {tenant}")
    rows = [{column: getattr(record, attr) for attr, column in _COLUMNS} for record in records]
    connection = await session.connection()
    await connection.execute(_INSERT, rows)
    # What db.session.wrote reads (a Core statement fires no ORM event).
    session.info[WROTE_KEY] = True


async def _prove_record(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    params: RandomnessParams,
    batch_id: str | None,
) -> RandomnessRequest:
    """Prove one request in the enclave; its record, not yet stored."""
    key_use = await _key_use(session, enclave, account_id, params)
    request_id = new_id(IdPrefix.RANDOMNESS_REQUEST)
    signed = await _prove(enclave, key_use, params.scheme, request_id, params.seed, params.spec)
    result = signed.result
    return RandomnessRequest(
        id=request_id,
        account_id=account_id,
        key_id=key_use.key.id,
        key_version=key_use.version.version,
        scheme=params.scheme,
        public_key=result.public_key,
        seed=params.seed,
        nonce=result.nonce,
        output_kind=params.spec.kind,
        output_count=params.spec.count,
        range_min=_bound(params.spec.minimum),
        range_max=_bound(params.spec.maximum),
        alpha=result.alpha,
        proof=result.proof,
        beta=result.beta,
        output=output_json(result),
        envelope=signed.envelope.model_dump(mode="json"),
        batch_id=batch_id,
        created_at=utcnow(),
    )


async def generate(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, params: RandomnessParams
) -> RandomnessRequest:
    """Prove one request in the enclave and record it (in the caller's transaction)."""
    record = await _prove_record(session, enclave, account_id, params, None)
    await _insert(session, account_id, [record])
    return record


async def generate_batch(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, items: Sequence[RandomnessParams]
) -> tuple[str, list[RandomnessRequest]]:
    """Prove every item (one enclave round trip each) under one batch id; all or nothing.

    The records are stored together once every item is proved, in the caller's transaction: one
    failure records none of them.
    """
    if not 1 <= len(items) <= MAX_BATCH:
        raise RandomnessBatchSize(f"a batch holds 1..{MAX_BATCH} requests, got {len(items)}")
    batch_id = new_id(IdPrefix.RANDOMNESS_BATCH)
    records = [await _prove_record(session, enclave, account_id, item, batch_id) for item in items]
    await _insert(session, account_id, records)
    return batch_id, records


async def get_request(session: AsyncSession, request_id: str) -> RandomnessRequest:
    """The stored request ``request_id`` of the session's account; RandomnessNotFound otherwise."""
    statement = select(RandomnessRequest).where(RandomnessRequest.id == request_id)
    record = (await session.execute(statement)).scalar_one_or_none()
    if record is None:
        raise RandomnessNotFound(f"no randomness request {request_id}", request_id=request_id)
    return record


def list_statement() -> Select[RandomnessRequest]:
    """The account's requests (the session adds the account filter)."""
    return select(RandomnessRequest)


def spec_of(record: RandomnessRequest) -> OutputSpec:
    """The output spec a record was made with."""
    return OutputSpec(
        record.output_kind,
        record.output_count,
        None if record.range_min is None else int(record.range_min),
        None if record.range_max is None else int(record.range_max),
    )


async def reprove(
    session: AsyncSession, enclave: EnclaveClient, record: RandomnessRequest
) -> Signed[ProveResult]:
    """Prove a recorded request again with its recorded key version (same nonce, same output).

    For audits: the enclave derives the nonce from the request, so a request id can never be re-rolled.
    """
    key_use = await operations.use(session, record.key_id, Operation.VRF, record.key_version)
    return await _prove(enclave, key_use, record.scheme, record.id, record.seed, spec_of(record))
