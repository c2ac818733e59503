"""What the load benchmarks share: their command-line options and the run-and-report entry point.

``bench/api.py``, ``bench/keys.py`` and ``bench/randomness.py`` take the same load options
(``--duration``, ``--warmup``, ``--concurrency``, ``--database-url``, ``--json``), check them the same
way, and end the same way: 0 when the benchmark ran whatever its numbers, 1 when the harness failed,
130 when interrupted (the servers are stopped either way).
"""

from __future__ import annotations

import argparse
import json
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from bench.loadgen import LoadError
from bench.servers import ServerError

MAX_SECONDS = 600.0
MAX_CONCURRENCY = 1024


class HarnessError(RuntimeError):
    """The benchmark could not run (a setup request failed, the database was not fresh, ...)."""


def load_parser(
    doc: str | None, *, duration: float, warmup: float, concurrency: int
) -> argparse.ArgumentParser:
    """A parser with the shared load options; a script adds its own before parsing."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument(
        "--duration", type=float, default=duration, help="measured seconds per case (default %(default)s)"
    )
    parser.add_argument(
        "--warmup", type=float, default=warmup, help="warm-up seconds per case (default %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=concurrency, help="requests in flight (default %(default)s)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/nsl_bench (the database "
        "must be named nsl_bench*: it is dropped and recreated; SQLite is the default)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    return parser


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    """``--profile SECONDS``: one more window of load on the NSL server under py-spy (``bench.profile``)."""
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after measuring, profile the NSL server with py-spy for this long under the same load",
    )


def add_load_concurrency_option(parser: argparse.ArgumentParser, default: int) -> None:
    """``--load-concurrency``: requests in flight for the throughput rows (beside ``--concurrency``'s)."""
    parser.add_argument(
        "--load-concurrency",
        type=int,
        default=default,
        help="requests in flight for the throughput rows (default %(default)s)",
    )


def add_profile_process_option(parser: argparse.ArgumentParser) -> None:
    """``--profile-process api|enclave``: the process ``--profile`` samples (``profile_platform``)."""
    parser.add_argument(
        "--profile-process",
        choices=("api", "enclave"),
        default="api",
        help="the process --profile samples: the API server (default) or the enclave",
    )


def parse_load_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` and refuse out-of-range load options with a usage error."""
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_SECONDS or not 0 <= args.warmup <= MAX_SECONDS:
        parser.error(f"--duration and --warmup must be within (0, {MAX_SECONDS:.0f}] seconds")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be within 1..{MAX_CONCURRENCY}")
    if not 1 <= getattr(args, "load_concurrency", 1) <= MAX_CONCURRENCY:
        parser.error(f"--load-concurrency must be within 1..{MAX_CONCURRENCY}")
    if not 0 <= getattr(args, "profile", 0.0) <= MAX_SECONDS:
        parser.error(f"--profile must be within [0, {MAX_SECONDS:.0f}] seconds")
    if args.database_url and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql+asyncpg:// URL (SQLite is the default)")
    return args


def _raise_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_benchmark(
    run: Callable[[argparse.Namespace, Console], dict[str, Any]],
    args: argparse.Namespace,
    *,
    min_width: int,
) -> int:
    """Run ``run(args, console)``, write its result to ``--json``, and map failures to an exit status."""
    console = Console()
    if console.width < min_width and not console.is_terminal:
        console = Console(width=min_width)  # a pipe or CI log: keep the tables readable
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    # Also when started in the background (where SIGINT may be ignored): Ctrl-C stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run(args, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; servers stopped[/yellow]")
        return 130
    except (HarnessError, LoadError, ServerError, OSError, httpx.HTTPError) as exc:
        console.print(f"[red]benchmark failed:[/red] {exc}")
        return 1
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"results written to {args.json}")
    return 0
