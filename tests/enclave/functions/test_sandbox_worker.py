"""The sandbox worker's run loop, in this process (``run_once`` only: ``confine`` and ``serve`` set
rlimits and a seccomp filter, which would confine the test runner; test_sandbox_process.py covers them
in a real sandbox process)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from neo_service_layer.enclave.functions import sandbox_worker

LIMITS = {
    "timeout_ms": 300,
    "memory_mb": 16,
    "max_output_bytes": 1024,
    "max_log_bytes": 256,
    "max_fetches": 2,
    "max_fetch_response_bytes": 1024,
}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    with left, right:
        yield left, right


def _run(fd: int, source: str, **extra: Any) -> dict[str, Any]:
    request = {"type": "run", "source": source, "args": {"n": 2}, "secrets": {}, "limits": LIMITS} | extra
    return sandbox_worker.run_once(fd, request)


@pytest.mark.parametrize(
    ("source", "status"),
    [
        pytest.param("return args.n * 21", "succeeded", id="succeeded"),
        pytest.param("throw new TypeError('t')", "failed", id="thrown"),
        pytest.param("while (1) {}", "timed_out", id="loop"),
        pytest.param("await null; while (1) {}", "timed_out", id="loop-in-a-job"),
        pytest.param("const a = []; for (;;) a.push(new Array(1e5).fill(0))", "memory_exceeded", id="memory"),
        pytest.param("return 'x'.repeat(2000)", "output_too_large", id="output"),
        pytest.param(
            "setTimeout(() => { throw new Error('late') }, 1); await new Promise(() => {})",
            "failed",
            id="timer-throws",
        ),
        pytest.param("await new Promise(r => setTimeout(r, 10_000))", "timed_out", id="timer-past-deadline"),
        pytest.param("return 1 +* 2", "failed", id="syntax"),
    ],
)
def test_run_once(pair: tuple[socket.socket, socket.socket], source: str, status: str) -> None:
    assert _run(pair[0].fileno(), source)["status"] == status


def test_a_fetch_goes_to_the_peer_and_back(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    seen: list[dict[str, Any]] = []

    def peer() -> None:
        message = sandbox_worker.read_frame(right.fileno())
        assert message is not None
        seen.append(message)
        answer = {"response": {"status": 201, "headers": {"x": "y"}, "body": '{"a":1}', "url": "u"}}
        sandbox_worker.write_frame(
            right.fileno(), {"type": "fetch_result", "id": message["id"], "answer": answer}
        )

    thread = threading.Thread(target=peer)
    thread.start()
    result = _run(
        left.fileno(),
        "const r = await fetch('https://a.test/x', { method: 'post', headers: { h: 1 }, body: 2 });"
        " return [r.status, r.ok, r.headers.x, (await r.json()).a, await r.text()]",
    )
    thread.join(5)
    assert result["status"] == "succeeded"
    assert json.loads(result["result"]) == [201, True, "y", 1, '{"a":1}']
    assert result["fetches"] == 1
    assert seen[0]["request"] == {
        "url": "https://a.test/x",
        "method": "POST",
        "headers": {"h": "1"},
        "body": "2",
    }


def test_a_refused_fetch_rejects_with_its_code(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair

    def peer() -> None:
        message = sandbox_worker.read_frame(right.fileno())
        assert message is not None
        answer = {"error": {"code": "forbidden", "message": "no"}}
        sandbox_worker.write_frame(
            right.fileno(), {"type": "fetch_result", "id": message["id"], "answer": answer}
        )

    thread = threading.Thread(target=peer)
    thread.start()
    result = _run(
        left.fileno(), "try { await fetch('https://a.test/') } catch (e) { return [e.code, e.message] }"
    )
    thread.join(5)
    assert json.loads(result["result"]) == ["forbidden", "no"]


def test_the_enclave_going_away_mid_fetch_ends_the_process(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    right.shutdown(socket.SHUT_WR)
    with pytest.raises(SystemExit):
        _run(left.fileno(), "await fetch('https://a.test/')")


def test_logs_are_cut_in_the_prelude(pair: tuple[socket.socket, socket.socket]) -> None:
    result = _run(pair[0].fileno(), "for (let i = 0; i < 100; i++) console.warn(i); return 1")
    assert result["logsTruncated"] is True
    assert len(result["logs"]) <= LIMITS["max_log_bytes"]
    assert result["logs"].startswith("warn: 0\nwarn: 1\n")


def test_frames_round_trip_and_refuse_oversize(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    sandbox_worker.write_frame(left.fileno(), {"a": [1, "é"]})
    assert sandbox_worker.read_frame(right.fileno()) == {"a": [1, "é"]}
    left.sendall(sandbox_worker.HEADER.pack(sandbox_worker.MAX_FRAME + 1))
    with pytest.raises(ValueError, match="too large"):
        sandbox_worker.read_frame(right.fileno())
    left.shutdown(socket.SHUT_WR)
    assert sandbox_worker.read_frame(right.fileno()) is None
