"""Functions called from contracts through the Neo N3 gateway, end to end on neo-go (docs/functions.md
"Calls from contracts"): a function deployed over the REST API with the example FunctionsConsumer
allowed; the consumer asks with ``request_function(id, sourceHash, args)`` (``StdLib.jsonSerialize``);
the fulfiller (the worker's, real in-process enclave and sandbox) resolves the function, records the run
and delivers ``code ‖ sourceHash ‖ data``, which the callback splits.

Exactly once: a second fulfil leaves one run row and one ``Fulfilled``. Attacks: a consumer the owner
did not allow, a host that rewrites the source under a pinned hash (each a signed refusal, nothing run),
and a result altered by hand (the gateway faults).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from neo3.api.wrappers import GenericContract

from neo_service_layer.chains.fulfilments import FulfilmentStatus
from neo_service_layer.chains.neo_n3.devnet import facade_for
from neo_service_layer.chains.neo_n3.requests import N3StoredRequest
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.onchain import FUNCTIONS, Fulfilment, N3RequestContext
from neo_service_layer.enclave.functions.onchain import FunctionCode, n3_result
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.worker.chain_fulfil_n3 import N3EnclaveFulfilmentSigner
from tests.chains.functions_helpers import NO_HASH, SOURCE, deploy, runs, sha256, swap_source
from tests.chains.neo_n3.helpers import events, stack_bytes, stack_int, test_invoke
from tests.chains.neo_n3.platform import N3Platform
from tests.chains.neo_n3.test_oracle import ENCLAVE_REFUSED, fulfilled_results, fulfiller, request_of
from tests.conftest import Tenant

CONSUMER = "FunctionsConsumer"


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """The in-process enclave's sandbox (tests/conftest.py ``enclave_server``): one real process."""
    async with SandboxPool(1) as pool:
        yield pool


def consumer(platform: N3Platform) -> GenericContract:
    return GenericContract(platform.deployment.examples[CONSUMER])


def allowed(platform: N3Platform) -> list[str]:
    return [f"n3:{platform.deployment.magic}:0x{platform.deployment.examples[CONSUMER]}"]


async def request(platform: N3Platform, *calls: tuple[str, str, str]) -> list[int]:
    """``request_function(id, hash hex, args)`` for each call, in ONE transaction: the request ids."""
    contract = consumer(platform)
    receipt = await facade_for(platform.rpc_url, platform.admin).invoke_multi(
        [contract.call_function("request_function", list(call)) for call in calls]
    )
    assert str(receipt.state) == "HALT", receipt.exception
    emitted = events(list(receipt.notifications), "Request", platform.deployment.gateway)
    return [int(item[0]) for item in emitted]


def delivered(platform: N3Platform, request_id: int) -> tuple[int, bytes, bytes]:
    c = consumer(platform)
    reply = test_invoke(
        platform.rpc_url,
        [c.call_function(name, [request_id]) for name in ("get_code", "get_source_hash", "get_result")],
        platform.admin,
    )
    code, source_hash, data = reply.stack
    return stack_int(code), stack_bytes(source_hash), stack_bytes(data)


async def serve(platform: N3Platform, tmp_path: Path, request_id: int) -> FulfilmentStatus:
    async with N3Rpc(platform.rpc_url) as rpc:
        outcome = await fulfiller(platform, rpc).fulfil(await request_of(platform, tmp_path, request_id))
    return outcome.status


async def test_a_contract_calls_a_function_once(
    tenant: Tenant, client: httpx.AsyncClient, n3_platform: N3Platform, tmp_path: Path
) -> None:
    function_id = await deploy(client, tenant, "adder", allowed(n3_platform))
    (request_id,) = await request(n3_platform, (function_id, sha256(SOURCE).hex(), '{"a": 2, "b": 40}'))

    assert await serve(n3_platform, tmp_path, request_id) is FulfilmentStatus.CONFIRMED
    (run,) = await runs(client, tenant, function_id)
    assert (run["status"], run["trigger"], run["version"]) == ("succeeded", "chain", 1)
    key = f"n3:{n3_platform.deployment.magic}:{n3_platform.gateway}:{request_id}"
    assert run["chain_request"] == key
    assert run["args"] == {"a": 2, "b": 40}
    assert json.loads(run["result"]) == {"sum": 42, "who": "nsl"}
    data = run["result"].encode()
    assert delivered(n3_platform, request_id) == (FunctionCode.Success, sha256(SOURCE), data)
    result = n3_result(FunctionCode.Success, sha256(SOURCE), data)
    assert await fulfilled_results(n3_platform, request_id) == [result]

    # Served again (a redelivered job): the chain says fulfilled; nothing runs, nothing is sent.
    assert await serve(n3_platform, tmp_path, request_id) is FulfilmentStatus.CONFIRMED
    assert [r["id"] for r in await runs(client, tenant, function_id)] == [run["id"]]
    assert len(await fulfilled_results(n3_platform, request_id)) == 1


async def test_refusals_are_delivered_signed_and_nothing_runs(
    tenant: Tenant, client: httpx.AsyncClient, n3_platform: N3Platform, tmp_path: Path
) -> None:
    magic = n3_platform.deployment.magic
    other = await deploy(client, tenant, "not-for-you", [f"n3:{magic}:0x{'11' * 20}"])
    # A host with write access to the database swaps the code, keeping the recorded hash.
    swapped = await deploy(client, tenant, "swapped", allowed(n3_platform))
    await swap_source(n3_platform.db, swapped, "return {sum: 666};")
    valid = await deploy(client, tenant, "valid", allowed(n3_platform))
    pinned = sha256(SOURCE).hex()
    refused, mismatch, forged_id = await request(
        n3_platform,
        (other, pinned, '{"a": 1, "b": 2}'),
        (swapped, pinned, '{"a": 1, "b": 2}'),
        (valid, "", '{"a": 1, "b": 2}'),
    )
    for request_id in (refused, mismatch):
        assert await serve(n3_platform, tmp_path, request_id) is FulfilmentStatus.CONFIRMED
    assert delivered(n3_platform, refused)[:2] == (FunctionCode.ConsumerNotAllowed, NO_HASH)
    assert delivered(n3_platform, mismatch)[:2] == (FunctionCode.SourceMismatch, NO_HASH)
    assert await runs(client, tenant, other) == []
    assert await runs(client, tenant, swapped) == []

    # A result altered by hand is refused by the gateway; the honest one lands.
    honest = await answer_unrecorded(n3_platform, tmp_path, forged_id)
    gateway = GenericContract(n3_platform.deployment.gateway)
    forged = n3_result(FunctionCode.Success, sha256(SOURCE), b'{"sum":1000000}')
    call = gateway.call_function("fulfill", [forged_id, forged, honest.signature])
    test_invoke(n3_platform.rpc_url, call, n3_platform.admin).assert_fault(ENCLAVE_REFUSED)
    assert await serve(n3_platform, tmp_path, forged_id) is FulfilmentStatus.CONFIRMED
    assert json.loads(delivered(n3_platform, forged_id)[2]) == {"sum": 3, "who": "nsl"}
    assert [r["status"] for r in await runs(client, tenant, valid)] == ["succeeded"]


async def answer_unrecorded(platform: N3Platform, tmp_path: Path, request_id: int) -> Fulfilment:
    """What the worker's signer makes for the request (the function runs, its run is recorded), as a
    worker that died before recording the answer on the fulfilment row left it."""
    request = await request_of(platform, tmp_path, request_id)
    # The functions step reads the request itself, never the gateway's stored record (fee, VRF version).
    context = N3RequestContext(request.network_magic, platform.gateway, request, N3StoredRequest(0, 0))
    signer = N3EnclaveFulfilmentSigner(platform.db, platform.enclave, platform.deployment.magic)
    assert FUNCTIONS.n3 is not None
    return await signer.fulfil(FUNCTIONS.n3, context)
