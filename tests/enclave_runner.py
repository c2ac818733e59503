"""Real enclave processes for tests: start ``python -m neo_service_layer.enclave``, wait, stop, clean up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.errors import EnclaveUnavailable

READY_TIMEOUT = 20.0
EXIT_TIMEOUT = 15.0


@dataclass
class Enclave:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class EnclaveRunner:
    """Starts enclave processes on one data directory and makes sure none outlives the test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "enclave" / "enclave.sock"
        self.state = data_dir / "enclave" / "state.sealed"
        self.started: list[Enclave] = []

    def start(self, **env: str) -> Enclave:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
        environment.update(NSL_DATA_DIR=str(self.data_dir), NSL_LOG_FORMAT="json", NSL_ENCLAVE_BACKEND="auto")
        environment.update(env)
        log = self.data_dir / f"enclave-{len(self.started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "neo_service_layer.enclave"], env=environment, stdout=sink, stderr=sink
            )
        enclave = Enclave(process, log)
        self.started.append(enclave)
        return enclave

    async def ready(self, enclave: Enclave) -> AttestationReport:
        client = UnixEnclaveClient(self.socket, timeout=5.0, pool_size=1)
        try:
            deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
            while True:
                assert enclave.process.poll() is None, f"enclave exited: {enclave.output()}"
                try:
                    return await client.attest()
                except EnclaveUnavailable:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def wait(self, enclave: Enclave) -> int:
        return await asyncio.to_thread(enclave.process.wait, EXIT_TIMEOUT)

    def cleanup(self) -> None:
        for enclave in self.started:
            if enclave.process.poll() is None:
                enclave.process.kill()  # our own child, by its handle
                enclave.process.wait()
