"""Where a benchmarked server spends its time: py-spy samples of the server process, summarized.

``--profile SECONDS`` (``bench/api.py``, ``bench/keys.py``) runs one more window of load on the NSL
server while ``py-spy record --gil --nonblocking --format raw`` samples it, then prints the functions
and packages with the largest shares. Only samples that hold the GIL are kept (``--gil``), so idle
waits (the event loop in ``select``, aiosqlite's thread parked on its queue) are left out and the
shares are shares of the Python work. ``--nonblocking`` reads the process without pausing it, so the
profile barely slows what it measures.

Shares: *inclusive* = the share of samples with the function (or package) anywhere on the stack,
counted once per sample; *self* = the share of samples where it is the innermost frame.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.loadgen import measure
from bench.servers import Server

SAMPLE_RATE = 250
TOP = 25
# py-spy needs a moment to attach; the recording ends on its own after --duration seconds.
ATTACH_GRACE_SECONDS = 10.0
OTHER = "other"
# Packages reported on their own; everything else in site-packages is named by its top directory.
_PACKAGE_ALIASES = {"fastapi": "fastapi/starlette", "starlette": "fastapi/starlette"}
_OWN_PACKAGE = "neo_service_layer"
_STDLIB_GROUPS = ("asyncio", "logging", "json", "concurrent", "threading")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a py-spy raw stack: ``function (file:line)``."""

    function: str
    file: str
    line: int

    @property
    def name(self) -> str:
        """``function (file without the directories above its package)``, without the line."""
        return f"{self.function} ({short_path(self.file)})"


@dataclass(slots=True)
class Profile:
    """Sample counts per function and per package, inclusive and self."""

    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    self_: Counter[str] = field(default_factory=Counter)
    package_inclusive: Counter[str] = field(default_factory=Counter)
    package_self: Counter[str] = field(default_factory=Counter)

    def add(self, frames: tuple[Frame, ...], count: int) -> None:
        """Count one stack (outermost frame first) seen ``count`` times."""
        if not frames:
            return
        self.samples += count
        for name in {frame.name for frame in frames}:
            self.inclusive[name] += count
        for package in {package_of(frame.file) for frame in frames}:
            self.package_inclusive[package] += count
        leaf = frames[-1]
        self.self_[leaf.name] += count
        self.package_self[package_of(leaf.file)] += count

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


def parse_frame(text: str) -> Frame:
    """``handle (/x/site-packages/h11/_conn.py:42)`` -> Frame; a frame without a location keeps the text."""
    open_at = text.find(" (")  # a function name has no space; a path may
    if open_at < 0 or not text.endswith(")"):
        return Frame(text, "", 0)
    location = text[open_at + 2 : -1]
    file, _, line = location.rpartition(":")
    if not file or not line.isdigit():
        return Frame(text[:open_at], location, 0)
    return Frame(text[:open_at], file, int(line))


def parse_line(line: str) -> tuple[tuple[Frame, ...], int] | None:
    """One line of py-spy's raw (collapsed) output: ``frame;frame;... count``, outermost first.

    None for a blank or malformed line (py-spy writes none, but a truncated file may end in one).
    """
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    return tuple(parse_frame(part) for part in stack.split(";")), int(count)


def parse(lines: Iterable[str]) -> Profile:
    """The profile of a py-spy raw file's lines."""
    profile = Profile()
    for line in lines:
        parsed = parse_line(line)
        if parsed is not None:
            profile.add(*parsed)
    return profile


def short_path(file: str) -> str:
    """``file`` from its top-level package down (``sqlalchemy/orm/session.py``).

    py-spy already names files relative to their ``sys.path`` entry; an absolute path (a script, or an
    older py-spy) is cut after ``site-packages/`` or ``lib/python3.x/``.
    """
    for marker in ("/site-packages/", "/lib/python3."):
        at = file.rfind(marker)
        if at >= 0:
            kept = file[at + len(marker) :]
            return kept.split("/", 1)[1] if marker == "/lib/python3." and "/" in kept else kept
    return file


def package_of(file: str) -> str:
    """The package a frame's file belongs to: ``sqlalchemy``, ``fastapi/starlette``,
    ``neo_service_layer.api``, ``asyncio``, ``stdlib`` (the rest of it), ``other`` (``<string>``, frozen
    modules, scripts)."""
    path = short_path(file)
    if path.startswith(("<", "/")) or not path:
        return OTHER
    parts = path.split("/")
    top = parts[0].removesuffix(".py")
    if top == _OWN_PACKAGE:
        return f"{_OWN_PACKAGE}.{parts[1].removesuffix('.py')}" if len(parts) > 1 else _OWN_PACKAGE
    if top in sys.stdlib_module_names:
        return top if top in _STDLIB_GROUPS else "stdlib"
    return _PACKAGE_ALIASES.get(top, top)


@contextmanager
def recording(pid: int, seconds: float, output: Path) -> Iterator[Path]:
    """Sample ``pid`` with py-spy for ``seconds`` while the body runs load; yields the raw file's path.

    Waits for py-spy to write its file on exit. py-spy is taken from this interpreter's environment.
    """
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy),
        "record",
        "--gil",
        "--nonblocking",
        "--format",
        "raw",
        "-r",
        str(SAMPLE_RATE),
        "-d",
        str(max(1, round(seconds))),
        "-p",
        str(pid),
        "-o",
        str(output),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield output
        _, stderr = process.communicate(timeout=seconds + ATTACH_GRACE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed ({process.returncode}): {stderr.decode(errors='replace')[-500:]}")


def _table(
    title: str, profile: Profile, inclusive: Counter[str], self_: Counter[str], order: Counter[str], top: int
) -> Table:
    table = Table(title=title)
    table.add_column("name")
    table.add_column("inclusive", justify="right")
    table.add_column("self", justify="right")
    for name, _ in order.most_common(top):
        table.add_row(name, f"{profile.share(inclusive[name]):.1%}", f"{profile.share(self_[name]):.1%}")
    return table


def report(console: Console, profile: Profile, label: str, *, top: int = TOP) -> dict[str, object]:
    """Print the packages and the top functions by inclusive and by self share; return them."""
    console.print(f"profile of {label}: {profile.samples:,} samples holding the GIL")
    packages, functions = (
        (profile.package_inclusive, profile.package_self),
        (profile.inclusive, profile.self_),
    )
    console.print(_table("packages", profile, *packages, profile.package_inclusive, len(packages[0])))
    console.print(_table("functions by self share", profile, *functions, profile.self_, top))
    # The start-up frames every event-loop sample shares (runpy, click, uvicorn.run, ...) say nothing.
    outermost = max(profile.inclusive.values(), default=0)
    nested = Counter({name: n for name, n in profile.inclusive.items() if n < outermost})
    console.print(_table("functions by inclusive share", profile, *functions, nested, top))
    return {
        "samples": profile.samples,
        "packages": {
            name: {"inclusive": profile.share(count), "self": profile.share(profile.package_self[name])}
            for name, count in profile.package_inclusive.most_common()
        },
        "top_self": {name: profile.share(count) for name, count in profile.self_.most_common(top)},
        "top_inclusive": {name: profile.share(count) for name, count in profile.inclusive.most_common(top)},
    }


def profile_load(
    console: Console,
    runner: asyncio.Runner,
    *,
    label: str,
    pid: int,
    seconds: float,
    output: Path,
    target: Server,
    request: bytes,
    concurrency: int,
) -> dict[str, object]:
    """Send ``request`` to ``target`` (``concurrency`` in flight) on ``runner`` while py-spy samples
    ``pid`` (the target's process or another, such as the enclave); print and return the profile."""
    console.print(f"profiling {label} for {seconds:.0f} s ...")
    server = target.process.pid
    with recording(pid, seconds, output) as raw:
        runner.run(
            measure(
                label, 0, target.port, server, request, concurrency=concurrency, warmup=0, seconds=seconds
            )
        )
    with raw.open() as lines:
        return report(console, parse(lines), label)


def profile_platform(
    console: Console,
    runner: asyncio.Runner,
    args: argparse.Namespace,
    *,
    api: Server,
    enclave: Server,
    case: str,
    request: bytes,
    output_dir: Path,
) -> dict[str, object]:
    """``--profile`` of the process ``--profile-process`` names (the API server or the enclave) while
    ``request`` (the case ``case``) loads the API at ``--concurrency``."""
    target = enclave if args.profile_process == "enclave" else api
    return profile_load(
        console,
        runner,
        label=f"the {args.profile_process} process, {case}",
        pid=target.process.pid,
        seconds=args.profile,
        output=output_dir / f"{args.profile_process}.spy",
        target=api,
        request=request,
        concurrency=args.concurrency,
    )
