"""The N3 fulfiller end to end on a real neo-go chain, a real database (both backends) and a real enclave:
watch job → ``chains.n3.request`` job → the consumer holds a value the chain verified (on-chain mode) and
that ``dyvrf.verify`` accepts offline; replays refused on chain; reconciliation from chain state; an
expired transaction rebuilt and sent again; a worker process SIGKILLed with its transaction broadcast,
or recorded but never broadcast, recovering on restart; one fulfilment per request however often the
job runs; no key material in any database row or job result.

Forged fulfilments (another key, other result, other id, tampered proofs) are refused by the gateway
itself: ``test_gateway.py`` covers them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from neo3.api.wrappers import GasToken, GenericContract
from sqlalchemy import select

from neo_service_layer.chains.fulfilments import ChainFulfilment, FulfilmentStatus, FulfilmentStore
from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.chains.neo_n3.build import N3Build, build_contracts
from neo_service_layer.chains.neo_n3.deploy import deploy_call, predicted_hash
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, facade_for
from neo_service_layer.chains.neo_n3.fulfiller import N3Fulfiller, N3FulfilPolicy
from neo_service_layer.chains.neo_n3.relay import call_script
from neo_service_layer.chains.neo_n3.requests import N3Request
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.db.models import Job
from neo_service_layer.enclave.chain_keys import ChainFamily
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.opdefs.chains import (
    N3_RANDOMNESS_FULFILMENT,
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
)
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.platform import n3_relayer_key
from neo_service_layer.worker.chain_fulfil_n3 import N3EnclaveFulfilmentSigner
from neo_service_layer.worker.chain_watch import N3_REQUEST_KIND, n3_watch_once, n3_watcher
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.fulfilment_rows import (
    assert_no_key_material,
    chain_vrf_secrets,
    database_dump,
    key_secrets,
)
from tests.chains.neo_n3.helpers import stack_bytes, stack_int, test_invoke
from tests.chains.neo_n3.platform import VALID_BLOCKS, N3Platform
from tests.chains.worker_process import WorkerProcess, kill, stop
from tests.worker.helpers import wait_until


async def jobs(platform: N3Platform) -> list[Job]:
    async with platform.db.transaction() as session:
        query = select(Job).where(Job.kind == N3_REQUEST_KIND).order_by(Job.created_at)
        return list((await session.execute(query)).scalars())


async def request_of(platform: N3Platform, tmp_path: Path, request_id: int) -> N3Request:
    """The request as the watcher hands it to the fulfiller (one real scan, from the gateway's deployment:
    one scan reads at most ``max_blocks``, which a scan from genesis outgrows in a long session)."""
    watcher = n3_watcher(platform.settings(tmp_path, n3={"start_block": platform.first_block}))
    try:
        await n3_watch_once(platform.db, watcher)
    finally:
        await watcher.rpc.close()
    for job in await jobs(platform):
        if int(job.payload["request_id"]) == request_id:
            return N3Request.from_payload(job.payload)
    raise AssertionError("the watcher did not enqueue the request")


def signer(platform: N3Platform) -> N3EnclaveFulfilmentSigner:
    return N3EnclaveFulfilmentSigner(platform.db, platform.enclave, platform.deployment.magic)


async def prove(
    platform: N3Platform, request_id: int, payload: bytes, vrf_key_version: int
) -> N3RandomnessFulfilmentResult:
    """The enclave's answer to a randomness request, asked directly (as the worker, or a compromised
    host, can ask it), for any payload and key version."""
    args = N3RandomnessFulfilmentArgs(
        network_magic=platform.deployment.magic,
        gateway=platform.gateway,
        request_id=request_id,
        payload=payload,
        vrf_key_version=vrf_key_version,
    )
    return await platform.enclave.run(N3_RANDOMNESS_FULFILMENT, args)


def fulfiller(platform: N3Platform, rpc: N3Rpc, **policy: Any) -> N3Fulfiller:
    store = FulfilmentStore(platform.db, platform.chain)
    policy = {"poll_seconds": 0.1, "valid_blocks": VALID_BLOCKS} | policy
    return N3Fulfiller(rpc, platform.gateway, store, signer(platform), policy=N3FulfilPolicy(**policy))


async def fulfilled_events(platform: N3Platform, rpc: N3Rpc, request_id: int) -> list[tuple[str, bytes]]:
    """Every ``Fulfilled(request_id, result)`` of the gateway, ever (it was deployed at ``first_block``):
    (tx hash, result)."""
    watcher = n3_watcher(platform.settings(Path("/tmp")))
    head = await rpc.block_count() - 1
    found = []
    async for event in watcher.notifications(platform.first_block, head, "Fulfilled"):
        items = event.notification["state"]["value"]
        if int(items[0]["value"]) == request_id and event.notification["contract"] == platform.gateway:
            found.append((event.tx_hash, base64.b64decode(items[1]["value"])))
    await watcher.rpc.close()
    return found


async def assert_verifiable(platform: N3Platform, rpc: N3Rpc, request_id: int, seed: bytes) -> bytes:
    """The consumer's value is beta, and dyvrf.verify accepts the event's proof offline with the
    registered VRF key."""
    ((_, result),) = await fulfilled_events(platform, rpc, request_id)
    beta, pi, _ = messages.split_randomness_result(result)
    gateway_le = bytes(platform.deployment.gateway.to_array())
    alpha = messages.randomness_alpha(platform.deployment.magic, gateway_le, request_id, seed)
    consumer = platform.consumer()
    reply = test_invoke(
        platform.rpc_url,
        [
            GenericContract(platform.deployment.gateway).call_function("get_vrf_key"),
            consumer.call_function("get_randomness", [request_id]),
        ],
        platform.admin,
    )
    registered, value = reply.stack
    assert stack_bytes(registered) == platform.keys.vrf_public_key
    assert dyvrf.verify(platform.keys.vrf_public_key, alpha, pi) == beta
    assert stack_bytes(value) == beta
    return beta


async def test_a_real_worker_fulfils_randomness_in_both_modes(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    settings = n3_platform.settings(tmp_path)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, handlers=service_handlers(settings), tasks=service_tasks(settings))
    )
    try:
        ids, block = await n3_platform.request_randomness((b"sig-only", False), (b"on-chain", True))
        rows = [await n3_platform.wait_status(i, "confirmed", "failed") for i in ids]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    assert [row.status for row in rows] == ["confirmed", "confirmed"], [r.failure_detail for r in rows]
    assert [row.mode for row in rows] == [0, 1]
    assert all(row.callback_success and row.attempts == 1 for row in rows)
    assert [row.relayer for row in rows] == [n3_platform.keys.relayer_script_hash] * 2
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        betas = [
            await assert_verifiable(n3_platform, rpc, i, s)
            for i, s in zip(ids, [b"sig-only", b"on-chain"], strict=False)
        ]
    assert betas[0] != betas[1]
    verified = test_invoke(
        n3_platform.rpc_url,
        [n3_platform.consumer().call_function("verified_on_chain", [i]) for i in ids],
        n3_platform.admin,
    )
    assert [stack_int(item) for item in verified.stack] == [0, 1]
    finished = await jobs(n3_platform)
    assert [(job.status, (job.result or {}).get("status")) for job in finished] == [
        ("succeeded", "confirmed")
    ] * 2
    blocks = [row.block_number - block for row in rows if row.block_number is not None]
    gas = [row.gas_used for row in rows]
    print(f"\nN3 fulfilment: blocks after the request {blocks}, system fee (datoshi) {gas}")
    # In a later block than the request (how many later is the machine's load: a benchmark's figure,
    # bench/fulfilment.py, not a test's).
    assert len(blocks) == 2
    assert all(b >= 1 for b in blocks)
    assert gas[0] is not None
    assert gas[0] < 50_000_000
    assert gas[1] is not None
    assert 400_000_000 < gas[1] < 500_000_000


async def test_a_replayed_fulfilment_is_refused_on_chain(n3_platform: N3Platform, tmp_path: Path) -> None:
    (request_id,), _ = await n3_platform.request_randomness((b"replay", True))
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        outcome = await fulfiller(n3_platform, rpc).fulfil(
            await request_of(n3_platform, tmp_path, request_id)
        )
        answer = await prove(n3_platform, request_id, b"replay", 1)
        replay = GenericContract(n3_platform.deployment.gateway).call_function(
            "fulfill", [request_id, answer.result, answer.signature]
        )
        receipt = await facade_for(n3_platform.rpc_url, n3_platform.admin).invoke_multi([replay])

        assert outcome.status is FulfilmentStatus.CONFIRMED
        assert str(receipt.state) == "FAULT"
        assert "request already fulfilled" in (receipt.exception or "")
        assert len(await fulfilled_events(n3_platform, rpc, request_id)) == 1


async def test_running_the_job_again_sends_nothing_and_keeps_the_outcome(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    (request_id,), _ = await n3_platform.request_randomness((b"twice", False))
    request = await request_of(n3_platform, tmp_path, request_id)
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        first, racing = await asyncio.gather(
            fulfiller(n3_platform, rpc).fulfil(request), fulfiller(n3_platform, rpc).fulfil(request)
        )
        again = await fulfiller(n3_platform, rpc).fulfil(request)
        store = FulfilmentStore(n3_platform.db, n3_platform.chain)
        await store.update(request.fulfilment_key, status="pending")  # the row lost: the chain still decides
        reconciled = await fulfiller(n3_platform, rpc).fulfil(request)
        events = await fulfilled_events(n3_platform, rpc, request_id)

    assert first.status is racing.status is reconciled.status is FulfilmentStatus.CONFIRMED
    assert again == first
    assert len(events) == 1
    assert reconciled.tx_hash == first.tx_hash == events[0][0]


async def test_a_request_fulfilled_by_someone_else_is_confirmed_from_the_chain(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    (request_id,), _ = await n3_platform.request_randomness((b"relayed", False))
    request = await request_of(n3_platform, tmp_path, request_id)
    answer = await prove(n3_platform, request_id, b"relayed", 1)
    call = GenericContract(n3_platform.deployment.gateway).call_function(
        "fulfill", [request_id, answer.result, answer.signature]
    )
    receipt = await facade_for(n3_platform.rpc_url, n3_platform.admin).invoke_multi([call])
    assert str(receipt.state) == "HALT", receipt.exception

    async with N3Rpc(n3_platform.rpc_url) as rpc:
        outcome = await fulfiller(n3_platform, rpc).fulfil(request)

    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert (outcome.tx_hash, outcome.attempts, outcome.block_number) == (
        f"0x{receipt.tx_hash}",
        0,
        receipt.included_in_block,
    )


async def test_a_compromised_host_gets_no_second_acceptable_output(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    """The host asks the real enclave, as a compromised worker could, to fulfil one request with another
    payload or another VRF key version: each answer is validly signed by the enclave, and the gateway
    refuses every one of them (signature-only mode: no proof check to fall back on); only the request's
    own output is accepted."""
    (request_id,), _ = await n3_platform.request_randomness((b"fair draw", False))
    rerolls = [(b"a seed never sent", 1), (b"fair draw", 2), (b"fair draw", 7)]
    answers = [await prove(n3_platform, request_id, payload, version) for payload, version in rerolls]
    assert len({answer.result for answer in answers}) == len(rerolls)
    contract = GenericContract(n3_platform.deployment.gateway)
    for answer in answers:
        forged = contract.call_function("fulfill", [request_id, answer.result, answer.signature])
        test_invoke(n3_platform.rpc_url, forged, n3_platform.admin).assert_fault(
            "signature is not from the enclave key"
        )
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        outcome = await fulfiller(n3_platform, rpc).fulfil(
            await request_of(n3_platform, tmp_path, request_id)
        )
        beta = await assert_verifiable(n3_platform, rpc, request_id, b"fair draw")
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert beta not in {answer.result[:32] for answer in answers}


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


async def test_an_expired_transaction_is_rebuilt_and_sent_again(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    (request_id,), _ = await n3_platform.request_randomness((b"expire", False))
    request = await request_of(n3_platform, tmp_path, request_id)
    async with _DroppingRpc(n3_platform.rpc_url, drop=1) as rpc:
        outcome = await fulfiller(n3_platform, rpc, valid_blocks=1).fulfil(request)
        events = await fulfilled_events(n3_platform, rpc, request_id)

    row = await n3_platform.row(request_id)
    assert row is not None
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert (outcome.attempts, len(row.tx_hashes), len(rpc.dropped)) == (2, 2, 1)
    assert outcome.tx_hash == row.tx_hashes[1] == events[0][0]  # the rebuilt one, the first never landed
    assert len(events) == 1


async def known_to_node(rpc: N3Rpc, tx_hash: str | None) -> bool:
    """Whether the node has the transaction, in its pool or in a block."""
    assert tx_hash is not None
    return await rpc.in_mempool(tx_hash) or await rpc.application_log(tx_hash) is not None


async def recover_with_a_fresh_worker(
    platform: N3Platform, worker: WorkerProcess, request_id: int, recorded: ChainFulfilment
) -> None:
    """A new worker process serves the request to ``confirmed`` with the transaction ``recorded`` before
    the crash (nothing signed again), and the chain holds exactly one fulfilment."""
    with worker.running() as process:
        row = await platform.wait_status(request_id, "confirmed", "failed", within=30)
        stop(process)
    assert row.status == "confirmed", worker.tail()
    assert (row.tx_hash, row.attempts, row.tx_hashes) == (recorded.tx_hash, 1, [recorded.tx_hash])
    async with N3Rpc(platform.rpc_url) as rpc:
        assert [tx for tx, _ in await fulfilled_events(platform, rpc, request_id)] == [recorded.tx_hash]
        await assert_verifiable(platform, rpc, request_id, b"crash")


async def test_a_worker_killed_after_broadcasting_recovers_on_restart(
    n3_platform_at_default_pace: N3Platform, tmp_path: Path
) -> None:
    # Killed between its broadcast and the block that includes it: a window of one block time.
    n3_platform = n3_platform_at_default_pace
    settings = n3_platform.settings(tmp_path, jobs={"lease_seconds": 1.5, "backoff_base_seconds": 0.1})
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        with worker.running() as first:
            (request_id,), _ = await n3_platform.request_randomness((b"crash", False))
            sent = await n3_platform.wait_status(request_id, "sent", within=30)
            await wait_until(lambda: known_to_node(rpc, sent.tx_hash))
            kill(first)
    killed = await n3_platform.row(request_id)
    assert killed is not None
    assert killed.status == "sent"  # killed before it saw the transaction in a block

    await recover_with_a_fresh_worker(n3_platform, worker, request_id, sent)


class _Killed(Exception):
    """Stands for SIGKILL between recording the signed transaction and broadcasting it."""


class _DyingRpc(N3Rpc):
    """The real node; the process "dies" when it is about to broadcast."""

    async def send(self, tx: bytes) -> str:
        raise _Killed


async def test_a_transaction_recorded_but_never_broadcast_is_sent_by_the_next_worker(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    """The fulfiller's "recorded, then broadcast" window, reached deterministically: the row says
    ``sent`` but the node never saw the transaction. A fresh worker process rebroadcasts the recorded
    raw transaction (it signs nothing new) and confirms it."""
    settings = n3_platform.settings(tmp_path, jobs={"lease_seconds": 1.5, "backoff_base_seconds": 0.1})
    (request_id,), _ = await n3_platform.request_randomness((b"crash", False))
    request = await request_of(n3_platform, tmp_path, request_id)  # the job the next worker runs
    async with _DyingRpc(n3_platform.rpc_url) as rpc:
        with pytest.raises(_Killed):
            await fulfiller(n3_platform, rpc).fulfil(request)
        recorded = await n3_platform.row(request_id)
        assert recorded is not None
        assert (recorded.status, recorded.attempts) == ("sent", 1)
        assert not await known_to_node(rpc, recorded.tx_hash)

    await recover_with_a_fresh_worker(
        n3_platform, WorkerProcess(settings, tmp_path / "worker.log"), request_id, recorded
    )


@pytest.fixture(scope="session")
def requester_build() -> N3Build:
    return build_contracts(["service_requester"], source_dir=Path(__file__).parent / "contracts")


async def test_unknown_unsupported_and_refused_requests_fail_with_stable_reasons(
    n3_platform: N3Platform, requester_build: N3Build, tmp_path: Path
) -> None:
    gateway = GenericContract(n3_platform.deployment.gateway)
    (request_id,), _ = await n3_platform.request_randomness((b"real", False))
    real = await request_of(n3_platform, tmp_path, request_id)
    orphan = N3Request.from_payload({**real.to_payload(), "request_id": "999"})
    # A consumer asking for "price-feed": a service this gateway takes but NSL does not serve (price
    # feeds are rounds in nsl_price_feed, which consumers read).
    artifact = requester_build["service_requester"]
    requester = predicted_hash(n3_platform.admin.script_hash, artifact)
    gas = GasToken()  # type: ignore[no-untyped-call]
    calls = [
        deploy_call(artifact, n3_platform.deployment.gateway),
        gas.transfer(n3_platform.admin.script_hash, requester, GAS_FACTOR),
        GenericContract(requester).call_function("request", ["price-feed", b"NEO/USD"]),
    ]
    other_key = dyvrf.public_key(dyvrf.generate_secret())
    facade = facade_for(n3_platform.rpc_url, n3_platform.admin)
    receipt = await facade.invoke_multi([*calls, gateway.call_function("set_vrf_key", [2, other_key])])
    assert str(receipt.state) == "HALT", receipt.exception
    (wrong_key,), _ = await n3_platform.request_randomness((b"wrong key", True))
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        orphaned = await fulfiller(n3_platform, rpc).fulfil(orphan)
        unsupported = await fulfiller(n3_platform, rpc).fulfil(await request_of(n3_platform, tmp_path, 2))
        refused = await fulfiller(n3_platform, rpc).fulfil(await request_of(n3_platform, tmp_path, wrong_key))

    assert (orphaned.status, orphaned.reason) == (FulfilmentStatus.FAILED, "request_not_on_chain")
    assert (unsupported.status, unsupported.reason) == (FulfilmentStatus.FAILED, "service_not_supported_yet")
    # A key version the enclave does not hold (the admin registered a foreign key as version 2): the
    # enclave proves with its own version 2, whose hash its signature covers, and the gateway refuses it.
    assert (refused.status, refused.reason) == (FulfilmentStatus.FAILED, "would_fault")
    assert "signature is not from the enclave key" in (refused.detail or "")
    pending = test_invoke(
        n3_platform.rpc_url, gateway.call_function("is_fulfilled", [wrong_key]), n3_platform.admin
    )
    assert stack_int(pending.stack[0]) == 0  # still pending


async def test_no_key_material_reaches_the_database_or_job_results(
    n3_platform: N3Platform, enclave_server: EnclaveServer, tmp_path: Path
) -> None:
    (request_id,), _ = await n3_platform.request_randomness((b"secret?", True))
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        outcome = await fulfiller(n3_platform, rpc).fulfil(
            await request_of(n3_platform, tmp_path, request_id)
        )
    assert outcome.status is FulfilmentStatus.CONFIRMED
    relayer = await n3_relayer_key(n3_platform.db, n3_platform.enclave, n3_platform.deployment.magic)
    secrets = [
        *chain_vrf_secrets(enclave_server, ChainFamily.N3, [n3_platform.keys.vrf_key_version]),
        *key_secrets(enclave_server, [relayer]),
    ]

    dump = await database_dump(n3_platform.db)

    assert_no_key_material(secrets, dump)
    # The dump does hold the public side: the check looks where the key material would be.
    assert outcome.tx_hash is not None
    assert outcome.tx_hash.encode() in dump
    assert (
        n3_platform.keys.relayer_public_key.hex().encode() in dump
        or n3_platform.keys.relayer_public_key in dump
    )


def test_the_fulfil_script_calls_the_gateway() -> None:
    script = call_script("0x" + "ab" * 20, "is_fulfilled", [1])
    assert b"is_fulfilled" in script
    assert bytes.fromhex("ab" * 20) in script
