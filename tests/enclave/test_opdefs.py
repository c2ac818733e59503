"""Op declarations (``enclave/opdefs``): the host calls through them only; mypy holds both sides to them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import neo_service_layer
from neo_service_layer.enclave.opdefs import catalogue

PACKAGE = Path(neo_service_layer.__file__).resolve().parent
OPDEFS = PACKAGE / "enclave" / "opdefs"
TYPECHECK_FILE = Path(__file__).with_name("typecheck_ops.py")
_IGNORE = re.compile(r"# type: ignore\[([a-z-]+)\]")
_MYPY_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def test_the_host_loads_declarations_and_never_the_handlers() -> None:
    # A fresh interpreter loads what the API, the worker, the CLI and the Python client load.
    script = (
        "import sys\n"
        "import neo_service_layer.api.app, neo_service_layer.worker.process\n"
        "import neo_service_layer.cli.main, neo_service_layer.client\n"
        "print(' '.join(sorted(n for n in sys.modules if n.startswith('neo_service_layer.enclave.'))))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    loaded = set(output.stdout.split())
    assert "neo_service_layer.enclave.opdefs.keys" in loaded
    assert not {name for name in loaded if name.startswith("neo_service_layer.enclave.handlers")}
    assert "neo_service_layer.enclave.ops" not in loaded  # the registry and dispatch are the enclave's


def test_ops_are_declared_in_opdefs_only() -> None:
    """A declaration made anywhere else (a host module declaring its own "keys.sign") is refused here."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if OPDEFS in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"Op", "SignedOp"}
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
    assert len(catalogue()) >= 26


def test_mypy_refuses_every_mistake_in_the_typecheck_file(tmp_path: Path) -> None:
    """``typecheck_ops.py`` type-checks as written, and without its ignores fails on exactly their lines."""
    source = TYPECHECK_FILE.read_text()
    expected = {
        (number, match.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (match := _IGNORE.search(line))
    }
    assert len(expected) >= 7
    stripped = tmp_path / "stripped_ops.py"
    stripped.write_text(_IGNORE.sub("", source))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            str(TYPECHECK_FILE),
            str(stripped),
        ],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=110,
    )
    errors = [m for line in result.stdout.splitlines() if (m := _MYPY_ERROR.match(line))]
    assert all(Path(m["path"]).name == stripped.name for m in errors), result.stdout
    assert {(int(m["line"]), m["code"]) for m in errors} == expected, result.stdout
