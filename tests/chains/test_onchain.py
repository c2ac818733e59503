"""The on-chain service registry (``chains/onchain.py``): what the shared fulfillers look up per service.

The fulfillers themselves are tested end to end on anvil and neo-go (``evm/test_fulfiller.py``,
``neo_n3/test_fulfiller.py``); here, the table and the conversions around an entry's enclave op, with a
recording stand-in for the enclave client (a unit test: the real enclave runs in the chain tests).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from neo_service_layer.chains.evm.gateway_rpc import RequestStatus, StoredRequest
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.neo_n3.requests import N3Request, N3StoredRequest
from neo_service_layer.chains.onchain import (
    FUNCTIONS,
    FUNCTIONS_HOST,
    ORACLE,
    RANDOMNESS,
    SERVICES,
    EvmRequestContext,
    Fulfilment,
    HostStepMissing,
    N3RequestContext,
    evm_adapter,
    make_fulfilment,
    n3_adapter,
)
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.chains import (
    EVM_RANDOMNESS_FULFILMENT,
    N3_RANDOMNESS_FULFILMENT,
    EvmRandomnessFulfilmentArgs,
    EvmRandomnessFulfilmentResult,
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
)
from neo_service_layer.enclave.opdefs.functions_chains import (
    EVM_FUNCTION_FULFILMENT,
    EvmFunctionFulfilmentArgs,
    EvmFunctionFulfilmentResult,
)
from neo_service_layer.enclave.opdefs.oracle_chains import (
    EVM_ORACLE_FULFILMENT,
    N3_ORACLE_FULFILMENT,
    EvmOracleFulfilmentArgs,
    EvmOracleFulfilmentResult,
    N3OracleFulfilmentArgs,
    N3OracleFulfilmentResult,
)

GATEWAY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
N3_GATEWAY = "0x" + "ab" * 20


class RecordingEnclave:
    """Answers one op with a canned result and records what it was asked."""

    def __init__(self, result: BaseModel) -> None:
        self.result = result
        self.calls: list[tuple[Op[Any, Any], BaseModel]] = []

    async def run(self, op: Op[Any, Any], args: BaseModel) -> BaseModel:
        self.calls.append((op, args))
        return self.result


def evm_context() -> EvmRequestContext:
    request = ServiceRequest(
        chain_id=31337,
        gateway=GATEWAY,
        request_id=b"\x11" * 32,
        requester=GATEWAY,
        service="randomness",
        payload=b"seed",
        mode=Mode.SIGNATURE_ONLY,
        callback_contract=GATEWAY,
        callback_selector=b"\x01\x02\x03\x04",
        gas_for_response=100_000,
        fee_paid=10**15,
        block_number=7,
        block_hash=b"\x22" * 32,
        tx_hash=b"\x33" * 32,
        log_index=0,
    )
    stored = StoredRequest(
        RequestStatus.PENDING, Mode.SIGNATURE_ONLY, 100_000, b"randomness", b"\x44" * 32, 3
    )
    return EvmRequestContext(31337, GATEWAY, request, stored)


def n3_context() -> N3RequestContext:
    request = N3Request(
        network_magic=56753,
        gateway=N3_GATEWAY,
        request_id=9,
        service="randomness",
        payload=b"seed",
        verify_on_chain=False,
        callback_contract=N3_GATEWAY,
        callback_method="on_randomness",
        gas_for_response=10_000_000,
        block_index=5,
        tx_hash="0x" + "55" * 32,
        notification_index=0,
    )
    return N3RequestContext(56753, N3_GATEWAY, request, N3StoredRequest(paid=60_000_000, vrf_key_version=2))


def test_randomness_oracle_and_functions_are_served_on_both_families_and_nothing_else_yet() -> None:
    assert SERVICES == {"randomness": RANDOMNESS, "oracle": ORACLE, "functions": FUNCTIONS}
    assert evm_adapter("randomness") is RANDOMNESS.evm
    assert n3_adapter("randomness") is RANDOMNESS.n3
    assert evm_adapter("oracle") is ORACLE.evm
    assert n3_adapter("oracle") is ORACLE.n3
    assert evm_adapter("functions") is FUNCTIONS.evm
    assert n3_adapter("functions") is FUNCTIONS.n3
    for unknown in ("price-feed", "function", "", "Randomness", "Oracle"):
        assert evm_adapter(unknown) is None
        assert n3_adapter(unknown) is None


async def test_an_evm_request_becomes_its_ops_args_and_the_answer_what_fulfill_takes() -> None:
    adapter = evm_adapter("randomness")
    assert adapter is not None
    answer = EvmRandomnessFulfilmentResult(
        request_id=b"\x11" * 32,
        result=b"\x66" * 288,
        beta=b"\x66" * 32,
        signature=b"\x77" * 64 + b"\x1b",
        signer=GATEWAY,
        vrf_key_version=3,
        vrf_public_key=b"\x88" * 48,
    )
    enclave = RecordingEnclave(answer)

    fulfilment = await make_fulfilment(enclave, adapter, evm_context())  # type: ignore[arg-type]

    assert fulfilment == Fulfilment(result=answer.result, signature=answer.signature)
    ((op, args),) = enclave.calls
    assert op is EVM_RANDOMNESS_FULFILMENT
    # Everything from the chain: the stored payload hash and pinned key version, never the host's choice.
    assert args == EvmRandomnessFulfilmentArgs(
        chain_id=31337, gateway=GATEWAY, request_id=b"\x11" * 32, payload_hash=b"\x44" * 32, vrf_key_version=3
    )


async def test_an_n3_request_becomes_its_ops_args_and_the_answer_what_fulfill_takes() -> None:
    adapter = n3_adapter("randomness")
    assert adapter is not None
    answer = N3RandomnessFulfilmentResult(
        request_id=9,
        result=b"\x66" * 160,
        beta=b"\x66" * 32,
        signature=b"\x77" * 64,
        signer=b"\x02" + b"\x99" * 32,
        vrf_key_version=2,
        vrf_public_key=b"\x88" * 48,
    )
    enclave = RecordingEnclave(answer)

    fulfilment = await make_fulfilment(enclave, adapter, n3_context())  # type: ignore[arg-type]

    assert fulfilment == Fulfilment(result=answer.result, signature=answer.signature)
    ((op, args),) = enclave.calls
    assert op is N3_RANDOMNESS_FULFILMENT
    assert args == N3RandomnessFulfilmentArgs(
        network_magic=56753, gateway=N3_GATEWAY, request_id=9, payload=b"seed", vrf_key_version=2
    )


async def test_an_oracle_request_hands_the_enclave_its_payload() -> None:
    """The payload itself, not the stored hash: the enclave reads the URL from it and hashes it itself."""
    evm, n3 = ORACLE.evm, ORACLE.n3
    assert evm is not None
    assert n3 is not None
    evm_answer = EvmOracleFulfilmentResult(
        request_id=b"\x11" * 32,
        code="Success",
        data=b"[1]",
        detail="",
        result=b"\x66" * 128,
        signature=b"\x77" * 64 + b"\x1b",
        signer=GATEWAY,
    )
    n3_answer = N3OracleFulfilmentResult(
        request_id=9,
        code="NotFound",
        data=b"",
        detail="",
        result=b"\x14",
        signature=b"\x77" * 64,
        signer=b"\x02" + b"\x99" * 32,
    )
    evm_enclave, n3_enclave = RecordingEnclave(evm_answer), RecordingEnclave(n3_answer)

    evm_fulfilment = await make_fulfilment(evm_enclave, evm, evm_context())  # type: ignore[arg-type]
    n3_fulfilment = await make_fulfilment(n3_enclave, n3, n3_context())  # type: ignore[arg-type]

    assert evm_fulfilment == Fulfilment(result=evm_answer.result, signature=evm_answer.signature)
    assert n3_fulfilment == Fulfilment(result=b"\x14", signature=n3_answer.signature)
    assert evm_enclave.calls == [
        (
            EVM_ORACLE_FULFILMENT,
            EvmOracleFulfilmentArgs(
                chain_id=31337, gateway=GATEWAY, request_id=b"\x11" * 32, payload=b"seed"
            ),
        )
    ]
    assert n3_enclave.calls == [
        (
            N3_ORACLE_FULFILMENT,
            N3OracleFulfilmentArgs(network_magic=56753, gateway=N3_GATEWAY, request_id=9, payload=b"seed"),
        )
    ]


@pytest.mark.parametrize("family", ["evm", "n3"])
def test_every_entry_uses_a_declared_enclave_op(family: str) -> None:
    from neo_service_layer.enclave.opdefs import catalogue

    declared = catalogue()
    for service in SERVICES.values():
        adapter = getattr(service, family)
        if adapter is not None:
            assert any(adapter.op is op for op in declared), (service.name, family)


class RecordingHost:
    """A host step that hands out canned args and records what it is told was answered."""

    def __init__(self, args: BaseModel) -> None:
        self.sent = args
        self.reported: list[tuple[Any, BaseModel, BaseModel]] = []

    async def args(self, context: Any) -> BaseModel:
        return self.sent

    async def answered(self, context: Any, sent: BaseModel, answer: BaseModel) -> None:
        self.reported.append((context, sent, answer))


async def test_a_hosted_service_takes_its_args_from_its_host_step_and_reports_the_answer() -> None:
    """functions: the op's args come from the host step the signer holds (the database), and the answer
    goes back to it before it becomes what ``fulfill`` takes; without the step, nothing is asked."""
    adapter = FUNCTIONS.evm
    assert adapter is not None
    answer = EvmFunctionFulfilmentResult(
        request_id=b"\x11" * 32,
        code="FunctionNotFound",
        source_sha256=None,
        data=b"",
        result=b"\x66" * 128,
        signature=b"\x77" * 64 + b"\x1b",
        signer=GATEWAY,
        run=None,
    )
    sent = EvmFunctionFulfilmentArgs(
        chain_id=31337,
        gateway=GATEWAY,
        request_id=b"\x11" * 32,
        payload=b"seed",
        consumer=GATEWAY,
        run_id="fnr_01JEXAMP1E0000000000000000",
        function=None,
    )
    enclave, context = RecordingEnclave(answer), evm_context()
    with pytest.raises(HostStepMissing):
        await make_fulfilment(enclave, adapter, context)  # type: ignore[arg-type]
    assert enclave.calls == []

    host = RecordingHost(sent)
    fulfilment = await make_fulfilment(enclave, adapter, context, {FUNCTIONS_HOST: host})  # type: ignore[arg-type]
    assert fulfilment == Fulfilment(result=answer.result, signature=answer.signature)
    assert enclave.calls == [(EVM_FUNCTION_FULFILMENT, sent)]
    assert host.reported == [(context, sent, answer)]
