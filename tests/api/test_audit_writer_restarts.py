"""The supervisor's restarts of the audit-writer process: a writer that keeps dying young is replaced
after a growing delay, not twice a second forever; one that served long enough is replaced at once."""

from __future__ import annotations

import pytest

from neo_service_layer.api.audit_writer import AuditWriterProcess, RestartBackoff

SPAWN_TIMEOUT_SECONDS = 60.0


@pytest.mark.parametrize(
    ("lifetimes", "delays"),
    [
        pytest.param([1.0], [0.0], id="first-death-at-once"),
        pytest.param([1.0, 1.0, 1.0, 1.0], [0.0, 0.5, 1.0, 2.0], id="doubles"),
        pytest.param([0.1] * 10, [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0], id="capped"),
        pytest.param([1.0, 1.0, 1.0, 60.0, 1.0], [0.0, 0.5, 1.0, 0.0, 0.5], id="a-healthy-life-resets"),
        pytest.param([59.9, 59.9], [0.0, 0.5], id="just-short-of-healthy"),
    ],
)
def test_restart_delays(lifetimes: list[float], delays: list[float]) -> None:
    backoff = RestartBackoff(first=0.5, most=30.0, healthy_lifetime=60.0)
    assert [backoff.delay_after(lived) for lived in lifetimes] == delays


def test_a_writer_that_dies_at_start_is_not_respawned_before_its_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A setting the writer refuses: Settings.load() fails in the spawned process, which exits at once.
    monkeypatch.setenv("NSL_PORT", "not-a-port")
    writer = AuditWriterProcess(
        healthcheck_timeout=1.0, startup_grace=SPAWN_TIMEOUT_SECONDS, backoff=RestartBackoff(first=3600.0)
    )
    try:
        writer.start()
        first = writer.process
        assert first is not None
        assert not writer.wait_until_ready()  # it died instead of answering
        assert first.exitcode not in (None, 0)
        writer.replace()  # its first early death: replaced at once
        second = writer.process
        assert second is not None
        assert second.pid != first.pid
        second.join(SPAWN_TIMEOUT_SECONDS)
        assert second.exitcode not in (None, 0)
        writer.replace()  # the second: not before an hour
        assert writer.process is None
        assert not writer.healthy()
        writer.replace()  # the supervisor's next check: still waiting
        assert writer.process is None
    finally:
        writer.stop()
    assert not writer.directory.exists()
