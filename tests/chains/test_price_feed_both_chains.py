"""One price feed published to both local chains at once, end to end: the shipped NEO/USD feed on the exchange
simulator with an ``NSLPriceFeed`` on anvil and the ``nsl_price_feed`` contract on neo-go as targets,
observed in the real enclave and published by the poll job as ``nsl worker`` wires it (``enclave_wiring``:
``ChainPublishers`` through ``NSL_EVM_RPC_URL`` and ``NSL_N3_RPC_URL``, the relayers' keys in the enclave).

- a deviation publishes exactly one round on each chain, an in-threshold move none;
- a heartbeat (a feed with a 3 s heartbeat) publishes exactly one round on each chain;
- an ``nsl worker`` SIGKILLed while publishing a round (its round and transmissions recorded, the EVM
  transaction broadcast and waiting in anvil's pool) leaves neither a duplicate nor a gap: the next poll
  finishes the transmissions and rounds 1..n are contiguous on both chains and in the database.

The chains' clocks: the EVM contract takes no observation from after its latest block (``clock_caught_up``
mines one), and N3's takes none from after the block being made (a transmission refused so is
``ObservationAhead`` and left pending; the next poll sends it: :func:`poll_settled`). Forged or replayed
reports are refused per contract (tests/chains/*/test_price_feed.py), not here again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from neo3.api.wrappers import GenericContract
from sqlalchemy import select, update
from web3 import Web3

from neo_service_layer.chains.evm.price_publisher import publication_key
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.neo_n3.devnet import facade_for
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.devnet.exchanges import SimulatorServer
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound, PriceTransmission
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.service import definition_of
from neo_service_layer.worker.context import Handler, JobContext
from neo_service_layer.worker.pricefeed_jobs import PRICEFEED_POLL_KIND, enclave_wiring, pricefeed_handlers
from tests.chains.evm.fulfil_helpers import Platform, automine_off, rpc
from tests.chains.fulfilment_rows import fulfilment_row
from tests.chains.neo_n3.helpers import test_invoke
from tests.chains.neo_n3.platform import N3Platform
from tests.chains.pricefeed_helpers import clock_caught_up, price_all, simulator_fetcher
from tests.chains.worker_process import WorkerProcess, kill
from tests.enclave.oracle.servers import OraclePKI
from tests.worker.helpers import job_context, wait_until

PAIR = "NEO/USD"


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    async with simulator_fetcher(pki) as fetcher:
        yield fetcher


@dataclass(frozen=True)
class BothChains:
    """The feed, its two targets and the poll job as the worker runs it."""

    evm: Platform
    n3: N3Platform
    settings: Settings
    feed_id: str
    poll: Handler
    ctx: JobContext

    @property
    def w3(self) -> Web3:
        return self.evm.nsl.w3

    @property
    def n3_contract(self) -> str:
        assert self.n3.deployment.price_feed is not None
        return f"0x{self.n3.deployment.price_feed}"

    async def unsettled(self) -> int:
        """Transmissions recorded and not settled yet."""
        async with self.evm.db.session() as session:
            statement = select(PriceTransmission).where(PriceTransmission.status == "pending")
            return len(list((await session.execute(statement)).scalars()))

    async def poll_settled(self, *, within: float = 15.0) -> dict[str, Any]:
        """One poll, then more while a transmission is left pending (the N3 chain's clock a block behind
        the observation: ``ObservationAhead``), as the worker's next polls would; the first's result."""
        first = await self.poll(self.ctx)
        assert first is not None
        async with asyncio.timeout(within):
            while await self.unsettled():
                await asyncio.sleep(0.3)
                await self.poll(self.ctx)
        return first

    async def rounds(self) -> list[PriceRound]:
        async with self.evm.db.session() as session:
            statement = select(PriceRound).order_by(PriceRound.round_id)
            return list((await session.execute(statement)).scalars())

    async def transmissions(self) -> list[tuple[int, str, int, str]]:
        """(round, chain, chain round, status) of every transmission."""
        async with self.evm.db.session() as session:
            statement = select(PriceTransmission).order_by(
                PriceTransmission.round_id, PriceTransmission.chain
            )
            rows = list((await session.execute(statement)).scalars())
        assert all(row.tx_hash and row.gas_used and row.fee for row in rows if row.status == "confirmed")
        return [(row.round_id, row.chain, row.chain_round_id, row.status.value) for row in rows]

    def evm_rounds(self) -> list[tuple[int, int, int]]:
        """(round, answer, updatedAt) of every ``AnswerUpdated`` of the EVM feed: each round it took."""
        logs = self.evm.nsl.feed.events.AnswerUpdated().get_logs(from_block=0)
        rounds = []
        for log in logs:
            data = self.evm.nsl.feed.functions.getRoundData(log["args"]["roundId"]).call()
            rounds.append((int(data[0]), int(data[1]), int(data[3])))
        return rounds

    def n3_rounds(self) -> list[tuple[int, int, int]]:
        """(round, answer, observed at) of rounds 1..latest of the pair on the N3 feed."""
        [latest] = self._n3_read("latest_round", PAIR)
        rounds = (self._n3_read("get_round_data", PAIR, r) for r in range(1, latest + 1))
        return [(data[0], data[1], data[3]) for data in rounds]

    def _n3_read(self, method: str, *args: Any) -> list[int]:
        """A read-only call's result as ints (an Integer, or an Array of them)."""
        assert self.n3.deployment.price_feed is not None
        call = GenericContract(self.n3.deployment.price_feed).call_function(method, list(args))
        reply = test_invoke(self.n3.rpc_url, call, self.n3.admin)
        assert reply.state == "HALT", reply.exception
        item = reply.stack[0]
        values = item["value"] if isinstance(item["value"], list) else [item]
        return [int(value["value"]) for value in values]

    async def assert_contiguous(self, answers: list[int]) -> None:
        """Rounds 1..n with ``answers``, each once, the same on both chains and in the database."""
        recorded = [(r.round_id, r.answer, r.observed_at) for r in await self.rounds()]
        assert [answer for _, answer, _ in recorded] == answers
        assert [round_id for round_id, _, _ in recorded] == list(range(1, len(answers) + 1))
        assert self.evm_rounds() == recorded
        assert self.n3_rounds() == recorded
        chains = sorted([self.evm.chain, self.n3.chain])
        assert await self.transmissions() == [
            (round_id, chain, round_id, "confirmed") for round_id, _, _ in recorded for chain in chains
        ]


@pytest.fixture
async def both(
    evm_platform: Platform, n3_platform: N3Platform, fresh_exchange_sim: SimulatorServer, tmp_path: Path
) -> BothChains:
    """The NEO/USD feed with both chains as targets (a 3 s heartbeat and a 1 s poll interval)."""
    settings = evm_platform.settings(
        tmp_path,
        n3=n3_platform.settings(tmp_path).n3.model_dump(),
        pricefeed={"tick_seconds": 0.2},
    )
    assert n3_platform.deployment.price_feed is not None
    definition = definition_of(pointed_at(DEFAULT_FEEDS[PAIR], fresh_exchange_sim.base_urls))
    targets = [
        {"chain": "evm", "feed": evm_platform.nsl.feed.address},
        {"chain": "n3", "contract": f"0x{n3_platform.deployment.price_feed}"},
    ]
    values = {**definition, "heartbeat_seconds": 3, "poll_interval_seconds": 1, "targets": targets}
    async with evm_platform.db.transaction() as session:
        feed = await service.create_feed(session, feed_config(values, settings.pricefeed), utcnow())
    # The owners register the feed's rules on both chains (``nsl feeds config-hash``, then setConfigHash /
    # set_config_hash): neither contract takes a round observed under other rules.
    registered = feed_config_hash(feed)
    nsl = evm_platform.nsl
    transact(nsl.w3, nsl.owner, nsl.feed.functions.setConfigHash(registered))
    call = GenericContract(n3_platform.deployment.price_feed).call_function(
        "set_config_hash", [PAIR, registered]
    )
    receipt = await facade_for(n3_platform.rpc_url, n3_platform.admin).invoke_multi([call])
    assert str(receipt.state) == "HALT", receipt.exception
    poll = pricefeed_handlers(enclave_wiring)[PRICEFEED_POLL_KIND]
    ctx = job_context(evm_platform.db, settings, PRICEFEED_POLL_KIND, {"feed_id": feed.id})
    return BothChains(evm_platform, n3_platform, settings, feed.id, poll, ctx)


async def next_second() -> None:
    """A round must be observed after the one before it (both contracts), and the enclave's clock counts
    seconds: real polls are the feed's poll interval apart."""
    await asyncio.sleep(1.05)


async def test_a_deviation_publishes_one_round_on_each_chain_and_a_small_move_none(
    both: BothChains, fresh_exchange_sim: SimulatorServer
) -> None:
    price_all(fresh_exchange_sim, "12.34")
    clock_caught_up(both.w3)
    first = await both.poll_settled()
    price_all(fresh_exchange_sim, "12.35")  # 8 bps: within the 50 bps deviation
    unchanged = await both.poll_settled()
    price_all(fresh_exchange_sim, "12.50")  # +1.3 %
    await next_second()
    clock_caught_up(both.w3)
    moved = await both.poll_settled()

    assert (first["action"], first["round_id"]) == ("publish", 1)
    assert (unchanged["action"], unchanged["round_id"], unchanged["outcomes"]) == ("unchanged", 0, {})
    assert (moved["action"], moved["round_id"]) == ("publish", 2)
    assert set(moved["outcomes"]) == {both.evm.chain, both.n3.chain}
    await both.assert_contiguous([1_234_000_000, 1_250_000_000])
    assert [r.reason for r in await both.rounds()] == ["first", "deviation"]


async def test_a_heartbeat_publishes_one_round_on_each_chain(
    both: BothChains, fresh_exchange_sim: SimulatorServer
) -> None:
    price_all(fresh_exchange_sim, "12.34")
    clock_caught_up(both.w3)
    await both.poll_settled()
    [first] = await both.rounds()
    quiet = await both.poll_settled()  # the same price, the heartbeat (3 s) not due yet
    await asyncio.sleep(max(0.0, first.observed_at + 3 - time.time()) + 0.05)
    clock_caught_up(both.w3)
    beat = await both.poll_settled()

    assert (quiet["action"], quiet["round_id"]) == ("unchanged", 0)
    assert (beat["action"], beat["round_id"]) == ("publish", 2)
    await both.assert_contiguous([1_234_000_000, 1_234_000_000])
    rounds = await both.rounds()
    assert [r.reason for r in rounds] == ["first", "heartbeat"]
    assert rounds[1].observed_at - rounds[0].observed_at >= 3


async def test_a_worker_killed_while_publishing_leaves_no_duplicate_and_no_gap(
    both: BothChains, fresh_exchange_sim: SimulatorServer, tmp_path: Path
) -> None:
    """``nsl worker`` polls the feed (its tick enqueues the due poll) and is SIGKILLed once round 2 and its
    transmissions are recorded and the EVM transaction is broadcast (held in anvil's pool); the next
    poll finishes round 2 on both chains (the EVM one by the recorded transaction), then round 3 follows."""
    evm = both.evm
    price_all(fresh_exchange_sim, "12.34")
    clock_caught_up(both.w3)
    await both.poll_settled()
    price_all(fresh_exchange_sim, "12.50")
    await next_second()
    # The worker takes a few seconds to start: the latest block is stamped ahead of its observation.
    clock_caught_up(both.w3, ahead=30)
    async with evm.db.transaction() as session:  # due now (the poll set it a second ahead)
        await session.execute(update(PriceFeed).values(next_poll_at=utcnow()))
    key = publication_key(evm.chain, evm.nsl.feed.address, 2)
    worker = WorkerProcess(both.settings, tmp_path / "worker.log")

    async def broadcast() -> bool:
        row = await fulfilment_row(evm.db, evm.chain, key)
        return row is not None and row.tx_hash is not None

    with automine_off(evm.nsl):
        with worker.running() as process:
            try:
                await wait_until(broadcast, within=60)
            except TimeoutError:
                pytest.fail(f"the worker did not broadcast round 2: {worker.tail()}")
            kill(process)
        killed_with = await both.transmissions()
        assert both.evm_rounds()[-1][0] == 1  # round 2 waits in the pool
        assert [r.round_id for r in await both.rounds()] == [1, 2]
        assert (2, evm.chain, 2, "pending") in killed_with
    rpc(evm.nsl, "evm_mine")
    clock_caught_up(both.w3)
    finishing = await both.poll_settled()
    price_all(fresh_exchange_sim, "12.70")
    await next_second()
    clock_caught_up(both.w3)
    third = await both.poll_settled()

    assert finishing["finished"] >= 1
    assert (third["action"], third["round_id"]) == ("publish", 3)
    await both.assert_contiguous([1_234_000_000, 1_250_000_000, 1_270_000_000])
    evm_row = await fulfilment_row(evm.db, evm.chain, key)
    assert evm_row is not None
    assert evm_row.tx_hashes == [evm_row.tx_hash]  # the worker's transaction, not a second one
    relayer = Web3.to_checksum_address(evm.keys.relayer)
    assert both.w3.eth.get_transaction_count(relayer) == 3  # one transaction per round
