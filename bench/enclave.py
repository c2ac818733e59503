"""Benchmark: the enclave alone, a real subprocess driven by one client, ``keys.sign`` back to back.

No API, database or HTTP: what one enclave call costs, on both sides of the socket. The enclave runs as
``python -m neo_service_layer.enclave`` (passphrase sealing, a temp data dir), exactly as ``bench/keys.py``
starts it; this process is its client (``enclave.client.UnixEnclaveClient`` on uvloop, as in the API).
For each signing key type it makes an AMK and a key, warms up, then times ``--calls`` sequential
``keys.sign`` calls and reports the call's p50/p99, the enclave process's CPU per call (from /proc: its
event loop, protocol, handler and both result signatures) and this client's (encode, write, read,
decode, validate). CPU per call is the steadier figure on a shared machine.

Usage: ``python bench/enclave.py [--calls 3000] [--json out.json]``. Exit status 0 whatever the numbers;
1 when the harness fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):  # run as ``python bench/enclave.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.cli import HarnessError, run_benchmark
from bench.keys import MESSAGE
from bench.loadgen import percentile, process_cpu_seconds
from neo_service_layer.config import Settings
from neo_service_layer.devnet.platform import spawn_enclave, wait_for_enclave
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import GENERATE, SIGN, GenerateArgs, SignArgs

DEFAULT_CALLS = 3000
WARMUP_CALLS = 200
MAX_CALLS = 1_000_000
ACCOUNT = "acc_01BENCHENCLAVE"
KEY_TYPES = (KeyType.SECP256R1, KeyType.SECP256K1, KeyType.ED25519)
MIN_TABLE_WIDTH = 100


@dataclass(frozen=True, slots=True)
class Result:
    key_type: str
    calls: int
    p50_ms: float
    p99_ms: float
    enclave_cpu_us: float | None  # per call; None off Linux
    client_cpu_us: float


async def _sign_args(client: UnixEnclaveClient, amk: SealedAmk, key_type: KeyType) -> SignArgs:
    """A fresh key of ``key_type`` and the args that sign ``MESSAGE`` with it."""
    generated = await client.run(
        GENERATE,
        GenerateArgs(account_id=ACCOUNT, key_id="key_01BENCH", version=1, key_type=key_type, amk=amk),
    )
    return SignArgs(
        account_id=ACCOUNT,
        key_id="key_01BENCH",
        version=1,
        key_type=key_type,
        amk=amk,
        material=generated.wrapped,
        data=MESSAGE,
        hash=key_type.default_hash or HashAlgorithm.NONE,
        format=SignatureFormat.RAW,
    )


async def _measure(client: UnixEnclaveClient, enclave_pid: int, args: SignArgs, calls: int) -> Result:
    for _ in range(WARMUP_CALLS):
        await client.run(SIGN, args)
    latencies: list[float] = []
    enclave_before, client_before = process_cpu_seconds(enclave_pid), time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        await client.run(SIGN, args)
        latencies.append(time.perf_counter() - started)
    enclave_after, client_after = process_cpu_seconds(enclave_pid), time.process_time()
    latencies.sort()
    enclave_cpu = (
        None
        if enclave_before is None or enclave_after is None
        else (enclave_after - enclave_before) / calls * 1e6
    )
    return Result(
        key_type=args.key_type.value,
        calls=calls,
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        enclave_cpu_us=enclave_cpu,
        client_cpu_us=(client_after - client_before) / calls * 1e6,
    )


async def _run_all(data_dir: Path, calls: int) -> list[Result]:
    env = {
        "NSL_DATA_DIR": str(data_dir),
        "NSL_LOG_LEVEL": servers.SERVER_LOG_LEVEL,
        "NSL_ENCLAVE_PASSPHRASE": os.urandom(16).hex(),
    }
    process = spawn_enclave(servers.server_env(env), data_dir / "enclave.log")
    client = UnixEnclaveClient(Settings(data_dir=data_dir).effective_enclave_socket, timeout=10.0)
    try:
        try:
            await wait_for_enclave(client, process=process)
        except Exception as exc:
            raise HarnessError(f"the enclave did not start: {exc}") from exc
        created = await client.amk_create(ACCOUNT, 1)
        amk = SealedAmk(version=1, sealed=created.sealed)
        return [
            await _measure(client, process.pid, await _sign_args(client, amk, key_type), calls)
            for key_type in KEY_TYPES
        ]
    finally:
        await client.close()
        process.terminate()
        process.wait()


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nslbe-", dir="/tmp") as data_dir:
        results = asyncio.run(_run_all(Path(data_dir), args.calls), loop_factory=uvloop.new_event_loop)
    table = Table(title=f"keys.sign on the enclave alone: {args.calls} sequential calls per key type")
    for column in ("key type", "p50 ms", "p99 ms", "enclave µs/call", "client µs/call"):
        table.add_column(column, justify="left" if column == "key type" else "right")
    for r in results:
        enclave = "n/a" if r.enclave_cpu_us is None else f"{r.enclave_cpu_us:,.0f}"
        table.add_row(r.key_type, f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}", enclave, f"{r.client_cpu_us:,.0f}")
    console.print(table)
    return {"calls": args.calls, "results": [asdict(r) for r in results]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--calls", type=int, default=DEFAULT_CALLS, help="measured calls per key type (default %(default)s)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls must be within 1..{MAX_CALLS}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers), 1 when the harness failed."""
    return run_benchmark(run, parse_args(argv), min_width=MIN_TABLE_WIDTH)


if __name__ == "__main__":
    sys.exit(main())
