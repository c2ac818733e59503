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
    RANDOMNESS,
    SERVICES,
    EvmRequestContext,
    Fulfilment,
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


def test_randomness_is_served_on_both_families_and_nothing_else_yet() -> None:
    assert SERVICES == {"randomness": RANDOMNESS}
    assert evm_adapter("randomness") is RANDOMNESS.evm
    assert n3_adapter("randomness") is RANDOMNESS.n3
    for unknown in ("oracle", "price-feed", "functions", "", "Randomness"):
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


@pytest.mark.parametrize("family", ["evm", "n3"])
def test_every_entry_uses_a_declared_enclave_op(family: str) -> None:
    from neo_service_layer.enclave.opdefs import catalogue

    declared = catalogue()
    for service in SERVICES.values():
        adapter = getattr(service, family)
        if adapter is not None:
            assert any(adapter.op is op for op in declared), (service.name, family)
