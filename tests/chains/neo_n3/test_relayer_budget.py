"""The Neo N3 relayer cannot be drained (issue 11, item 2), on a real neo-go chain with a real enclave.

Before the fix the fulfiller took its system fee from a test invocation with no cap, and the gateway did
not charge ``gas_for_response``: a consumer paying the fee and burning GAS in its callback made the
relayer pay up to the node's ``MaxGasInvoke`` (100 GAS here), every time. Now the request pays its fee
and ``gas_for_response`` up front and the fulfiller never signs more than that (system + network fee).
The attacker is ``contracts/gas_burner.py``: mode 1 burns what it gets in any run, mode 2 only in the
real block (it looks at how much GAS is left), so the test invocation cannot see it coming.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from neo3.api.wrappers import GasToken, GenericContract
from neo3.core import types

from neo_service_layer.chains.fulfilments import FulfilmentStatus, Outcome
from neo_service_layer.chains.neo_n3.build import N3Build, build_contracts
from neo_service_layer.chains.neo_n3.deploy import deploy_call, predicted_hash
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, facade_for
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from tests.chains.neo_n3.helpers import events, stack_bytes, stack_int, test_invoke
from tests.chains.neo_n3.platform import N3Platform
from tests.chains.neo_n3.test_fulfiller import fulfiller, request_of

CALLBACK_GAS = GAS_FACTOR // 10
HONEST, BURN_ALWAYS, BURN_IN_THE_BLOCK = 0, 1, 2
FAILED, CALLBACK_GAS_EXCEEDED = FulfilmentStatus.FAILED, "callback_gas_exceeded"


@pytest.fixture(scope="session")
def burner_build() -> N3Build:
    return build_contracts(["gas_burner"], source_dir=Path(__file__).parent / "contracts")


async def deploy_burner(platform: N3Platform, build: N3Build) -> GenericContract:
    """The attacker's consumer, deployed for this test's gateway and funded with GAS for its requests."""
    artifact = build["gas_burner"]
    burner = predicted_hash(platform.admin.script_hash, artifact)
    gas = GasToken()  # type: ignore[no-untyped-call]
    receipt = await facade_for(platform.rpc_url, platform.admin).invoke_multi(
        [
            deploy_call(artifact, platform.deployment.gateway),
            gas.transfer(platform.admin.script_hash, burner, 20 * GAS_FACTOR),
        ]
    )
    assert str(receipt.state) == "HALT", receipt.exception
    return GenericContract(burner)


async def burner_request(platform: N3Platform, burner: GenericContract, mode: int) -> int:
    call = burner.call_function("request", [b"burn", CALLBACK_GAS, mode])
    receipt = await facade_for(platform.rpc_url, platform.admin).invoke_multi([call])
    assert str(receipt.state) == "HALT", receipt.exception
    (request,) = events(list(receipt.notifications), "Request", platform.deployment.gateway)
    return int(request[0])


def relayer_gas(platform: N3Platform) -> int:
    relayer = types.UInt160.from_string(platform.keys.relayer_script_hash[2:])
    balance = GasToken().balance_of(relayer)  # type: ignore[no-untyped-call]
    return stack_int(test_invoke(platform.rpc_url, balance, platform.admin).stack[0])


def paid(platform: N3Platform, request_id: int) -> int:
    """What the gateway charged the request (its record's ``paid``)."""
    gateway = GenericContract(platform.deployment.gateway)
    reply = test_invoke(platform.rpc_url, gateway.call_function("get_request", [request_id]), platform.admin)
    return stack_int(reply.stack[0]["value"][7])


async def test_a_request_pays_its_callback_gas_up_front(
    n3_platform: N3Platform, burner_build: N3Build
) -> None:
    burner = await deploy_burner(n3_platform, burner_build)
    gateway = GenericContract(n3_platform.deployment.gateway)
    before = read(n3_platform, gateway, "fees_collected")
    request_id = await burner_request(n3_platform, burner, HONEST)
    fee = read(n3_platform, gateway, "get_fee", False)
    assert paid(n3_platform, request_id) == fee + CALLBACK_GAS
    assert read(n3_platform, gateway, "fees_collected") - before == fee + CALLBACK_GAS
    # The gateway caps what a request may ask for its callback (10 GAS).
    greedy = burner.call_function("request", [b"s", 10 * GAS_FACTOR + 1, HONEST])
    test_invoke(n3_platform.rpc_url, greedy, n3_platform.admin).assert_fault("gas_for_response out of range")


def read(platform: N3Platform, contract: GenericContract, method: str, *args: object) -> int:
    """An integer view of ``contract``."""
    reply = test_invoke(platform.rpc_url, contract.call_function(method, list(args)), platform.admin)
    return stack_int(reply.stack[0])


@dataclass(frozen=True)
class Attempt:
    """One burner request and what fulfilling it did: the outcome and the relayer's GAS spent."""

    burner: GenericContract
    request_id: int
    paid: int
    outcome: Outcome
    spent: int


async def fulfil_burner_request(platform: N3Platform, build: N3Build, tmp_path: Path, mode: int) -> Attempt:
    burner = await deploy_burner(platform, build)
    request_id = await burner_request(platform, burner, mode)
    request = await request_of(platform, tmp_path, request_id)
    budget = paid(platform, request_id)  # read now: a fulfilled request's record is gone
    before = relayer_gas(platform)
    async with N3Rpc(platform.rpc_url) as rpc:
        outcome = await fulfiller(platform, rpc).fulfil(request)
    return Attempt(burner, request_id, budget, outcome, before - relayer_gas(platform))


async def test_a_callback_that_burns_gas_costs_the_relayer_nothing(
    n3_platform: N3Platform, burner_build: N3Build, tmp_path: Path
) -> None:
    attempt = await fulfil_burner_request(n3_platform, burner_build, tmp_path, BURN_ALWAYS)

    outcome = attempt.outcome
    assert (outcome.status, outcome.reason) == (FAILED, CALLBACK_GAS_EXCEEDED), outcome.detail
    assert outcome.detail is not None
    # What the old fulfiller would have paid: the test invocation burnt most of MaxGasInvoke (100 GAS).
    system_fee = int(outcome.detail.split(" ")[3])
    assert system_fee > 50 * GAS_FACTOR > attempt.paid
    assert attempt.spent == 0  # nothing signed, nothing sent
    row = await n3_platform.row(attempt.request_id)
    assert row is not None
    assert row.tx_hashes == []


async def test_a_callback_that_burns_only_in_the_block_costs_at_most_what_it_paid(
    n3_platform: N3Platform, burner_build: N3Build, tmp_path: Path
) -> None:
    attempt = await fulfil_burner_request(n3_platform, burner_build, tmp_path, BURN_IN_THE_BLOCK)

    outcome = attempt.outcome
    assert (outcome.status, outcome.reason) == (FAILED, CALLBACK_GAS_EXCEEDED), outcome.detail
    assert outcome.tx_hash is not None  # sent, and FAULTed out of GAS in its block
    assert 0 < attempt.spent <= attempt.paid
    gateway = GenericContract(n3_platform.deployment.gateway)
    assert read(n3_platform, gateway, "is_fulfilled", attempt.request_id) == 0


async def test_an_honest_callback_is_fulfilled_within_what_it_paid(
    n3_platform: N3Platform, burner_build: N3Build, tmp_path: Path
) -> None:
    attempt = await fulfil_burner_request(n3_platform, burner_build, tmp_path, HONEST)

    assert attempt.outcome.status is FulfilmentStatus.CONFIRMED
    assert 0 < attempt.spent <= attempt.paid
    result = attempt.burner.call_function("get_result", [attempt.request_id])
    assert len(stack_bytes(test_invoke(n3_platform.rpc_url, result, n3_platform.admin).stack[0])) == 160
