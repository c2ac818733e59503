"""Functions called from contracts, host side (docs/functions.md "Calls from contracts — host side").

A contract asks a gateway for the ``functions`` service; the fulfiller runs the hosted adapter of
``chains/onchain.py`` ``FUNCTIONS``, whose :class:`~neo_service_layer.chains.onchain.HostStep` is
:class:`EvmFunctionsHost` / :class:`N3FunctionsHost`. The enclave decides every answer
(``chains.*_function_fulfilment``: consumer allow-list, pinned source hash, args); the host only hands
it what it needs and keeps the run's record:

1. **before the op** (:func:`prepare_chain_run`): the function the payload names, found by id in any
   account — the platform's view: the owner consents through ``onchain_consumers``, which the enclave
   checks —, a deleted one being none; the version whose ``source_sha256`` is the payload's pin, else
   the current one (a host lying here gets ``SourceMismatch``, nothing run); the stored records of its
   granted secrets, as a REST run gets them (``runner.granted_secrets``); the ``args_schema`` check
   (``args_valid``). Then the run row — ``running``, trigger ``chain``, ``chain_request`` the
   request's key — is written with a run id chosen once: a retry (an enclave that died, a worker that
   died before the answer was recorded on the fulfilment row) finds the row and reuses its id, so a
   request has one run row however often it is tried;
2. **after the op** (:func:`record_chain_run`): the run's outcome on the row, as a REST run's
   (``runner.outcome_values``; no envelope: the proof is the gateway signature over the result, which
   carries the hash of the code that ran). When the enclave ran nothing (``FunctionNotFound``,
   ``ConsumerNotAllowed``, ``SourceMismatch``, ``ArgsInvalid``, ``PayloadInvalid``) the row is removed:
   rows are for runs that ran; the code stays in the chain fulfilment's recorded result.

The fulfiller keeps the first recorded answer and re-sends it (``chains.fulfilments``), so once an
answer is recorded the function never runs again for that request.

A function whose secrets are not all granted cannot run: the host hands the enclave no function and
the contract gets ``FunctionNotFound`` (a REST run is refused ``function_secret_not_granted``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from neo_service_layer.chains.onchain import EvmRequestContext, N3RequestContext
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.functions.onchain import (
    FunctionCall,
    PayloadError,
    decode_evm_payload,
    decode_n3_payload,
)
from neo_service_layer.enclave.opdefs.functions import Limits, RunOutcome
from neo_service_layer.enclave.opdefs.functions_chains import (
    ChainFunction,
    EvmFunctionFulfilmentArgs,
    EvmFunctionFulfilmentResult,
    N3FunctionFulfilmentArgs,
    N3FunctionFulfilmentResult,
)
from neo_service_layer.errors import EnclaveRejected, NSLError
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.functions.models import Function, FunctionRun, FunctionVersion
from neo_service_layer.services.functions.runner import granted_secrets, outcome_values, settle
from neo_service_layer.services.functions.service import RUNNING, check_args, new_run, source_sha256


@dataclass(frozen=True, slots=True)
class ChainCall:
    """One gateway request for ``functions`` as the host sees it."""

    #: The request's key (``function_runs.chain_request``): ``evm:<chain id>:<request id hex>`` or
    #: ``n3:<magic>:<gateway>:<request id>``.
    chain_request: str
    #: The payload decoded, or None when it is not a function call (the enclave answers PayloadInvalid).
    call: FunctionCall | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the op is sent besides the request: the run id and the function (None: not found)."""

    run_id: str
    function: ChainFunction | None


async def _find(db: Database, call: FunctionCall) -> tuple[Function, FunctionVersion] | None:
    """The live function ``call`` names (any account) and the version to run, or None."""
    async with db.session(for_read=True) as session:
        function = (
            await session.execute(
                select(Function).where(Function.id == call.function_id, Function.deleted_at.is_(None))
            )
        ).scalar_one_or_none()
        if function is None:
            return None
        versions = select(FunctionVersion).where(FunctionVersion.function_id == function.id)
        pinned = None
        if call.source_sha256 is not None:
            wanted = versions.where(FunctionVersion.source_sha256 == call.source_sha256.hex())
            pinned = (await session.execute(wanted.limit(1))).scalar_one_or_none()
        if pinned is not None:
            return function, pinned
        current = versions.where(FunctionVersion.version == function.version)
        return function, (await session.execute(current)).scalar_one()


def _args_valid(function: Function, call: FunctionCall) -> bool:
    if call.args_error is not None:
        return False  # the enclave answers ArgsInvalid whatever this says
    try:
        check_args(function, call.args)
    except NSLError:
        return False
    return True


async def _run_row(db: Database, function: Function, version: int, chain_call: ChainCall) -> str:
    """The id of the request's run row: the one recorded by an earlier try, else a new one (running)."""
    assert chain_call.call is not None
    by_request = select(FunctionRun).where(FunctionRun.chain_request == chain_call.chain_request)
    async with db.transaction(function.account_id) as session:
        found = (await session.execute(by_request)).scalar_one_or_none()
        if found is not None:
            # Tried before and never answered: the same run, of the version resolved now.
            found.version, found.status = version, RUNNING
            return found.id
        run = new_run(
            function, chain_call.call.args, "sync", version=version, chain_request=chain_call.chain_request
        )
        session.add(run)
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:
            # A racing fulfiller recorded the request's row between our read and our write: use it.
            return (await session.execute(by_request)).scalar_one().id
        return run.id


async def prepare_chain_run(db: Database, chain_call: ChainCall) -> Prepared:
    """Resolve the function ``chain_call`` names and record its run row (module docstring, step 1)."""
    call = chain_call.call
    found = None if call is None else await _find(db, call)
    if call is None or found is None:
        return Prepared(new_id(IdPrefix.FUNCTION_RUN), None)  # nothing will run: no row
    function, version = found
    try:
        secrets = await granted_secrets(db, function.account_id, function.id, list(function.secrets))
    except NSLError:
        return Prepared(new_id(IdPrefix.FUNCTION_RUN), None)  # not callable as deployed (docstring)
    chain_function = ChainFunction(
        account_id=function.account_id,
        function_id=function.id,
        version=version.version,
        source=version.source,
        limits=Limits(**function.limits),
        allowed_domains=function.allowed_domains,
        secrets=secrets,
        consumers=function.onchain_consumers,
        args_valid=_args_valid(function, call),
    )
    run_id = await _run_row(db, function, version.version, chain_call)
    return Prepared(run_id, chain_function)


async def record_chain_run(db: Database, prepared: Prepared, outcome: RunOutcome | None) -> None:
    """Write the enclave's ``outcome`` on the request's run row, or remove the row when nothing ran
    (module docstring, step 2). An outcome for another run, function, version or source is refused."""
    function = prepared.function
    if function is None:
        return
    if outcome is not None and (
        outcome.run_id != prepared.run_id
        or outcome.function_id != function.function_id
        or outcome.version != function.version
        or outcome.source_sha256 != source_sha256(function.source)
    ):
        raise EnclaveRejected("the enclave's function outcome is not for the run it was sent")
    async with db.transaction(function.account_id) as session:
        if outcome is None:
            await session.execute(delete(FunctionRun).where(FunctionRun.id == prepared.run_id))
            return
        run = (
            await session.execute(select(FunctionRun).where(FunctionRun.id == prepared.run_id))
        ).scalar_one()
        settle(run, outcome_values(outcome, None))


def _call(decode: Callable[[bytes], FunctionCall], payload: bytes) -> FunctionCall | None:
    try:
        return decode(payload)
    except PayloadError:
        return None


class _FunctionsHost[C, A: EvmFunctionFulfilmentArgs | N3FunctionFulfilmentArgs](ABC):
    """What both chain families' host steps share: prepare before the op, record after it; a family
    says how its request becomes a :class:`ChainCall` and the op's args."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @abstractmethod
    def _chain_call(self, context: C) -> ChainCall:
        """The request's key and its decoded payload."""

    @abstractmethod
    def _sent(self, context: C, prepared: Prepared) -> A:
        """The op's args for the request and what was prepared for it."""

    async def args(self, context: C) -> A:
        """The op's args: the request as the chain gives it, the run id and the resolved function."""
        return self._sent(context, await prepare_chain_run(self._db, self._chain_call(context)))

    async def answered(
        self, context: C, sent: A, answer: EvmFunctionFulfilmentResult | N3FunctionFulfilmentResult
    ) -> None:
        """Record the run the answer carries (or drop its row when nothing ran)."""
        await record_chain_run(self._db, Prepared(sent.run_id, sent.function), answer.run)


class EvmFunctionsHost(_FunctionsHost[EvmRequestContext, EvmFunctionFulfilmentArgs]):
    """The functions service's host step on EVM gateways (``chains/onchain.py`` HostStep)."""

    def _chain_call(self, context: EvmRequestContext) -> ChainCall:
        request = context.request
        key = f"evm:{context.chain_id}:{request.request_id.hex()}"
        return ChainCall(key, _call(decode_evm_payload, request.payload))

    def _sent(self, context: EvmRequestContext, prepared: Prepared) -> EvmFunctionFulfilmentArgs:
        return EvmFunctionFulfilmentArgs(
            chain_id=context.chain_id,
            gateway=context.gateway,
            request_id=context.request.request_id,
            payload=context.request.payload,
            consumer=context.request.requester,  # the contract that called the gateway
            run_id=prepared.run_id,
            function=prepared.function,
        )


class N3FunctionsHost(_FunctionsHost[N3RequestContext, N3FunctionFulfilmentArgs]):
    """The functions service's host step on Neo N3 gateways (``chains/onchain.py`` HostStep)."""

    def _chain_call(self, context: N3RequestContext) -> ChainCall:
        request = context.request
        key = f"n3:{context.network_magic}:{context.gateway}:{request.request_id}"
        return ChainCall(key, _call(decode_n3_payload, request.payload))

    def _sent(self, context: N3RequestContext, prepared: Prepared) -> N3FunctionFulfilmentArgs:
        return N3FunctionFulfilmentArgs(
            network_magic=context.network_magic,
            gateway=context.gateway,
            request_id=context.request.request_id,
            payload=context.request.payload,
            consumer=context.request.callback_contract,  # the gateway requires it to be the caller
            run_id=prepared.run_id,
            function=prepared.function,
        )
