"""uvicorn subprocesses for the benchmark, all started with the same flags on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.loadgen import HOST
from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.devnet.local_tls import LocalPKI

# The repository root: uvicorn imports ``bench.*_app`` from here (``--app-dir``).
ROOT = Path(__file__).resolve().parent.parent
SERVER_LOG_LEVEL = "warning"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
POLL_SECONDS = 0.1
# The state column of /proc/net/tcp for a listening socket.
TCP_LISTEN = "0A"


class ServerError(RuntimeError):
    """A server did not start or answer."""


@dataclass(slots=True)
class Server:
    """A uvicorn subprocess serving one app factory on 127.0.0.1:port."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    workers: int = 1

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``NSL_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
    env.update(extra)
    return env


def start(
    name: str,
    factory: str,
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 1,
    nsl_app: bool = False,
    extra_args: Sequence[str] = (),
) -> Server:
    """Start ``uvicorn <factory> --factory`` with the flags shared by every target.

    One worker (served in the uvicorn process itself) unless ``workers`` > 1: then ``nsl api --workers``'s
    supervisor (``bench.multiworker``: a socket per worker); uvicorn's default loop and HTTP parser
    (uvloop and httptools when installed), log level warning, no access log; ``nsl_app``: supervised as
    ``nsl api --workers N`` supervises an NSL app (api.server.supervise_workers). ``extra_args`` go to
    uvicorn as they are (e.g. ``--ssl-certfile``). Output goes to
    ``<log_dir>/<name>.log``; the process gets its own session, so a Ctrl-C reaches only us and
    we stop it in order.
    """
    port = free_port(HOST)
    log_path = log_dir / f"{name}.log"
    common = ["--port", str(port), "--workers", str(workers), "--log-level", SERVER_LOG_LEVEL]
    if workers == 1:
        command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", str(ROOT)]
        command += ["--host", HOST, *common, "--no-access-log", *extra_args]
    else:  # as nsl api --workers N serves (api.workers); uvicorn --workers shares one socket unevenly
        command = [sys.executable, "-m", "bench.multiworker", factory, *common]
        if nsl_app:  # supervised as nsl api --workers N supervises it (its audit writer on SQLite)
            command.append("--nsl")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, process, port, log_path, workers)


def stop(server: Server) -> None:
    """SIGTERM the server (only the process we started: it stops its workers), SIGKILL if it lingers.
    Safe to call twice."""
    if server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Its own session (start_new_session): the group is the server and its workers, nothing else.
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(STOP_TIMEOUT)


def listening_sockets(port: int) -> int:
    """How many IPv4 TCP sockets listen on ``port`` (one per worker: a socket each), from /proc."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == TCP_LISTEN:
            count += 1
    return count


def wait_ready(server: Server, path: str, *, verify: ssl.SSLContext | None = None) -> None:
    """Poll ``path`` until it answers 200 and, with several workers, until every worker listens (a
    worker listens once its app has started; connections made before go to the others and stay there,
    keep-alive, for the whole measurement). Fail if the process exits or the timeout passes. ``verify``:
    the server speaks HTTPS, with a certificate this context trusts."""
    deadline = time.monotonic() + START_TIMEOUT
    url = f"{'https' if verify else 'http'}://{HOST}:{server.port}{path}"
    with httpx.Client(timeout=2.0, verify=verify or True) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerError(f"{server.name} server exited on start:\n{server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                answered = client.get(url).status_code == 200
                if answered and (server.workers == 1 or listening_sockets(server.port) >= server.workers):
                    return
            time.sleep(POLL_SECONDS)
    raise ServerError(f"{server.name} server not ready after {START_TIMEOUT:.0f}s:\n{server.log_tail()}")


@dataclass(frozen=True, slots=True)
class HttpsSource:
    """``bench.oracle_data_app`` over HTTPS with a local CA's certificate; ``ca`` is what an enclave
    that should trust it gets as ``NSL_ORACLE_CA_FILE``."""

    server: Server
    pki: LocalPKI
    ca: Path

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.server.port}/price"

    def enclave_env(self) -> dict[str, str]:
        """What the enclave needs to reach it: the CA, and 127.0.0.1 allowed (a devnet's policy)."""
        return {"NSL_ORACLE_CA_FILE": str(self.ca), "NSL_ORACLE_ALLOW_PRIVATE_HOSTS": "true"}


def start_https_source(log_dir: Path) -> HttpsSource:
    """The oracle benchmarks' data source, ready (stop its ``server`` with :func:`stop`)."""
    pki = LocalPKI.issue()
    ca, cert, key = pki.write(log_dir / "tls")
    server = start(
        "source",
        "bench.oracle_data_app:create_app",
        server_env({}),
        log_dir,
        extra_args=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
    )
    try:
        wait_ready(server, "/", verify=pki.client_context())
    except ServerError:
        stop(server)
        raise
    return HttpsSource(server, pki, ca)
