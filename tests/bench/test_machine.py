"""bench/machine.py: the machine's own scale-out ceiling, a CPU loop in N processes at once."""

from __future__ import annotations

import pytest

from bench.machine import MIN_SECONDS, cpu_loop_rates, scale_out


def test_each_process_reports_its_own_rate() -> None:
    rates = cpu_loop_rates(2, MIN_SECONDS)
    assert len(rates) == 2
    # Thousands of iterations a second at the very least on any machine that runs the suite.
    assert all(rate > 10_000 for rate in rates)


def test_the_speed_up_of_one_process_over_one_is_about_one() -> None:
    # Two windows of the same single loop, one after the other: never twice or half the other.
    assert 0.5 < scale_out(1, MIN_SECONDS) < 2.0


@pytest.mark.parametrize(("processes", "seconds"), [(0, 1.0), (1, MIN_SECONDS / 2)])
def test_nonsense_is_refused(processes: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="processes must be at least 1"):
        cpu_loop_rates(processes, seconds)
