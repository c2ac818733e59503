"""Whether a round's answer becomes a new on-chain round: deviation, heartbeat and the circuit breaker.

Chainlink's Data Feeds publish when the price moves by at least the deviation threshold from the last
published answer, or when the heartbeat has elapsed since it (docs.chain.link, "Data Feeds: deviation
threshold and heartbeat"). Here, in order (issue 15 items 3-4; the price-feed design's ``decide``):

1. no answer published yet → ``publish`` / ``first``;
2. with a breaker (``breaker_bps > 0``), a move of more than ``breaker_bps`` from the last answer is
   published only when the previous poll saw it too: ``pending`` (the value the host stored at that
   poll) on the same side of the last answer and within ``breaker_bps`` of this answer →
   ``publish`` / ``breaker_confirmed``; else ``breaker_pending`` / ``breaker_tripped`` (the host
   stores this answer as the next poll's ``pending``). A price that went back is judged by the rules
   below as any other;
3. a move of at least ``deviation_bps`` → ``publish`` / ``deviation``;
4. at least ``heartbeat_s`` since the last answer was observed → ``publish`` / ``heartbeat``;
5. else ``unchanged`` / ``within_threshold``.

The bounds are compared as exact rationals, cross-multiplied in integers: ``|a - last| / last >= d /
10^4`` is ``|a - last| · 10^4 >= d · last`` (last > 0). No float, no rounding at a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

BPS: Final = 10_000

type Action = Literal["publish", "unchanged", "breaker_pending"]
type Reason = Literal[
    "first", "deviation", "heartbeat", "breaker_confirmed", "within_threshold", "breaker_tripped"
]


@dataclass(frozen=True, slots=True)
class Published:
    """An answer and when the enclave observed it (Unix seconds): the last round, or a pending value."""

    answer: int
    observed_at: int


@dataclass(frozen=True, slots=True)
class TriggerPolicy:
    """When to publish; ValueError for rules that make no sense (a threshold <= 0, a breaker at or
    below the deviation threshold, which would hold back moves that are no jump at all)."""

    deviation_bps: int
    heartbeat_s: int
    breaker_bps: int  # 0 = no breaker

    def __post_init__(self) -> None:
        if self.deviation_bps < 1:
            raise ValueError("deviation_bps must be positive")
        if self.heartbeat_s < 1:
            raise ValueError("heartbeat_s must be positive")
        if self.breaker_bps != 0 and self.breaker_bps <= self.deviation_bps:
            raise ValueError("breaker_bps must be 0 (no breaker) or above deviation_bps")


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: Reason


def _beyond(answer: int, reference: int, bps: int) -> bool:
    """``|answer - reference| / reference > bps / 10^4``, exactly (reference > 0)."""
    return abs(answer - reference) * BPS > bps * reference


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def decide(
    answer: int, now: int, last: Published | None, pending: Published | None, policy: TriggerPolicy
) -> Decision:
    """What to do with this poll's ``answer`` (module docstring)."""
    if last is None:
        return Decision("publish", "first")
    if last.answer <= 0 or (pending is not None and pending.answer <= 0):
        # Published answers are prices (aggregate makes them from positive medians): a ratio needs > 0.
        raise ValueError("a published or pending answer must be positive")
    if policy.breaker_bps and _beyond(answer, last.answer, policy.breaker_bps):
        confirmed = (
            pending is not None
            and _sign(pending.answer - last.answer) == _sign(answer - last.answer)
            and not _beyond(answer, pending.answer, policy.breaker_bps)
        )
        return (
            Decision("publish", "breaker_confirmed")
            if confirmed
            else Decision("breaker_pending", "breaker_tripped")
        )
    if abs(answer - last.answer) * BPS >= policy.deviation_bps * last.answer:
        return Decision("publish", "deviation")
    if now - last.observed_at >= policy.heartbeat_s:
        return Decision("publish", "heartbeat")
    return Decision("unchanged", "within_threshold")
