"""Benchmark: the functions sandbox (enclave.functions) against the bare engine, for docs/functions.md.

Measures, in one run on this machine:

- **fresh context**: ``quickjs.Context()`` (quickjs-ng), what every run pays;
- **bare eval**: a fresh context and ``eval`` of a small function, in this process (no isolation);
- **pool run**: the same function through :class:`SandboxPool` (a warm process: fresh context, prelude,
  frames over the socket, result checks), p50/p99, and runs/s with ``--concurrency`` callers;
- **spawn**: starting one sandbox process until it reports ready (confined), and its resident memory;
- **wasm** (optional, ``--wasm-python`` naming an interpreter with ``quickjs-rs`` installed): a fresh
  runtime and context of QuickJS compiled to WebAssembly on wasmtime, and an eval in it.

Usage: ``python bench/sandbox.py [--runs 500] [--concurrency 20] [--wasm-python /path/python]``.
Exit status 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import quickjs

if __package__ in (None, ""):  # run as ``python bench/sandbox.py``: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neo_service_layer.enclave.functions.limits import RunLimits
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.functions.runs import RunRequest, RunStatus

SOURCE = "const x = args.values.map(v => v * 2); return { sum: x.reduce((a, b) => a + b, 0) }"
ARGS = {"values": [1, 2, 3, 4, 5]}
LIMITS = RunLimits(timeout_ms=2000, memory_mb=32)

WASM_SNIPPET = """
import json, time, quickjs_rs as q
src = "(() => { const x = [1,2,3,4,5].map(v => v * 2); return { sum: x.reduce((a, b) => a + b, 0) } })()"
def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); fn(); out.append((time.perf_counter() - t) * 1000)
    out.sort(); return out[len(out) // 2]
rt = q.Runtime(memory_limit=32 << 20)
def fresh():
    ctx = q.Context(rt); ctx.close()
def fresh_runtime():
    r = q.Runtime(memory_limit=32 << 20); c = q.Context(r); c.close(); r.close()
def run():
    ctx = q.Context(rt); ctx.eval(src); ctx.close()
def run_fresh_runtime():
    r = q.Runtime(memory_limit=32 << 20); c = q.Context(r); c.eval(src); c.close(); r.close()
print(json.dumps({"context_ms": timed(fresh, 50), "runtime_and_context_ms": timed(fresh_runtime, 20),
                  "eval_in_fresh_context_ms": timed(run, 50),
                  "eval_in_fresh_runtime_ms": timed(run_fresh_runtime, 20)}))
"""


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bare_eval(source: str, args: object, memory_mb: int = LIMITS.memory_mb) -> str:
    """``source`` as a function body with ``args`` in a fresh quickjs-ng context, in this process: the
    engine's own floor (no process, prelude, limits beyond memory, or checks); the result as JSON text."""
    ctx = quickjs.Context()
    ctx.set_memory_limit(memory_mb << 20)
    result: str = ctx.eval(f"JSON.stringify((() => {{ const args = {json.dumps(args)}; {source}\n}})())")
    return result


def bare(runs: int) -> tuple[list[float], list[float]]:
    contexts, evals = [], []
    for _ in range(runs):
        started = time.perf_counter()
        quickjs.Context()
        contexts.append(time.perf_counter() - started)
    for _ in range(runs):
        started = time.perf_counter()
        bare_eval(SOURCE, ARGS)
        evals.append(time.perf_counter() - started)
    return contexts, evals


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def through_pool(runs: int, concurrency: int) -> dict[str, float]:
    started = time.perf_counter()
    async with SandboxPool(1, maximums=LIMITS) as single:
        spawn_s = time.perf_counter() - started
        rss = _rss_kib(single.pids()[0])
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            result = await single.run(RunRequest(SOURCE, args=ARGS, limits=LIMITS))
            samples.append(time.perf_counter() - t)
            assert result.status is RunStatus.SUCCEEDED, result.error
        rss_after = _rss_kib(single.pids()[0])
    async with SandboxPool(2, maximums=LIMITS) as pool:
        t = time.perf_counter()

        async def caller() -> None:
            for _ in range(runs // concurrency):
                await pool.run(RunRequest(SOURCE, args=ARGS, limits=LIMITS))

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        per_second = (runs // concurrency) * concurrency / (time.perf_counter() - t)
    return {
        "p50_ms": _ms(samples, 0.5),
        "p99_ms": _ms(samples, 0.99),
        "spawn_ms": spawn_s * 1000,
        "rss_kib": rss,
        "rss_after_kib": rss_after,
        "runs_per_s": per_second,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--wasm-python", default=None)
    options = parser.parse_args()
    contexts, evals = bare(options.runs)
    print(
        f"fresh context (quickjs-ng):       p50 {_ms(contexts, 0.5):.3f} ms  p99 {_ms(contexts, 0.99):.3f} ms"
    )
    print(f"bare fresh context + eval:        p50 {_ms(evals, 0.5):.3f} ms  p99 {_ms(evals, 0.99):.3f} ms")
    pool = asyncio.run(through_pool(options.runs, options.concurrency))
    print(f"through the pool (1 process):     p50 {pool['p50_ms']:.3f} ms  p99 {pool['p99_ms']:.3f} ms")
    print(f"pool ratio to bare at p50:        {pool['p50_ms'] / _ms(evals, 0.5):.1f}x")
    print(f"runs/s, {options.concurrency} callers, 2 processes: {pool['runs_per_s']:.0f}")
    print(f"spawn one confined process:       {pool['spawn_ms']:.0f} ms")
    print(
        f"resident memory per process:      {pool['rss_kib'] / 1024:.1f} MiB idle, "
        f"{pool['rss_after_kib'] / 1024:.1f} MiB after {options.runs} runs"
    )
    if options.wasm_python:
        out = subprocess.run(
            [options.wasm_python, "-c", WASM_SNIPPET],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        print(f"wasm (quickjs-rs on wasmtime):    {out.stdout.strip() or out.stderr.strip()[-500:]}")


if __name__ == "__main__":
    main()
