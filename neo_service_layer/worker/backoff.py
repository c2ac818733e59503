"""Retry delays: capped exponential backoff with "full jitter".

Full jitter draws the delay uniformly from ``[0, min(cap, base * 2 ** (attempt - 1))]``. Of the
strategies compared in Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015,
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/) it does the least total
work when many clients fail at once: retries of jobs that failed together (a dependency was down)
spread out over the whole window instead of arriving in synchronized waves.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Past this exponent the ceiling is far above any sensible cap; stopping here keeps the float finite.
_MAX_EXPONENT = 64

Uniform = Callable[[float, float], float]

# The OS generator: no seeding, and workers forked from one parent do not draw the same sequence.
SYSTEM_UNIFORM: Uniform = random.SystemRandom().uniform


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The largest delay (seconds) after failed attempt ``attempt`` (1-based).

    ``min(cap, base * 2 ** (attempt - 1))``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    exponent: int = min(attempt - 1, _MAX_EXPONENT)
    return min(cap, base * float(2**exponent))


def backoff_delay(attempt: int, *, base: float, cap: float, uniform: Uniform = SYSTEM_UNIFORM) -> float:
    """A full-jitter delay (seconds) before retrying after failed attempt ``attempt``.

    ``uniform(a, b)`` draws the value; tests pass a deterministic one.
    """
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    return min(ceiling, max(0.0, uniform(0.0, ceiling)))
