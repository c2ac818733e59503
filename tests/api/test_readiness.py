"""/readyz is cached per process and single-flight: a flood of probes costs a few real RPC calls, and
the result still reports a failed dependency once the cache has expired."""

from __future__ import annotations

import asyncio
import http.server
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial

import pytest

from neo_service_layer.api.readiness import Checks, ReadinessProbe, check_dependencies
from neo_service_layer.api.state import AppState
from neo_service_layer.config.settings import DEFAULT_READINESS_CACHE_SECONDS
from neo_service_layer.enclave.server import EnclaveServer
from tests.api.conftest import AppFactory

HITS = 1000
CONCURRENCY = 50
# What the counting node answers: eth_blockNumber in hex, getblockcount counts the genesis block.
HEIGHTS = {"eth_blockNumber": "0x2a", "getblockcount": 43}


class CountingNode:
    """A JSON-RPC node on a local port that counts every call it gets, per method."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        # Guards _calls: the server answers each request on a thread of its own.
        self._lock = threading.Lock()
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with node._lock:
                    node._calls[body["method"]] += 1
                result = HEIGHTS[body["method"]]
                reply = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)


@pytest.fixture
def node() -> Iterator[CountingNode]:
    counting = CountingNode()
    thread = threading.Thread(target=counting.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield counting
    finally:
        counting.server.shutdown()
        counting.server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_readyz_hit_1000_times_costs_a_few_rpc_calls(
    app_factory: AppFactory, node: CountingNode
) -> None:
    running = await app_factory(evm={"rpc_url": node.url}, n3={"rpc_url": node.url})
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    for _ in range(HITS // CONCURRENCY):
        responses = await asyncio.gather(*(running.client.get("/readyz") for _ in range(CONCURRENCY)))
        statuses.update(response.status_code for response in responses)
        body = responses[-1].json()
    elapsed = time.monotonic() - started
    assert statuses == {200: HITS}
    assert body["checks"]["evm"] == {"ok": True, "height": 42}
    assert body["checks"]["neo_n3"] == {"ok": True, "height": 42}
    calls = node.calls
    runs = running.state.readiness.runs
    print(f"{HITS} /readyz hits in {elapsed:.2f} s: {runs} probe runs, RPC calls {dict(calls)}")
    # One run per TTL at most (plus the first): a bound from the elapsed time, not a timing assertion.
    assert runs <= math.ceil(elapsed / DEFAULT_READINESS_CACHE_SECONDS) + 1
    assert calls == {"eth_blockNumber": runs, "getblockcount": runs}


async def test_concurrent_callers_share_one_run() -> None:
    release = asyncio.Event()
    runs = 0

    async def check() -> Checks:
        nonlocal runs
        runs += 1
        await release.wait()
        return {"thing": {"ok": True, "run": runs}}

    probe = ReadinessProbe(check, 1.0, clock=FakeClock())
    waiting = [asyncio.create_task(probe.checks()) for _ in range(100)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting)
    assert runs == probe.runs == 1
    assert all(result is results[0] for result in results)


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_run() -> None:
    release = asyncio.Event()

    async def check() -> Checks:
        await release.wait()
        return {"thing": {"ok": True}}

    probe = ReadinessProbe(check, 1.0, clock=FakeClock())
    first = asyncio.create_task(probe.checks())
    second = asyncio.create_task(probe.checks())
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == {"thing": {"ok": True}}
    assert probe.runs == 1


async def test_the_cache_expires_and_a_failure_is_reported_then_cached(
    state: AppState, enclave_server: EnclaveServer
) -> None:
    clock = FakeClock()
    probe = ReadinessProbe(partial(check_dependencies, state), 1.0, clock=clock)
    assert (await probe.checks())["enclave"]["ok"] is True
    await enclave_server.stop()
    clock.now += 0.9
    assert (await probe.checks())["enclave"]["ok"] is True  # still within the TTL: at most 1 s stale
    clock.now += 0.1
    down = await probe.checks()
    assert down["enclave"] == {"ok": False, "error": "enclave_unavailable"}
    assert probe.runs == 2
    clock.now += 0.5
    assert await probe.checks() is down  # a failure is cached too: a dead enclave is not hammered
    assert probe.runs == 2


async def test_zero_ttl_runs_every_time(state: AppState) -> None:
    probe = ReadinessProbe(partial(check_dependencies, state), 0.0, clock=FakeClock())
    for _ in range(3):
        assert (await probe.checks())["database"]["ok"] is True
    assert probe.runs == 3
