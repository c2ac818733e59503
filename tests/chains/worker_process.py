"""A real ``nsl worker`` process for the fulfillers' crash tests of every chain family: started with the
test's settings as ``NSL_*`` variables, SIGKILLed mid-fulfilment, started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce
from pathlib import Path

from pydantic import SecretStr

from neo_service_layer.config import Settings
from neo_service_layer.config.flat import flat_settings

#: The settings a chain test sets (tests/chains/*/platform settings()) that the worker process needs,
#: by their flat names (NSL_<NAME>).
WORKER_SETTINGS = {
    "data_dir",
    "database_url",
    "log_format",
    "enclave_socket",
    "worker_poll_seconds",
    "scheduler_lock_seconds",
    "job_lease_seconds",
    "job_backoff_base_seconds",
    "evm_rpc_url",
    "evm_gateway_address",
    "evm_confirmations",
    "evm_start_block",
    "evm_poll_seconds",
    "evm_fulfil_poll_seconds",
    "n3_rpc_url",
    "n3_gateway_hash",
    "n3_confirmations",
    "n3_start_block",
    "n3_poll_seconds",
    "n3_fulfil_poll_seconds",
    "pricefeed_tick_seconds",
}


class WorkerProcess:
    """``nsl worker`` with ``settings``; its output appended to ``log`` (read it when a test fails)."""

    def __init__(self, settings: Settings, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
        names = flat_settings(Settings)
        values = {name: reduce(getattr, names[name].path, settings) for name in WORKER_SETTINGS}
        env |= {
            f"NSL_{name.upper()}": str(value.get_secret_value() if isinstance(value, SecretStr) else value)
            for name, value in values.items()
            if value is not None
        }
        self.env = env
        self.log = log

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen[bytes]]:
        """The process while the block runs; SIGKILLed on the way out unless it ended already (the
        test kills it mid-fulfilment with ``kill``, or lets it finish with ``stop``)."""
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "nsl"), "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield process
        finally:
            kill(process)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL our own child (by its handle): no shutdown code runs, as when a machine dies."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the worker finishes its jobs and exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(20)
