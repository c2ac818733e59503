"""The oracle through the Neo N3 gateway, end to end on neo-go (docs/oracle.md §8): the example
OracleConsumer asks with ``request_url`` (``StdLib.jsonSerialize([url, filter])``), the watcher and
fulfiller serve it with the real enclave, whose fetcher keeps its default policy and reaches a local
HTTPS server as a public host (``tests/enclave/oracle/chain_web.py``); the callback keeps
``result[0]`` (the code) and ``result[1:]`` (the data).

Also: the gateway refuses an altered result and an answer signed for another payload, and a second
fulfilment; a transaction that expires unseen is rebuilt with the SAME answer although the web changed
meanwhile; the row records what landed."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from neo3.api.wrappers import GenericContract
from sqlalchemy import select

from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore
from neo_service_layer.chains.neo_n3.devnet import facade_for
from neo_service_layer.chains.neo_n3.fulfiller import N3Fulfiller, N3FulfilPolicy
from neo_service_layer.chains.neo_n3.requests import N3Request
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.db.models import Job
from neo_service_layer.enclave.opdefs.oracle_chains import N3_ORACLE_FULFILMENT, N3OracleFulfilmentArgs
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.onchain import n3_result
from neo_service_layer.worker.chain_fulfil_n3 import N3EnclaveFulfilmentSigner
from neo_service_layer.worker.chain_watch import N3_REQUEST_KIND, n3_watch_once, n3_watcher
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.neo_n3.helpers import events, stack_bytes, stack_int, test_invoke
from tests.chains.neo_n3.platform import VALID_BLOCKS, N3Platform
from tests.enclave.oracle.chain_web import public_fetcher, public_url, web
from tests.enclave.oracle.servers import LocalServer, OraclePKI

ORACLE_CONSUMER = "OracleConsumer"
ENCLAVE_REFUSED = "signature is not from the enclave key"


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The shared in-process enclave's fetcher: default policy, the test CA, the NAT to the web."""
    async with public_fetcher(pki) as fetcher:
        yield fetcher


@pytest.fixture
async def site(pki: OraclePKI) -> AsyncIterator[LocalServer]:
    async with web(pki) as server:
        yield server


def consumer(platform: N3Platform) -> GenericContract:
    return GenericContract(platform.deployment.examples[ORACLE_CONSUMER])


async def request(platform: N3Platform, *calls: tuple[str, list[Any]]) -> list[tuple[int, bytes]]:
    """The consumer's calls in ONE transaction: each request's (id, payload) as the gateway emitted it."""
    contract = consumer(platform)
    receipt = await facade_for(platform.rpc_url, platform.admin).invoke_multi(
        [contract.call_function(method, args) for method, args in calls]
    )
    assert str(receipt.state) == "HALT", receipt.exception
    emitted = events(list(receipt.notifications), "Request", platform.deployment.gateway)
    return [(int(item[0]), bytes(item[2])) for item in emitted]


def delivered(platform: N3Platform, request_id: int) -> tuple[int, bytes]:
    c = consumer(platform)
    reply = test_invoke(
        platform.rpc_url,
        [c.call_function("get_code", [request_id]), c.call_function("get_result", [request_id])],
        platform.admin,
    )
    code, data = reply.stack
    return stack_int(code), stack_bytes(data)


async def fulfilled_results(platform: N3Platform, request_id: int) -> list[bytes]:
    """Every ``Fulfilled(request_id, result)`` of this test's gateway."""
    watcher = n3_watcher(platform.settings(Path("/tmp")))
    try:
        head = await watcher.rpc.block_count() - 1
        found = []
        async for event in watcher.notifications(platform.first_block, head, "Fulfilled"):
            items = event.notification["state"]["value"]
            if int(items[0]["value"]) == request_id and event.notification["contract"] == platform.gateway:
                found.append(base64.b64decode(items[1]["value"]))
        return found
    finally:
        await watcher.rpc.close()


async def request_of(platform: N3Platform, tmp_path: Path, request_id: int) -> N3Request:
    watcher = n3_watcher(platform.settings(tmp_path, n3={"start_block": platform.first_block}))
    try:
        await n3_watch_once(platform.db, watcher)
    finally:
        await watcher.rpc.close()
    async with platform.db.transaction() as session:
        for job in (await session.execute(select(Job).where(Job.kind == N3_REQUEST_KIND))).scalars():
            if int(job.payload["request_id"]) == request_id:
                return N3Request.from_payload(job.payload)
    raise AssertionError("the watcher did not enqueue the request")


def fulfiller(platform: N3Platform, rpc: N3Rpc, **policy: Any) -> N3Fulfiller:
    store = FulfilmentStore(platform.db, platform.chain)
    signer = N3EnclaveFulfilmentSigner(platform.db, platform.enclave, platform.deployment.magic)
    options = {"poll_seconds": 0.1, "valid_blocks": VALID_BLOCKS} | policy
    return N3Fulfiller(rpc, platform.gateway, store, signer, policy=N3FulfilPolicy(**options))


async def test_a_real_worker_serves_the_oracle_consumer(
    n3_platform: N3Platform, site: LocalServer, tmp_path: Path
) -> None:
    settings = n3_platform.settings(tmp_path)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, handlers=service_handlers(settings), tasks=service_tasks(settings))
    )
    try:
        made = await request(
            n3_platform,
            ("request_url", [public_url(site, "/price"), "$.data.price"]),
            ("request_url", [public_url(site, "/missing"), "$"]),
            # The same server by its loopback address: the enclave's default policy refuses to dial it.
            ("request_url", [site.url("/price"), "$"]),
            ("request_data", [b"GET /price please"]),
            # Over the 1,024-byte on-chain cap: delivered as ResponseTooLarge, no data.
            ("request_url", [public_url(site, "/big"), "$.items"]),
        )
        ids = [request_id for request_id, _ in made]
        rows = [await n3_platform.wait_status(i, "confirmed", "failed") for i in ids]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    # jsonSerialize([url, filter]) as neo-go writes it: compact JSON.
    assert made[0][1] == b'["%s","$.data.price"]' % public_url(site, "/price").encode()
    expected = [
        (OracleCode.Success, b'["43000.12"]'),
        (OracleCode.NotFound, b""),
        (OracleCode.Forbidden, b""),
        (OracleCode.Error, b""),
        (OracleCode.ResponseTooLarge, b""),
    ]
    for request_id, row, (code, data) in zip(ids, rows, expected, strict=True):
        assert row.status == "confirmed", (code, row.failure_detail)
        assert delivered(n3_platform, request_id) == (code, data)
        # Exactly one fulfilment, and the row records the result that landed.
        assert await fulfilled_results(n3_platform, request_id) == [n3_result(code, data)] == [row.result]
        assert row.signature is not None
    assert [r.path for r in site.requests].count("/price") == 1  # the loopback URL was never dialled


async def test_the_gateway_refuses_a_forged_or_second_answer(
    n3_platform: N3Platform, site: LocalServer, tmp_path: Path
) -> None:
    """A compromised host asks the real enclave, then alters the result, or hands it another payload
    (the enclave signs that payload's SHA-256): each is refused; the honest answer lands once, and the
    fulfiller that comes later records that answer from the ``Fulfilled`` notification."""
    ((request_id, payload),) = await request(n3_platform, ("request_url", [public_url(site, "/tick"), "$.n"]))
    honest = N3OracleFulfilmentArgs(
        network_magic=n3_platform.deployment.magic,
        gateway=n3_platform.gateway,
        request_id=request_id,
        payload=payload,
    )
    answer = await n3_platform.enclave.run(N3_ORACLE_FULFILMENT, honest)
    other = await n3_platform.enclave.run(
        N3_ORACLE_FULFILMENT, honest.model_copy(update={"payload": payload.replace(b'"$.n"', b"null")})
    )
    gateway = GenericContract(n3_platform.deployment.gateway)
    altered = n3_result(OracleCode.Success, b"[1000000]")
    for result, signature in ((altered, answer.signature), (other.result, other.signature)):
        forged = gateway.call_function("fulfill", [request_id, result, signature])
        test_invoke(n3_platform.rpc_url, forged, n3_platform.admin).assert_fault(ENCLAVE_REFUSED)

    landed = await facade_for(n3_platform.rpc_url, n3_platform.admin).invoke_multi(
        [gateway.call_function("fulfill", [request_id, answer.result, answer.signature])]
    )
    assert str(landed.state) == "HALT", landed.exception
    again = await n3_platform.enclave.run(N3_ORACLE_FULFILMENT, honest)  # the web changed: another answer
    assert again.result != answer.result
    second = gateway.call_function("fulfill", [request_id, again.result, again.signature])
    test_invoke(n3_platform.rpc_url, second, n3_platform.admin).assert_fault("request already fulfilled")
    assert await fulfilled_results(n3_platform, request_id) == [answer.result]
    assert delivered(n3_platform, request_id) == (OracleCode.Success, b"[1]")

    async with N3Rpc(n3_platform.rpc_url) as rpc:
        served = await request_of(n3_platform, tmp_path, request_id)
        outcome = await fulfiller(n3_platform, rpc).fulfil(served)
    row = await n3_platform.row(request_id)
    assert row is not None
    assert (outcome.status, outcome.attempts, outcome.tx_hash) == (
        FulfilmentStatus.CONFIRMED,
        0,
        f"0x{landed.tx_hash}",
    )
    assert (row.result, row.signature) == (answer.result, None)  # what landed; not signed by this row


class _DroppingRpc(N3Rpc):
    """The real node, but the first ``drop`` transactions broadcast never reach it (lost on the way)."""

    def __init__(self, url: str, drop: int) -> None:
        super().__init__(url)
        self.drop = drop
        self.dropped: list[bytes] = []

    async def send(self, tx: bytes) -> str:
        if len(self.dropped) < self.drop:
            self.dropped.append(tx)
            return "0x" + "00" * 32
        return await super().send(tx)

    async def in_mempool(self, tx_hash: str) -> bool:
        return True  # so the fulfiller does not rebroadcast: the transaction must expire


async def test_an_expired_transaction_is_rebuilt_with_the_first_answer(
    n3_platform: N3Platform, site: LocalServer, tmp_path: Path
) -> None:
    """The web answers differently each time (``/tick``): the rebuilt transaction carries the answer
    recorded for the first one, and the enclave was asked once."""
    ((request_id, _),) = await request(n3_platform, ("request_url", [public_url(site, "/tick"), "$.n"]))
    served = await request_of(n3_platform, tmp_path, request_id)
    async with _DroppingRpc(n3_platform.rpc_url, drop=1) as rpc:
        outcome = await fulfiller(n3_platform, rpc, valid_blocks=1).fulfil(served)

    row = await n3_platform.row(request_id)
    assert row is not None
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert (outcome.attempts, len(rpc.dropped)) == (2, 1)
    assert [r.path for r in site.requests].count("/tick") == 1
    first = n3_result(OracleCode.Success, b"[1]")
    assert first in rpc.dropped[0]  # the lost transaction's script carried the same answer
    assert await fulfilled_results(n3_platform, request_id) == [first] == [row.result]
    assert delivered(n3_platform, request_id) == (OracleCode.Success, b"[1]")
