"""One devnet (``nsl devnet up``: real anvil, neo-go and enclave) for every ``nsl devnet`` test of this
package (torn down after its last test): ``up`` costs ~5 s with a warm contract build cache, and the
demo tests reuse it.

The chains outlive the ``up`` process; the fixture always takes them down (``nsl devnet down``, then by
pid as a last resort), even when a test fails. The test that kills a chain on purpose
(:data:`RUNS_LAST`) is moved after the package's other tests, so after every other user of the devnet.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_service_layer.chains.devnet.processes import terminate
from tests.cli.devnet_helpers import UNRELATED, Devnet, nsl

#: Tests that break the session devnet: they run after all others.
RUNS_LAST = ("test_partly_down_then_down",)


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move :data:`RUNS_LAST` after the package's last other test (every other order is kept)."""
    last = [item for item in items if getattr(item, "originalname", item.name) in RUNS_LAST]
    rest = [item for item in items if item not in last]
    ours = [i for i, item in enumerate(rest) if item.path.is_relative_to(HERE)]
    at = ours[-1] + 1 if ours else len(rest)
    items[:] = rest[:at] + last + rest[at:]


@pytest.fixture(scope="package")
def devnet() -> Iterator[Devnet]:
    data_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="nsldv"))  # short: the enclave's unix socket
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
    env["NSL_DATA_DIR"] = str(data_dir)
    (data_dir / "nsl.toml").write_text(UNRELATED)
    try:
        result = nsl(env, "up")
        assert result.returncode == 0, result.stdout + result.stderr
        yield Devnet(data_dir, env, result.stdout + result.stderr)
    finally:
        state_file = data_dir / "devnet" / "state.json"
        pids = []
        if state_file.is_file():
            state = json.loads(state_file.read_text())
            pids = [
                (state[c]["pid"], state[c]["workdir"]) for c in ("evm", "n3", "exchanges") if state.get(c)
            ]
        nsl(env, "down")
        for pid, marker in pids:  # only if down failed
            terminate(pid, marker)
        shutil.rmtree(data_dir, ignore_errors=True)
