"""Functions called from contracts through the EVM gateway, end to end on anvil (docs/functions.md "Calls
from contracts"): a function deployed over the REST API with the example FunctionsConsumer allowed; the
consumer asks with ``requestFunction(id, sourceHash, args)``; the worker (or its fulfiller, with the
real in-process enclave and its sandbox) resolves the function from the database, records the run and
delivers ``abi.encode(code, sourceHash, data)``.

Exactly once: a second fulfil, and a retry after the enclave answered but before the answer was recorded,
leave one run row and one ``Fulfilled``. Attacks: a consumer the owner did not allow, a host that rewrites
the source under a pinned hash, a result altered by hand — each gets its signed refusal, or the
gateway's revert, and nothing runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.fulfilments import FulfilmentStatus
from neo_service_layer.chains.onchain import FUNCTIONS, EvmRequestContext, Fulfilment
from neo_service_layer.enclave.functions.onchain import FunctionCode, evm_result
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.worker.chain_fulfil import EnclaveFulfilmentSigner
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.evm.flows import FUNCTIONS as FUNCTIONS_ID
from tests.chains.evm.flows import Nsl
from tests.chains.evm.fulfil_helpers import Platform, fulfiller, request_of
from tests.chains.evm.helpers import one_event, revert_name
from tests.chains.functions_helpers import NO_HASH, SOURCE, deploy, runs, sha256, swap_source
from tests.conftest import Tenant


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """The in-process enclave's sandbox (tests/conftest.py ``enclave_server``): one real process."""
    async with SandboxPool(1) as pool:
        yield pool


def allowed(nsl: Nsl) -> list[str]:
    return [f"evm:{nsl.chain_id}:{nsl.functions_consumer.address}"]


def request_function(nsl: Nsl, function_id: str, source_hash: bytes, args: str) -> bytes:
    consumer = nsl.functions_consumer.functions
    value = nsl.price(FUNCTIONS_ID, Mode.SIGNATURE_ONLY, int(consumer.CALLBACK_GAS().call()))
    receipt = transact(
        nsl.w3, nsl.user, consumer.requestFunction(function_id, source_hash, args), value=value
    )
    return bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)


def delivered(nsl: Nsl, request_id: bytes) -> tuple[int, bytes, bytes, bool]:
    c = nsl.functions_consumer.functions
    return (
        int(c.codes(request_id).call()),
        bytes(c.sourceHashes(request_id).call()),
        bytes(c.results(request_id).call()),
        bool(c.pending(request_id).call()),
    )


def fulfilled_results(nsl: Nsl, request_id: bytes) -> list[bytes]:
    logs = nsl.gateway.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
    return [bytes(log.args.result) for log in logs]


async def answer_unrecorded(platform: Platform, tmp_path: Path, request_id: bytes) -> Fulfilment:
    """What the worker's signer makes for the request (the function runs, its run is recorded), as a
    worker that died before recording the answer on the fulfilment row left it."""
    nsl = platform.nsl
    rpc = GatewayRpc(nsl.w3, nsl.gateway.address)
    request = await request_of(platform, tmp_path, request_id)
    context = EvmRequestContext(nsl.chain_id, rpc.gateway, request, rpc.get_request(request_id))
    signer = EnclaveFulfilmentSigner(platform.db, platform.enclave, nsl.chain_id)
    assert FUNCTIONS.evm is not None
    return await signer.fulfil(FUNCTIONS.evm, context)


async def serve(platform: Platform, tmp_path: Path, request_id: bytes) -> FulfilmentStatus:
    outcome = await fulfiller(platform).fulfil(await request_of(platform, tmp_path, request_id))
    return outcome.status


async def test_a_contract_calls_a_function_once(
    tenant: Tenant, client: httpx.AsyncClient, evm_platform: Platform, tmp_path: Path
) -> None:
    nsl = evm_platform.nsl
    function_id = await deploy(client, tenant, "adder", allowed(nsl))
    # The real worker: its watcher finds the request, its chains.evm.request job fulfils it.
    settings = evm_platform.settings(tmp_path)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, handlers=service_handlers(settings), tasks=service_tasks(settings))
    )
    try:
        request_id = request_function(nsl, function_id, sha256(SOURCE), '{"a": 2, "b": 40}')
        row = await evm_platform.wait_status(request_id, "confirmed", "failed")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    assert (row.status, row.callback_success) == ("confirmed", True), row.failure_detail
    (run,) = await runs(client, tenant, function_id)
    assert (run["status"], run["trigger"], run["version"]) == ("succeeded", "chain", 1)
    assert run["chain_request"] == f"evm:{nsl.chain_id}:{request_id.hex()}"
    assert run["args"] == {"a": 2, "b": 40}
    assert "on chain" in run["logs"]
    assert json.loads(run["result"]) == {"sum": 42, "who": "nsl"}
    data = run["result"].encode()
    assert delivered(nsl, request_id) == (FunctionCode.Success, sha256(SOURCE), data, False)
    assert fulfilled_results(nsl, request_id) == [evm_result(FunctionCode.Success, sha256(SOURCE), data)]

    # Served again (a redelivered job): the chain says fulfilled; nothing runs, nothing is sent.
    assert await serve(evm_platform, tmp_path, request_id) is FulfilmentStatus.CONFIRMED
    assert [r["id"] for r in await runs(client, tenant, function_id)] == [run["id"]]
    assert len(fulfilled_results(nsl, request_id)) == 1

    # The enclave answered (and the run was recorded) but the worker died before recording the answer:
    # the retry runs again under the SAME run id — one row — and delivers once.
    retried = request_function(nsl, function_id, NO_HASH, '{"a": 1, "b": 1}')
    await answer_unrecorded(evm_platform, tmp_path, retried)
    first = [r for r in await runs(client, tenant, function_id) if r["id"] != run["id"]]
    assert [r["status"] for r in first] == ["succeeded"]
    assert await serve(evm_platform, tmp_path, retried) is FulfilmentStatus.CONFIRMED
    after = [r for r in await runs(client, tenant, function_id) if r["id"] != run["id"]]
    assert [(r["id"], r["status"]) for r in after] == [(first[0]["id"], "succeeded")]
    assert delivered(nsl, retried)[:3] == (FunctionCode.Success, sha256(SOURCE), b'{"sum":2,"who":"nsl"}')
    assert len(fulfilled_results(nsl, retried)) == 1


async def test_refusals_are_delivered_signed_and_nothing_runs(
    tenant: Tenant, client: httpx.AsyncClient, evm_platform: Platform, tmp_path: Path
) -> None:
    nsl = evm_platform.nsl
    # The owner allows another contract only.
    other = await deploy(client, tenant, "not-for-you", [f"evm:{nsl.chain_id}:0x{'11' * 20}"])
    # A host with write access to the database swaps the code, keeping the recorded hash.
    swapped = await deploy(client, tenant, "swapped", allowed(nsl))
    await swap_source(evm_platform.db, swapped, "return {sum: 666};")
    valid = await deploy(client, tenant, "valid", allowed(nsl))
    requests = {
        "consumer": request_function(nsl, other, sha256(SOURCE), '{"a": 1, "b": 2}'),
        "source": request_function(nsl, swapped, sha256(SOURCE), '{"a": 1, "b": 2}'),
        "schema": request_function(nsl, valid, NO_HASH, '{"a": 1}'),
        "unknown": request_function(nsl, new_id(IdPrefix.FUNCTION), NO_HASH, ""),
    }
    for request_id in requests.values():
        assert await serve(evm_platform, tmp_path, request_id) is FulfilmentStatus.CONFIRMED
    codes = {name: delivered(nsl, rid)[:2] for name, rid in requests.items()}
    assert codes == {
        "consumer": (FunctionCode.ConsumerNotAllowed, NO_HASH),
        "source": (FunctionCode.SourceMismatch, NO_HASH),
        "schema": (FunctionCode.ArgsInvalid, NO_HASH),
        "unknown": (FunctionCode.FunctionNotFound, NO_HASH),
    }
    for function_id in (other, swapped, valid):
        assert await runs(client, tenant, function_id) == []  # rows only for runs that ran

    # A result altered by hand (the relayer's own fulfil call) is refused by the gateway.
    forged_id = request_function(nsl, valid, sha256(SOURCE), '{"a": 1, "b": 2}')
    forged = evm_result(FunctionCode.Success, sha256(SOURCE), b'{"sum":1000000}')
    honest = await answer_unrecorded(evm_platform, tmp_path, forged_id)
    g = nsl.gateway.functions
    assert revert_name(nsl.build, g.fulfill(forged_id, forged, honest.signature), nsl.owner.address) == (
        "NotEnclaveSigned"
    )
    assert await serve(evm_platform, tmp_path, forged_id) is FulfilmentStatus.CONFIRMED
    assert json.loads(delivered(nsl, forged_id)[2]) == {"sum": 3, "who": "nsl"}
    assert [r["status"] for r in await runs(client, tenant, valid)] == ["succeeded"]
