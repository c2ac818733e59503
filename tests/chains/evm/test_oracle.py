"""The oracle through the EVM gateway, end to end on anvil (docs/oracle.md §8): the OracleConsumer asks,
the watcher and fulfiller serve it with the real enclave, whose fetcher keeps its default policy and
reaches a local HTTPS server as a public host (``tests/enclave/oracle/chain_web.py``).

Also: the gateway refuses a result the host altered or an answer signed for another payload, and a
second fulfilment; a fee bump or a crash between the answer and the send re-sends the first answer
although the web has changed meanwhile; the row records what landed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_abi.abi import encode as abi_encode

from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore
from neo_service_layer.enclave.opdefs.oracle_chains import EVM_ORACLE_FULFILMENT, EvmOracleFulfilmentArgs
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.onchain import evm_result, split_evm_result
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.evm.flows import ORACLE, Nsl
from tests.chains.evm.fulfil_helpers import Platform, automine_off, fulfiller, request_of, rpc
from tests.chains.evm.helpers import one_event, revert_name
from tests.enclave.oracle.chain_web import public_fetcher, public_url, web
from tests.enclave.oracle.servers import LocalServer, OraclePKI
from tests.worker.helpers import wait_until


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The shared in-process enclave's fetcher: default policy, the test CA, the NAT to the web."""
    async with public_fetcher(pki) as fetcher:
        yield fetcher


@pytest.fixture
async def site(pki: OraclePKI) -> AsyncIterator[LocalServer]:
    async with web(pki) as server:
        yield server


def request_url(nsl: Nsl, url: str, filter_: str, *, overpay: int = 1) -> bytes:
    gas = int(nsl.oracle_consumer.functions.CALLBACK_GAS().call())
    value = overpay * nsl.price(ORACLE, Mode.SIGNATURE_ONLY, gas)
    receipt = transact(nsl.w3, nsl.user, nsl.oracle_consumer.functions.requestUrl(url, filter_), value=value)
    return bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)


def request_raw(nsl: Nsl, payload: bytes) -> bytes:
    gas = int(nsl.oracle_consumer.functions.CALLBACK_GAS().call())
    value = nsl.price(ORACLE, Mode.SIGNATURE_ONLY, gas)
    receipt = transact(nsl.w3, nsl.user, nsl.oracle_consumer.functions.requestData(payload), value=value)
    return bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)


def typed_payload(url: str, filter_: str, extract: str) -> bytes:
    return abi_encode(["string", "string", "string"], [url, filter_, extract])


def fulfilled_results(nsl: Nsl, request_id: bytes) -> list[bytes]:
    logs = nsl.gateway.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
    return [bytes(log.args.result) for log in logs]


def delivered(nsl: Nsl, request_id: bytes) -> tuple[int, bytes, bool]:
    c = nsl.oracle_consumer.functions
    return (
        int(c.codes(request_id).call()),
        bytes(c.results(request_id).call()),
        bool(c.pending(request_id).call()),
    )


async def test_a_real_worker_serves_the_oracle_consumer(
    platform: Platform, site: LocalServer, tmp_path: Path
) -> None:
    nsl = platform.nsl
    settings = platform.settings(tmp_path)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, handlers=service_handlers(settings), tasks=service_tasks(settings))
    )
    try:
        requests = {
            "success": request_url(nsl, public_url(site, "/price"), "$.data.price"),
            "not-found": request_url(nsl, public_url(site, "/missing"), "$"),
            # The same server by its loopback address: the enclave's default policy refuses to dial it.
            "forbidden": request_url(nsl, site.url("/price"), "$"),
            "too-large": request_url(nsl, public_url(site, "/big"), "$.items"),
            "undecodable": request_raw(nsl, b"GET /price please"),
            # A typed value: the callback's data is abi.encode(uint256), ready for abi.decode.
            "typed": request_raw(
                nsl,
                abi_encode(
                    ["string", "string", "string"], [public_url(site, "/price"), "$.data.price", "uint256:2"]
                ),
            ),
        }
        rows = {
            name: await platform.wait_status(rid, "confirmed", "failed") for name, rid in requests.items()
        }
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    expected = {
        "success": (OracleCode.Success, b'["43000.12"]'),
        "not-found": (OracleCode.NotFound, b""),
        "forbidden": (OracleCode.Forbidden, b""),
        "too-large": (OracleCode.ResponseTooLarge, b""),
        "undecodable": (OracleCode.Error, b""),
        "typed": (OracleCode.Success, abi_encode(["uint256"], [4300012])),
    }
    for name, request_id in requests.items():
        row, (code, data) = rows[name], expected[name]
        assert (row.status, row.callback_success) == ("confirmed", True), (name, row.failure_detail)
        assert delivered(nsl, request_id) == (code, data, False), name
        # Exactly one fulfilment, and the row records the result that landed.
        assert fulfilled_results(nsl, request_id) == [evm_result(code, data)] == [row.result], name
        assert row.signature is not None
    # Once for "success", once for "typed": the loopback URL was never dialled.
    assert [r.path for r in site.requests].count("/price") == 2


async def test_the_gateway_refuses_a_forged_or_second_answer(
    platform: Platform, site: LocalServer, tmp_path: Path
) -> None:
    """A compromised host asks the real enclave, then alters the result, or hands it another payload
    (the enclave signs that payload's hash): each is refused; the honest answer lands once, and the
    fulfiller that comes later records that answer (not one of its own) from the ``Fulfilled`` log."""
    nsl = platform.nsl
    request_id = request_url(nsl, public_url(site, "/tick"), "$.n")
    payload = bytes(nsl.gateway.events.ServiceRequested().get_logs(from_block=0)[-1].args.payload)
    honest = EvmOracleFulfilmentArgs(
        chain_id=nsl.chain_id, gateway=nsl.gateway.address, request_id=request_id, payload=payload
    )
    answer = await platform.enclave.run(EVM_ORACLE_FULFILMENT, honest)
    lied = honest.model_copy(update={"payload": payload.replace(b"$.n", b"$  ")})
    other = await platform.enclave.run(EVM_ORACLE_FULFILMENT, lied)
    altered = evm_result(OracleCode.Success, b"[1000000]")
    g = nsl.gateway.functions
    assert revert_name(nsl.build, g.fulfill(request_id, altered, answer.signature), nsl.owner.address) == (
        "NotEnclaveSigned"
    )
    assert revert_name(
        nsl.build, g.fulfill(request_id, other.result, other.signature), nsl.owner.address
    ) == ("NotEnclaveSigned")

    transact(nsl.w3, nsl.owner, g.fulfill(request_id, answer.result, answer.signature))
    again = await platform.enclave.run(EVM_ORACLE_FULFILMENT, honest)  # the web changed: another answer
    assert split_evm_result(again.result) != split_evm_result(answer.result)
    assert revert_name(
        nsl.build, g.fulfill(request_id, again.result, again.signature), nsl.owner.address
    ) == ("AlreadyFulfilled")
    assert fulfilled_results(nsl, request_id) == [answer.result]
    assert delivered(nsl, request_id) == (OracleCode.Success, b"[1]", False)

    outcome = await fulfiller(platform).fulfil(await request_of(platform, tmp_path, request_id))
    row = await platform.row(request_id)
    assert row is not None
    assert (outcome.status, outcome.attempts) == (FulfilmentStatus.CONFIRMED, 0)
    assert (row.result, row.signature) == (answer.result, None)  # what landed; not signed by this row


async def test_a_fee_bump_and_a_restart_resend_the_first_answer(
    platform: Platform, site: LocalServer, tmp_path: Path
) -> None:
    """The web answers differently each time (``/tick``): the enclave is asked once per request, and
    every transaction of it (replacements with higher fees; a worker that recorded the answer and died
    before sending) carries that answer."""
    nsl = platform.nsl
    bumped = await request_of(
        platform, tmp_path, request_url(nsl, public_url(site, "/tick"), "$.n", overpay=10)
    )
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform, replace_after_seconds=0.2).fulfil(bumped))

        async def replaced() -> bool:
            row = await platform.row(bumped.request_id)
            return row is not None and row.attempts >= 3

        await wait_until(replaced)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert outcome.attempts >= 3

    # A worker asked the enclave, recorded the answer and died before signing a transaction.
    crashed = await request_of(platform, tmp_path, request_url(nsl, public_url(site, "/tick"), "$.n"))
    store = FulfilmentStore(platform.db, platform.chain)
    await store.ensure(crashed.request_id.hex(), crashed.service, int(crashed.mode))
    args = EvmOracleFulfilmentArgs(
        chain_id=nsl.chain_id,
        gateway=nsl.gateway.address,
        request_id=crashed.request_id,
        payload=crashed.payload,
    )
    first = await platform.enclave.run(EVM_ORACLE_FULFILMENT, args)
    await store.record_answer(crashed.request_id.hex(), lambda: _pair(first.result, first.signature))
    restarted = await fulfiller(platform).fulfil(crashed)
    assert restarted.status is FulfilmentStatus.CONFIRMED

    assert [r.path for r in site.requests].count("/tick") == 2  # one fetch per request, no more
    assert fulfilled_results(nsl, bumped.request_id) == [evm_result(OracleCode.Success, b"[1]")]
    assert (
        fulfilled_results(nsl, crashed.request_id)
        == [first.result]
        == [evm_result(OracleCode.Success, b"[2]")]
    )
    for request in (bumped, crashed):
        row = await platform.row(request.request_id)
        assert row is not None
        assert [row.result] == fulfilled_results(nsl, request.request_id)


async def _pair(result: bytes, signature: bytes) -> tuple[bytes, bytes]:
    return result, signature
