"""How async runs end when their job does not (docs/functions.md §8), the run metrics across the API and
worker processes, and a stored run checked offline against the attestation.

A real app, the real in-process enclave with one sandbox process, a real ``Worker`` on the real queue.
A worker "killed mid-run" is a claim of the run's job, the ``running`` mark that ``run_queued`` writes
before it calls the enclave, and then the claim's lease moved into the past (the time passing with no
heartbeat): what a worker leaves behind when it dies there.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_function_result
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.errors import FunctionVerificationFailed, SignatureInvalid
from neo_service_layer.services.functions.models import FunctionRun
from neo_service_layer.services.functions.runner import RUN_ABANDONED
from neo_service_layer.services.functions.service import RUN_JOB_KIND
from neo_service_layer.worker.functions_jobs import functions_dead_hooks, functions_handlers
from neo_service_layer.worker.queue import LEASE_EXPIRED, DeadJob, JobQueue
from neo_service_layer.worker.runner import Worker
from tests.api.helpers import NO_RATE_LIMITS
from tests.api.test_functions import SCHEMA, URL, _deploy, _run, enclave_sandbox
from tests.conftest import Tenant
from tests.settings_helpers import settings_with

__all__ = ["enclave_sandbox"]  # the sandbox fixture this module shares with test_functions

MAX_ATTEMPTS = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two attempts per job, retried at once: a run's job gives up within the test."""
    jobs = {"max_attempts": MAX_ATTEMPTS, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02}
    return settings_with(settings, rate_limits=NO_RATE_LIMITS, jobs=jobs)


async def _queued(client: httpx.AsyncClient, tenant: Tenant, fid: str, args: Any) -> str:
    run_id: str = (await _run(client, tenant, fid, args, status=202, mode="async"))["id"]
    return run_id


async def _ended(client: httpx.AsyncClient, tenant: Tenant, fid: str, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            run: dict[str, Any] = (
                await client.get(f"{URL}/{fid}/runs/{run_id}", headers=tenant.headers)
            ).json()
            if run["status"] not in ("queued", "running"):
                return run
            await asyncio.sleep(0.05)


async def _worked(
    state: AppState, settings: Settings, client: httpx.AsyncClient, tenant: Tenant, fid: str, *run_ids: str
) -> list[dict[str, Any]]:
    """Run a real worker (the service's handlers and dead hooks) until every run has ended."""
    worker = Worker(
        state.db, settings, functions_handlers(), on_dead=functions_dead_hooks(), poll_seconds=0.02
    )
    await worker.start()
    try:
        return [await _ended(client, tenant, fid, run_id) for run_id in run_ids]
    finally:
        await worker.stop()


async def _job_of(state: AppState, run_id: str) -> Job:
    async with state.db.session() as session:
        jobs = (await session.execute(select(Job).where(Job.kind == RUN_JOB_KIND))).scalars()
        [job] = [job for job in jobs if job.payload == {"run_id": run_id}]
        return job


async def _die_mid_run(state: AppState, run_id: str) -> None:
    """A worker claims the run's job, marks the run running and dies; then its lease runs out."""
    [claimed] = await JobQueue(state.db).claim("dead-worker", kinds={RUN_JOB_KIND})
    assert claimed.payload == {"run_id": run_id}
    async with state.db.transaction() as session:
        await session.execute(
            update(FunctionRun).where(FunctionRun.id == run_id).values(status="running", started_at=utcnow())
        )
        expired = utcnow() - timedelta(seconds=1)
        await session.execute(update(Job).where(Job.id == claimed.id).values(lease_expires_at=expired))


@pytest.fixture
def unreachable(settings: Settings, tmp_path: Path) -> Settings:
    """The worker's settings with an enclave socket nobody listens on: every attempt fails."""
    return settings_with(settings, enclave={"socket": str(tmp_path / "no-enclave.sock")})


# --- a run whose job gives up -------------------------------------------------------------------


async def test_a_run_whose_every_attempt_fails_ends_abandoned_with_its_job(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, unreachable: Settings, tmp_path: Path
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    run_id = await _queued(client, tenant, fid, {"a": 1, "b": 2})
    [run] = await _worked(state, unreachable, client, tenant, fid, run_id)
    assert (run["status"], run["result"], run["envelope"]) == ("failed", None, None)
    assert run["error"]["name"] == RUN_ABANDONED == "RunAbandoned"
    assert run["finished_at"] is not None
    # The host's reason stays with the job, for an operator; the run names none of it.
    job = await _job_of(state, run_id)
    assert (job.status, job.attempts, job.last_error_code) == (
        JobStatus.DEAD,
        MAX_ATTEMPTS,
        "enclave_unavailable",
    )
    assert str(tmp_path) in (job.last_error or "")
    shown = repr(run["error"]).lower()
    assert str(tmp_path) not in shown
    assert "enclave" not in shown
    assert "sock" not in shown


async def test_a_run_left_running_by_a_killed_worker_is_run_again_by_the_retry(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, settings: Settings
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    run_id = await _queued(client, tenant, fid, {"a": 20, "b": 22})
    await _die_mid_run(state, run_id)
    [run] = await _worked(state, settings, client, tenant, fid, run_id)
    assert (run["status"], run["result"], run["error"]) == ("succeeded", "42", None)
    assert run["envelope"] is not None
    job = await _job_of(state, run_id)
    assert (job.status, job.attempts, job.last_error_code) == (JobStatus.SUCCEEDED, 2, LEASE_EXPIRED)


async def test_a_run_whose_worker_dies_on_the_last_attempt_ends_abandoned(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, settings: Settings
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    run_id = await _queued(client, tenant, fid, {"a": 1, "b": 2})
    for _ in range(MAX_ATTEMPTS):
        await _die_mid_run(state, run_id)
    [run] = await _worked(state, settings, client, tenant, fid, run_id)
    assert (run["status"], run["error"]["name"], run["result"]) == ("failed", RUN_ABANDONED, None)
    job = await _job_of(state, run_id)
    assert (job.status, job.last_error_code) == (JobStatus.DEAD, LEASE_EXPIRED)


async def test_an_ended_run_or_another_accounts_run_is_never_changed_by_a_jobs_death(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, state: AppState, unreachable: Settings
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    run_id = await _queued(client, tenant, fid, {"a": 1, "b": 2})
    [ended] = await _worked(state, unreachable, client, tenant, fid, run_id)
    # A second job for the same run (a replayed enqueue) that dies too leaves the ended run alone;
    # a job naming another account's run is no key to it either.
    async with state.db.transaction() as session:
        session.add(
            Job(
                id="job_01REPLAYED",
                kind=RUN_JOB_KIND,
                payload={"run_id": run_id},
                status=JobStatus.QUEUED,
                run_at=utcnow(),
                attempts=0,
                max_attempts=1,
                account_id=tenant.account_id,
            )
        )
        await session.execute(
            update(FunctionRun).where(FunctionRun.id == run_id).values(error={"name": "Kept", "message": ""})
        )
    [again] = await _worked(state, unreachable, client, tenant, fid, run_id)
    assert again["error"] == {"name": "Kept", "message": ""}
    assert again["finished_at"] == ended["finished_at"]
    waiting = await _queued(client, tenant, fid, {"a": 1, "b": 2})
    forged = DeadJob("job_01FORGED", RUN_JOB_KIND, {"run_id": waiting}, other_tenant.account_id, 1, "x")
    async with state.db.transaction() as session:
        await functions_dead_hooks()[RUN_JOB_KIND](session, forged)
    assert (await client.get(f"{URL}/{fid}/runs/{waiting}", headers=tenant.headers)).json()[
        "status"
    ] == "queued"


# --- metrics across processes -------------------------------------------------------------------


def _function_samples(text: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("nsl_function_run"):
            for sample in family.samples:
                found[sample.name, sample.labels.get("status") or sample.labels.get("le") or ""] = (
                    sample.value
                )
    return found


async def test_metrics_count_the_runs_of_the_api_and_of_the_worker(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    state: AppState,
    settings: Settings,
    unreachable: Settings,
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    thrower = (await _deploy(client, other_tenant, name="thrower", source="throw new Error('no');"))["id"]
    await _run(client, tenant, fid, {"a": 1, "b": 2})  # sync: succeeded, in the API process
    await _run(client, other_tenant, thrower, None)  # sync: failed, another account
    by_worker = await _queued(client, tenant, fid, {"a": 3, "b": 4})
    await _worked(state, settings, client, tenant, fid, by_worker)  # async: succeeded, in the worker
    abandoned = await _queued(client, tenant, fid, {"a": 5, "b": 6})
    await _worked(state, unreachable, client, tenant, fid, abandoned)  # async: failed, no duration
    await _queued(client, tenant, fid, {"a": 7, "b": 8})  # still queued: not counted

    found = _function_samples((await client.get("/metrics")).text)
    assert found[("nsl_function_runs_total", "succeeded")] == 2
    assert found[("nsl_function_runs_total", "failed")] == 2
    assert ("nsl_function_runs_total", "queued") not in found
    async with state.db.session() as session:
        durations = [
            d for d in (await session.execute(select(FunctionRun.duration_ms))).scalars() if d is not None
        ]
    assert len(durations) == 3
    assert found[("nsl_function_run_duration_seconds_count", "")] == 3
    assert found[("nsl_function_run_duration_seconds_sum", "")] == pytest.approx(sum(durations) / 1000)
    buckets = [v for (name, le), v in found.items() if name == "nsl_function_run_duration_seconds_bucket"]
    assert buckets == sorted(buckets)  # cumulative
    assert found[("nsl_function_run_duration_seconds_bucket", "+Inf")] == 3
    assert found[("nsl_function_run_duration_seconds_bucket", "60.0")] == 3
    small = sum(1 for d in durations if d <= 10)
    assert found[("nsl_function_run_duration_seconds_bucket", "0.01")] == small


async def test_metrics_show_the_enclaves_sandbox_pool(
    client: httpx.AsyncClient, tenant: Tenant, enclave_sandbox: SandboxPool
) -> None:
    def pool() -> dict[str, float]:
        return {
            family.name: family.samples[0].value
            for family in text_string_to_metric_families(text)
            if family.name.startswith("nsl_function_sandbox")
        }

    text = (await client.get("/metrics")).text
    assert pool() == {
        "nsl_function_sandbox_processes": 1,
        "nsl_function_sandbox_idle": 1,
        "nsl_function_sandbox_replaced": 0,
    }
    looping = (
        await _deploy(client, tenant, name="loop", source="while (true) {}", limits={"timeout_ms": 50})
    )["id"]
    assert (await _run(client, tenant, looping, None))["status"] == "timed_out"
    await enclave_sandbox.replenished()
    text = (await client.get("/metrics")).text
    assert pool() == {
        "nsl_function_sandbox_processes": 1,
        "nsl_function_sandbox_idle": 1,
        "nsl_function_sandbox_replaced": 1,
    }


# --- a stored run, checked offline ---------------------------------------------------------------


def run_params(version: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The signed params of ``run``, rebuilt by a client from what the API shows: the run, and its
    version as ``GET .../versions`` lists it (source, limits and allowed domains)."""
    assert (version["function_id"], version["version"]) == (run["function_id"], run["version"])
    return {
        "function_id": run["function_id"],
        "version": run["version"],
        "run_id": run["id"],
        "source": version["source"],
        "args": run["args"],
        "limits": version["limits"],
        "allowed_domains": version["allowed_domains"],
    }


@pytest.fixture
async def stored(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, settings: Settings
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A sync and an async run of one function as ``GET .../runs/{id}`` shows them, with their params."""
    fid = (await _deploy(client, tenant, args_schema=SCHEMA, allowed_domains=["api.example.com"]))["id"]
    sync = await _run(client, tenant, fid, {"a": 2, "b": 40})
    queued = await _queued(client, tenant, fid, {"a": 40, "b": 2})
    await _worked(state, settings, client, tenant, fid, queued)
    [version] = (await client.get(f"{URL}/{fid}/versions", headers=tenant.headers)).json()["items"]
    runs = []
    for run_id in (sync["id"], queued):
        run = (await client.get(f"{URL}/{fid}/runs/{run_id}", headers=tenant.headers)).json()
        runs.append((run, run_params(version, run)))
    return runs


async def test_a_stored_run_verifies_offline_against_the_attestation(
    stored: list[tuple[dict[str, Any], dict[str, Any]]], tenant: Tenant, identity: VerifiedIdentity
) -> None:
    for run, params in stored:
        outcome = verify_function_result(
            run["envelope"], identity, account_id=tenant.account_id, params=params
        )
        assert (outcome.run_id, outcome.status, outcome.result) == (run["id"], run["status"], run["result"])
        assert outcome.result == "42"


def _set(path: tuple[str, ...], value: Any) -> Any:
    def tamper(envelope: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(envelope)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return changed

    return tamper


# What an attacker with write access to the database (or the API) changes in a stored run's envelope.
TAMPERED_ENVELOPES = [
    pytest.param(("result", "result"), "43", id="result"),
    pytest.param(("result", "status"), "timed_out", id="status"),
    pytest.param(("result", "source_sha256"), "00" * 32, id="source-hash"),
    pytest.param(("result", "args_sha256"), "11" * 32, id="args-hash"),
    pytest.param(("result", "run_id"), "fnr_01OTHER", id="run-id"),
    pytest.param(("result", "error"), {"name": "Error", "message": "forged", "stack": ""}, id="error"),
    pytest.param(("request_hash",), "22" * 32, id="request-hash"),
]


@pytest.mark.parametrize(("path", "value"), TAMPERED_ENVELOPES)
async def test_a_tampered_envelope_is_refused(
    stored: list[tuple[dict[str, Any], dict[str, Any]]],
    tenant: Tenant,
    identity: VerifiedIdentity,
    path: tuple[str, ...],
    value: Any,
) -> None:
    for run, params in stored:
        with pytest.raises(SignatureInvalid):
            verify_function_result(
                _set(path, value)(run["envelope"]), identity, account_id=tenant.account_id, params=params
            )


# What the caller is told ran — other code, other args, another run, version or account — is refused.
TAMPERED_PARAMS = [
    pytest.param("source", "return args.a * args.b;", id="source"),
    pytest.param("args", {"a": 2, "b": 41}, id="args"),
    pytest.param("run_id", "fnr_01OTHER", id="run-id"),
    pytest.param("version", 2, id="version"),
    pytest.param("function_id", "fn_01OTHER", id="function-id"),
    pytest.param("allowed_domains", [], id="allowed-domains"),
]


@pytest.mark.parametrize(("field", "value"), TAMPERED_PARAMS)
async def test_a_run_is_refused_for_other_params(
    stored: list[tuple[dict[str, Any], dict[str, Any]]],
    tenant: Tenant,
    other_tenant: Tenant,
    identity: VerifiedIdentity,
    field: str,
    value: Any,
) -> None:
    for run, params in stored:
        with pytest.raises((SignatureInvalid, FunctionVerificationFailed)):
            verify_function_result(
                run["envelope"], identity, account_id=tenant.account_id, params={**params, field: value}
            )
        with pytest.raises(SignatureInvalid):
            verify_function_result(
                run["envelope"], identity, account_id=other_tenant.account_id, params=params
            )


async def test_a_rewritten_run_row_is_caught_by_its_envelope(
    client: httpx.AsyncClient,
    stored: list[tuple[dict[str, Any], dict[str, Any]]],
    tenant: Tenant,
    state: AppState,
    identity: VerifiedIdentity,
) -> None:
    # A database writer changes the columns the API shows, not the signed envelope: the verified
    # outcome, not the row, is what a client trusts, and it disagrees with the rewritten row.
    run, params = stored[0]
    async with state.db.transaction() as session:
        await session.execute(
            update(FunctionRun).where(FunctionRun.id == run["id"]).values(result="666", status="succeeded")
        )
    shown = (await client.get(f"{URL}/{run['function_id']}/runs/{run['id']}", headers=tenant.headers)).json()
    outcome = verify_function_result(shown["envelope"], identity, account_id=tenant.account_id, params=params)
    assert (shown["result"], outcome.result) == ("666", "42")
