"""What both chains' fulfilment benchmarks share: a fresh platform (data dir, SQLite database migrated and
bootstrapped, the enclave as its own process), ``nsl worker`` as its own process, and the figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import servers
from bench.api import bootstrap_admin
from bench.keys import start_enclave
from bench.loadgen import percentile
from bench.servers import Server

#: The example consumer each service's requests come from.
CONSUMERS = {"randomness": "RandomnessConsumer", "oracle": "OracleConsumer"}
#: What the oracle requests ask of the data source (bench/oracle_data_app.py).
ORACLE_FILTER = "$.data.price"


class HarnessError(RuntimeError):
    """The benchmark could not run."""


@dataclass(frozen=True)
class Platform:
    """A running enclave over a fresh database; ``env`` is what the worker needs on top of its chain."""

    data_dir: Path
    database_url: str
    env: dict[str, str]
    source_url: str = ""  # the oracle's data source, when the service is the oracle

    @property
    def socket(self) -> Path:
        return self.data_dir / "enclave" / "enclave.sock"

    def start_worker(self, stack: contextlib.ExitStack, chain_env: dict[str, str]) -> Server:
        """``nsl worker`` with ``chain_env`` as its own process, stopped when ``stack`` closes."""
        log_path = self.data_dir / "worker.log"
        nsl = Path(sys.executable).parent / "nsl"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(nsl), "worker"],
                env=servers.server_env({**self.env, **chain_env}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Server("worker", process, 0, log_path)
        stack.callback(servers.stop, worker)
        return worker


def start_platform(
    stack: contextlib.ExitStack,
    prefix: str,
    service: str = "randomness",
    enclave_env: Mapping[str, str] | None = None,
) -> Platform:
    """A temp data dir and database (migrated, bootstrapped) and the enclave, all undone by ``stack``.

    ``service`` ``oracle``: also a local HTTPS data source (``servers.start_https_source``) that the
    enclave trusts and may reach; its URL is :attr:`Platform.source_url`. ``enclave_env``: more settings
    of the enclave (and the worker), e.g. the CA of another local HTTPS server it must reach."""
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix, dir="/tmp")))
    database_url = f"sqlite+aiosqlite:///{data_dir / 'nsl.db'}"
    asyncio.run(bootstrap_admin(database_url))
    env = {
        "NSL_DATA_DIR": str(data_dir),
        "NSL_DATABASE_URL": database_url,
        "NSL_LOG_LEVEL": "warning",
        "NSL_ENCLAVE_PASSPHRASE": os.urandom(16).hex(),
        **(enclave_env or {}),
    }
    source_url = ""
    if service == "oracle":
        source = servers.start_https_source(data_dir)
        stack.callback(servers.stop, source.server)
        env |= source.enclave_env()
        source_url = source.url
    enclave = start_enclave(servers.server_env(env), data_dir)
    stack.callback(servers.stop, enclave)
    return Platform(data_dir, database_url, env, source_url)


def blocks_summary(prefix: str, gaps: list[int]) -> dict[str, Any]:
    """p50 / p99 (nearest rank) of block gaps, and the gaps."""
    ordered = sorted(float(g) for g in gaps)
    return {
        f"{prefix}_p50": percentile(ordered, 0.5),
        f"{prefix}_p99": percentile(ordered, 0.99),
        prefix: gaps,
    }
