"""The price feed on both local chains (``bench/pricefeed.py --part chains``): how long from a price change
at the sources to the new round on chain, in blocks and in seconds, and what a round costs in gas.

Set-up, as ``nsl devnet`` runs the chains and as the fulfilment benchmarks start the platform
(``bench/fulfil_platform.py``): the exchange simulator (``devnet.exchanges``, HTTPS with a local CA the
enclave trusts) in a thread of this process; a fresh platform (SQLite, the enclave as its own process);
anvil mining a block every ``--evm-block-time`` s (interval mining) with the contracts deployed with the
platform's keys (``devnet.platform.deploy_evm``) and a single-validator neo-go with ``--n3-block-time`` s
blocks (``devnet.platform.deploy_n3``); ONE feed, the shipped NEO/USD on the simulator, with both the EVM
``NSLPriceFeed`` and the N3 ``nsl_price_feed`` as targets, polled every ``--poll-interval`` s. The poll
runs as in production: a real ``nsl worker`` process whose scheduler ticks every ``--tick`` s and
enqueues the feed's due ``pricefeed.poll`` (observe in the enclave, record, publish to both chains).

Measured: ``--changes`` times, at a random moment of the poll interval, every market of the pair moves
1 % (up, down, alternately: twice the feed's 0.5 % deviation); then both chains are read every 50 ms
until the new round is there. **seconds** = wall time from the change to the round readable on the
chain; **blocks** = the block of the round's transaction (recorded by the worker) minus the chain's
latest block at the change. p50 / p99 (nearest rank) over the changes. **Gas per round** from the
worker's recorded transmissions of every round after the first: EVM ``gasUsed`` and the fee paid
(gasUsed x effective gas price), N3 the GAS paid (system + network fee) and the GAS consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from neo3.api.wrappers import GenericContract
from neo3.core.types import UInt160
from neo3.wallet.account import Account
from rich.table import Table
from sqlalchemy import select
from web3 import Web3
from web3.exceptions import ContractCustomError

from bench.fulfil_platform import HarnessError, blocks_summary, start_platform
from bench.fulfilment import MEASUREMENT, RELAYER_FUNDS, platform_keys
from bench.fulfilment_n3 import deploy
from bench.loadgen import percentile
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import FeedSpec, contract_at
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, facade_for
from neo_service_layer.chains.neo_n3.relay import call_script
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.exchange_market import Market
from neo_service_layer.devnet.exchanges import SimulatorServer
from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.devnet.platform import deploy_evm
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.models import PriceTransmission, TransmissionStatus
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.service import definition_of

PAIR: Final = "NEO/USD"
EVM_FEED: Final = "NEO / USD"  # the EVM deployment's name of the pair's NSLPriceFeed
#: The pair's markets on the simulator (the shipped feed's sources).
MARKETS: Final = {source.adapter: str(source.symbol) for source in DEFAULT_FEEDS[PAIR].sources}
START: Final = Decimal("12.34")
STEP: Final = Decimal("1.01")  # 1 %: twice the shipped feed's deviation threshold
READ_SECONDS: Final = 0.05
ROUND_TIMEOUT: Final = 120.0
LOG_TAIL_CHARS: Final = 4000


class Chains:
    """Reads each chain's latest round of the feed."""

    def __init__(self, w3: Web3, evm_feed: Any, rpc: N3Rpc, n3_contract: str) -> None:
        self.w3, self.evm_feed, self.rpc, self.n3_contract = w3, evm_feed, rpc, n3_contract

    def evm_round(self) -> int:
        try:
            return int(self.evm_feed.functions.latestRoundData().call()[0])
        except ContractCustomError:  # NoData: before the first round
            return 0

    async def n3_round(self) -> int:
        reply = await self.rpc.invoke_script(call_script(self.n3_contract, "latest_round", [PAIR]), [])
        return int(reply["stack"][0]["value"]) if reply.get("state") == "HALT" else 0

    async def heights(self) -> tuple[int, int]:
        """Each chain's latest block (EVM number, N3 index)."""
        return self.w3.eth.block_number, await self.rpc.block_count() - 1

    async def wait_round(self, round_id: int, started: float) -> tuple[float, float]:
        """Seconds from ``started`` (monotonic) until each chain (EVM, N3) has ``round_id``."""
        seen: dict[str, float] = {}
        deadline = started + ROUND_TIMEOUT
        while len(seen) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {round_id} did not reach both chains in {ROUND_TIMEOUT} s")
            if "evm" not in seen and self.evm_round() >= round_id:
                seen["evm"] = time.monotonic() - started
            if "n3" not in seen and await self.n3_round() >= round_id:
                seen["n3"] = time.monotonic() - started
            await asyncio.sleep(READ_SECONDS)
        return seen["evm"], seen["n3"]


async def create_feed(
    database_url: str, sim: SimulatorServer, evm_feed: str, n3_contract: str, poll_interval: int
) -> bytes:
    """The shipped NEO/USD feed on the simulator with both targets; its config hash (what the contracts'
    owner registers: ``nsl feeds config-hash``)."""
    definition = definition_of(pointed_at(DEFAULT_FEEDS[PAIR], sim.base_urls))
    targets = [{"chain": "evm", "feed": evm_feed}, {"chain": "n3", "contract": n3_contract}]
    values = {**definition, "poll_interval_seconds": poll_interval, "targets": targets}
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            feed = await service.create_feed(session, feed_config(values, Settings().pricefeed), utcnow())
        return feed_config_hash(feed)
    finally:
        await db.dispose()


async def register_n3(rpc_url: str, admin: Account, contract: UInt160, rules: bytes) -> None:
    """The N3 feed's owner registers the feed's config hash (``set_config_hash``)."""
    call = GenericContract(contract).call_function("set_config_hash", [PAIR, rules])
    receipt = await facade_for(rpc_url, admin).invoke_multi([call])
    if str(receipt.state) != "HALT":
        raise HarnessError(f"set_config_hash FAULTed: {receipt.exception}")


async def transmissions(database_url: str) -> list[PriceTransmission]:
    """Every transmission the worker recorded, oldest round first."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            statement = select(PriceTransmission).order_by(PriceTransmission.round_id)
            return list((await session.execute(statement)).scalars())
    finally:
        await db.dispose()


def set_price(sim: SimulatorServer, price: Decimal) -> None:
    for exchange, symbol in MARKETS.items():
        sim.market.set_price(exchange, symbol, price)


async def measure(chains: Chains, sim: SimulatorServer, args: Any) -> list[dict[str, Any]]:
    """Round 1 (the feed's first), then ``args.changes`` price changes: per change, the chains' heights
    at the change and the seconds until each has the round."""
    await chains.wait_round(1, time.monotonic())
    rng = random.Random(7)
    price, samples = START, []
    for i in range(args.changes):
        await asyncio.sleep(1 + rng.uniform(0, args.poll_interval))  # any moment of the poll interval
        price = (price * STEP if i % 2 == 0 else price / STEP).quantize(Decimal("1E-8"))
        evm_height, n3_height = await chains.heights()
        started = time.monotonic()
        set_price(sim, price)
        evm_s, n3_s = await chains.wait_round(i + 2, started)
        samples.append(
            {"round": i + 2, "evm_height": evm_height, "n3_height": n3_height, "evm_s": evm_s, "n3_s": n3_s}
        )
    return samples


def _seconds(prefix: str, values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        f"{prefix}_p50": round(percentile(ordered, 0.5), 2),
        f"{prefix}_p99": round(percentile(ordered, 0.99), 2),
    }


def figures(
    samples: list[dict[str, Any]], sent: list[PriceTransmission], evm: str, n3: str
) -> dict[str, Any]:
    """Latency per chain (blocks, seconds) and gas per round after the first."""
    block = {(t.round_id, t.chain): t.block_number for t in sent}
    confirmed = [t for t in sent if t.status is TransmissionStatus.CONFIRMED and t.round_id > 1]
    evm_sent = [t for t in confirmed if t.chain == evm]
    n3_sent = [t for t in confirmed if t.chain == n3]
    out: dict[str, Any] = {}
    for name, chain in (("evm", evm), ("n3", n3)):
        gaps = [int(block[s["round"], chain] or 0) - s[f"{name}_height"] for s in samples]
        out[name] = {
            **_seconds("latency_seconds", [s[f"{name}_s"] for s in samples]),
            **blocks_summary("latency_blocks", gaps),
        }
    out["evm"] |= {
        "gas_per_round_mean": round(statistics.mean(t.gas_used or 0 for t in evm_sent)),
        "gas_per_round_max": max(t.gas_used or 0 for t in evm_sent),
        "fee_per_round_gwei_mean": round(statistics.mean(t.fee or 0 for t in evm_sent) / 10**9, 1),
    }
    out["n3"] |= {
        "gas_paid_per_round_mean": round(statistics.mean(t.fee or 0 for t in n3_sent) / GAS_FACTOR, 5),
        "gas_paid_per_round_max": round(max(t.fee or 0 for t in n3_sent) / GAS_FACTOR, 5),
        "gas_consumed_per_round_mean": round(
            statistics.mean(t.gas_used or 0 for t in n3_sent) / GAS_FACTOR, 5
        ),
    }
    out["rounds"] = len(samples) + 1
    out["transmissions_not_confirmed"] = sum(t.status is not TransmissionStatus.CONFIRMED for t in sent)
    return out


def run_chains(args: Any) -> dict[str, Any]:
    """Start everything (module docstring), measure, stop everything; the figures."""
    with contextlib.ExitStack() as stack:
        tls = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nslpf-tls-", dir="/tmp")))
        ca, cert, key = LocalPKI.issue().write(tls)
        sim = stack.enter_context(SimulatorServer(Market(), cert=cert, key=key))
        trust = {"NSL_ORACLE_CA_FILE": str(ca), "NSL_ORACLE_ALLOW_PRIVATE_HOSTS": "true"}
        platform = start_platform(stack, "nslpf-", enclave_env=trust)
        evm_chain = stack.enter_context(EvmDevnet(block_time=args.evm_block_time, accounts=3))
        n3_chain = stack.enter_context(N3Devnet(block_time_ms=round(args.n3_block_time * 1000)))
        w3 = evm_chain.web3()
        keys = asyncio.run(platform_keys(platform.database_url, platform.socket, evm_chain.chain_id))
        evm_dep = deploy_evm(
            evm_chain, keys, MEASUREMENT, feeds=(FeedSpec(EVM_FEED),), relayer_funds=RELAYER_FUNDS
        )
        n3_admin = Account.create_new()
        n3_dep = asyncio.run(deploy(platform, n3_chain, n3_admin))
        assert n3_dep.price_feed is not None
        n3_contract = f"0x{n3_dep.price_feed}"
        evm_feed = evm_dep.price_feeds[EVM_FEED]
        set_price(sim, START)
        rules = asyncio.run(
            create_feed(platform.database_url, sim, evm_feed, n3_contract, args.poll_interval)
        )
        feed = contract_at(w3, build_contracts()["NSLPriceFeed"], evm_feed)
        transact(w3, evm_chain.accounts[0].signer, feed.functions.setConfigHash(rules))
        asyncio.run(register_n3(n3_chain.rpc_url, n3_admin, n3_dep.price_feed, rules))
        worker = platform.start_worker(
            stack,
            {
                "NSL_EVM_RPC_URL": evm_chain.rpc_url,
                "NSL_EVM_GATEWAY_ADDRESS": evm_dep.gateway,
                "NSL_EVM_CONFIRMATIONS": "0",
                "NSL_EVM_START_BLOCK": str(w3.eth.block_number + 1),
                "NSL_EVM_FULFIL_POLL_SECONDS": "0.1",
                "NSL_N3_RPC_URL": n3_chain.rpc_url,
                "NSL_N3_GATEWAY_HASH": f"0x{n3_dep.gateway}",
                "NSL_N3_CONFIRMATIONS": "0",
                "NSL_N3_START_BLOCK": str(n3_chain.block_count()),
                "NSL_N3_FULFIL_POLL_SECONDS": "0.1",
                "NSL_WORKER_POLL_SECONDS": "0.05",
                "NSL_PRICEFEED_TICK_SECONDS": str(args.tick),
            },
        )

        async def go() -> list[dict[str, Any]]:
            async with N3Rpc(n3_chain.rpc_url) as rpc:
                return await measure(Chains(w3, feed, rpc, n3_contract), sim, args)

        try:
            samples = asyncio.run(go())
        except TimeoutError as e:
            tail = worker.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            raise HarnessError(f"{e}; the worker's log ends:\n{tail}") from e
        sent = asyncio.run(transmissions(platform.database_url))
        return {
            "evm_chain": f"evm:{evm_chain.chain_id}",
            "n3_chain": f"n3:{n3_dep.magic}",
            "evm_block_time_seconds": args.evm_block_time,
            "n3_block_time_seconds": args.n3_block_time,
            "poll_interval_seconds": args.poll_interval,
            "tick_seconds": args.tick,
            "changes": args.changes,
            **figures(samples, sent, f"evm:{evm_chain.chain_id}", f"n3:{n3_dep.magic}"),
        }


def chains_table(result: dict[str, Any]) -> Table:
    """The figures of :func:`run_chains` as a table, one row per chain."""
    table = Table(
        title=(
            f"Price feed: price change -> round on chain ({result['changes']} changes; poll every "
            f"{result['poll_interval_seconds']} s, tick {result['tick_seconds']} s; blocks every "
            f"{result['evm_block_time_seconds']} s / {result['n3_block_time_seconds']} s)"
        )
    )
    for column in ("chain", "s p50", "s p99", "blocks p50", "blocks p99", "cost per round"):
        table.add_column(column, justify="left" if column in ("chain", "cost per round") else "right")
    evm, n3 = result["evm"], result["n3"]
    costs = {
        "evm": f"{evm['gas_per_round_mean']:,} gas (max {evm['gas_per_round_max']:,}), "
        f"{evm['fee_per_round_gwei_mean']} gwei fee",
        "n3": f"{n3['gas_paid_per_round_mean']} GAS paid (max {n3['gas_paid_per_round_max']}), "
        f"{n3['gas_consumed_per_round_mean']} consumed",
    }
    for name, chain in (("evm", result["evm_chain"]), ("n3", result["n3_chain"])):
        figures = result[name]
        table.add_row(
            chain,
            f"{figures['latency_seconds_p50']:.2f}",
            f"{figures['latency_seconds_p99']:.2f}",
            f"{figures['latency_blocks_p50']:.0f}",
            f"{figures['latency_blocks_p99']:.0f}",
            costs[name],
        )
    return table
