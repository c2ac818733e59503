"""The services' jobs as ``nsl worker`` registers them: every scheduled kind has a handler, and the audit
checkpoint job checkpoints through the real enclave when one is due, and only then."""

from __future__ import annotations

from pathlib import Path

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.functions.service import RUN_JOB_KIND
from neo_service_layer.worker.functions_jobs import functions_run_dead
from neo_service_layer.worker.pricefeed_jobs import PRICEFEED_TICK_KIND
from neo_service_layer.worker.service_jobs import (
    AUDIT_CHECKPOINT_KIND,
    KEYS_PURGE_KIND,
    audit_checkpoint_handler,
    service_dead_hooks,
    service_handlers,
    service_tasks,
)
from tests.services.audit.helpers import append_entries
from tests.settings_helpers import settings_with
from tests.worker.helpers import job_context


def test_every_scheduled_service_job_has_a_handler() -> None:
    handlers = service_handlers()
    tasks = service_tasks(keys_purge_interval_seconds=60.0)
    assert [task.kind for task in tasks] == [KEYS_PURGE_KIND]
    assert tasks[0].interval_seconds == 60.0
    assert all(task.kind in handlers for task in tasks)


def test_nsl_worker_ends_a_function_run_with_its_dead_job() -> None:
    hooks = service_dead_hooks()
    assert hooks == {RUN_JOB_KIND: functions_run_dead}
    assert set(hooks) <= set(service_handlers())  # a hook for a kind nobody runs would be dead code


def test_the_audit_checkpoint_check_runs_every_ten_seconds_or_the_interval(tmp_path: Path) -> None:
    default = service_tasks(Settings(data_dir=tmp_path))
    assert [task.kind for task in default] == [KEYS_PURGE_KIND, AUDIT_CHECKPOINT_KIND, PRICEFEED_TICK_KIND]
    assert default[1].interval_seconds == 10.0
    short = service_tasks(Settings(data_dir=tmp_path, audit={"checkpoint_interval_seconds": 2.5}))
    assert short[1].interval_seconds == 2.5
    assert all(task.kind in service_handlers() for task in default)


async def test_the_audit_checkpoint_job_signs_the_head_when_due(
    db: Database, settings: Settings, enclave_server: EnclaveServer
) -> None:
    every_three = settings_with(settings, audit={"checkpoint_every_entries": 3})
    ctx = job_context(db, every_three, AUDIT_CHECKPOINT_KIND, {})
    await append_entries(db, 2)
    assert await audit_checkpoint_handler(ctx) == {"checkpoints": [2]}  # the first: at once
    await append_entries(db, 2)
    assert await audit_checkpoint_handler(ctx) == {"checkpoints": []}  # 2 < 3, and just made
    await append_entries(db, 1)
    assert await audit_checkpoint_handler(ctx) == {"checkpoints": [5]}
