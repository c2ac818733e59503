"""Benchmark: key operations through the REST API vs the bare crypto library call, in the same run.

For sign (secp256r1, secp256k1, ed25519) and encrypt (aes256-gcm):

- **api**: ``POST /v1/keys/{id}/sign`` / ``/encrypt`` against a real uvicorn server (``bench.servers``:
  one worker, uvloop, httptools) and a real enclave subprocess (``python -m neo_service_layer.enclave``),
  SQLite by default (``--database-url`` for PostgreSQL). Each request authenticates, checks the
  rate limits, reads the key policy and wrapped version, asks the enclave (unwrap under the AMK,
  sign, sign the result with the enclave identity) and writes an audit entry — the whole path.
- **bare**: the same operation as one call of the pure crypto library (``enclave.crypto``), in this
  process, on material generated here: the floor any service could reach.

Latency is per request with ``--concurrency`` requests in flight (default 1: the latency one caller
sees); percentiles are nearest-rank. The report gives p50/p99 of both and the ratios api/bare, and
checks the seed target (< 500 ms) and our aim (p50 < 5 ms per sign). Exit status 0 whatever the
numbers; 1 when the harness fails.

Usage: ``python bench/keys.py [--duration 3] [--concurrency 1] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):  # run as ``python bench/keys.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.api import UNLIMITED_RATE, bootstrap_admin, http_request, provision_tenant, reset_postgres
from bench.cli import (
    HarnessError,
    add_profile_option,
    add_profile_process_option,
    load_parser,
    parse_load_args,
    run_benchmark,
)
from bench.loadgen import HOST, Window, measure, percentile
from bench.profile import profile_platform
from bench.servers import Server
from neo_service_layer.config import Settings
from neo_service_layer.devnet.platform import spawn_enclave
from neo_service_layer.enclave.crypto import aead, keys, signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat

DEFAULT_DURATION = 3.0
DEFAULT_WARMUP = 0.5
DEFAULT_CONCURRENCY = 1
SEED_TARGET_MS = 500.0
AIM_SIGN_P50_MS = 5.0
MESSAGE = b"transfer 10 GAS to NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq"
MIN_TABLE_WIDTH = 150


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    key_type: KeyType
    path: str  # operation path under /v1/keys/{id}
    body: dict[str, Any]
    bare: Callable[[bytes], object]  # the library call on the key's material


def _sign(key_type: KeyType) -> Callable[[bytes], object]:
    hash_alg = key_type.default_hash or HashAlgorithm.NONE
    return lambda material: signing.sign(
        key_type, material, MESSAGE, hash_alg=hash_alg, fmt=SignatureFormat.RAW
    )


CASES = [
    Case(
        "sign secp256r1",
        KeyType.SECP256R1,
        "sign",
        {"message": base64.b64encode(MESSAGE).decode()},
        _sign(KeyType.SECP256R1),
    ),
    Case(
        "sign secp256k1",
        KeyType.SECP256K1,
        "sign",
        {"message": base64.b64encode(MESSAGE).decode()},
        _sign(KeyType.SECP256K1),
    ),
    Case(
        "sign ed25519",
        KeyType.ED25519,
        "sign",
        {"message": base64.b64encode(MESSAGE).decode()},
        _sign(KeyType.ED25519),
    ),
    Case(
        "encrypt aes256-gcm",
        KeyType.AES256_GCM,
        "encrypt",
        {"plaintext": base64.b64encode(MESSAGE).decode(), "context": base64.b64encode(b"bench").decode()},
        lambda material: aead.encrypt(material, MESSAGE, b"bench"),
    ),
]


@dataclass(slots=True)
class Result:
    case: str
    api_requests: int
    api_errors: int
    api_rps: float
    api_p50_ms: float
    api_p99_ms: float
    bare_calls: int
    bare_p50_ms: float
    bare_p99_ms: float
    p50_ratio: float
    p99_ratio: float
    api_cpu_us: float | None  # CPU time per request: the API process
    enclave_cpu_us: float | None  # and the enclave process


def cpu_per_request(cores: float | None, window: Window) -> float | None:
    """µs of CPU per request from a window's CPU share (in cores), or None when it was not measured."""
    if cores is None or not window.requests:
        return None
    return cores * window.seconds / window.requests * 1e6


def bare_latencies(call: Callable[[bytes], object], material: bytes, seconds: float) -> list[float]:
    """Per-call latencies of the library call, run back to back for ``seconds`` (after a short warm-up)."""
    for _ in range(100):
        call(material)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        call(material)
        latencies.append(time.perf_counter() - start)
    return sorted(latencies)


def post_request(port: int, path: str, api_key: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: nsl-bench\r\n"
        "Accept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nX-API-Key: {api_key}\r\n\r\n"
    )
    return head.encode() + payload


def start_platform(
    stack: contextlib.ExitStack,
    runner: asyncio.Runner,
    database_url: str | None,
    data_dir: Path,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Server, Server, str]:
    """The enclave and the API as their own processes (stopped by ``stack``), rate limits out of the
    way, on SQLite under ``data_dir`` or a fresh PostgreSQL ``database_url`` (dropped after); returns
    them and the owner key of a new tenant."""
    if database_url:
        runner.run(reset_postgres(database_url, create=True))
        stack.callback(lambda: runner.run(reset_postgres(database_url, create=False)))
    effective_url = Settings(data_dir=data_dir, database_url=database_url).effective_database_url
    admin_key = runner.run(bootstrap_admin(effective_url))
    env = {
        "NSL_DATA_DIR": str(data_dir),
        "NSL_LOG_LEVEL": servers.SERVER_LOG_LEVEL,
        "NSL_ENCLAVE_PASSPHRASE": os.urandom(16).hex(),
        **{
            f"NSL_RATE_LIMIT_{scope}_{kind}": UNLIMITED_RATE
            for scope in ("KEY", "ACCOUNT")
            for kind in ("PER_SECOND", "BURST")
        },
        **(extra_env or {}),
    }
    if database_url:
        env["NSL_DATABASE_URL"] = database_url
    enclave = start_enclave(servers.server_env(env), data_dir)
    stack.callback(servers.stop, enclave)
    api = servers.start("api", "bench.nsl_app:create_app", servers.server_env(env), data_dir)
    stack.callback(servers.stop, api)
    servers.wait_ready(api, "/readyz")
    return enclave, api, provision_tenant(api, admin_key)


def start_enclave(env: dict[str, str], log_dir: Path) -> Server:
    """The enclave as its own process, in its own session (stopped with ``servers.stop``)."""
    log_path = log_dir / "enclave.log"
    return Server("enclave", spawn_enclave(env, log_path), 0, log_path)


def create_keys(server: Server, api_key: str) -> dict[KeyType, str]:
    """One key per type through the API; checks each signs/encrypts once."""
    created: dict[KeyType, str] = {}
    with httpx.Client(
        base_url=f"http://{HOST}:{server.port}", timeout=10.0, headers={"X-API-Key": api_key}
    ) as c:
        for case in CASES:
            response = c.post("/v1/keys", json={"name": case.name, "type": case.key_type.value})
            if response.status_code != 201:
                raise HarnessError(
                    f"creating a {case.key_type.value} key: {response.status_code} {response.text}"
                )
            key_id = response.json()["id"]
            check = c.post(f"/v1/keys/{key_id}/{case.path}", json=case.body)
            if check.status_code != 200:
                raise HarnessError(f"{case.name}: {check.status_code} {check.text}")
            created[case.key_type] = key_id
    return created


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(asyncio.Runner(loop_factory=uvloop.new_event_loop))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nslbk-", dir="/tmp")))
        enclave, api, api_key = start_platform(stack, runner, args.database_url, data_dir)
        key_ids = create_keys(api, api_key)

        # The platform's own floor in the same run: an authenticated, audited GET that calls no enclave.
        floor = runner.run(
            measure(
                "floor",
                1,
                api.port,
                api.process.pid,
                http_request(api.port, "/v1/account", api_key),
                concurrency=args.concurrency,
                warmup=args.warmup,
                seconds=args.duration,
            )
        )
        floor_latencies = sorted(floor.latencies)
        floor_ms = (percentile(floor_latencies, 0.5) * 1000, percentile(floor_latencies, 0.99) * 1000)
        results: list[Result] = []
        for case in CASES:
            console.print(f"{case.name}: api ...", end=" ")
            path = f"/v1/keys/{key_ids[case.key_type]}/{case.path}"
            window = runner.run(
                measure(
                    case.name,
                    1,
                    api.port,
                    api.process.pid,
                    post_request(api.port, path, api_key, case.body),
                    concurrency=args.concurrency,
                    warmup=args.warmup,
                    seconds=args.duration,
                    extra_pid=enclave.process.pid,
                )
            )
            console.print(f"{window.rps:,.0f} req/s; bare ...")
            bare = bare_latencies(case.bare, keys.generate(case.key_type), args.duration)
            api_lat = sorted(window.latencies)
            api_p50, api_p99 = percentile(api_lat, 0.5) * 1000, percentile(api_lat, 0.99) * 1000
            bare_p50, bare_p99 = percentile(bare, 0.5) * 1000, percentile(bare, 0.99) * 1000
            results.append(
                Result(
                    case=case.name,
                    api_requests=window.requests,
                    api_errors=window.errors,
                    api_rps=window.rps,
                    api_p50_ms=api_p50,
                    api_p99_ms=api_p99,
                    bare_calls=len(bare),
                    bare_p50_ms=bare_p50,
                    bare_p99_ms=bare_p99,
                    p50_ratio=api_p50 / bare_p50,
                    p99_ratio=api_p99 / bare_p99,
                    api_cpu_us=cpu_per_request(window.server_cpu, window),
                    enclave_cpu_us=cpu_per_request(window.extra_cpu, window),
                )
            )
        profile = None
        if args.profile:
            # The first case (a secp256r1 signature): the platform's cost around one enclave call.
            case = CASES[0]
            request = post_request(
                api.port, f"/v1/keys/{key_ids[case.key_type]}/{case.path}", api_key, case.body
            )
            profile = profile_platform(
                console,
                runner,
                args,
                api=api,
                enclave=enclave,
                case=case.name,
                request=request,
                output_dir=data_dir,
            )
    result = report(console, results, floor_ms, args)
    return result if profile is None else result | {"profile": profile}


def report(
    console: Console, results: list[Result], floor_ms: tuple[float, float], args: argparse.Namespace
) -> dict[str, Any]:
    database = "PostgreSQL" if args.database_url else "SQLite"
    table = Table(
        title=f"Key operations: REST API vs bare library ({database}, concurrency {args.concurrency})"
    )
    columns = (
        "operation",
        "api req/s",
        "api p50 ms",
        "api p99 ms",
        "bare p50 ms",
        "bare p99 ms",
        "p50 x",
        "p99 x",
        "api µs/req",
        "enclave µs/req",
        "errors",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "operation" else "right")
    for r in results:
        table.add_row(
            r.case,
            f"{r.api_rps:,.0f}",
            f"{r.api_p50_ms:.2f}",
            f"{r.api_p99_ms:.2f}",
            f"{r.bare_p50_ms:.3f}",
            f"{r.bare_p99_ms:.3f}",
            f"{r.p50_ratio:,.0f}",
            f"{r.p99_ratio:,.0f}",
            _micros(r.api_cpu_us),
            _micros(r.enclave_cpu_us),
            f"[red]{r.api_errors}[/red]" if r.api_errors else "0",
        )
    console.print(table)
    console.print(
        f"Platform floor in the same run: GET /v1/account (API key, rate limits, audit entry; no enclave) "
        f"p50 {floor_ms[0]:.2f} ms, p99 {floor_ms[1]:.2f} ms."
    )
    seed_met = all(r.api_p99_ms < SEED_TARGET_MS for r in results)
    signs = [r for r in results if r.case.startswith("sign")]
    aim_met = all(r.api_p50_ms < AIM_SIGN_P50_MS for r in signs)
    console.print(
        f"Seed target (every key operation < {SEED_TARGET_MS:.0f} ms at p99): "
        f"{'MET' if seed_met else 'NOT MET'}"
    )
    console.print(
        f"Aim (sign p50 < {AIM_SIGN_P50_MS:.0f} ms through the API): {'MET' if aim_met else 'NOT MET'}"
    )
    return {
        "info": {
            "database": database,
            "concurrency": args.concurrency,
            "duration_per_case": args.duration,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": [asdict(r) for r in results],
        "floor_get_account_ms": {"p50": floor_ms[0], "p99": floor_ms[1]},
        "seed_target_met": seed_met,
        "sign_p50_aim_met": aim_met,
    }


def _micros(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = load_parser(
        __doc__, duration=DEFAULT_DURATION, warmup=DEFAULT_WARMUP, concurrency=DEFAULT_CONCURRENCY
    )
    add_profile_option(parser)
    add_profile_process_option(parser)
    return parse_load_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers), 1 when the harness failed."""
    return run_benchmark(run, parse_args(argv), min_width=MIN_TABLE_WIDTH)


if __name__ == "__main__":
    sys.exit(main())
