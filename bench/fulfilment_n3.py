"""The Neo N3 half of ``bench/fulfilment.py``: neo-go mining a block a second, the real worker and enclave.

Set-up: the platform of ``bench/fulfil_platform.py`` (database, enclave process), a single-validator
neo-go devnet (``N3Devnet``), the platform's N3 keys (``services.keys.platform.n3_platform_keys``:
enclave identity key, VRF key, relayer) and the contracts deployed with them from a fresh admin, who
owns the example consumers (``devnet.platform.deploy_n3``, shared with ``nsl devnet up``), then
``nsl worker`` watching the gateway (``NSL_N3_*``; 0 confirmations: dBFT blocks are final).

- **latency**: ``--sequential`` requests (one ``request_randomness`` transaction each, waited for), the
  blocks from the request's block to the ``Fulfilled`` notification's block, and the GAS (system +
  network fee) of each fulfilment transaction;
- **throughput**: ``--burst`` requests in transactions of ``--n3-batch`` requests each, all sent at
  once from the admin (N3 nonces are random: several per block are fine); fulfilments per minute from
  the first request's block to the last fulfilment's block (block timestamps).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from neo3.api.wrappers import ChainFacade, GenericContract
from neo3.wallet.account import Account

from bench.fulfil_platform import (
    CONSUMERS,
    ORACLE_FILTER,
    HarnessError,
    Platform,
    blocks_summary,
    start_platform,
)
from neo_service_layer.chains.neo_n3.deploy import N3Deployment
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, facade_for
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.neo_n3.watcher import N3Watcher
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.platform import deploy_n3, wait_for_enclave
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.services.keys.platform import n3_platform_keys

_POLL_SECONDS = 0.1
#: Per request: the fee is estimated by a test invocation against the current state, but transactions of
#: a burst execute after each other, and a later request's id (stored in several keys) can be a byte
#: longer than estimated (storage fees are per byte): without a margin such a transaction FAULTs.
_SYSTEM_FEE_MARGIN = GAS_FACTOR // 50


async def deploy(platform: Platform, chain: N3Devnet, admin: Account) -> N3Deployment:
    """Wait for the enclave, create the platform's N3 keys and deploy the gateway registering them."""
    db = Database(platform.database_url)
    enclave = UnixEnclaveClient(platform.socket, timeout=10.0, pool_size=1)
    try:
        await wait_for_enclave(enclave, within=20)
        keys = await n3_platform_keys(db, enclave, chain.magic)
        measurement = bytes.fromhex((await enclave.attest()).measurement)
    finally:
        await enclave.close()
        await db.dispose()
    return await deploy_n3(chain, keys, measurement, admin)


class Requester:
    """Sends requests (``request_randomness``, or ``request_url`` of ``source_url`` for the oracle) from
    the consumer's owner and reads their outcome."""

    def __init__(
        self, rpc: N3Rpc, facade: ChainFacade, deployment: N3Deployment, source_url: str = ""
    ) -> None:
        self.rpc = rpc
        self.facade = facade
        self.gateway = f"0x{deployment.gateway}"
        self.source_url = source_url
        self.consumer = GenericContract(
            deployment.examples[CONSUMERS["oracle" if source_url else "randomness"]]
        )
        self.watcher = N3Watcher(rpc, self.gateway)

    async def send(self, seeds: list[bytes]) -> str:
        """One transaction with a request (signature-only) for each seed; its hash."""
        calls = [
            self.consumer.call_function("request_url", [f"{self.source_url}?tag={seed.hex()}", ORACLE_FILTER])
            if self.source_url
            else self.consumer.call_function("request_randomness", [seed, False])
            for seed in seeds
        ]
        margin = len(seeds) * _SYSTEM_FEE_MARGIN
        return f"0x{await self.facade.invoke_multi_fast(calls, append_system_fee=margin)}"

    async def requests(self, tx_hash: str, within: float) -> dict[int, int]:
        """The request ids of a transaction once it is in a block: id -> the block's index."""
        deadline = time.monotonic() + within
        while (log := await self.rpc.application_log(tx_hash)) is None:
            if time.monotonic() > deadline:
                raise HarnessError(f"request transaction {tx_hash} not in a block after {within} s")
            await asyncio.sleep(_POLL_SECONDS)
        execution = log["executions"][0]
        if execution.get("vmstate") != "HALT":
            raise HarnessError(f"request transaction {tx_hash} faulted: {execution.get('exception')}")
        height = int(await self.rpc.call("gettransactionheight", [tx_hash]))
        return {
            int(n["state"]["value"][0]["value"]): height
            for n in execution.get("notifications", [])
            if str(n.get("contract")).lower() == self.gateway and n.get("eventname") == "Request"
        }

    async def fulfilled(self, requests: dict[int, int], within: float) -> dict[int, tuple[int, str]]:
        """Wait for a ``Fulfilled`` notification of every request: id -> (block index, tx hash)."""
        found: dict[int, tuple[int, str]] = {}
        next_block = min(requests.values())
        deadline = time.monotonic() + within
        while len(found) < len(requests):
            head = await self.rpc.block_count() - 1
            if head < next_block:
                if time.monotonic() > deadline:
                    missing = len(requests) - len(found)
                    raise HarnessError(f"{missing} requests not fulfilled in {within} s")
                await asyncio.sleep(_POLL_SECONDS)
                continue
            async for event in self.watcher.notifications(next_block, head, "Fulfilled"):
                request_id = int(event.notification["state"]["value"][0]["value"])
                if request_id in requests:
                    found[request_id] = (event.block_index, event.tx_hash)
            next_block = head + 1
        return found

    async def fee(self, tx_hash: str) -> int:
        """System + network fee of a transaction, datoshi."""
        tx = await self.rpc.call("getrawtransaction", [tx_hash, True])
        return int(tx["sysfee"]) + int(tx["netfee"])

    async def oracle_codes(self, tx_hashes: list[str]) -> dict[str, int]:
        """How many of the consumer's ``OracleResult`` callbacks in these transactions had each code."""
        counts: Counter[str] = Counter()
        for tx_hash in set(tx_hashes):
            log = await self.rpc.application_log(tx_hash)
            for n in (log or {"executions": [{}]})["executions"][0].get("notifications", []):
                if n.get("eventname") == "OracleResult":
                    counts[OracleCode(int(n["state"]["value"][1]["value"])).name] += 1
        return dict(counts)

    async def block_time_ms(self, index: int) -> int:
        return int((await self.rpc.block(index))["time"])


async def measure(requester: Requester, args: argparse.Namespace) -> dict[str, Any]:
    gaps, fees, fulfil_hashes = [], [], []
    for i in range(args.sequential):
        requests = await requester.requests(await requester.send([f"seq{i}".encode()]), 30)
        ((request_id, requested),) = requests.items()
        block, tx_hash = (await requester.fulfilled(requests, 60))[request_id]
        gaps.append(block - requested)
        fees.append(await requester.fee(tx_hash))
        fulfil_hashes.append(tx_hash)

    started = time.monotonic()
    seeds = [f"burst-{i}".encode() for i in range(args.burst)]
    batches = [seeds[i : i + args.n3_batch] for i in range(0, len(seeds), args.n3_batch)]
    hashes = await asyncio.gather(*(requester.send(batch) for batch in batches))
    requests = {}
    for found in await asyncio.gather(*(requester.requests(h, 60) for h in hashes)):
        requests.update(found)
    if len(requests) != args.burst:
        raise HarnessError(f"the burst made {len(requests)} requests, not {args.burst}")
    fulfilled = await requester.fulfilled(requests, 600)
    wall = time.monotonic() - started
    first_block = min(requests.values())
    last_block = max(block for block, _ in fulfilled.values())
    span_ms = await requester.block_time_ms(last_block) - await requester.block_time_ms(first_block)
    span = span_ms / 1000
    fulfil_hashes += [tx_hash for _, tx_hash in fulfilled.values()]
    return {
        "oracle_codes": await requester.oracle_codes(fulfil_hashes) if requester.source_url else None,
        "sequential": args.sequential,
        **blocks_summary("latency_blocks", gaps),
        "gas_per_fulfil_gas": round(sum(fees) / len(fees) / GAS_FACTOR, 4) if fees else None,
        "burst": args.burst,
        "burst_transactions": len(batches),
        "burst_requests_blocks": len(set(requests.values())),
        "burst_blocks_first_request_to_last_fulfilment": last_block - first_block,
        "burst_chain_seconds": round(span, 2),
        "burst_wall_seconds": round(wall, 2),
        "burst_fulfilments_per_minute": round(60 * args.burst / max(span, args.block_time), 1),
        **blocks_summary("burst_latency_blocks", [fulfilled[r][0] - b for r, b in requests.items()]),
    }


def run_n3(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything (module docstring), measure, stop everything; the figures."""
    with contextlib.ExitStack() as stack:
        platform = start_platform(stack, "nslbf3-", args.service)
        chain = stack.enter_context(N3Devnet(block_time_ms=round(args.block_time * 1000)))
        admin = Account.create_new()
        deployment = asyncio.run(deploy(platform, chain, admin))
        gateway = f"0x{deployment.gateway}"
        platform.start_worker(
            stack,
            {
                "NSL_N3_RPC_URL": chain.rpc_url,
                "NSL_N3_GATEWAY_HASH": gateway,
                "NSL_N3_CONFIRMATIONS": "0",
                "NSL_N3_START_BLOCK": str(chain.block_count()),
                "NSL_N3_POLL_SECONDS": str(args.poll),
                "NSL_N3_FULFIL_POLL_SECONDS": "0.1",
                "NSL_WORKER_POLL_SECONDS": "0.05",
                "NSL_WORKER_CONCURRENCY": str(args.concurrency),
            },
        )

        async def go() -> dict[str, Any]:
            async with N3Rpc(chain.rpc_url) as rpc:
                requester = Requester(rpc, facade_for(chain.rpc_url, admin), deployment, platform.source_url)
                return await measure(requester, args)

        figures = asyncio.run(go())
        return {
            "chain": f"n3:{deployment.magic}",
            "service": args.service,
            "block_time_seconds": args.block_time,
            "confirmations": 0,
            "worker_concurrency": args.concurrency,
            **figures,
        }
