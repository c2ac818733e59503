"""``nsl enclave``: pick the TEE backend, unseal (or create) the state, serve until SIGTERM/SIGINT.

Entry points: ``await run_enclave(settings)`` (what the CLI runs, like ``run_worker``), or
``python -m neo_service_layer.enclave`` (:func:`main`: settings from the environment, JSON logs).
Start-up failures (backend unavailable, wrong passphrase, damaged state, another enclave on the
socket) are :class:`NSLError`\\ s: nothing is written, and the process exits with status 2.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Final

import uvloop

from neo_service_layer import __version__
from neo_service_layer.config import Settings
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.capabilities import SandboxRunner, UnconfiguredSandbox
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle.fetch import SafeFetcher, default_ssl_context
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.server import EnclaveServer, SocketLock, resolve_group
from neo_service_layer.enclave.state import load_or_create_state
from neo_service_layer.enclave.tee.detect import DevicePaths, select_backend
from neo_service_layer.errors import ConfigurationError, NSLError
from neo_service_layer.logging import configure_logging, get_logger

log = get_logger("nsl.enclave")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_STARTUP_FAILED = 2
# The enclave serves on uvloop, as uvicorn serves the API: its C event loop and transports take
# ~5-10% less of the enclave's CPU per request than asyncio's (keys.sign, docs/performance.md).
EVENT_LOOP: Final = uvloop.new_event_loop


async def run_enclave(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    registry: OpRegistry | None = None,
    devices: DevicePaths | None = None,
) -> None:
    """Run the enclave until ``stop`` is set (default: until SIGTERM or SIGINT, main thread only).

    ``registry`` defaults to every handler module's ops; ``devices`` to the real TEE interfaces.
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if stop is None:
        stop = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    socket_path = settings.effective_enclave_socket
    lock = SocketLock(socket_path)
    fetcher: SafeFetcher | None = None
    pool: SandboxPool | None = None
    try:
        socket_group = _socket_group(settings)
        fetcher = oracle_fetcher(settings)
        backend = select_backend(settings.enclave.backend, devices)
        log.info(
            "enclave backend selected",
            backend=backend.name,
            tee=backend.tee,
            hardware=backend.hardware,
            note=backend.describe(),
        )
        # Refuse early, before touching the state, if another enclave serves this socket.
        socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock.acquire()
        provider = backend.sealing_key_provider(settings)
        state = await asyncio.to_thread(load_or_create_state, settings.effective_enclave_state_dir, provider)
        measurement = await asyncio.to_thread(compute_measurement, backend.name)
        report = await asyncio.to_thread(build_report, state.identity, backend, measurement)
        # The functions' sandbox processes live and die with the enclave (docs/functions.md).
        sandbox: SandboxRunner = UnconfiguredSandbox()
        if settings.enclave.sandbox_pool_size > 0:
            pool = SandboxPool(settings.enclave.sandbox_pool_size)
            await pool.start()
            sandbox = pool
        ctx = EnclaveContext(
            identity=state.identity,
            sealer=state.sealer,
            backend=backend,
            report=report,
            fetcher=fetcher,
            sandbox=sandbox,
        )
        server = EnclaveServer(
            ctx,
            registry or default_registry(),
            socket_path,
            lock=lock,
            max_connections=settings.enclave.max_connections,
            max_in_flight_bytes=settings.enclave.max_in_flight_bytes,
            max_connection_bytes=settings.enclave.max_connection_bytes,
            socket_group=socket_group,
        )
        await server.start()
        try:
            log.info(
                "enclave ready",
                version=__version__,
                backend=backend.name,
                tee=backend.tee,
                socket=str(socket_path),
                sealing=provider.kind,
                state_created=state.created,
                measurement=measurement,
                p256=report.identity.p256,
                k1_address=report.identity.k1_address,
            )
            await stop.wait()
            log.info("enclave stopping")
        finally:
            await server.stop()
            ctx.clear_caches()  # no request runs any more: drop the AMKs and key objects it holds
    finally:
        if pool is not None:
            await pool.stop()  # its processes end with the enclave, never left behind
        if fetcher is not None:
            await fetcher.aclose()
        lock.release()
        for sig in installed:
            loop.remove_signal_handler(sig)


def oracle_fetcher(settings: Settings) -> SafeFetcher:
    """The fetcher the oracle's op uses, under the operator's policy (``NSL_ORACLE_*``, docs/oracle.md §3).

    A bad domain pattern or CA file is a start-up failure, not a surprise at the first request.
    """
    try:
        policy = FetchPolicy.from_settings(settings.oracle)
        context = default_ssl_context(settings.oracle.ca_file)
    except (ValueError, OSError) as exc:
        raise ConfigurationError(f"oracle settings (NSL_ORACLE_*): {exc}") from exc
    return SafeFetcher(policy, ssl_context=context)


def _socket_group(settings: Settings) -> int | None:
    """The gid that may connect, if any; its socket must not share the private state directory."""
    if settings.enclave.socket_group is None:
        return None
    if settings.effective_enclave_socket.parent.resolve() == settings.effective_enclave_state_dir.resolve():
        raise ConfigurationError(
            "enclave.socket_group (NSL_ENCLAVE_SOCKET_GROUP) needs the socket in a directory of its own "
            "(NSL_ENCLAVE_SOCKET, e.g. /run/nsl-enclave/enclave.sock): the state directory stays private "
            "to the enclave's user"
        )
    return resolve_group(settings.enclave.socket_group)


def main() -> None:
    """``python -m neo_service_layer.enclave``: run with settings from the environment."""
    try:
        settings = Settings.load()
    except ConfigurationError as exc:
        print(f"Error: [{exc.code}] {exc.detail}", file=sys.stderr)
        raise SystemExit(EXIT_STARTUP_FAILED) from exc
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_enclave(settings), loop_factory=EVENT_LOOP)
    except NSLError as exc:
        log.error("enclave failed to start", code=exc.code, detail=exc.detail)
        print(f"Error: [{exc.code}] {exc.detail}", file=sys.stderr)
        raise SystemExit(EXIT_STARTUP_FAILED) from exc


if __name__ == "__main__":
    main()
