"""The services' jobs as ``nsl worker`` registers them: every scheduled kind has a handler."""

from __future__ import annotations

from neo_service_layer.worker.service_jobs import KEYS_PURGE_KIND, service_handlers, service_tasks


def test_every_scheduled_service_job_has_a_handler() -> None:
    handlers = service_handlers()
    tasks = service_tasks(keys_purge_interval_seconds=60.0)
    assert [task.kind for task in tasks] == [KEYS_PURGE_KIND]
    assert tasks[0].interval_seconds == 60.0
    assert all(task.kind in handlers for task in tasks)
