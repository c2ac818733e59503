"""The import contracts (pyproject.toml ``[tool.importlinter]``, run by ``make lint``) catch what they forbid.

Each case copies the package, adds one import that breaks the layering, and runs ``lint-imports`` on
the copy with the project's contracts: the contract named must fail. The untouched copy passes, so a
failure is the added line's doing and not the copy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import neo_service_layer

pytestmark = pytest.mark.slow

NSL = "neo_service_layer"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PACKAGE = Path(neo_service_layer.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts on the package copied under ``root``."""
    command = [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(PYPROJECT)]
    if contract is not None:
        command += ["--contract", contract]
    # The copy comes first on the path: the editable install's finder only answers after it.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}  # no wrapped module names
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / NSL, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_package_keeps_every_contract(package_copy: Path) -> None:
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [
        pytest.param(
            "chains.cursors", f"{NSL}.services.keys.platform", "layers", id="chains-import-services"
        ),
        pytest.param("services.keys.purge", f"{NSL}.api.context", "layers", id="service-imports-api"),
        pytest.param("enclave.sealing", f"{NSL}.db.session", "layers", id="enclave-imports-database"),
        pytest.param(
            "enclave.handlers.keys", f"{NSL}.services.keys.policy", "layers", id="handler-imports-services"
        ),
        pytest.param("client.attestation", f"{NSL}.chains.health", "layers", id="client-imports-chains"),
        pytest.param("api.app", f"{NSL}.worker.queue", "layers", id="api-imports-worker"),
        pytest.param("errors", f"{NSL}.enclave.client", "layers", id="errors-import-enclave"),
        pytest.param(
            "services.keys.purge",
            f"{NSL}.enclave.handlers.keys",
            "enclave-handlers",
            id="service-imports-a-handler",
        ),
        pytest.param(
            "worker.runner",
            f"{NSL}.enclave.handlers.randomness",
            "enclave-handlers",
            id="worker-imports-handler",
        ),
        pytest.param("api.routes.account", "sqlalchemy", "routes-no-sql", id="route-imports-sqlalchemy"),
        pytest.param("api.routes.health", "sqlalchemy.orm", "routes-no-sql", id="route-imports-the-orm"),
    ],
)
def test_a_breach_breaks_its_contract(package_copy: Path, module: str, imported: str, contract: str) -> None:
    path = package_copy.joinpath(NSL, *module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\nimport {imported}  # the breach\n")
    result = _lint(package_copy, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    # import-linter names an external package by its top-level name.
    target = imported if imported.startswith(NSL) else imported.partition(".")[0]
    assert f"{NSL}.{module} -> {target}" in result.stdout
