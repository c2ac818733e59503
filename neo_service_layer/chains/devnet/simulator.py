"""The devnet's exchange simulator as a detached process (``python -m neo_service_layer.devnet.exchanges``):
start it, know whether it still answers, stop it — as :mod:`.processes` does for the chains.

It serves HTTPS with a certificate of the devnet's own CA (``devnet.local_tls``, files in its workdir,
which is also the marker that proves a recorded pid is still the simulator), so a health check is a
``GET /_sim/state`` trusting that CA only.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from neo_service_layer.chains.devnet import processes
from neo_service_layer.chains.devnet.errors import DevnetUnhealthy

SIMULATOR_MODULE: Final = "neo_service_layer.devnet.exchanges"
LOG_FILENAME: Final = "exchanges.log"
DEFAULT_START_SECONDS: Final = 20.0
_CHECK_TIMEOUT_SECONDS: Final = 2.0
_POLL_SECONDS: Final = 0.1


def answers(base_url: str, ca_file: Path | str) -> bool:
    """True if the simulator at ``base_url`` answers its control API over TLS trusting ``ca_file``."""
    try:
        trust = ssl.create_default_context(cafile=str(ca_file))
        reply = httpx.get(f"{base_url}/_sim/state", verify=trust, timeout=_CHECK_TIMEOUT_SECONDS)
    except (httpx.HTTPError, OSError):  # ssl.SSLError (an unreadable CA file) is an OSError
        return False
    return reply.status_code == 200


@dataclass(slots=True)
class SimulatorProcess:
    """One simulator process started here; :meth:`detach` leaves it running past this process."""

    process: subprocess.Popen[bytes] | None  # None once detached
    pid: int
    port: int
    workdir: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate it (SIGKILL after a timeout), unless detached."""
        if self.process is not None and self.process.poll() is None:
            processes.terminate(self.pid)
            self.process.wait()

    def detach(self) -> None:
        """Forget the process (it keeps running in its own session; ``down`` stops it by pid)."""
        with processes.releasing_children():
            self.process = None  # the only reference: the child keeps running


def start_simulator(
    workdir: Path,
    cert: Path,
    key: Path,
    ca_file: Path,
    *,
    walk: bool = True,
    within: float = DEFAULT_START_SECONDS,
) -> SimulatorProcess:
    """Start the simulator on a free port in its own session, output to ``<workdir>/exchanges.log``;
    returns once it answers, else stops it and raises :class:`DevnetUnhealthy` naming the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / LOG_FILENAME
    port = processes.free_port()
    command = [sys.executable, "-m", SIMULATOR_MODULE, "--port", str(port), "--cert", str(cert)]
    command += ["--key", str(key), *(["--walk"] if walk else [])]
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and the simulator module
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    started = SimulatorProcess(process, process.pid, port, workdir, log)
    deadline = time.monotonic() + within
    while not answers(started.base_url, ca_file):
        if process.poll() is not None or time.monotonic() > deadline:
            started.stop()
            raise DevnetUnhealthy(f"the exchange simulator did not start (log: {log})")
        time.sleep(_POLL_SECONDS)
    return started
