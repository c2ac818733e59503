"""``nsl worker``: one process running the worker and the scheduler until told to stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable, Mapping

from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.session import Database
from neo_service_layer.logging import get_logger
from neo_service_layer.worker.context import Handler
from neo_service_layer.worker.maintenance import builtin_handlers, builtin_tasks
from neo_service_layer.worker.queue import DeadHook
from neo_service_layer.worker.runner import DEFAULT_SHUTDOWN_GRACE_SECONDS, Worker
from neo_service_layer.worker.scheduler import PeriodicTask, Scheduler

log = get_logger("worker.process")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    handlers: Mapping[str, Handler] | None = None,
    tasks: Iterable[PeriodicTask] = (),
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    on_dead: Mapping[str, DeadHook] | None = None,
) -> None:
    """Migrate the database, then run a worker and a scheduler until ``stop`` is set.

    Without ``stop``, SIGTERM or SIGINT stops it (installed on the running loop, so this must run
    in the main thread). ``handlers`` and ``tasks`` are added to the built-in ones (a handler of
    the same kind replaces the built-in); ``on_dead`` are the kinds' dead hooks (``worker.queue``).
    Stopping is graceful: the scheduler gives up its lease, and running jobs get
    ``shutdown_grace_seconds`` to finish before they are released.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if stop is None:
        stop = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await upgrade(db)
        worker = Worker(
            db,
            settings,
            {**builtin_handlers(), **(handlers or {})},
            shutdown_grace_seconds=shutdown_grace_seconds,
            on_dead=on_dead,
        )
        scheduler = Scheduler.from_settings(db, settings, [*builtin_tasks(), *tasks])
        await worker.start()
        try:
            await scheduler.start()
            log.info("worker process running", worker_id=worker.worker_id, scheduler=scheduler.owner)
            await stop.wait()
            log.info("worker process stopping")
        finally:
            await scheduler.stop()
            await worker.stop()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await db.dispose()
