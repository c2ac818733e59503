"""Containment (issue 16 §6): hostile functions each end within their limits with the status expected,
and a benign run on the same pool right after succeeds with the right result and sees nothing the
hostile run left (prototype pollution, globals, replaced built-ins).

Small limits keep the suite short: 400 ms, 16 MiB, 4 KiB output, 2 KiB logs, 2 fetches. A case expected
to end some other way than by its timeout (a memory bomb, a BigInt bomb, a microtask chain) runs with the
pool's 2 s maximum instead: those need CPU to reach their limit, and on a loaded 2-core machine 400 ms of
wall time can run out first. "Within its limit" is checked with a generous margin (the timeout plus the
pool's grace plus 3 s): a loaded machine must not make it flaky, and a run that escaped its limits would
take far longer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from neo_service_layer.enclave.functions.bridge import SafeFetcherBridge
from neo_service_layer.enclave.functions.limits import RunLimits
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.functions.runs import RunRequest, RunResult, RunStatus
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from tests.enclave.oracle.servers import OraclePKI

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMITS = RunLimits(timeout_ms=400, memory_mb=16, max_output_bytes=4096, max_log_bytes=2048, max_fetches=2)
POOL_MAXIMUMS = RunLimits(timeout_ms=2000, memory_mb=32)
# The timeout of a case that is not expected to time out: a safety net only.
SAFETY_NET_LIMITS = dataclasses.replace(LIMITS, timeout_ms=POOL_MAXIMUMS.timeout_ms)
GRACE_SECONDS = 0.5


def margin_seconds(limits: RunLimits) -> float:
    """The longest a run under ``limits`` may take here: its timeout, the pool's grace, and 3 s."""
    return limits.timeout_ms / 1000 + GRACE_SECONDS + 3.0


SECRETS = {"token": "s3cret"}
# The benign run after each case: the right answer, and no trace of anything a hostile run did.
BENIGN = """
return [typeof ({}).polluted, typeof [].evil, typeof globalThis.leaked, typeof leaked2,
        JSON.stringify([1]), Array.prototype.push === undefined, args.n * 2, secrets.token]
"""
BENIGN_RESULT = json.dumps(
    ["undefined", "undefined", "undefined", "undefined", "[1]", False, 42, "s3cret"], separators=(",", ":")
)
# 127.0.0.1 is private: the enclave's default policy refuses it before any connection.
PRIVATE_URL = "https://127.0.0.1:1/secret"


@dataclass(frozen=True)
class Case:
    source: str
    status: RunStatus
    result: str | None = None
    message: str | None = None  # a substring of the error's message


CASES = [
    # Infinite loops, sync and in microtasks.
    pytest.param(Case("while (true) {}", RunStatus.TIMED_OUT), id="while-true"),
    pytest.param(Case("for (;;) {}", RunStatus.TIMED_OUT), id="for-ever"),
    pytest.param(Case("for (;;) await null", RunStatus.TIMED_OUT), id="microtask-await-loop"),
    pytest.param(Case("await null; while (true) {}", RunStatus.TIMED_OUT), id="loop-after-await"),
    pytest.param(
        Case(
            "const f = () => Promise.resolve().then(f); f(); await new Promise(() => {})",
            RunStatus.FAILED,
            message="never settled",
        ),
        id="microtask-then-chain",
    ),
    pytest.param(
        Case("const f = () => queueMicrotask(f); f(); await new Promise(() => {})", RunStatus.TIMED_OUT),
        id="queue-microtask-loop",
    ),
    pytest.param(
        Case("const t = Date.now(); while (Date.now() - t < 1e7) {} return 1", RunStatus.TIMED_OUT),
        id="date-now-busy-wait",
    ),
    # Memory bombs.
    pytest.param(
        Case("const a = []; for (;;) a.push(new Array(1e5).fill(1))", RunStatus.MEMORY_EXCEEDED),
        id="array-bomb",
    ),
    pytest.param(
        Case("const a = []; for (;;) a.push('x'.repeat(1e5) + a.length)", RunStatus.MEMORY_EXCEEDED),
        id="string-bomb",
    ),
    pytest.param(
        Case("const a = []; for (;;) a.push(new Float64Array(1e6))", RunStatus.MEMORY_EXCEEDED),
        id="typed-array-bomb",
    ),
    pytest.param(
        Case("return new ArrayBuffer(2 ** 30).byteLength", RunStatus.MEMORY_EXCEEDED), id="huge-arraybuffer"
    ),
    pytest.param(
        Case("const o = {}; for (let i = 0; ; i++) o['k' + i] = i", RunStatus.MEMORY_EXCEEDED),
        id="object-bomb",
    ),
    pytest.param(
        Case("const p = []; for (;;) p.push(new Promise(() => {}))", RunStatus.FAILED, message="null"),
        id="promise-bomb",
    ),
    pytest.param(
        Case(
            "try { const a = []; for (;;) a.push(new Array(1e5).fill(1)) } catch (e) { return 'caught' }",
            RunStatus.SUCCEEDED,
            '"caught"',
        ),
        id="out-of-memory-caught",
    ),
    # Deep recursion and deep JSON.
    pytest.param(
        Case("function f(n) { return f(n + 1) + 1 } return f(0)", RunStatus.FAILED, message="stack"),
        id="deep-recursion",
    ),
    pytest.param(
        Case("return JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))", RunStatus.FAILED, message="stack"),
        id="deeply-nested-json-parse",
    ),
    pytest.param(
        Case(
            "let a = []; for (let i = 0; i < 1e5; i++) a = [a]; return a", RunStatus.FAILED, message="stack"
        ),
        id="deeply-nested-result",
    ),
    # Output and logs.
    pytest.param(Case("return 'x'.repeat(5000)", RunStatus.OUTPUT_TOO_LARGE), id="huge-output-string"),
    pytest.param(Case("return Array(3000).fill('ab')", RunStatus.OUTPUT_TOO_LARGE), id="huge-output-array"),
    pytest.param(
        Case("return '\\u0001'.repeat(4000)", RunStatus.OUTPUT_TOO_LARGE), id="output-escaped-past-limit"
    ),
    pytest.param(
        Case(
            "for (let i = 0; i < 1e5; i++) console.log('spam', i); return 'done'",
            RunStatus.SUCCEEDED,
            '"done"',
        ),
        id="huge-logs",
    ),
    pytest.param(
        Case("console.log('x'.repeat(1e6)); return 'done'", RunStatus.SUCCEEDED, '"done"'),
        id="one-huge-log-line",
    ),
    pytest.param(
        Case("throw new Error('x'.repeat(1e6))", RunStatus.FAILED, message="xxxx"), id="huge-error-message"
    ),
    # Pollution and leaks that must not reach the next run (the benign run checks).
    pytest.param(
        Case("Object.prototype.polluted = 'yes'; return 1", RunStatus.SUCCEEDED, "1"),
        id="object-prototype-pollution",
    ),
    pytest.param(
        Case(
            "Array.prototype.evil = 1; Array.prototype.push = undefined; return 1", RunStatus.SUCCEEDED, "1"
        ),
        id="array-prototype-pollution",
    ),
    pytest.param(Case("globalThis.leaked = 1; return 1", RunStatus.SUCCEEDED, "1"), id="global-leak"),
    pytest.param(
        Case("}); var leaked2 = 1; (async () => {", RunStatus.SUCCEEDED, "null"),
        id="source-breaks-out-of-wrapper",
    ),
    pytest.param(
        Case("JSON.stringify = () => '\"forged\"'; return 1", RunStatus.SUCCEEDED, "1"),
        id="json-stringify-replaced",
    ),
    pytest.param(
        Case(
            "Object.getPrototypeOf(args).polluted = 1; args.n = 999; return args.n", RunStatus.SUCCEEDED, "21"
        ),
        id="provided-args-mutated",
    ),
    pytest.param(
        Case("secrets.token = 'x'; secrets = {}; return secrets.token", RunStatus.SUCCEEDED, '"s3cret"'),
        id="secrets-mutated",
    ),
    pytest.param(
        Case(
            "return [Object.keys(secrets), secrets.other_account_key ?? 'absent', Object.isFrozen(secrets)]",
            RunStatus.SUCCEEDED,
            '[["token"],"absent",true]',
        ),
        id="secret-not-granted",
    ),
    pytest.param(
        Case("console.log({ toJSON() { for (;;) {} } }); return 1", RunStatus.TIMED_OUT),
        id="console-log-looping-tojson",
    ),
    pytest.param(
        Case(
            "async function f(n) { return await f(n + 1) } return await f(0)",
            RunStatus.FAILED,
            message="stack",
        ),
        id="deep-async-recursion",
    ),
    # Reach for the host.
    pytest.param(Case("return require('fs')", RunStatus.FAILED, message="require"), id="require"),
    pytest.param(Case("return process.env", RunStatus.FAILED, message="process"), id="process"),
    pytest.param(Case("return await import('os')", RunStatus.FAILED), id="dynamic-import"),
    pytest.param(Case("return std.getenv('HOME')", RunStatus.FAILED, message="std"), id="quickjs-std"),
    pytest.param(
        Case(
            "const g = Function('return this')();"
            " return Object.getOwnPropertyNames(g).filter(n => n.startsWith('__') ||"
            " ['require', 'process', 'std', 'os', 'WebAssembly', 'SharedArrayBuffer'].includes(n))",
            RunStatus.SUCCEEDED,
            "[]",
        ),
        id="function-return-this",
    ),
    pytest.param(
        Case(
            "return (() => {}).constructor('return typeof __nsl + typeof std + typeof os')()",
            RunStatus.SUCCEEDED,
            '"undefinedundefinedundefined"',
        ),
        id="function-constructor-escape",
    ),
    pytest.param(Case("return typeof WebAssembly", RunStatus.SUCCEEDED, '"undefined"'), id="webassembly"),
    pytest.param(
        Case("return new SharedArrayBuffer(8)", RunStatus.FAILED, message="SharedArrayBuffer"),
        id="shared-array-buffer",
    ),
    pytest.param(
        Case("return Atomics.wait(new Int32Array(4), 0, 0, 1e9)", RunStatus.FAILED, message="not a function"),
        id="atomics-wait",
    ),
    # Results and thrown values that fight back.
    pytest.param(
        Case("const o = {}; o.o = o; return o", RunStatus.FAILED, message="not JSON"), id="cyclic-result"
    ),
    pytest.param(Case("return { get x() { for (;;) {} } }", RunStatus.TIMED_OUT), id="looping-getter-result"),
    pytest.param(
        Case("return { toJSON() { for (;;) {} } }", RunStatus.TIMED_OUT), id="looping-tojson-result"
    ),
    pytest.param(
        Case("return new Proxy({}, { ownKeys() { for (;;) {} } })", RunStatus.TIMED_OUT),
        id="looping-proxy-result",
    ),
    pytest.param(
        Case("return { get x() { throw new Error('nope') } }", RunStatus.FAILED, message="nope"),
        id="throwing-getter-result",
    ),
    pytest.param(Case("return 1n", RunStatus.FAILED, message="BigInt"), id="bigint-result"),
    pytest.param(
        Case("throw { toString() { for (;;) {} } }", RunStatus.TIMED_OUT), id="thrown-object-looping-tostring"
    ),
    pytest.param(
        Case(
            "const e = new Error('x');"
            " Object.defineProperty(e, 'message', { get() { for (;;) {} } }); throw e",
            RunStatus.TIMED_OUT,
        ),
        id="error-looping-message-getter",
    ),
    pytest.param(Case("throw 42", RunStatus.FAILED, message="uncaught number: 42"), id="thrown-number"),
    # BigInt and ReDoS bombs.
    pytest.param(
        Case("let x = 3n; for (;;) x = x * x", RunStatus.FAILED, message="BigInt is too large"),
        id="bigint-squaring-bomb",
    ),
    pytest.param(Case("return /(a+)+$/.test('a'.repeat(40) + 'b')", RunStatus.TIMED_OUT), id="redos"),
    # Timers.
    pytest.param(
        Case("setTimeout(() => { for (;;) {} }, 0); return 'early'", RunStatus.SUCCEEDED, '"early"'),
        id="timer-after-return",
    ),
    pytest.param(
        Case("await new Promise(r => setTimeout(r, 1e9)); return 1", RunStatus.TIMED_OUT),
        id="timer-beyond-timeout",
    ),
    pytest.param(
        Case(
            "for (let i = 0; i < 1000; i++) setTimeout(() => {}, 0)",
            RunStatus.FAILED,
            message="too many timers",
        ),
        id="timer-flood",
    ),
    pytest.param(
        Case("await new Promise(() => {})", RunStatus.FAILED, message="never settled"), id="never-settles"
    ),
    # fetch through the real safe fetcher: private addresses and other schemes refused, limit counted.
    pytest.param(
        Case(f"return (await fetch('{PRIVATE_URL}')).status", RunStatus.FAILED, message="may not reach"),
        id="fetch-private-address",
    ),
    pytest.param(
        Case("return (await fetch('http://example.com/')).status", RunStatus.FAILED, message="http"),
        id="fetch-plain-http",
    ),
    pytest.param(
        Case("return (await fetch('file:///etc/passwd')).status", RunStatus.FAILED), id="fetch-file-scheme"
    ),
    pytest.param(
        Case(
            "const out = []; for (let i = 0; i < 4; i++) { try { await fetch('" + PRIVATE_URL + "') }"
            " catch (e) { out.push(e.code || 'limit') } } return out",
            RunStatus.SUCCEEDED,
            '["forbidden","forbidden","limit","limit"]',
        ),
        id="fetch-beyond-limit",
    ),
    pytest.param(Case("return {", RunStatus.FAILED, message="expecting"), id="syntax-error"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(pki: OraclePKI) -> AsyncIterator[SandboxPool]:
    """Two processes, their fetches through the enclave's safe fetcher with its default policy."""
    async with SafeFetcher(FetchPolicy(fail_on_status=False), ssl_context=pki.client_context()) as fetcher:
        sandbox = SandboxPool(
            2,
            maximums=POOL_MAXIMUMS,
            bridge=SafeFetcherBridge(fetcher),
            grace_seconds=GRACE_SECONDS,
        )
        async with sandbox:
            yield sandbox


async def _run(pool: SandboxPool, source: str, limits: RunLimits = LIMITS) -> tuple[RunResult, float]:
    started = time.monotonic()
    result = await pool.run(RunRequest(source, args={"n": 21}, secrets=SECRETS, limits=limits))
    return result, time.monotonic() - started


@pytest.mark.parametrize("case", CASES)
async def test_a_hostile_function_is_contained(pool: SandboxPool, case: Case) -> None:
    limits = LIMITS if case.status is RunStatus.TIMED_OUT else SAFETY_NET_LIMITS
    result, seconds = await _run(pool, case.source, limits)
    assert result.status is case.status, (result.status, result.error)
    assert seconds < margin_seconds(limits)
    if case.result is not None:
        assert result.result == case.result
    if case.message is not None:
        assert result.error is not None
        assert case.message in result.error.message
    if result.error is not None:
        # The JavaScript error only: never a Python traceback or a host path.
        assert "Traceback" not in result.error.stack + result.error.message
        assert "/work" not in result.error.stack + result.error.message
    assert len(result.logs.encode()) <= LIMITS.max_log_bytes
    benign, _ = await _run(pool, BENIGN)
    assert benign.status is RunStatus.SUCCEEDED, benign.error
    assert benign.result == BENIGN_RESULT


async def test_the_suite_has_at_least_forty_hostile_functions() -> None:
    assert len(CASES) >= 40


async def test_logs_are_cut_at_the_limit_and_marked(pool: SandboxPool) -> None:
    result, _ = await _run(pool, "for (let i = 0; i < 1e4; i++) console.log('line', i); return 1")
    assert result.logs_truncated
    assert result.logs.startswith("log: line 0\nlog: line 1\n")
    assert 0 < len(result.logs.encode()) <= LIMITS.max_log_bytes


async def test_a_limit_breach_replaces_the_process(pool: SandboxPool) -> None:
    before, replaced = pool.pids(), pool.replaced
    result, _ = await _run(pool, "while (true) {}")
    assert result.status is RunStatus.TIMED_OUT
    assert pool.replaced == replaced + 1
    benign, _ = await _run(pool, BENIGN)
    assert benign.result == BENIGN_RESULT
    await pool.replenished()
    assert pool.pids() != before
    assert len(pool.pids()) == pool.size


async def test_a_killed_process_is_reported_and_replaced(pool: SandboxPool) -> None:
    # A process that dies mid-run (here SIGKILL from outside, as the OOM killer would): the run is
    # reported, the enclave goes on, the next run is served by a new process.
    victim_run = asyncio.create_task(_run(pool, "while (true) {}"))
    await asyncio.sleep(0.2)
    for pid in pool.pids():
        os.kill(pid, signal.SIGKILL)
    result, seconds = await victim_run
    assert result.status is RunStatus.CRASHED
    assert seconds < margin_seconds(LIMITS)
    for _ in range(3):
        benign, _ = await _run(pool, BENIGN)
        if benign.status is RunStatus.SUCCEEDED:
            break
    assert benign.result == BENIGN_RESULT


async def test_other_runs_are_served_while_a_hostile_one_loops(pool: SandboxPool) -> None:
    hostile = asyncio.create_task(_run(pool, "while (true) {}"))
    await asyncio.sleep(0.05)
    benign = await asyncio.gather(*(_run(pool, BENIGN) for _ in range(5)))
    assert all(r.result == BENIGN_RESULT for r, _ in benign)
    result, _ = await hostile
    assert result.status is RunStatus.TIMED_OUT
