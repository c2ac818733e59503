"""The checks of ``nsl api --workers 2`` that neither stop nor kill it (the rest, and how a request's
worker is found: test_server_workers.py), on ONE server per database for the module: starting one costs
seconds. Each test makes its own tenant and keys, so none sees another's writes, and the rate limits are
per key. No other test runs in this module, so nothing empties the PostgreSQL database under the server.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import auth, bootstrap_admin_key, create_key, samples
from tests.api.workers_helpers import (
    AUTH_CACHE_SECONDS,
    BURST,
    CONNECTIONS,
    NO_REFILL,
    WORKERS,
    Api,
    audit_writer_processes,
    metric_by_worker,
    open_connections,
    spawn_api,
    tenant_on,
    wait_until_serving,
)
from tests.conftest import BACKENDS, POSTGRES_URL

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class SharedApi:
    api: Api
    admin_key: str


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[SharedApi]:
    """A running ``nsl api --workers 2`` with an exact key bucket (``BURST`` requests, no refill) on a
    migrated database of its own, and the system account's admin key."""
    directory = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, directory / "nsl.db")
        database_url = f"sqlite+aiosqlite:///{directory / 'nsl.db'}"
    else:
        request.getfixturevalue("postgres_reset").empty()
        assert POSTGRES_URL
        database_url = POSTGRES_URL
    admin_key = bootstrap_admin_key(database_url)
    api = spawn_api(
        directory,
        database_url,
        "api",
        NSL_RATE_LIMIT_KEY_PER_SECOND=NO_REFILL,
        NSL_RATE_LIMIT_KEY_BURST=str(BURST),
    )
    try:
        yield SharedApi(asyncio.run(wait_until_serving(api)), admin_key)
    finally:
        api.stop()


async def test_rate_limits_are_exact_across_workers(shared: SharedApi) -> None:
    api = shared.api
    tenant = await tenant_on(api, shared.admin_key)
    statuses: Counter[int] = Counter()
    pids: set[int] = set()

    async def burst(http: httpx.AsyncClient) -> None:
        for _ in range(4 * BURST // CONNECTIONS + 1):
            response = await http.get("/v1/account", headers=tenant.headers)
            statuses[response.status_code] += 1
            pids.add(api.server_pid(response))

    async with open_connections(api, CONNECTIONS) as clients:
        await asyncio.gather(*(burst(http) for http in clients))
    assert statuses[200] == BURST, statuses
    assert set(statuses) == {200, 429}, statuses
    assert pids == api.workers(), "both workers took part"


async def test_a_revoked_key_stops_working_on_every_worker_within_the_cache_ttl(shared: SharedApi) -> None:
    api = shared.api
    tenant = await tenant_on(api, shared.admin_key)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        created = await create_key(http, tenant.owner_key)
        assert created.status_code == 201, created.text
    key, key_id = created.json()["secret"], created.json()["id"]

    async def answers_per_worker(expected: int) -> None:
        """New connections until each worker has answered ``key`` with ``expected`` (and nothing else;
        the key's bucket holds ``BURST`` requests, far more than two workers need to be seen)."""
        seen: set[int] = set()
        while seen != api.workers():
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                response = await http.get("/v1/account", headers=auth(key))
                assert response.status_code == expected, response.text
                seen.add(api.server_pid(response))

    await answers_per_worker(200)  # now cached by both
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        revoked = await http.post(f"/v1/api-keys/{key_id}/revoke", headers=tenant.headers)
        assert revoked.status_code == 200, revoked.text
    await asyncio.sleep(AUTH_CACHE_SECONDS)
    await answers_per_worker(401)


async def test_every_worker_answers_metrics_for_all_workers(shared: SharedApi) -> None:
    """Whichever worker answers a scrape, it counts every worker's requests (each worker alone would
    count only those it served, and successive scrapes would disagree)."""
    api = shared.api
    tenant = await tenant_on(api, shared.admin_key)
    route = {"method": "GET", "route": "/v1/api-keys"}  # no other test of the module lists keys
    requests_before = await metric_by_worker(api, "nsl_http_requests_total", status="200", **route)
    latency_before = await metric_by_worker(api, "nsl_http_request_duration_seconds_count", **route)
    audited_before = await metric_by_worker(api, "nsl_audit_batch_entries_total")
    served: Counter[int] = Counter()
    async with open_connections(api, CONNECTIONS) as clients:
        while len(served) < WORKERS:
            listing = (http.get("/v1/api-keys", headers=tenant.headers) for http in clients)
            listed = await asyncio.gather(*listing)
            for response in listed:
                assert response.status_code == 200, response.text
                served[api.server_pid(response)] += 1
    total = sum(served.values())
    assert min(served.values()) < total, "both workers served some"

    (requests,) = set(requests_before.values())  # every worker reports the same before, too
    (latencies,) = set(latency_before.values())
    every_worker = api.workers()
    assert await metric_by_worker(api, "nsl_http_requests_total", status="200", **route) == dict.fromkeys(
        every_worker, requests + total
    )
    assert await metric_by_worker(api, "nsl_http_request_duration_seconds_count", **route) == dict.fromkeys(
        every_worker, latencies + total
    )
    # The workers' own writers count what they commit (PostgreSQL); on SQLite the one writer process
    # commits the entries, and it serves no /metrics.
    (audited,) = set(audited_before.values())
    group_committed_here = total if audit_writer_processes(api.env["NSL_DATABASE_URL"]) == 0 else 0
    assert await metric_by_worker(api, "nsl_audit_batch_entries_total") == dict.fromkeys(
        every_worker, audited + group_committed_here
    )
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    assert 'pid="' not in text, "one series per metric and labels, not one per process"
    assert samples(text, "nsl_job_queue_depth"), "the values read at scrape time are still there"
