"""Capped exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS 2015)."""

from __future__ import annotations

import pytest

from neo_service_layer.worker.backoff import SYSTEM_UNIFORM, Uniform, backoff_ceiling, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "expected"),
    [
        (1, 1.0, 300.0, 1.0),
        (2, 1.0, 300.0, 2.0),
        (3, 1.0, 300.0, 4.0),
        (9, 1.0, 300.0, 256.0),
        (10, 1.0, 300.0, 300.0),
        (4, 0.5, 300.0, 4.0),
        (3, 0.0, 300.0, 0.0),
        (1, 10.0, 5.0, 5.0),
        (10_000, 1.0, 300.0, 300.0),
    ],
    ids=[
        "first-retry-is-base",
        "doubles",
        "doubles-again",
        "below-cap",
        "capped",
        "fractional-base",
        "zero-base",
        "cap-below-base",
        "huge-attempt-no-overflow",
    ],
)
def test_backoff_ceiling(attempt: int, base: float, cap: float, expected: float) -> None:
    assert backoff_ceiling(attempt, base=base, cap=cap) == expected


@pytest.mark.parametrize(
    ("attempt", "base", "cap"),
    [(0, 1.0, 10.0), (-1, 1.0, 10.0), (1, -1.0, 10.0), (1, 1.0, -1.0)],
    ids=["attempt-zero", "attempt-negative", "base-negative", "cap-negative"],
)
def test_backoff_rejects_invalid_arguments(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="must"):
        backoff_ceiling(attempt, base=base, cap=cap)


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        (lambda low, high: low, 0.0),
        (lambda low, high: high, 8.0),
        (lambda low, high: (low + high) / 2, 4.0),
        (lambda low, high: high + 1.0, 8.0),
        (lambda low, high: low - 1.0, 0.0),
    ],
    ids=["draw-low-is-zero", "draw-high-is-ceiling", "draw-middle", "clamped-above", "clamped-below"],
)
def test_full_jitter_draws_between_zero_and_ceiling(draw: Uniform, expected: float) -> None:
    assert backoff_delay(4, base=1.0, cap=300.0, uniform=draw) == expected


def test_system_jitter_stays_in_bounds_and_varies() -> None:
    ceiling = backoff_ceiling(5, base=1.0, cap=300.0)
    delays = [backoff_delay(5, base=1.0, cap=300.0, uniform=SYSTEM_UNIFORM) for _ in range(200)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    # Full jitter spreads retries over the window; 200 equal draws would mean no jitter at all.
    assert len(set(delays)) > 100
    assert min(delays) < ceiling / 2 < max(delays)
