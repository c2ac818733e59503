"""Function calls for the NSL gateways: run what a contract asked for and sign it for ``fulfill``.

``chains.evm_function_fulfilment`` and ``chains.n3_function_fulfilment`` (docs/functions.md "Calls from
contracts"). The checks, in this order, each answered with its code and nothing run:

1. the payload decodes (``functions/onchain.py``), else ``PayloadInvalid``;
2. the host resolved a function and it is the one the payload names, else ``FunctionNotFound``: a host
   that hands in another account's or another function gets nothing run;
3. the requesting contract's :func:`consumer_key` is in the function's ``consumers`` (its owner's
   allow-list), else ``ConsumerNotAllowed``;
4. when the payload pins a source hash, the source handed in has it, else ``SourceMismatch``: a host
   that substitutes code cannot get it run under the consumer's request;
5. the args are canonical JSON and passed the host's ``args_schema`` check, else ``ArgsInvalid``.

Then the run, through the same core as ``functions.run`` (``handlers/functions.py``
:func:`run_function`: secrets sealed for every domain, the safe fetcher behind the allow-list, the echo
guard), with the payload's args; its status maps 1:1 to a code, a success's JSON text over the
on-chain cap is ``ResultTooLarge``. The result carries the SHA-256 of the source that ran (zero when
nothing ran), and is signed over the gateway's digest with the payload hash computed here
(``gateway_signing.py``).

Every failure of the request is an answer, never an exception: an exception would make the fulfiller
retry the op forever while the consumer waits. A function that cannot be run as configured (limits
above the pool's maximums, a secret not sealed for its domains or altered) is answered ``Failed`` with
nothing run. Only a broken op (a malformed args model, no sandbox pool) raises.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.functions import onchain
from neo_service_layer.enclave.functions.onchain import FunctionCall, FunctionCode, PayloadError
from neo_service_layer.enclave.functions.runs import RunStatus
from neo_service_layer.enclave.handlers.functions import run_function
from neo_service_layer.enclave.handlers.gateway_signing import (
    evm_fulfilment_signature,
    n3_fulfilment_signature,
)
from neo_service_layer.enclave.opdefs.functions import RunOutcome
from neo_service_layer.enclave.opdefs.functions_chains import (
    EVM_FUNCTION_FULFILMENT,
    N3_FUNCTION_FULFILMENT,
    ChainFunction,
    EvmFunctionFulfilmentArgs,
    EvmFunctionFulfilmentResult,
    N3FunctionFulfilmentArgs,
    N3FunctionFulfilmentResult,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import InvalidArgs, UnsealFailed

registry = OpRegistry()

#: How a run ended → the code its callback gets (fixed, ``FunctionCode`` 0-5).
STATUS_CODES: Final = {
    RunStatus.SUCCEEDED.value: FunctionCode.Success,
    RunStatus.FAILED.value: FunctionCode.Failed,
    RunStatus.TIMED_OUT.value: FunctionCode.TimedOut,
    RunStatus.MEMORY_EXCEEDED.value: FunctionCode.MemoryExceeded,
    RunStatus.OUTPUT_TOO_LARGE.value: FunctionCode.OutputTooLarge,
    RunStatus.CRASHED.value: FunctionCode.Crashed,
}
if set(STATUS_CODES) != {status.value for status in RunStatus}:  # a new status needs its code
    raise ImportError("functions_chains' STATUS_CODES do not cover RunStatus")

#: The reason of a run that ended without a JavaScript error.
_STATUS_REASONS: Final = {
    RunStatus.FAILED.value: "the function failed",
    RunStatus.TIMED_OUT.value: "the run took longer than its timeout_ms",
    RunStatus.MEMORY_EXCEEDED.value: "the run used more than its memory_mb",
    RunStatus.OUTPUT_TOO_LARGE.value: "the result is over the function's max_output_bytes",
    RunStatus.CRASHED.value: "the sandbox process died",
}
NOT_FOUND: Final = "no live function of this id"
NOT_ALLOWED: Final = "the function's owner does not allow this contract"
MISMATCH: Final = "the function's source does not have the requested hash"
SCHEMA_REFUSED: Final = "the args do not match the function's args schema"
# Fixed: the refusal's detail names the owner's secrets and domains, which the chain need not publish
# (a run over the REST API gives the owner the detail).
NOT_RUNNABLE: Final = "the function cannot run as configured (its limits, domains or secrets)"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a callback gets (code, the hash of the code that ran, data) and the run, if one ran."""

    code: FunctionCode
    source_sha256: bytes | None
    data: bytes
    run: RunOutcome | None = None


def _refused(code: FunctionCode, reason: str) -> Answer:
    return Answer(code, None, onchain.error_data(code.name, reason))


def _ran(outcome: RunOutcome) -> Answer:
    """The answer of a run: its status's code, the success's JSON text (capped) or its error text."""
    source_sha256 = bytes.fromhex(outcome.source_sha256)
    if outcome.status == RunStatus.SUCCEEDED.value:
        # The pool gives every success its JSON text (a result it cannot read is ``crashed``).
        code, data = onchain.success_data(outcome.result or "null")
        return Answer(code, source_sha256, data, outcome)
    code = STATUS_CODES[outcome.status]
    error = outcome.error
    # Already redacted of the granted secrets' values by the run core's guard.
    data = (
        onchain.error_data(error.name, error.message)
        if error is not None
        else onchain.error_data(code.name, _STATUS_REASONS[outcome.status])
    )
    return Answer(code, source_sha256, data, outcome)


def _refusal(call: FunctionCall, consumer: str, function: ChainFunction) -> Answer | None:
    """The answer of a request for ``function`` that must not run (module docs, checks 3-5), None for
    one that may."""
    if consumer not in function.consumers:
        return _refused(FunctionCode.ConsumerNotAllowed, NOT_ALLOWED)
    source_sha256 = hashlib.sha256(function.source.encode("utf-8")).digest()
    if call.source_sha256 is not None and call.source_sha256 != source_sha256:
        return _refused(FunctionCode.SourceMismatch, MISMATCH)
    if call.args_error is not None:
        return _refused(FunctionCode.ArgsInvalid, call.args_error)
    if not function.args_valid:
        return _refused(FunctionCode.ArgsInvalid, SCHEMA_REFUSED)
    return None


async def _answer(
    ctx: EnclaveContext,
    decode: Callable[[bytes], FunctionCall],
    payload: bytes,
    consumer: str,
    run_id: str,
    function: ChainFunction | None,
) -> Answer:
    """The answer to one request (module docs): a refusal, or the run of the function on its args."""
    try:
        call = decode(payload)
    except PayloadError as e:
        return _refused(FunctionCode.PayloadInvalid, str(e))
    if function is None or function.function_id != call.function_id:
        return _refused(FunctionCode.FunctionNotFound, NOT_FOUND)
    refusal = _refusal(call, consumer, function)
    if refusal is not None:
        return refusal
    try:
        outcome = await run_function(ctx, function, run_id, call.args)
    except (InvalidArgs, UnsealFailed):  # the function as configured cannot run: nothing ran
        return _refused(FunctionCode.Failed, NOT_RUNNABLE)
    return _ran(outcome)


def _hex(source_sha256: bytes | None) -> str | None:
    return None if source_sha256 is None else source_sha256.hex()


@registry.handler(EVM_FUNCTION_FULFILMENT)
async def evm_function_fulfilment(
    ctx: EnclaveContext, args: EvmFunctionFulfilmentArgs
) -> EvmFunctionFulfilmentResult:
    """The answer to one EVM gateway functions request, signed for ``fulfill`` (module docs)."""
    consumer = onchain.consumer_key(f"evm:{args.chain_id}", args.consumer)
    answer = await _answer(
        ctx, onchain.decode_evm_payload, args.payload, consumer, args.run_id, args.function
    )
    result = onchain.evm_result(answer.code, answer.source_sha256, answer.data)
    return EvmFunctionFulfilmentResult(
        request_id=args.request_id,
        code=answer.code.name,
        source_sha256=_hex(answer.source_sha256),
        data=answer.data,
        result=result,
        signature=evm_fulfilment_signature(
            ctx, args.chain_id, args.gateway, args.request_id, args.payload, result
        ),
        signer=ctx.identity.public.k1_address,
        run=answer.run,
    )


@registry.handler(N3_FUNCTION_FULFILMENT)
async def n3_function_fulfilment(
    ctx: EnclaveContext, args: N3FunctionFulfilmentArgs
) -> N3FunctionFulfilmentResult:
    """The answer to one Neo N3 gateway functions request, signed for ``fulfill`` (module docs)."""
    consumer = onchain.consumer_key(f"n3:{args.network_magic}", args.consumer)
    answer = await _answer(ctx, onchain.decode_n3_payload, args.payload, consumer, args.run_id, args.function)
    result = onchain.n3_result(answer.code, answer.source_sha256, answer.data)
    return N3FunctionFulfilmentResult(
        request_id=args.request_id,
        code=answer.code.name,
        source_sha256=_hex(answer.source_sha256),
        data=answer.data,
        result=result,
        signature=n3_fulfilment_signature(
            ctx, args.network_magic, args.gateway, args.request_id, args.payload, result
        ),
        signer=ctx.identity.public.p256,
        run=answer.run,
    )
