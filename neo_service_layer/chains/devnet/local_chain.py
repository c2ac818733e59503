"""A chain node run as a child process for the tests and ``nsl devnet``: what anvil and neo-go share.

Start on a free localhost port (retried on a new port: another process may take it between the probe
and the node's bind), wait until the node answers, stop with SIGTERM then SIGKILL, keep a given working
directory or delete a temporary one, and detach for ``nsl devnet up``. A subclass says how to run its
node and when it is ready (``EvmDevnet``, ``N3Devnet``).
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import httpx

from neo_service_layer.chains.devnet.processes import free_port, releasing_children
from neo_service_layer.errors import NSLError

HOST = "127.0.0.1"
DEFAULT_STOP_TIMEOUT_SECONDS = 5.0
_PORT_ATTEMPTS = 3
_PROBE_INTERVAL_SECONDS = 0.05
_LOG_TAIL_CHARS = 800


class LocalChain(ABC):
    """One node process: a context manager, or :meth:`start` / :meth:`stop` (both idempotent)."""

    #: The node's name in messages and in the temporary directory's name.
    program: ClassVar[str]
    #: The node's output, in its working directory.
    log_file: ClassVar[str]
    #: What a failure to start or a call on a stopped node raises.
    failure: ClassVar[type[NSLError]]

    def __init__(self, *, startup_timeout: float, workdir: Path | None) -> None:
        """``workdir``: keep the node's files there instead of a temporary directory that :meth:`stop`
        deletes; needed by :meth:`detach` (``nsl devnet up``)."""
        self._startup_timeout = startup_timeout
        self._fixed_workdir = workdir
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0

    # --- what a node says about itself -------------------------------------------------------------------

    @abstractmethod
    def _binary(self) -> Path:
        """The node's executable (raises :attr:`failure` when it is not installed)."""

    @abstractmethod
    def _argv(self, binary: Path, workdir: Path) -> list[str]:
        """The node's command line, listening on ``self._port``."""

    @abstractmethod
    def _ready(self, client: httpx.Client) -> bool:
        """One readiness probe of the node at :attr:`_local_url`: True once it serves (may raise)."""

    def _prepare(self, workdir: Path) -> None:  # noqa: B027 - optional hook
        """Write what the node reads whatever its port (once per :meth:`start`)."""

    def _before_spawn(self, workdir: Path) -> None:  # noqa: B027 - optional hook
        """Write what depends on the port just chosen (before each spawn)."""

    def _started(self, workdir: Path) -> None:  # noqa: B027 - optional hook
        """Read what the running node wrote (once it is ready)."""

    def _forget(self) -> None:  # noqa: B027 - optional hook
        """Drop what :meth:`_prepare` and :meth:`_started` kept (the node is stopped)."""

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the node and wait until it is ready. No-op if it runs."""
        if self._proc is not None:
            return
        binary = self._binary()
        if self._fixed_workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix=f"nsl-{self.program}-")
        else:
            self._fixed_workdir.mkdir(parents=True, exist_ok=True)
        workdir = self.workdir
        last_error = ""
        try:
            self._prepare(workdir)
            for _ in range(_PORT_ATTEMPTS):
                self._port = free_port(HOST)
                self._before_spawn(workdir)
                self._proc = self._spawn(binary, workdir)
                try:
                    self._wait_ready()
                except self.failure as e:
                    last_error = e.detail
                    self._terminate()
                    continue
                self._started(workdir)
                return
        except BaseException:
            self.stop()
            raise
        self._cleanup()
        raise self.failure(f"{self.program} did not start: {last_error}")

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL after a grace period) and delete its files. Idempotent.

        A given ``workdir`` is kept (only a temporary one is deleted); after :meth:`detach` nothing is
        stopped.
        """
        self._terminate()
        self._cleanup()

    def detach(self) -> int:
        """Leave the node running after this object is stopped or gone (``nsl devnet up``); its pid.

        Needs a ``workdir`` (a temporary one would be deleted under the running chain). From then on
        this object no longer owns the process: :meth:`stop` is a no-op for it, and it is stopped by pid
        (``chains.devnet.processes.terminate``).
        """
        if self._fixed_workdir is None:
            raise self.failure("only a devnet with a workdir can be detached")
        pid = self.pid
        with releasing_children():
            self._proc = None  # the only reference: the child keeps running
        return pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The node's process id."""
        self._require_running()
        assert self._proc is not None
        return self._proc.pid

    @property
    def workdir(self) -> Path:
        """Where the node's files and log are."""
        if self._fixed_workdir is not None:
            return self._fixed_workdir
        if self._workdir is None:
            raise self.failure("the devnet is not running")
        return Path(self._workdir.name)

    @property
    def rpc_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running node's JSON-RPC server."""
        self._require_running()
        return self._local_url

    # --- internals ---------------------------------------------------------------------------------------

    @property
    def _local_url(self) -> str:
        return f"http://{HOST}:{self._port}"

    def _spawn(self, binary: Path, workdir: Path) -> subprocess.Popen[bytes]:
        log = (workdir / self.log_file).open("ab")
        try:
            # Own process group: a Ctrl-C meant for the caller does not kill the chain mid-test.
            return subprocess.Popen(  # noqa: S603 - our own argv, no shell
                self._argv(binary, workdir), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as e:
            raise self.failure(f"cannot run {binary}: {e}") from e
        finally:
            log.close()  # the child holds its own descriptor

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise self.failure(
                        f"{self.program} exited with {self._proc.returncode}: {self._log_tail()}"
                    )
                if self._ready(client):
                    return
                time.sleep(_PROBE_INTERVAL_SECONDS)
        raise self.failure(f"{self.program} not ready after {self._startup_timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.workdir / self.log_file).read_text(errors="replace")[-_LOG_TAIL_CHARS:].strip()
        except (OSError, NSLError):
            return ""

    def _require_running(self) -> None:
        if not self.running:
            raise self.failure("the devnet is not running")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=DEFAULT_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _cleanup(self) -> None:
        self._forget()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
