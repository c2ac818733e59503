"""A worker process for the crash tests: ``python -m tests.worker.crash_worker <grace-seconds>``.

Settings come from ``NSL_*`` environment variables. It runs the real ``run_worker`` with one
extra handler, ``test.hang``, that hangs on its first attempt (so the test can kill the process
mid-job) and finishes on any later one. Each start and finish is appended to the file named in
the payload, so the test can count executions across processes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from neo_service_layer.config import Settings
from neo_service_layer.worker.context import JobContext
from neo_service_layer.worker.process import run_worker

HANG_KIND = "test.hang"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as marker:
        marker.write(line + "\n")


async def hang_handler(ctx: JobContext) -> dict[str, Any]:
    """Hang forever on attempt 1; finish on later attempts. Records both in the marker file."""
    marker = Path(ctx.job.payload["marker"])
    await asyncio.to_thread(_append, marker, f"start {ctx.job.attempts} {ctx.worker_id}")
    if ctx.job.attempts == 1:
        await asyncio.Event().wait()
    await asyncio.to_thread(_append, marker, f"finish {ctx.job.attempts} {ctx.worker_id}")
    return {"attempt": ctx.job.attempts, "worker": ctx.worker_id}


def main() -> None:
    grace = float(sys.argv[1])
    asyncio.run(run_worker(Settings(), handlers={HANG_KIND: hang_handler}, shutdown_grace_seconds=grace))


if __name__ == "__main__":
    main()
