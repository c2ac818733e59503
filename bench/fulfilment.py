"""EVM fulfilment latency and throughput: anvil mining a block every second, the real worker and enclave.

Set-up: a fresh data dir and SQLite database (migrated, bootstrapped), the enclave as its own process
(``python -m neo_service_layer.enclave``), anvil with ``--block-time 1``, the contracts deployed with the
platform's keys (``services.keys.platform.evm_platform_keys``: enclave signer, VRF key) and the relayer
funded (``chains.devnet.platform.deploy_evm``, shared with ``nsl devnet up``), then ``nsl worker`` as its
own process watching the gateway (``NSL_EVM_CONFIRMATIONS``, default 0 here) and fulfilling. Requests
come from the example ``RandomnessConsumer`` (signature-only mode).

- **latency**: ``--sequential`` requests one after the other; for each, the number of blocks between
  the request's block and its ``Fulfilled`` block (1 = fulfilled in the next block), p50 / p99;
- **throughput**: a burst of ``--burst`` requests sent at once (pre-signed, consecutive nonces); the
  fulfilments per minute from the first request's block to the last fulfilment's block (block times).

A report, not a test: exit 0 whatever the numbers, 1 when the harness fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/fulfilment.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hexbytes import HexBytes
from web3 import Web3
from web3.logs import DISCARD
from web3.types import Nonce, TxParams, Wei

from bench import servers
from bench.api import bootstrap_admin
from bench.keys import start_enclave
from bench.loadgen import percentile
from bench.servers import Server
from neo_service_layer.chains.devnet.platform import deploy_evm, wait_for_enclave
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.messages import Mode, service_id
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.keys.platform import EvmPlatformKeys, evm_platform_keys

MEASUREMENT = bytes(32)
RELAYER_FUNDS = 1000 * 10**18
REQUEST_GAS = 300_000


class HarnessError(RuntimeError):
    """The benchmark could not run."""


async def platform_keys(database_url: str, socket: Path, chain_id: int) -> EvmPlatformKeys:
    """Wait for the enclave, then create (first use) and return the platform's keys."""
    db = Database(database_url)
    enclave = UnixEnclaveClient(socket, timeout=10.0, pool_size=1)
    try:
        await wait_for_enclave(enclave, within=20)
        return await evm_platform_keys(db, enclave, chain_id)
    finally:
        await enclave.close()
        await db.dispose()


def start_worker(env: dict[str, str], log_dir: Path) -> Server:
    log_path = log_dir / "worker.log"
    nsl = Path(sys.executable).parent / "nsl"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(nsl), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server("worker", process, 0, log_path)


def send_requests(w3: Web3, consumer: Any, account: Any, count: int, fee: int, tag: str) -> list[bytes]:
    """``count`` requests sent at once (consecutive nonces); their transaction hashes."""
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    hashes = []
    for i in range(count):
        params: TxParams = {
            "from": account.address,
            "value": Wei(fee),
            "nonce": Nonce(nonce + i),
            "gas": REQUEST_GAS,
            "maxFeePerGas": Wei(4 * base + 10**9),
            "maxPriorityFeePerGas": Wei(10**9),
            "chainId": w3.eth.chain_id,
        }
        tx = consumer.functions.requestRandomness(f"{tag}-{i}".encode(), False).build_transaction(params)
        hashes.append(bytes(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)))
    return hashes


def wait_fulfilled(w3: Web3, gateway: Any, tx_hashes: list[bytes], timeout: float) -> list[tuple[int, int]]:
    """For each request transaction: (request block, fulfilment block), once all are fulfilled."""
    receipts = [
        w3.eth.wait_for_transaction_receipt(HexBytes(h), timeout=timeout, poll_latency=0.1) for h in tx_hashes
    ]
    requests: dict[bytes, int] = {}
    for receipt in receipts:
        for event in gateway.events.ServiceRequested().process_receipt(receipt, errors=DISCARD):
            requests[bytes(event.args.requestId)] = int(receipt["blockNumber"])
    first = min(requests.values())
    fulfilled: dict[bytes, int] = {}
    deadline = time.monotonic() + timeout
    while len(fulfilled) < len(requests):
        if time.monotonic() > deadline:
            raise HarnessError(f"{len(requests) - len(fulfilled)} requests not fulfilled in {timeout} s")
        for log in gateway.events.Fulfilled().get_logs(from_block=first):
            request_id = bytes(log.args.requestId)
            if request_id in requests:
                fulfilled[request_id] = int(log.blockNumber)
        time.sleep(0.25)
    return [(requests[r], fulfilled[r]) for r in requests]


def run(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nslbf-", dir="/tmp")))
        database_url = f"sqlite+aiosqlite:///{data_dir / 'nsl.db'}"
        asyncio.run(bootstrap_admin(database_url))
        env = {
            "NSL_DATA_DIR": str(data_dir),
            "NSL_DATABASE_URL": database_url,
            "NSL_LOG_LEVEL": "warning",
            "NSL_ENCLAVE_PASSPHRASE": os.urandom(16).hex(),
        }
        enclave = start_enclave(servers.server_env(env), data_dir)
        stack.callback(servers.stop, enclave)
        chain = stack.enter_context(EvmDevnet(block_time=args.block_time, accounts=3))
        w3 = chain.web3()
        socket = data_dir / "enclave" / "enclave.sock"
        keys = asyncio.run(platform_keys(database_url, socket, chain.chain_id))
        user = chain.accounts[1].signer
        deployment = deploy_evm(chain, keys, MEASUREMENT, feeds=(), relayer_funds=RELAYER_FUNDS)
        build = build_contracts()
        gateway = contract_at(w3, build["NSLGateway"], deployment.gateway)
        consumer = contract_at(w3, build["RandomnessConsumer"], deployment.examples["RandomnessConsumer"])
        fee = int(gateway.functions.fee(service_id("randomness"), int(Mode.SIGNATURE_ONLY)).call())
        worker_env = {
            **env,
            "NSL_EVM_RPC_URL": chain.rpc_url,
            "NSL_EVM_GATEWAY_ADDRESS": deployment.gateway,
            "NSL_EVM_CONFIRMATIONS": str(args.confirmations),
            "NSL_EVM_START_BLOCK": str(w3.eth.block_number + 1),
            "NSL_EVM_POLL_SECONDS": str(args.poll),
            "NSL_EVM_FULFIL_POLL_SECONDS": "0.1",
            "NSL_WORKER_POLL_SECONDS": "0.05",
            "NSL_WORKER_CONCURRENCY": str(args.concurrency),
        }
        worker = start_worker(servers.server_env(worker_env), data_dir)
        stack.callback(servers.stop, worker)

        gaps = []
        for i in range(args.sequential):
            pairs = wait_fulfilled(w3, gateway, send_requests(w3, consumer, user, 1, fee, f"seq{i}"), 60)
            gaps.append(pairs[0][1] - pairs[0][0])
        started = time.monotonic()
        pairs = wait_fulfilled(w3, gateway, send_requests(w3, consumer, user, args.burst, fee, "burst"), 600)
        wall = time.monotonic() - started
        first_block = min(r for r, _ in pairs)
        last_block = max(f for _, f in pairs)
        span = int(w3.eth.get_block(last_block)["timestamp"]) - int(
            w3.eth.get_block(first_block)["timestamp"]
        )
        burst_gaps = [f - r for r, f in pairs]
        return {
            "block_time_seconds": args.block_time,
            "confirmations": args.confirmations,
            "worker_concurrency": args.concurrency,
            "sequential": args.sequential,
            "latency_blocks_p50": percentile(sorted(float(g) for g in gaps), 0.5),
            "latency_blocks_p99": percentile(sorted(float(g) for g in gaps), 0.99),
            "latency_blocks": gaps,
            "burst": args.burst,
            "burst_blocks_first_request_to_last_fulfilment": last_block - first_block,
            "burst_chain_seconds": span,
            "burst_wall_seconds": round(wall, 2),
            "burst_fulfilments_per_minute": round(60 * args.burst / max(span, args.block_time), 1),
            "burst_latency_blocks_p50": percentile(sorted(float(g) for g in burst_gaps), 0.5),
            "burst_latency_blocks_p99": percentile(sorted(float(g) for g in burst_gaps), 0.99),
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil --block-time (seconds)")
    parser.add_argument("--sequential", type=int, default=20, help="requests for the latency figures")
    parser.add_argument("--burst", type=int, default=200, help="requests sent at once for throughput")
    parser.add_argument("--confirmations", type=int, default=0, help="NSL_EVM_CONFIRMATIONS")
    parser.add_argument("--concurrency", type=int, default=16, help="NSL_WORKER_CONCURRENCY")
    parser.add_argument("--poll", type=float, default=0.2, help="NSL_EVM_POLL_SECONDS (watcher period)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        figures = run(args)
    except (HarnessError, servers.ServerError, OSError) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
