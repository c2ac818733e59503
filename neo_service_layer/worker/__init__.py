"""Background work: the database job queue, the worker that runs it, and the leader-elected scheduler."""

from __future__ import annotations

from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError, new_worker_id
from neo_service_layer.worker.leader import LeaderLease
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.queue import ClaimedJob, JobQueue, enqueue, ensure_enqueued
from neo_service_layer.worker.runner import Worker
from neo_service_layer.worker.scheduler import PeriodicTask, Scheduler

__all__ = [
    "ClaimedJob",
    "Handler",
    "JobContext",
    "JobQueue",
    "LeaderLease",
    "PeriodicTask",
    "PermanentJobError",
    "Scheduler",
    "Worker",
    "enqueue",
    "ensure_enqueued",
    "new_worker_id",
    "run_worker",
]
