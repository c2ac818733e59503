"""``nsl api``'s server over real HTTP: with ``metrics_port``, /metrics is served on its own listener
only, and that listener serves nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from neo_service_layer.api.server import ApiServer, api_server
from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.config import Settings
from tests.api.helpers import assert_problem
from tests.settings_helpers import settings_with

START_TIMEOUT = 30.0
TOKEN = "scrape-" + "f" * 32


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Settings, ApiServer]]:
    split = settings_with(settings, port=free_port(), metrics_port=free_port(), metrics_token=TOKEN)
    server = api_server(split)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not server.server.started:
                assert not task.done(), "the server stopped while starting"
                await asyncio.sleep(0.05)
        yield split, server
    finally:
        server.server.should_exit = True
        await task


async def test_metrics_are_served_on_their_own_listener_only(served: tuple[Settings, ApiServer]) -> None:
    settings, _ = served
    api = f"http://127.0.0.1:{settings.port}"
    metrics = f"http://{settings.metrics_host}:{settings.metrics_port}"
    scrape = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{api}/healthz")).status_code == 200
        assert_problem(await http.get(f"{api}/metrics", headers=scrape), 404, "not_found")

        scraped = await http.get(f"{metrics}/metrics", headers=scrape)
        assert scraped.status_code == 200
        assert "nsl_http_requests_total" in scraped.text
        assert_problem(await http.get(f"{metrics}/metrics"), 401, "unauthenticated")
        for path in ("/healthz", "/readyz", "/v1/account", "/docs"):
            assert_problem(await http.get(f"{metrics}{path}", headers=scrape), 404, "not_found")
