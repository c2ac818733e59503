"""Probes, Prometheus metrics, and the published API description."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from neo_service_layer.api.state import AppState
from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.migrate import head_revision
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.ids import IdPrefix, new_id
from tests.api.conftest import AppFactory
from tests.api.helpers import assert_problem, samples
from tests.conftest import Tenant

# Routes anyone may call: the JWT verifying key and the enclave's attestation.
PUBLIC_PATHS = frozenset({"/v1/auth/jwks", "/v1/attestation"})


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database_at_the_head_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {
        "ok": True,
        "revision": head_revision(),
        "expected": head_revision(),
    }
    assert "redis" not in body["checks"]


async def test_metrics_count_requests_and_latency_per_route_template(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key_id = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"][0]["id"]
    for _ in range(3):
        assert (await client.get(f"/v1/api-keys/{key_id}", headers=tenant.headers)).status_code == 200
    assert (
        await client.get("/v1/api-keys/key_01ZZZZZZZZZZZZZZZZZZZZZZZZ", headers=tenant.headers)
    ).status_code == 404
    assert (await client.get("/no/such/route")).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")

    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in samples(response.text, "nsl_http_requests_total")
        if s.labels["method"] == "GET"
    }
    assert counts[("/v1/api-keys/{key_id}", "200")] == 3
    assert counts[("/v1/api-keys/{key_id}", "404")] == 1
    assert counts[("unmatched", "404")] == 1
    assert not any(key_id in route for route, _ in counts)  # label values are templates, not ids

    histogram = {
        s.labels["le"]: s.value
        for s in samples(response.text, "nsl_http_request_duration_seconds_bucket")
        if s.labels["route"] == "/v1/api-keys/{key_id}"
    }
    assert histogram["+Inf"] == 4
    assert list(histogram.values()) == sorted(histogram.values())  # cumulative buckets


async def test_metrics_count_the_audit_writers_batches_and_entries(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def counted() -> tuple[float, float]:
        text = (await client.get("/metrics")).text
        (batches,) = samples(text, "nsl_audit_batches_total")
        (entries,) = samples(text, "nsl_audit_batch_entries_total")
        return batches.value, entries.value

    batches_before, entries_before = await counted()
    # Reads: their entries have no transaction of their own and go to the group-commit writer.
    answered = await asyncio.gather(*(client.get("/v1/account", headers=tenant.headers) for _ in range(6)))
    assert {response.status_code for response in answered} == {200}
    batches, entries = await counted()
    assert entries - entries_before == 6
    assert 1 <= batches - batches_before <= 6


async def test_metrics_report_job_queue_depth_per_status(client: httpx.AsyncClient, state: AppState) -> None:
    now = utcnow()
    async with state.db.transaction() as session:
        for status, count in ((JobStatus.QUEUED, 3), (JobStatus.DEAD, 1)):
            for _ in range(count):
                session.add(
                    Job(
                        id=new_id(IdPrefix.JOB),
                        kind="test",
                        payload={},
                        status=status,
                        run_at=now + timedelta(hours=1),
                        attempts=0,
                        max_attempts=1,
                    )
                )
    depth = {
        s.labels["status"]: s.value
        for s in samples((await client.get("/metrics")).text, "nsl_job_queue_depth")
    }
    assert depth == {"queued": 3.0, "running": 0.0, "succeeded": 0.0, "dead": 1.0}


async def test_metrics_leave_out_the_sandbox_pool_of_an_enclave_that_has_none(
    client: httpx.AsyncClient,
) -> None:
    # This app's enclave runs no sandbox: no number at all rather than one that says the pool is fine.
    text = (await client.get("/metrics")).text
    assert "# TYPE nsl_function_sandbox_processes gauge" in text
    for name in (
        "nsl_function_sandbox_processes",
        "nsl_function_sandbox_idle",
        "nsl_function_sandbox_replaced_total",
    ):
        assert samples(text, name) == []


async def test_openapi_describes_every_route_with_problem_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "Neo Service Layer"
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    for path in ("/v1/api-keys", "/v1/account/members", "/v1/admin/accounts", "/v1/audit", "/v1/auth/token"):
        assert path in spec["paths"]
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/") or path in PUBLIC_PATHS:
            continue
        for operation in item.values():
            unauthorized = operation["responses"]["401"]["content"]
            assert "application/problem+json" in unauthorized, f"{path}: errors are problem+json"
            assert unauthorized["application/problem+json"]["schema"]["required"] == [
                "type",
                "title",
                "status",
                "detail",
                "code",
            ]


@pytest.mark.parametrize("path", ["/docs", "/redoc"], ids=str)
async def test_docs_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


async def test_readyz_reports_the_enclave(app_factory: AppFactory, enclave_server: EnclaveServer) -> None:
    client = (await app_factory(readiness_cache_seconds=0)).client  # the cache: tests/api/test_readiness.py
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["enclave"] == {"ok": True, "tee": "none", "backend": "software"}
    await enclave_server.stop()
    down = await client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["enclave"] == {"ok": False, "error": "enclave_unavailable"}


async def test_readyz_reports_unreachable_chains_without_their_urls(app_factory: AppFactory) -> None:
    url = f"http://127.0.0.1:{free_port()}/v3/provider-api-key-0123456789"  # nothing listens there
    running = await app_factory(evm={"rpc_url": url}, n3={"rpc_url": url})
    response = await running.client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["evm"] == checks["neo_n3"] == {"ok": False, "error": "unreachable"}
    assert "provider-api-key" not in response.text


async def test_readyz_has_no_chain_checks_when_no_chain_is_configured(client: httpx.AsyncClient) -> None:
    checks = (await client.get("/readyz")).json()["checks"]
    assert set(checks) == {"database", "enclave"}


METRICS_TOKEN = "metrics-token-" + "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({}, "missing", id="no-header"),
        pytest.param({"Authorization": "Bearer wrong"}, "invalid", id="wrong-token"),
        pytest.param({"Authorization": f"Basic {METRICS_TOKEN}"}, "missing", id="not-bearer"),
        pytest.param({"Authorization": f"Bearer {METRICS_TOKEN}x"}, "invalid", id="token-plus-one"),
    ],
)
async def test_metrics_with_a_token_refuses_scrapers_without_it(
    app_factory: AppFactory, headers: dict[str, str], reason: str
) -> None:
    client = (await app_factory(metrics_token=METRICS_TOKEN)).client
    refused = await client.get("/metrics", headers=headers)
    assert_problem(refused, 401, "unauthenticated")
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert METRICS_TOKEN not in refused.text
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    failures = {
        (s.labels["credential"], s.labels["reason"]): s.value
        for s in samples(scraped.text, "nsl_auth_failures_total")
    }
    assert failures == {("metrics_token", reason): 1.0}
    assert METRICS_TOKEN not in scraped.text
