"""Fulfilment latency and throughput on the local chains, the real worker and enclave: EVM (anvil) and
Neo N3 (neo-go, ``bench/fulfilment_n3.py``), each mining a block every second.

Set-up per chain (``bench/fulfil_platform.py``): a fresh data dir and SQLite database (migrated,
bootstrapped), the enclave as its own process (``python -m neo_service_layer.enclave``), the chain, the
contracts deployed with the platform's keys and the relayer funded (``devnet.platform``, shared
with ``nsl devnet up``), then ``nsl worker`` as its own process watching the gateway and fulfilling.
Requests come from the example ``RandomnessConsumer`` (signature-only mode), or with ``--service
oracle`` from the ``OracleConsumer`` asking a local HTTPS source (``servers.start_https_source``).
EVM: the keys are ``services.keys.platform.evm_platform_keys`` (enclave signer, VRF key),
``NSL_EVM_CONFIRMATIONS`` defaults to 0 here.

- **latency**: ``--sequential`` requests one after the other; for each, the number of blocks between
  the request's block and its ``Fulfilled`` block (1 = fulfilled in the next block), p50 / p99; the gas
  (EVM: gas units; N3: GAS, system + network fee) of each fulfilment transaction;
- **throughput**: a burst of ``--burst`` requests sent at once (EVM: pre-signed, consecutive nonces;
  N3: a few transactions of many requests each); the fulfilments per minute from the first request's
  block to the last fulfilment's block (block times).

A report, not a test: exit 0 whatever the numbers, 1 when the harness fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/fulfilment.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hexbytes import HexBytes
from web3 import Web3
from web3.logs import DISCARD
from web3.types import Nonce, TxParams, Wei

from bench import servers
from bench.fulfil_platform import CONSUMERS, ORACLE_FILTER, HarnessError, blocks_summary, start_platform
from bench.fulfilment_n3 import run_n3
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.messages import Mode, service_id
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.platform import deploy_evm, wait_for_enclave
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.errors import NSLError
from neo_service_layer.services.keys.platform import EvmPlatformKeys, evm_platform_keys

MEASUREMENT = bytes(32)
RELAYER_FUNDS = 1000 * 10**18
REQUEST_GAS = 300_000
CHAINS = {"evm": ("evm",), "n3": ("n3",), "both": ("evm", "n3")}


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


def send_requests(
    w3: Web3, gateway: Any, consumer: Any, account: Any, count: int, tag: str, source_url: str = ""
) -> list[bytes]:
    """``count`` requests sent at once (consecutive nonces), each paying the gateway's price at its max
    fee per gas (the fee and the callback's gas); their transaction hashes. With ``source_url`` they are
    oracle requests (``OracleConsumer.requestUrl``), else randomness requests."""
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    max_fee = 4 * base + 10**9
    callback_gas = int(consumer.functions.CALLBACK_GAS().call())
    service, mode = service_id("oracle" if source_url else "randomness"), int(Mode.SIGNATURE_ONLY)
    price = int(gateway.functions.requestPrice(service, mode, callback_gas, max_fee).call())
    hashes = []
    for i in range(count):
        params: TxParams = {
            "from": account.address,
            "value": Wei(price),
            "nonce": Nonce(nonce + i),
            "gas": REQUEST_GAS,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(10**9),
            "chainId": w3.eth.chain_id,
        }
        if source_url:
            call = consumer.functions.requestUrl(f"{source_url}?tag={tag}-{i}", ORACLE_FILTER)
        else:
            call = consumer.functions.requestRandomness(f"{tag}-{i}".encode(), False)
        tx = call.build_transaction(params)
        hashes.append(bytes(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)))
    return hashes


def wait_fulfilled(
    w3: Web3, gateway: Any, tx_hashes: list[bytes], timeout: float
) -> list[tuple[int, int, bytes]]:
    """For each request transaction: (request block, fulfilment block, fulfilment tx hash), once all
    are fulfilled."""
    receipts = [
        w3.eth.wait_for_transaction_receipt(HexBytes(h), timeout=timeout, poll_latency=0.1) for h in tx_hashes
    ]
    requests: dict[bytes, int] = {}
    for receipt in receipts:
        for event in gateway.events.ServiceRequested().process_receipt(receipt, errors=DISCARD):
            requests[bytes(event.args.requestId)] = int(receipt["blockNumber"])
    first = min(requests.values())
    fulfilled: dict[bytes, tuple[int, bytes]] = {}
    deadline = time.monotonic() + timeout
    while len(fulfilled) < len(requests):
        if time.monotonic() > deadline:
            raise HarnessError(f"{len(requests) - len(fulfilled)} requests not fulfilled in {timeout} s")
        for log in gateway.events.Fulfilled().get_logs(from_block=first):
            request_id = bytes(log.args.requestId)
            if request_id in requests:
                fulfilled[request_id] = (int(log.blockNumber), bytes(log.transactionHash))
        time.sleep(0.25)
    return [(requests[r], *fulfilled[r]) for r in requests]


def run_evm(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        platform = start_platform(stack, "nslbf-", args.service)
        chain = stack.enter_context(EvmDevnet(block_time=args.block_time, accounts=3))
        w3 = chain.web3()
        keys = asyncio.run(platform_keys(platform.database_url, platform.socket, chain.chain_id))
        user = chain.accounts[1].signer
        deployment = deploy_evm(chain, keys, MEASUREMENT, feeds=(), relayer_funds=RELAYER_FUNDS)
        build = build_contracts()
        gateway = contract_at(w3, build["NSLGateway"], deployment.gateway)
        name = CONSUMERS[args.service]
        consumer = contract_at(w3, build[name], deployment.examples[name])
        platform.start_worker(
            stack,
            {
                "NSL_EVM_RPC_URL": chain.rpc_url,
                "NSL_EVM_GATEWAY_ADDRESS": deployment.gateway,
                "NSL_EVM_CONFIRMATIONS": str(args.confirmations),
                "NSL_EVM_START_BLOCK": str(w3.eth.block_number + 1),
                "NSL_EVM_POLL_SECONDS": str(args.poll),
                "NSL_EVM_FULFIL_POLL_SECONDS": "0.1",
                "NSL_WORKER_POLL_SECONDS": "0.05",
                "NSL_WORKER_CONCURRENCY": str(args.concurrency),
            },
        )

        gaps, gas = [], []
        for i in range(args.sequential):
            hashes = send_requests(w3, gateway, consumer, user, 1, f"seq{i}", platform.source_url)
            ((requested, fulfilled, tx_hash),) = wait_fulfilled(w3, gateway, hashes, 60)
            gaps.append(fulfilled - requested)
            gas.append(int(w3.eth.get_transaction_receipt(HexBytes(tx_hash))["gasUsed"]))
        started = time.monotonic()
        hashes = send_requests(w3, gateway, consumer, user, args.burst, "burst", platform.source_url)
        burst = wait_fulfilled(w3, gateway, hashes, 600)
        wall = time.monotonic() - started
        codes = None
        if args.service == "oracle":
            logs = consumer.events.OracleResult().get_logs(from_block=0)
            codes = dict(Counter(OracleCode(int(log.args.code)).name for log in logs))
        first_block = min(r for r, _, _ in burst)
        last_block = max(f for _, f, _ in burst)
        span = int(w3.eth.get_block(last_block)["timestamp"]) - int(
            w3.eth.get_block(first_block)["timestamp"]
        )
        return {
            "chain": f"evm:{chain.chain_id}",
            "service": args.service,
            "oracle_codes": codes,
            "block_time_seconds": args.block_time,
            "confirmations": args.confirmations,
            "worker_concurrency": args.concurrency,
            "sequential": args.sequential,
            **blocks_summary("latency_blocks", gaps),
            "gas_per_fulfil_mean": round(sum(gas) / len(gas)) if gas else None,
            "burst": args.burst,
            "burst_requests_blocks": len({r for r, _, _ in burst}),
            "burst_blocks_first_request_to_last_fulfilment": last_block - first_block,
            "burst_chain_seconds": span,
            "burst_wall_seconds": round(wall, 2),
            "burst_fulfilments_per_minute": round(60 * args.burst / max(span, args.block_time), 1),
            **blocks_summary("burst_latency_blocks", [f - r for r, f, _ in burst]),
        }


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, dict):  # {"Success": 25}
        return " ".join(f"{key} {count}" for key, count in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(figures: dict[str, dict[str, Any]]) -> str:
    """Both chains' figures side by side."""
    rows = [
        ("chain", "chain"),
        ("service", "service"),
        ("oracle answers by code", "oracle_codes"),
        ("latency p50 (blocks request->Fulfilled)", "latency_blocks_p50"),
        ("latency p99 (blocks)", "latency_blocks_p99"),
        ("gas per fulfil (EVM: gas units)", "gas_per_fulfil_mean"),
        ("GAS per fulfil (N3: sys + net fee)", "gas_per_fulfil_gas"),
        ("burst requests", "burst"),
        ("burst: blocks holding the requests", "burst_requests_blocks"),
        ("burst: blocks first request->last fulfil", "burst_blocks_first_request_to_last_fulfilment"),
        ("burst: chain seconds", "burst_chain_seconds"),
        ("burst: fulfilments/min", "burst_fulfilments_per_minute"),
        ("burst latency p50 / p99 (blocks)", "burst_latency"),
    ]
    names = list(figures)
    width = max(len(label) for label, _ in rows)
    lines = [f"{'':{width}}  " + "  ".join(f"{n:>14}" for n in names)]
    for label, key in rows:
        cells = []
        for name in names:
            f = figures[name]
            if key == "burst_latency":
                cell = f"{_cell(f['burst_latency_blocks_p50'])} / {_cell(f['burst_latency_blocks_p99'])}"
            else:
                cell = _cell(f.get(key))
            cells.append(f"{cell:>14}")
        lines.append(f"{label:{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", choices=sorted(CHAINS), default="both", help="which chain(s) to measure")
    parser.add_argument(
        "--service",
        choices=sorted(CONSUMERS),
        default="randomness",
        help="what the example consumer asks for (oracle: from a local HTTPS source)",
    )
    parser.add_argument("--block-time", type=float, default=1.0, help="seconds per block on both chains")
    parser.add_argument("--sequential", type=int, default=20, help="requests for the latency figures")
    parser.add_argument("--burst", type=int, default=200, help="requests sent at once for throughput")
    parser.add_argument("--n3-batch", type=int, default=20, help="N3 burst: requests per transaction")
    parser.add_argument("--confirmations", type=int, default=0, help="NSL_EVM_CONFIRMATIONS")
    parser.add_argument("--concurrency", type=int, default=16, help="NSL_WORKER_CONCURRENCY")
    parser.add_argument(
        "--poll", type=float, default=0.2, help="NSL_EVM_POLL_SECONDS / NSL_N3_POLL_SECONDS (watcher period)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.sequential, args.burst, args.n3_batch, args.concurrency) < 1 or args.block_time <= 0:
        parser.error("--sequential, --burst, --n3-batch, --concurrency and --block-time must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runners = {"evm": run_evm, "n3": run_n3}
    figures: dict[str, dict[str, Any]] = {}
    try:
        for chain in CHAINS[args.chain]:
            started = time.monotonic()
            figures[chain] = runners[chain](args)
            print(f"{chain}: measured in {time.monotonic() - started:.0f} s", file=sys.stderr)
    except (HarnessError, servers.ServerError, NSLError, OSError) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
