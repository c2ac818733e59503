"""``nsl serve`` as a real subprocess: first start prints the admin key, the API answers over HTTP,
a crashed child is restarted, SIGTERM stops everything, and a restart keeps the data."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from neo_service_layer.chains.devnet.processes import free_port

pytestmark = pytest.mark.slow
START_TIMEOUT = 60.0
KEY_PATTERN = re.compile(r"^(nsl_[0-9a-f]+_[A-Za-z0-9_-]+)$", re.MULTILINE)


def short_socket_dir() -> Path:
    return Path(tempfile.mkdtemp(dir="/tmp", prefix="nsl"))


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None
    socket_dir: Path | None = None

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, predicate: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{predicate!r} not printed; output:\n{self.output()[-4000:]}")

    def child_pids(self, child: str) -> list[int]:
        pids = []
        for line in self.lines:
            if '"child_started"' in line:
                record = json.loads(line)
                if record.get("child") == child:
                    pids.append(int(record["pid"]))
        return pids


def nsl_env(data_dir: Path) -> dict[str, str]:
    """The environment of an ``nsl`` process on ``data_dir`` (none of the test runner's NSL_* variables)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NSL_")} | {"NSL_DATA_DIR": str(data_dir)}


def start(data_dir: Path, port: int, extra_env: Mapping[str, str] | None = None) -> Served:
    """``nsl serve`` on ``data_dir`` and ``port`` (``extra_env``: more variables, e.g. NSL_ORACLE_*)."""
    socket_dir = short_socket_dir()
    env = nsl_env(data_dir) | {
        "NSL_PORT": str(port),
        "NSL_LOG_FORMAT": "json",
        # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path is long.
        "NSL_ENCLAVE_SOCKET": str(socket_dir / "enclave.sock"),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "neo_service_layer.cli.main", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}", socket_dir=socket_dir)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.append(line.rstrip("\n"))

    served.pump = threading.Thread(target=pump, daemon=True)
    served.pump.start()
    return served


def stop(served: Served) -> int:
    """SIGTERM (or SIGKILL if already asked), wait, and close the output pipe."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
    code = served.process.wait(timeout=30)
    if served.pump is not None:
        served.pump.join(timeout=10)
    if served.process.stdout is not None:
        served.process.stdout.close()
    if served.socket_dir is not None:
        shutil.rmtree(served.socket_dir, ignore_errors=True)
    return code


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    instance = start(tmp_path / "data", free_port())
    yield instance
    if instance.process.poll() is None:
        instance.process.kill()
    stop(instance)


def test_serve_end_to_end(served: Served, tmp_path: Path) -> None:
    served.wait_for("NSL is running at")
    keys = KEY_PATTERN.findall(served.output())
    assert len(keys) == 1, "the bootstrap admin key is printed exactly once"
    admin = {"X-API-Key": keys[0]}

    with httpx.Client(base_url=served.url, timeout=10) as http:
        created = http.post("/v1/admin/accounts", json={"name": "acme"}, headers=admin)
        assert created.status_code == 201, created.text
        # The worker has the enclave sign the audit log's head (the first checkpoint comes at once).
        served.wait_for('"audit log checkpointed"')
        attestation = tmp_path / "attestation.json"
        attestation.write_text(http.get("/v1/attestation").text)
        ready = http.get("/readyz").json()
        assert ready["status"] == "ready", ready
        assert ready["checks"]["enclave"]["tee"] == "none"
        identity = http.get("/v1/attestation").json()["identity"]

        # A killed enclave is restarted and unseals the same identity.
        os.kill(served.child_pids("enclave")[-1], signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            # Not /readyz: it may answer from its cache (1 s) for a moment after the kill.
            if len(served.child_pids("enclave")) == 2 and http.get("/v1/attestation").status_code == 200:
                break
            time.sleep(0.2)
        assert http.get("/v1/attestation").json()["identity"] == identity
        assert http.get("/v1/account", headers={"X-API-Key": "nsl_0000_wrong"}).status_code == 401

        # A crashed API child is restarted by the supervisor and serves again.
        api_pid = served.child_pids("api")[-1]
        os.kill(api_pid, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT
        while len(served.child_pids("api")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(served.child_pids("api")) == 2, served.output()[-3000:]
        while time.monotonic() < deadline:
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert http.get(f"/v1/admin/accounts/{created.json()['id']}", headers=admin).status_code == 200

    assert stop(served) == 0
    # The key was printed to the terminal only: the logs carry no copy of it beyond that one line.
    assert served.output().count(keys[0]) == 1
    # With the enclave stopped, its attestation report names the identity the checkpoints must carry.
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "neo_service_layer.cli.main",
            "audit",
            "verify",
            "--identity",
            str(attestation),
        ],
        env=nsl_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "signed checkpoints verified" in verified.stdout
    # The enclave ran as the API's user: said once, at start, with the way out (docs/deployment.md).
    assert served.output().count('"event": "enclave_shares_api_user"') == 1

    # Second start on the same data: no new key, the old one still works, the account is still there.
    again = start(tmp_path / "data", free_port())
    try:
        again.wait_for("NSL is running at")
        assert KEY_PATTERN.findall(again.output()) == []
        with httpx.Client(base_url=again.url, timeout=10) as http:
            listed = http.get("/v1/admin/accounts", headers=admin)
            assert listed.status_code == 200
            assert [a["name"] for a in listed.json()["items"]] == ["system", "acme"]
    finally:
        assert stop(again) == 0
