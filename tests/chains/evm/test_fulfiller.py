"""The EVM fulfiller end to end on a real anvil, a real database (both backends) and a real enclave:
watcher job → fulfil job → the consumer holds a value that ``dyvrf.verify`` accepts offline; reconciling
from chain state, crash recovery with a SIGKILLed worker process, fee bumps with the same nonce.

Forged fulfilments (another key, high s, wrong proof) and replays are refused by the gateway itself:
``test_gateway.py`` covers them; here the fulfiller's side of it is checked (it sends nothing twice and
records what the chain says)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.types import Nonce, TxParams, Wei

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.fulfilments import (
    FeeBudgetExceeded,
    FulfilmentPending,
    FulfilmentStatus,
    FulfilmentStore,
)
from neo_service_layer.enclave.chain_keys import ChainFamily
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.opdefs.chains import EVM_RANDOMNESS_FULFILMENT, EvmRandomnessFulfilmentArgs
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.platform import evm_relayer_key
from neo_service_layer.worker.chain_fulfil import EnclaveFulfilmentSigner
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.evm.flows import RANDOMNESS, Nsl, request_randomness
from tests.chains.evm.fulfil_helpers import Platform, automine_off, fulfiller, jobs, request_of, rpc
from tests.chains.evm.helpers import one_event, revert_name
from tests.chains.fulfilment_rows import (
    assert_no_key_material,
    chain_vrf_secrets,
    database_dump,
    key_secrets,
)
from tests.chains.worker_process import WorkerProcess, kill, stop
from tests.worker.helpers import wait_until


def fulfilled_logs(nsl: Nsl, request_id: bytes) -> list[Any]:
    return list(
        nsl.gateway.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
    )


def assert_verifiable(platform: Platform, request_id: bytes, seed: bytes) -> bytes:
    """The consumer's value is beta, and dyvrf.verify accepts the proof offline with the registered key."""
    nsl = platform.nsl
    (log,) = fulfilled_logs(nsl, request_id)
    beta, pi = messages.split_randomness_result(bytes(log.args.result))
    alpha = messages.randomness_alpha(nsl.chain_id, nsl.gateway.address, request_id, seed)
    registered = bytes(nsl.gateway.functions.vrfPublicKey().call())
    assert registered == platform.keys.vrf_public_key_eip2537
    assert dyvrf.verify(platform.keys.vrf_public_key, alpha, messages.compress_eip2537_g2(pi)) == beta
    requested, fulfilled, _verified, value = nsl.randomness_consumer.functions.draws(request_id).call()
    assert (requested, fulfilled, bytes(value)) == (True, True, beta)
    return beta


async def test_a_real_worker_fulfils_randomness_in_both_modes(platform: Platform, tmp_path: Path) -> None:
    nsl = platform.nsl
    settings = platform.settings(tmp_path)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, handlers=service_handlers(settings), tasks=service_tasks(settings))
    )
    try:
        signature_only, _ = request_randomness(nsl, b"sig-only", verify=False)
        verified, _ = request_randomness(nsl, b"on-chain", verify=True)
        rows = [await platform.wait_status(rid, "confirmed", "failed") for rid in (signature_only, verified)]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)

    assert [row.status for row in rows] == ["confirmed", "confirmed"], [r.failure_detail for r in rows]
    assert [row.mode for row in rows] == [Mode.SIGNATURE_ONLY, Mode.ONCHAIN_VERIFY]
    assert rows[0].nonce is not None
    assert rows[1].nonce is not None
    assert rows[0].nonce != rows[1].nonce
    assert all(row.callback_success for row in rows)
    assert assert_verifiable(platform, signature_only, b"sig-only") != assert_verifiable(
        platform, verified, b"on-chain"
    )
    assert nsl.randomness_consumer.functions.draws(verified).call()[2] is True  # verifiedOnChain
    finished = await jobs(platform)
    assert [(job.status, (job.result or {}).get("status")) for job in finished] == [
        ("succeeded", "confirmed")
    ] * 2
    # The gas floor covers the on-chain proof check (~142k) on top of the callback's budget.
    assert rows[1].gas_limit is not None
    assert rows[1].gas_limit > 200_000


@pytest.mark.parametrize("verify", [False, True], ids=["signature-only", "onchain-verify"])
async def test_a_compromised_host_gets_no_second_acceptable_output(platform: Platform, verify: bool) -> None:
    """The host asks the real enclave, as a compromised worker could, to fulfil one request with another
    payload hash or another VRF key version: each answer is validly signed by the enclave, and the
    gateway refuses every one of them; only the request's own output is accepted."""
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"fair draw", verify=verify)
    stored = GatewayRpc(nsl.w3, nsl.gateway.address).get_request(request_id)
    honest = EvmRandomnessFulfilmentArgs(
        chain_id=nsl.chain_id,
        gateway=nsl.gateway.address,
        request_id=request_id,
        payload_hash=stored.payload_hash,
        vrf_key_version=stored.vrf_key_version,
    )
    rerolls = [
        honest.model_copy(update={"payload_hash": Web3.keccak(b"a seed the consumer never sent")}),
        honest.model_copy(update={"vrf_key_version": 1}),  # registered, but not this request's version
        honest.model_copy(update={"vrf_key_version": 3}),  # never registered
    ]
    answers = [await platform.enclave.run(EVM_RANDOMNESS_FULFILMENT, args) for args in rerolls]
    outputs = {answer.beta for answer in answers}
    assert len(outputs) == len(rerolls)  # three different outputs, each signed by the enclave
    for answer in answers:
        forged = nsl.gateway.functions.fulfill(request_id, answer.result, answer.signature)
        assert revert_name(nsl.build, forged, nsl.owner.address) == "NotEnclaveSigned"

    answer = await platform.enclave.run(EVM_RANDOMNESS_FULFILMENT, honest)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.fulfill(request_id, answer.result, answer.signature))
    assert answer.beta not in outputs
    assert assert_verifiable(platform, request_id, b"fair draw") == answer.beta


async def test_running_the_job_again_sends_nothing_and_keeps_the_outcome(
    platform: Platform, tmp_path: Path
) -> None:
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"twice", verify=False)
    request = await request_of(platform, tmp_path, request_id)
    first = await fulfiller(platform).fulfil(request)
    sent = nsl.w3.eth.get_transaction_count(Web3.to_checksum_address(platform.keys.relayer))

    again = await fulfiller(platform).fulfil(request)
    await FulfilmentStore(platform.db, platform.chain).update(request_id.hex(), status="pending")
    reconciled = await fulfiller(platform).fulfil(request)  # the row lost: the chain still decides

    assert (first.status, again, reconciled.status) == (
        FulfilmentStatus.CONFIRMED,
        first,
        FulfilmentStatus.CONFIRMED,
    )
    assert reconciled.tx_hash == first.tx_hash
    assert nsl.w3.eth.get_transaction_count(Web3.to_checksum_address(platform.keys.relayer)) == sent
    assert len(fulfilled_logs(nsl, request_id)) == 1


async def test_a_request_fulfilled_by_someone_else_is_confirmed_from_the_chain(
    platform: Platform, tmp_path: Path
) -> None:
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"relayed", verify=True)
    request = await request_of(platform, tmp_path, request_id)
    args = EvmRandomnessFulfilmentArgs(
        chain_id=nsl.chain_id,
        gateway=nsl.gateway.address,
        request_id=request_id,
        payload_hash=Web3.keccak(b"relayed"),
        vrf_key_version=platform.keys.vrf_key_version,
    )
    answer = await platform.enclave.run(EVM_RANDOMNESS_FULFILMENT, args)
    other = transact(
        nsl.w3, nsl.owner, nsl.gateway.functions.fulfill(request_id, answer.result, answer.signature)
    )

    outcome = await fulfiller(platform).fulfil(request)

    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert (outcome.tx_hash, outcome.attempts) == (other["transactionHash"].to_0x_hex(), 0)
    assert one_event(nsl.gateway, "Fulfilled", other).args.callbackSuccess is True


async def test_unknown_and_unsupported_requests_fail_with_stable_reasons(
    platform: Platform, tmp_path: Path
) -> None:
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"real", verify=False)
    real = await request_of(platform, tmp_path, request_id)
    orphan = ServiceRequest.from_payload({**real.to_payload(), "request_id": "ab" * 32})
    # "price-feed": offered by this gateway, not served by NSL (feeds are rounds consumers read).
    unserved = messages.service_id("price-feed")
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setFee(unserved, int(Mode.SIGNATURE_ONLY), 1, True))
    zero = Web3.to_checksum_address(bytes(20))
    receipt = transact(
        nsl.w3, nsl.user, nsl.gateway.functions.request(unserved, b"q", zero, bytes(4), 0, 0), value=1
    )
    other = bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)
    not_served = await request_of(platform, tmp_path, other)

    orphaned = await fulfiller(platform).fulfil(orphan)
    unsupported = await fulfiller(platform).fulfil(not_served)

    assert (orphaned.status, orphaned.reason) == (FulfilmentStatus.FAILED, "request_not_on_chain")
    assert (unsupported.status, unsupported.reason) == (FulfilmentStatus.FAILED, "service_not_supported_yet")


async def test_a_key_the_platform_does_not_hold_fails_with_the_decoded_reason(
    platform: Platform, tmp_path: Path
) -> None:
    """The owner registers a VRF key version that is not the enclave's: the enclave proves with its own
    key of that version, whose hash its signature covers, and the gateway refuses the signature."""
    nsl = platform.nsl
    other_key = dyvrf.eip2537_g1(dyvrf.public_key(dyvrf.generate_secret()))
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setVrfPublicKey(3, other_key))
    request_id, _ = request_randomness(nsl, b"wrong key", verify=True)

    outcome = await fulfiller(platform).fulfil(await request_of(platform, tmp_path, request_id))

    assert (outcome.status, outcome.reason) == (FulfilmentStatus.FAILED, "would_revert")
    assert outcome.detail is not None
    assert outcome.detail.startswith("NotEnclaveSigned(")
    assert fulfilled_logs(nsl, request_id) == []


async def test_a_transaction_reverted_on_chain_is_failed_with_its_custom_error(
    platform: Platform, tmp_path: Path
) -> None:
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"paused", verify=False)
    request = await request_of(platform, tmp_path, request_id)
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform).fulfil(request))
        await platform.wait_status(request_id, "sent")
        # The owner pauses the gateway with a higher tip: mined first in the same block.
        nonce = nsl.w3.eth.get_transaction_count(nsl.owner.address, "pending")
        params: TxParams = {
            "from": nsl.owner.address,
            "nonce": Nonce(nonce),
            "maxPriorityFeePerGas": Wei(10**11),
            "maxFeePerGas": Wei(10**12),
        }
        pause = nsl.gateway.functions.setPaused(True).build_transaction(params)
        signed = nsl.owner.sign_transaction(pause)  # type: ignore[arg-type]
        nsl.w3.eth.send_raw_transaction(signed.raw_transaction)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)

    assert (outcome.status, outcome.reason, outcome.detail) == (
        FulfilmentStatus.FAILED,
        "tx_reverted",
        "GatewayPaused()",
    )
    assert outcome.block_number == nsl.w3.eth.block_number


async def test_a_slow_transaction_is_replaced_with_the_same_nonce_and_higher_fees(
    platform: Platform, tmp_path: Path
) -> None:
    nsl = platform.nsl
    # Paid generously: the replacements' higher fees stay within what the request paid (the budget).
    request_id, _ = request_randomness(nsl, b"bump", verify=False, overpay=10)
    request = await request_of(platform, tmp_path, request_id)
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform, replace_after_seconds=0.3).fulfil(request))
        sent = await platform.wait_status(request_id, "sent")
        await wait_until(lambda: knows(nsl, sent.tx_hash))  # recorded first, then broadcast
        original = nsl.w3.eth.get_transaction(sent.tx_hash)  # type: ignore[arg-type]  # in the pool

        async def replaced() -> bool:
            # Recorded, then broadcast: mine only once the node holds the replacement, or the block
            # may take the first version while the replacement is still on its way.
            row = await platform.row(request_id)
            return row is not None and row.attempts >= 2 and await knows(nsl, row.tx_hash)

        await wait_until(replaced)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)

    row = await platform.row(request_id)
    assert row is not None
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert outcome.tx_hash in row.tx_hashes[1:]  # a replacement was mined, not the first version
    mined = nsl.w3.eth.get_transaction(outcome.tx_hash)  # type: ignore[arg-type]
    assert original["blockNumber"] is None
    assert mined["nonce"] == original["nonce"] == row.nonce
    assert mined["maxFeePerGas"] >= original["maxFeePerGas"] * 9 // 8
    assert mined["maxPriorityFeePerGas"] >= original["maxPriorityFeePerGas"] * 9 // 8
    assert len(fulfilled_logs(nsl, request_id)) == 1


@pytest.mark.parametrize("lost", [False, True], ids=["in-the-pool", "dropped-from-the-pool"])
async def test_a_worker_killed_with_a_transaction_in_flight_recovers_on_restart(
    platform: Platform, tmp_path: Path, lost: bool
) -> None:
    """SIGKILL while the transaction waits in anvil's pool; if ``lost``, the pool forgets it as well
    (a node restarted meanwhile): the restarted worker rebroadcasts the recorded raw transaction."""
    nsl = platform.nsl
    settings = platform.settings(tmp_path, jobs={"lease_seconds": 1.5, "backoff_base_seconds": 0.1})
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    request_id, _ = request_randomness(nsl, b"crash", verify=False)

    with automine_off(nsl):
        with worker.running() as first:
            sent = await platform.wait_status(request_id, "sent", within=30)
            await wait_until(lambda: knows(nsl, sent.tx_hash))
            kill(first)
        assert nsl.w3.eth.get_transaction(sent.tx_hash)["blockNumber"] is None  # type: ignore[arg-type]
        if lost:
            rpc(nsl, "anvil_dropTransaction", sent.tx_hash)
            assert not await knows(nsl, sent.tx_hash)
    rpc(nsl, "evm_mine")
    with worker.running() as second:
        row = await platform.wait_status(request_id, "confirmed", "failed", within=30)
        stop(second)

    assert row.status == "confirmed", worker.tail()
    assert (row.tx_hash, row.attempts, row.tx_hashes) == (sent.tx_hash, 1, [sent.tx_hash])
    assert len(fulfilled_logs(nsl, request_id)) == 1
    assert_verifiable(platform, request_id, b"crash")


async def test_the_relayer_never_signs_more_than_the_request_paid(platform: Platform, tmp_path: Path) -> None:
    """The owner offers randomness for the callback's gas alone (no flat fee): the request pays
    100k gas at its gas price, while its fulfilment needs ~169k gas. The fees are capped to the budget
    (gas limit x max fee <= feePaid), no replacement goes beyond it while the transaction waits, and the
    relayer's balance drops by less than the request paid."""
    nsl = platform.nsl
    relayer = Web3.to_checksum_address(platform.keys.relayer)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setFee(RANDOMNESS, 0, 0, True))
    request_id, _ = request_randomness(nsl, b"tight", verify=False)
    request = await request_of(platform, tmp_path, request_id)
    before = nsl.w3.eth.get_balance(relayer)
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform, replace_after_seconds=0.2).fulfil(request))
        sent = await platform.wait_status(request_id, "sent")
        await wait_until(lambda: knows(nsl, sent.tx_hash))
        await asyncio.sleep(1.0)  # five replacement rounds: none fits the budget
        waited = await platform.row(request_id)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)

    assert waited is not None
    assert waited.attempts == 1
    assert waited.gas_limit is not None
    assert waited.max_fee_per_gas is not None
    assert (
        waited.gas_limit * waited.max_fee_per_gas
        <= request.fee_paid
        < waited.gas_limit * 2 * waited.max_fee_per_gas
    )
    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert 0 < before - nsl.w3.eth.get_balance(relayer) <= request.fee_paid


async def test_a_request_that_paid_nothing_is_not_sent(platform: Platform, tmp_path: Path) -> None:
    """The owner offers randomness for free and a requester asks for no callback gas: the budget is 0,
    so the fulfiller sends nothing and the request waits (fee_budget_exceeded) instead of costing the
    relayer."""
    nsl = platform.nsl
    relayer = Web3.to_checksum_address(platform.keys.relayer)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setFee(RANDOMNESS, 0, 0, True))
    zero = Web3.to_checksum_address(bytes(20))
    receipt = transact(
        nsl.w3, nsl.user, nsl.gateway.functions.request(RANDOMNESS, b"free", zero, bytes(4), 0, 0)
    )
    request_id = bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)
    request = await request_of(platform, tmp_path, request_id)
    assert request.fee_paid == 0
    nonce = nsl.w3.eth.get_transaction_count(relayer)

    with pytest.raises(FeeBudgetExceeded) as waiting:
        await fulfiller(platform).fulfil(request)
    assert isinstance(waiting.value, FulfilmentPending)  # retried later, as any pending fulfilment
    assert waiting.value.code == "fee_budget_exceeded"

    row = await platform.row(request_id)
    assert row is not None
    assert (row.status, row.nonce, row.tx_hash) == ("pending", None, None)
    assert nsl.w3.eth.get_transaction_count(relayer) == nonce


async def test_a_transaction_lost_from_the_pool_is_rebroadcast(platform: Platform, tmp_path: Path) -> None:
    nsl = platform.nsl
    request_id, _ = request_randomness(nsl, b"lost", verify=False)
    request = await request_of(platform, tmp_path, request_id)
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform).fulfil(request))  # no replacement for 30 s
        sent = await platform.wait_status(request_id, "sent")
        await wait_until(lambda: knows(nsl, sent.tx_hash))
        rpc(nsl, "anvil_dropAllTransactions")
        await wait_until(lambda: knows(nsl, sent.tx_hash))  # the fulfiller sent it again
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)

    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert (outcome.tx_hash, outcome.attempts, outcome.nonce) == (sent.tx_hash, 1, sent.nonce)
    assert len(fulfilled_logs(nsl, request_id)) == 1


async def test_a_nonce_taken_by_another_transaction_is_detected_and_the_request_sent_again(
    platform: Platform, tmp_path: Path
) -> None:
    """The relayer key's nonce goes to a plain transfer (an operator using the key) that replaces the
    fulfilment in the pool: the fulfiller sees the nonce used without a receipt of its own, puts the
    row back to ``pending``, and the next attempt sends with a fresh nonce."""
    nsl = platform.nsl
    relayer = Web3.to_checksum_address(platform.keys.relayer)
    request_id, _ = request_randomness(nsl, b"nonce", verify=False)
    request = await request_of(platform, tmp_path, request_id)
    signer = EnclaveFulfilmentSigner(platform.db, platform.enclave, nsl.chain_id)
    with automine_off(nsl):
        task = asyncio.create_task(fulfiller(platform).fulfil(request))
        sent = await platform.wait_status(request_id, "sent")
        assert sent.nonce is not None
        assert sent.max_fee_per_gas is not None
        assert sent.max_priority_fee_per_gas is not None
        await wait_until(lambda: knows(nsl, sent.tx_hash))
        transfer = await signer.sign_transaction(
            {
                "type": 2,
                "chainId": nsl.chain_id,
                "to": nsl.owner.address,
                "value": 1,
                "gas": 21_000,
                "nonce": sent.nonce,
                "maxFeePerGas": hex(sent.max_fee_per_gas * 2),
                "maxPriorityFeePerGas": hex(sent.max_priority_fee_per_gas * 2),
            }
        )
        nsl.w3.eth.send_raw_transaction(transfer.raw)
        rpc(nsl, "evm_mine")
        with pytest.raises(FulfilmentPending, match="used by another transaction"):
            await asyncio.wait_for(task, 20)
    assert nsl.w3.eth.get_transaction_receipt(transfer.tx_hash)["status"] == 1  # type: ignore[arg-type]
    requeued = await platform.row(request_id)
    assert requeued is not None
    assert (requeued.status, requeued.nonce) == ("pending", None)

    outcome = await fulfiller(platform).fulfil(request)  # the job's next attempt

    assert outcome.status is FulfilmentStatus.CONFIRMED
    assert outcome.nonce == sent.nonce + 1
    assert nsl.w3.eth.get_transaction_count(relayer) == sent.nonce + 2
    assert len(fulfilled_logs(nsl, request_id)) == 1
    assert_verifiable(platform, request_id, b"nonce")


async def test_no_key_material_reaches_the_database_job_results_or_logs(
    platform: Platform, enclave_server: EnclaveServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    nsl = platform.nsl
    settings = platform.settings(tmp_path, log_format="json")
    stop_worker = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            settings, stop=stop_worker, handlers=service_handlers(settings), tasks=service_tasks(settings)
        )
    )
    try:
        request_id, _ = request_randomness(nsl, b"secret?", verify=True)
        row = await platform.wait_status(request_id, "confirmed", "failed")
        await wait_until(lambda: job_finished(platform))
    finally:
        stop_worker.set()
        await asyncio.wait_for(worker, 30)
    assert row.status == "confirmed", row.failure_detail
    secrets = [
        *chain_vrf_secrets(enclave_server, ChainFamily.EVM, [platform.keys.vrf_key_version]),
        *key_secrets(enclave_server, [await evm_relayer_key(platform.db, platform.enclave, nsl.chain_id)]),
    ]
    captured = capfd.readouterr()
    logs = (captured.out + captured.err).encode()
    dump = await database_dump(platform.db)

    for haystack in (dump, logs):
        assert_no_key_material(secrets, haystack)
    # Positive controls: the public side is where the key material would be.
    assert row.tx_hash is not None
    assert row.tx_hash.encode() in dump
    assert row.tx_hash.encode() in logs
    assert platform.keys.relayer.lower().encode() in dump.lower()


async def job_finished(platform: Platform) -> bool:
    return [job.status for job in await jobs(platform)] == ["succeeded"]


async def knows(nsl: Nsl, tx_hash: str | None) -> bool:
    """Whether anvil has the transaction (in its pool or mined)."""
    assert tx_hash is not None
    return GatewayRpc(nsl.w3, nsl.gateway.address).knows(tx_hash)


@pytest.mark.parametrize(
    ("service", "mode"),
    [
        pytest.param(RANDOMNESS, Mode.SIGNATURE_ONLY, id="randomness-signature-only"),
        pytest.param(RANDOMNESS, Mode.ONCHAIN_VERIFY, id="randomness-onchain-verify"),
        pytest.param(messages.service_id("oracle"), Mode.SIGNATURE_ONLY, id="oracle-signature-only"),
    ],
)
def test_a_fee_is_offered_for_each_mode_the_fulfiller_serves(nsl: Nsl, service: bytes, mode: Mode) -> None:
    """What ``deploy_nsl`` (and so ``nsl devnet up``) offers: every service NSL serves on EVM."""
    assert nsl.fee(service, mode) > 0
