"""Benchmark: the price feed's aggregation cost per round vs the bare ``statistics.median``, in one run.

For each scenario, ``--rounds`` (default 1,000) polling rounds of ``--sources`` (default 20) quotes are
generated up front (Decimal prices with 8 fractional digits around 12.34, exchange times a few seconds
old) and replayed, so neither side sees the same list twice in a row:

- **ours**: ``enclave.pricefeed.aggregate.aggregate`` (stale check, MAD outlier filter, quorum, spread
  bound, exact median, answer rounded half to even) then ``decide`` against the last answer: all a
  round costs the enclave besides fetching and signing;
- **bare**: ``statistics.median`` of the same round's Decimal prices: the floor of any median feed.

Scenarios: ``clean`` (every quote fresh and close), ``outliers`` (2 sources off by 30 % and 2 stale),
``tie`` (most sources quote the same price: MAD = 0). Reports calls/s, p50 and p99 in µs and the ratio
ours/bare.

Then (``--part chains``; both parts by default) the feed on both local chains, in
``bench/pricefeed_chains.py``: the time from a price change at the sources to the new round on anvil and
on neo-go, in blocks and seconds (p50 / p99 over ``--changes``), with a real ``nsl worker`` polling, and
the gas each round costs. Exit status 0 whatever the numbers.

Usage: ``python bench/pricefeed.py [--part all|aggregation|chains] [--duration 2] [--sources 20]
[--rounds 1000] [--changes 20] [--poll-interval 1] [--tick 0.5] [--evm-block-time 1]
[--n3-block-time 1] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):  # run as ``python bench/pricefeed.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pricefeed_chains import chains_table, run_chains
from neo_service_layer.enclave.pricefeed.aggregate import Aggregate, AggregationPolicy, aggregate
from neo_service_layer.enclave.pricefeed.decide import Published, TriggerPolicy, decide
from neo_service_layer.enclave.pricefeed.quotes import Quote

DEFAULT_DURATION: Final = 2.0
DEFAULT_SOURCES: Final = 20
DEFAULT_ROUNDS: Final = 1_000
MAX_SOURCES: Final = 20  # what pricefeed.observe takes
MIN_SOURCES: Final = 7  # the outliers scenario drops 4 and the policy needs 3
NOW: Final = 1_800_000_000
CENTER: Final = Decimal("12.34")
POLICY: Final = AggregationPolicy(
    decimals=8, min_sources=3, max_quote_age_s=60, outlier_mad_k=Decimal(5), max_spread_bps=500
)
TRIGGERS: Final = TriggerPolicy(deviation_bps=50, heartbeat_s=3600, breaker_bps=1000)
LAST: Final = Published(answer=1_234_000_000, observed_at=NOW - 60)
SCENARIOS: Final = ("clean", "outliers", "tie")
PARTS: Final = ("all", "aggregation", "chains")
DEFAULT_CHANGES: Final = 20
WARMUP_CALLS: Final = 200
MIN_TABLE_WIDTH: Final = 110

type Round = dict[str, Quote]


@dataclass(slots=True)
class Result:
    scenario: str
    sources: int
    ours_calls: int
    ours_calls_per_s: float
    ours_p50_us: float
    ours_p99_us: float
    bare_calls: int
    bare_calls_per_s: float
    bare_p50_us: float
    bare_p99_us: float
    p50_ratio: float
    p99_ratio: float


def _price(rng: random.Random, spread_bps: int) -> Decimal:
    """CENTER moved by up to ``spread_bps``, 8 fractional digits (an exchange's precision)."""
    offset = Decimal(rng.randint(-spread_bps * 10_000, spread_bps * 10_000)) / Decimal(10) ** 8
    return (CENTER * (1 + offset)).quantize(Decimal("1E-8"))


def make_round(rng: random.Random, scenario: str, sources: int) -> Round:
    """One polling round's quotes for ``scenario`` (module docstring)."""
    quotes: Round = {}
    for i in range(sources):
        price = _price(rng, 20)
        quote_time = NOW - rng.randint(0, 5)
        if scenario == "outliers" and i < 2:
            price = (price * Decimal("1.3")).quantize(Decimal("1E-8"))
        elif scenario == "outliers" and i < 4:
            quote_time = NOW - 600
        elif scenario == "tie" and i < sources * 3 // 4:
            price = CENTER
        quotes[f"source-{i:02d}"] = Quote(price, quote_time, None)
    return quotes


def ours(quotes: Mapping[str, Quote]) -> object:
    result = aggregate(quotes, NOW, POLICY)
    if not isinstance(result, Aggregate):  # every generated round has an answer; anything else is a bug
        raise RuntimeError(f"no answer: {result.code}: {result.detail}")
    return decide(result.answer, NOW, LAST, None, TRIGGERS)


def bare(quotes: Mapping[str, Quote]) -> object:
    return statistics.median([quote.price for quote in quotes.values()])


def latencies(call: Callable[[Round], object], rounds: list[Round], seconds: float) -> list[float]:
    """Per-call seconds of ``call`` over ``rounds`` in turn, back to back for ``seconds``, sorted."""
    for i in range(WARMUP_CALLS):
        call(rounds[i % len(rounds)])
    out: list[float] = []
    i = 0
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        call(rounds[i % len(rounds)])
        out.append(time.perf_counter() - start)
        i += 1
    return sorted(out)


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def measure(scenario: str, args: argparse.Namespace) -> Result:
    rng = random.Random(f"{scenario}-{args.sources}")  # the same rounds on every run
    rounds = [make_round(rng, scenario, args.sources) for _ in range(args.rounds)]
    # Alternate halves so that a noisy neighbour slows both sides alike.
    half = args.duration / 2
    ours_lat = sorted(latencies(ours, rounds, half) + latencies(ours, rounds, half))
    bare_lat = sorted(latencies(bare, rounds, half) + latencies(bare, rounds, half))
    ours_p50, ours_p99 = _percentile(ours_lat, 0.5) * 1e6, _percentile(ours_lat, 0.99) * 1e6
    bare_p50, bare_p99 = _percentile(bare_lat, 0.5) * 1e6, _percentile(bare_lat, 0.99) * 1e6
    return Result(
        scenario=scenario,
        sources=args.sources,
        ours_calls=len(ours_lat),
        ours_calls_per_s=len(ours_lat) / sum(ours_lat),
        ours_p50_us=ours_p50,
        ours_p99_us=ours_p99,
        bare_calls=len(bare_lat),
        bare_calls_per_s=len(bare_lat) / sum(bare_lat),
        bare_p50_us=bare_p50,
        bare_p99_us=bare_p99,
        p50_ratio=ours_p50 / bare_p50,
        p99_ratio=ours_p99 / bare_p99,
    )


def report(console: Console, results: list[Result], args: argparse.Namespace) -> dict[str, object]:
    table = Table(
        title=f"Price feed: aggregation per round ({args.sources} sources) vs bare statistics.median"
    )
    columns = ("scenario", "ours/s", "ours p50 µs", "ours p99 µs", "bare/s", "bare p50 µs", "bare p99 µs")
    for column in (*columns, "p50 x", "p99 x"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in results:
        table.add_row(
            r.scenario,
            f"{r.ours_calls_per_s:,.0f}",
            f"{r.ours_p50_us:.1f}",
            f"{r.ours_p99_us:.1f}",
            f"{r.bare_calls_per_s:,.0f}",
            f"{r.bare_p50_us:.1f}",
            f"{r.bare_p99_us:.1f}",
            f"{r.p50_ratio:.1f}",
            f"{r.p99_ratio:.1f}",
        )
    console.print(table)
    return {
        "info": {
            "sources": args.sources,
            "rounds": args.rounds,
            "duration_per_case": args.duration,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "aggregation": [asdict(r) for r in results],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION, help="measured seconds per side and scenario"
    )
    parser.add_argument("--sources", type=int, default=DEFAULT_SOURCES, help="quotes per round (7..20)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="distinct rounds replayed")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="only this one (repeatable)")
    parser.add_argument("--part", choices=PARTS, default="all", help="what to measure (default: all)")
    parser.add_argument("--changes", type=int, default=DEFAULT_CHANGES, help="price changes (chains)")
    parser.add_argument(
        "--poll-interval", type=int, default=1, help="the feed's poll interval in seconds (chains)"
    )
    parser.add_argument("--tick", type=float, default=0.5, help="the worker's price feed tick, seconds")
    parser.add_argument("--evm-block-time", type=float, default=1.0, help="anvil's interval mining, s")
    parser.add_argument("--n3-block-time", type=float, default=1.0, help="neo-go's block time, s")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.changes <= 1000:
        parser.error("--changes must be within 1..1000")
    if not 1 <= args.poll_interval <= 60 or not 0 < args.tick <= 60:
        parser.error("--poll-interval must be within 1..60 and --tick within (0, 60] seconds")
    if min(args.evm_block_time, args.n3_block_time) <= 0:
        parser.error("block times must be positive")
    if not 0 < args.duration <= 600:
        parser.error("--duration must be within (0, 600] seconds")
    if not MIN_SOURCES <= args.sources <= MAX_SOURCES:
        parser.error(f"--sources must be within {MIN_SOURCES}..{MAX_SOURCES}")
    if not 1 <= args.rounds <= 100_000:
        parser.error("--rounds must be within 1..100000")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers)."""
    args = parse_args(argv)
    console = Console()
    if console.width < MIN_TABLE_WIDTH and not console.is_terminal:
        console = Console(width=MIN_TABLE_WIDTH)  # a pipe or CI log: keep the table readable
    summary: dict[str, object] = {}
    if args.part in ("all", "aggregation"):
        results = []
        for scenario in args.scenario or SCENARIOS:
            console.print(f"{scenario}: measuring ...")
            results.append(measure(scenario, args))
        summary = report(console, results, args)
    if args.part in ("all", "chains"):
        console.print(f"chains: anvil, neo-go, the platform and a worker; {args.changes} changes ...")
        chains = run_chains(args)
        console.print(chains_table(chains))
        summary["chains"] = chains
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
