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

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    key_id = params.key_id or await default_key_id(session, enclave, account_id, params.scheme)
    key_use = await operations.use(session, key_id, Operation.VRF, None)
    if key_use.key_type is not params.scheme.key_type:
        raise RandomnessKeySchemeMismatch(
            f"key {key_id} is {key_use.key_type.value}; {params.scheme.value} needs a "
            f"{params.scheme.key_type.value} key",
            key_id=key_id,
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


async def generate(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    params: RandomnessParams,
    *,
    batch_id: str | None = None,
) -> RandomnessRequest:
    """Prove one request in the enclave and record it (flushed in the caller's transaction)."""
    key_use = await _key_use(session, enclave, account_id, params)
    request_id = new_id(IdPrefix.RANDOMNESS_REQUEST)
    signed = await _prove(enclave, key_use, params.scheme, request_id, params.seed, params.spec)
    result = signed.result
    record = RandomnessRequest(
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
    )
    session.add(record)
    await session.flush()
    return record


async def generate_batch(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, items: Sequence[RandomnessParams]
) -> tuple[str, list[RandomnessRequest]]:
    """Prove every item (one enclave round trip each) under one batch id; all or nothing.

    The caller's transaction holds every record: one failure rolls the whole batch back.
    """
    if not 1 <= len(items) <= MAX_BATCH:
        raise RandomnessBatchSize(f"a batch holds 1..{MAX_BATCH} requests, got {len(items)}")
    batch_id = new_id(IdPrefix.RANDOMNESS_BATCH)
    records = [await generate(session, enclave, account_id, item, batch_id=batch_id) for item in items]
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
