"""The enclave measurement (docs/enclave.md §4): deterministic, sensitive to code and config, complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from neo_service_layer.enclave.measurement import PACKAGE_ROOT, compute_measurement, measured_files


def test_measurement_is_deterministic_and_binds_the_backend() -> None:
    first = compute_measurement("software")
    assert len(first) == 64
    assert int(first, 16) >= 0
    assert compute_measurement("software") == first
    assert compute_measurement("sgx") != first


def test_measurement_changes_when_enclave_code_changes(short_dir: Path) -> None:
    copy = short_dir / "neo_service_layer"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = compute_measurement("software", copy)
    assert before == compute_measurement("software", PACKAGE_ROOT)
    with (copy / "enclave" / "sealing.py").open("a") as handle:
        handle.write("\n# one more line\n")
    assert compute_measurement("software", copy) != before
    # Code outside the enclave and its shared modules is not part of it.
    (copy / "api" / "app.py").write_text("changed = True\n")
    after = compute_measurement("software", copy)
    (copy / "api" / "app.py").write_text("changed = False\n")
    assert compute_measurement("software", copy) == after


def test_measured_files_cover_every_package_module_the_enclave_process_imports() -> None:
    # A fresh interpreter loads what `nsl enclave` loads; every package module it imported must be
    # measured, or code could change without the measurement changing.
    script = (
        "import json, sys\n"
        "import neo_service_layer.enclave.main as main\n"
        "main.default_registry()\n"
        "import neo_service_layer.enclave.tee.detect\n"
        "files = sorted(m.__file__ for n, m in sys.modules.items()\n"
        "               if n.startswith('neo_service_layer') and getattr(m, '__file__', None))\n"
        "print(json.dumps(files))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    imported = {Path(path).resolve() for path in json.loads(output)}
    measured = {path.resolve() for path in measured_files()}
    assert imported, "the enclave imported no package module?"
    assert imported <= measured, f"imported but not measured: {sorted(map(str, imported - measured))}"
