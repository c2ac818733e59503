"""The pool's contract besides containment: fetch through the enclave's safe fetcher, limits against the
operator's maximums, concurrency, errors that point at the user's source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from neo_service_layer.enclave.functions.bridge import (
    FetchRefused,
    FetchRequest,
    SafeFetcherBridge,
    host_allowed,
)
from neo_service_layer.enclave.functions.limits import LimitAboveMaximum, RunLimits
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.functions.runs import RunRequest, RunStatus
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.errors import ValidationFailed
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, StaticResolver, respond

LIMITS = RunLimits(timeout_ms=2000, memory_mb=16, max_output_bytes=4096, max_log_bytes=2048, max_fetches=3)


@pytest.fixture
async def web(pki: OraclePKI, tmp_path: Path) -> AsyncIterator[LocalServer]:
    async def price(request: Request, writer: asyncio.StreamWriter) -> None:
        auth = request.headers.get("authorization", "")
        await respond(writer, 200, json.dumps({"price": 7, "auth": auth, "method": request.method}).encode())

    server = LocalServer(pki.server_context(tmp_path), routes={"/price": price})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """A devnet-like policy (127.0.0.1 allowed) so that only the function's own rules are in the way."""
    resolver = StaticResolver({"api.oracle.test": [["127.0.0.1"]], "other.oracle.test": [["127.0.0.1"]]})
    policy = FetchPolicy(allow_private_hosts=True, fail_on_status=False)
    async with SafeFetcher(policy, resolver=resolver, ssl_context=pki.client_context()) as safe:
        yield safe


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(2, maximums=RunLimits(timeout_ms=5000, memory_mb=32)) as sandbox:
        yield sandbox


async def test_fetch_reaches_an_allowed_host_through_the_safe_fetcher(
    pool: SandboxPool, fetcher: SafeFetcher, web: LocalServer
) -> None:
    source = f"""
    const headers = {{ Authorization: 'Bearer ' + secrets.key }};
    const url = 'https://api.oracle.test:{web.port}/price';
    const r = await fetch(url, {{ method: 'POST', headers, body: '{{}}' }});
    const doc = await r.json();
    return {{ status: r.status, ok: r.ok, price: doc.price, auth: doc.auth, method: doc.method }}
    """
    bridge = SafeFetcherBridge(fetcher, allowed_domains=frozenset({"oracle.test"}))
    result = await pool.run(RunRequest(source, secrets={"key": "k1"}, limits=LIMITS), bridge=bridge)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert json.loads(result.result or "") == {
        "status": 200,
        "ok": True,
        "price": 7,
        "auth": "Bearer k1",
        "method": "POST",
    }
    assert result.fetches == 1
    assert len(web.requests) == 1


async def test_fetch_outside_the_allowed_domains_is_refused_before_any_connection(
    pool: SandboxPool, fetcher: SafeFetcher, web: LocalServer
) -> None:
    source = (
        f"try {{ await fetch('https://other.oracle.test:{web.port}/price') }} catch (e) {{ return e.code }}"
    )
    bridge = SafeFetcherBridge(fetcher, allowed_domains=frozenset({"api.oracle.test"}))
    result = await pool.run(RunRequest(source, limits=LIMITS), bridge=bridge)
    assert result.result == '"not_allowed"'
    assert web.connections == 0


async def test_without_a_bridge_fetch_is_refused(pool: SandboxPool) -> None:
    source = "try { await fetch('https://a.test/') } catch (e) { return e.code }"
    result = await pool.run(RunRequest(source, limits=LIMITS))
    assert result.result == '"not_allowed"'


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        pytest.param("api.oracle.test", frozenset({"oracle.test"}), True, id="subdomain"),
        pytest.param("oracle.test", frozenset({"oracle.test"}), True, id="exact"),
        pytest.param("API.Oracle.Test.", frozenset({"oracle.test"}), True, id="case-and-dot"),
        pytest.param("evil-oracle.test", frozenset({"oracle.test"}), False, id="suffix-not-label"),
        pytest.param("oracle.test.evil", frozenset({"oracle.test"}), False, id="prefix"),
        pytest.param("anything", None, True, id="no-list"),
        pytest.param("anything", frozenset(), False, id="empty-list"),
    ],
)
def test_host_allowed(host: str, allowed: frozenset[str] | None, expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="not-object"),
        pytest.param({"url": 1, "method": "GET", "headers": {}, "body": ""}, id="url-not-string"),
        pytest.param(
            {"url": "https://a", "method": "GET", "headers": {"a": 1}, "body": ""}, id="header-value"
        ),
        pytest.param({"url": "https://a", "method": "GET", "headers": [], "body": ""}, id="headers-list"),
    ],
)
def test_a_malformed_fetch_request_is_refused(data: object) -> None:
    with pytest.raises(FetchRefused) as caught:
        FetchRequest.from_wire(data)
    assert caught.value.code == "bad_request"


async def test_limits_above_the_operators_maximum_are_refused(pool: SandboxPool) -> None:
    with pytest.raises(LimitAboveMaximum) as caught:
        await pool.run(RunRequest("return 1", limits=RunLimits(timeout_ms=5001, memory_mb=16)))
    assert caught.value.code == "function_limit_above_maximum"
    assert caught.value.extra == {"field": "timeout_ms"}


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"timeout_ms": 0}, id="zero-timeout"),
        pytest.param({"memory_mb": 1}, id="memory-below-minimum"),
        pytest.param({"max_fetches": -1}, id="negative"),
        pytest.param({"max_output_bytes": True}, id="bool"),
    ],
)
def test_invalid_limits(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValidationFailed):
        RunLimits(**kwargs)


def test_the_issues_defaults() -> None:
    limits = RunLimits()
    assert (limits.timeout_ms, limits.memory_mb, limits.max_output_bytes) == (10_000, 128, 65_536)
    assert (limits.max_log_bytes, limits.max_fetches) == (65_536, 5)


async def test_a_pool_that_is_not_started_refuses() -> None:
    with pytest.raises(RuntimeError):
        await SandboxPool(1).run(RunRequest("return 1"))


async def test_runs_beyond_the_pool_size_wait_for_a_process(pool: SandboxPool) -> None:
    source = "await new Promise(r => setTimeout(r, 50)); return args"
    results = await asyncio.gather(*(pool.run(RunRequest(source, args=i, limits=LIMITS)) for i in range(6)))
    assert [r.result for r in results] == [str(i) for i in range(6)]
    assert pool.replaced == 0


@pytest.mark.parametrize(
    ("source", "name", "where"),
    [
        pytest.param("return 1 +* 2", "SyntaxError", "<input>:1:", id="syntax-line-1"),
        pytest.param("const a = 1;\nconst b = ;", "SyntaxError", "<input>:2:", id="syntax-line-2"),
        pytest.param("\n\nnull.x", "TypeError", "<input>:3:", id="type-error-line-3"),
    ],
)
async def test_errors_point_at_the_users_source(
    pool: SandboxPool, source: str, name: str, where: str
) -> None:
    result = await pool.run(RunRequest(source, limits=LIMITS))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.name == name
    assert where in result.error.stack


async def test_console_and_result_types(pool: SandboxPool) -> None:
    source = "console.log('a', 1, {b: [2]}); console.error('e'); return {n: 1.5, s: 'x', l: [true, null]}"
    result = await pool.run(RunRequest(source, limits=LIMITS))
    assert result.status is RunStatus.SUCCEEDED
    assert json.loads(result.result or "") == {"n": 1.5, "s": "x", "l": [True, None]}
    assert result.logs == 'log: a 1 {"b":[2]}\nerror: e\n'
    assert not result.logs_truncated
    undefined = await pool.run(RunRequest("return undefined", limits=LIMITS))
    assert undefined.result == "null"


ROGUE = Path(__file__).parent / "rogue_worker.py"


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        pytest.param("frame-too-large", RunStatus.OUTPUT_TOO_LARGE, id="frame-too-large"),
        pytest.param("not-json", RunStatus.CRASHED, id="not-json"),
        pytest.param("exit", RunStatus.CRASHED, id="exits"),
        pytest.param("unknown-status", RunStatus.CRASHED, id="unknown-status"),
        pytest.param("forged-big-result", RunStatus.OUTPUT_TOO_LARGE, id="result-over-the-limit"),
        pytest.param("hang", RunStatus.TIMED_OUT, id="hangs"),
    ],
)
async def test_a_compromised_sandbox_process_is_contained(mode: str, status: RunStatus) -> None:
    limits = RunLimits(timeout_ms=300, memory_mb=16, max_output_bytes=4096, max_log_bytes=2048, max_fetches=3)
    async with SandboxPool(1, maximums=LIMITS, worker=ROGUE, grace_seconds=0.2) as rogue:
        result = await rogue.run(RunRequest(mode, limits=limits))
        assert result.status is status
        assert result.result is None
        await rogue.replenished()
        assert rogue.replaced == 1
        assert len(rogue.pids()) == 1


async def test_the_enclave_counts_fetches_even_if_the_sandbox_does_not(fetcher: SafeFetcher) -> None:
    async with SandboxPool(1, maximums=LIMITS, worker=ROGUE) as rogue:
        bridge = SafeFetcherBridge(fetcher, allowed_domains=frozenset({"oracle.test"}))
        result = await rogue.run(RunRequest("fetch-flood", limits=LIMITS), bridge=bridge)
    answers = json.loads(result.result or "")
    # a.test is not allowed; beyond max_fetches (3) the enclave refuses without asking the bridge.
    assert [a["error"]["code"] for a in answers] == ["not_allowed"] * 3 + ["fetch_limit"] * 2


async def test_a_replacement_that_fails_is_retried_until_it_starts(tmp_path: Path) -> None:
    # The worker script is missing while the breach's replacement starts: the pool retries, and once it
    # is back a waiting run is served (instead of waiting for ever on a pool that gave up).
    script = tmp_path / "worker.py"
    script.write_bytes(ROGUE.read_bytes())
    async with SandboxPool(1, maximums=LIMITS, worker=script, grace_seconds=0.2) as pool:
        script.rename(tmp_path / "away.py")
        limits = RunLimits(
            timeout_ms=300, memory_mb=16, max_output_bytes=4096, max_log_bytes=2048, max_fetches=3
        )
        assert (await pool.run(RunRequest("exit", limits=limits))).status is RunStatus.CRASHED
        waiting = asyncio.create_task(pool.run(RunRequest("unknown-status", limits=limits)))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        (tmp_path / "away.py").rename(script)
        result = await asyncio.wait_for(waiting, 15)
        assert result.status is RunStatus.CRASHED  # what that rogue answers: served, not stuck


async def test_runs_waiting_for_a_process_end_when_the_pool_stops() -> None:
    pool = SandboxPool(1, maximums=LIMITS)
    await pool.start()
    busy = asyncio.create_task(
        pool.run(RunRequest("await new Promise(r => setTimeout(r, 300))", limits=LIMITS))
    )
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(pool.run(RunRequest("return 1", limits=LIMITS)))
    await asyncio.sleep(0.05)
    await pool.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        await asyncio.wait_for(waiting, 5)
    assert (await busy).status is RunStatus.CRASHED  # its process was killed by stop()
    await pool.stop()  # twice is fine


@pytest.mark.parametrize(
    ("source", "ok", "line", "column"),
    [
        pytest.param("return args.a", True, None, None, id="valid"),
        pytest.param(
            "const x = await fetch('https://a.test');\nreturn x", True, None, None, id="valid-await"
        ),
        pytest.param("const x = ;", False, 1, 11, id="first-line"),
        pytest.param("const a = 1;\nconst b = ;", False, 2, 11, id="second-line"),
        pytest.param("return `abc", False, 1, 8, id="unterminated-template-at-its-start"),
        pytest.param("{", False, 1, 2, id="unclosed-block-at-end"),
    ],
)
async def test_check_compiles_without_running(
    pool: SandboxPool, source: str, ok: bool, line: int | None, column: int | None
) -> None:
    checked = await pool.check(source)
    assert (checked.ok, checked.line, checked.column) == (ok, line, column)
    assert (checked.message is None) is ok


async def test_check_never_runs_the_body_and_the_process_serves_runs_after(pool: SandboxPool) -> None:
    # A body that would loop for ever compiles in no time: nothing of it runs.
    assert (await asyncio.wait_for(pool.check("while (true) {}"), 2)).ok
    assert pool.replaced == 0
    assert (await pool.run(RunRequest("return 2", limits=LIMITS))).result == "2"


async def test_a_check_that_runs_code_by_escaping_the_wrapper_is_bounded_and_replaced(
    pool: SandboxPool,
) -> None:
    checked = await pool.check("}); while (true) {}; (async () => {")
    assert (checked.ok, checked.line) == (False, None)
    await pool.replenished()
    assert len(pool.pids()) == pool.size
    assert (await pool.run(RunRequest("return 3", limits=LIMITS))).result == "3"


async def test_a_pool_that_is_not_started_refuses_a_check() -> None:
    with pytest.raises(RuntimeError):
        await SandboxPool(1).check("return 1")


async def test_a_syntax_error_quoting_a_huge_token_is_cut_not_a_broken_process(pool: SandboxPool) -> None:
    checked = await pool.check("return 1 " + "x" * 200_000)
    assert (checked.ok, checked.line) == (False, 1)
    assert checked.message is not None
    assert len(checked.message) <= 1024
    assert pool.replaced == 0
