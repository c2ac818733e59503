"""``pricefeed.decide``: first round, deviation (>=), heartbeat (>=), the circuit breaker (> to trip,
confirmed by the next poll only on the same side and within the bound), at their exact boundaries."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.pricefeed.decide import Decision, Published, TriggerPolicy, decide

T0 = 1_800_000_000
LAST = Published(answer=100_000_000, observed_at=T0)  # 1.00000000
POLICY = TriggerPolicy(deviation_bps=50, heartbeat_s=3600, breaker_bps=1000)  # 0.5 %, 1 h, 10 %
NO_BREAKER = TriggerPolicy(deviation_bps=50, heartbeat_s=3600, breaker_bps=0)


def test_the_first_answer_is_published() -> None:
    assert decide(1, T0, None, None, POLICY) == Decision("publish", "first")


@pytest.mark.parametrize(
    ("answer", "elapsed", "expected"),
    [
        pytest.param(100_500_000, 10, Decision("publish", "deviation"), id="up-exactly-50-bps"),
        pytest.param(99_500_000, 10, Decision("publish", "deviation"), id="down-exactly-50-bps"),
        pytest.param(100_499_999, 10, Decision("unchanged", "within_threshold"), id="up-a-unit-under"),
        pytest.param(99_500_001, 10, Decision("unchanged", "within_threshold"), id="down-a-unit-under"),
        pytest.param(100_000_000, 10, Decision("unchanged", "within_threshold"), id="no-move"),
        pytest.param(100_000_000, 3600, Decision("publish", "heartbeat"), id="heartbeat-exactly"),
        pytest.param(
            100_000_000, 3599, Decision("unchanged", "within_threshold"), id="heartbeat-a-second-early"
        ),
        pytest.param(100_000_001, 7200, Decision("publish", "heartbeat"), id="heartbeat-small-move"),
        pytest.param(100_500_000, 7200, Decision("publish", "deviation"), id="deviation-before-heartbeat"),
        # Exactly at the breaker bound is not beyond it: a deviation, published at once.
        pytest.param(110_000_000, 10, Decision("publish", "deviation"), id="breaker-bound-exactly"),
        pytest.param(90_000_000, 10, Decision("publish", "deviation"), id="breaker-bound-exactly-down"),
        pytest.param(
            110_000_001, 10, Decision("breaker_pending", "breaker_tripped"), id="breaker-a-unit-over"
        ),
        pytest.param(89_999_999, 10, Decision("breaker_pending", "breaker_tripped"), id="breaker-down-over"),
        pytest.param(
            500_000_000, 7200, Decision("breaker_pending", "breaker_tripped"), id="breaker-before-heartbeat"
        ),
    ],
)
def test_triggers_at_their_boundaries(answer: int, elapsed: int, expected: Decision) -> None:
    assert decide(answer, T0 + elapsed, LAST, None, POLICY) == expected


@pytest.mark.parametrize(
    ("pending", "answer", "expected"),
    [
        pytest.param(120_000_000, 120_000_000, Decision("publish", "breaker_confirmed"), id="same-value"),
        # |answer - pending| <= 10 % of pending: 132,000,000 is exactly 10 % above 120,000,000.
        pytest.param(
            120_000_000, 132_000_000, Decision("publish", "breaker_confirmed"), id="within-bound-exactly"
        ),
        pytest.param(
            120_000_000, 132_000_001, Decision("breaker_pending", "breaker_tripped"), id="moved-on-again"
        ),
        pytest.param(
            120_000_000, 111_000_000, Decision("publish", "breaker_confirmed"), id="a-bit-back-still-over"
        ),
        pytest.param(
            50_000_000, 60_000_000, Decision("breaker_pending", "breaker_tripped"), id="down-moved-on"
        ),
        pytest.param(50_000_000, 52_000_000, Decision("publish", "breaker_confirmed"), id="down-confirmed"),
        # The other side of the last answer: a new jump, not a confirmation.
        pytest.param(
            50_000_000, 150_000_000, Decision("breaker_pending", "breaker_tripped"), id="other-side"
        ),
        # It went back: no breaker move any more, the ordinary rules apply (and the host drops pending).
        pytest.param(120_000_000, 100_200_000, Decision("unchanged", "within_threshold"), id="went-back"),
        pytest.param(120_000_000, 101_000_000, Decision("publish", "deviation"), id="went-back-partly"),
    ],
)
def test_a_breaker_move_needs_the_next_poll(pending: int, answer: int, expected: Decision) -> None:
    # The first poll that sees the jump only trips the breaker.
    assert decide(pending, T0 + 60, LAST, None, POLICY) == Decision("breaker_pending", "breaker_tripped")
    assert decide(answer, T0 + 120, LAST, Published(pending, T0 + 60), POLICY) == expected


def test_without_a_breaker_a_jump_is_a_deviation() -> None:
    assert decide(500_000_000, T0 + 1, LAST, None, NO_BREAKER) == Decision("publish", "deviation")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"deviation_bps": 0, "heartbeat_s": 1, "breaker_bps": 0}, "deviation_bps", id="deviation-0"
        ),
        pytest.param(
            {"deviation_bps": 1, "heartbeat_s": 0, "breaker_bps": 0}, "heartbeat_s", id="heartbeat-0"
        ),
        pytest.param(
            {"deviation_bps": 50, "heartbeat_s": 1, "breaker_bps": 50}, "breaker_bps", id="breaker-at-dev"
        ),
        pytest.param(
            {"deviation_bps": 50, "heartbeat_s": 1, "breaker_bps": -1}, "breaker_bps", id="breaker-negative"
        ),
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TriggerPolicy(**kwargs)


@pytest.mark.parametrize(
    ("last", "pending"),
    [
        pytest.param(Published(0, T0), None, id="last-zero"),
        pytest.param(LAST, Published(-5, T0), id="pending-negative"),
    ],
)
def test_a_non_positive_published_answer_is_refused(last: Published, pending: Published | None) -> None:
    with pytest.raises(ValueError, match="positive"):
        decide(1, T0, last, pending, POLICY)


answers = st.integers(min_value=1, max_value=2**53 - 1)


@settings(max_examples=200, deadline=None)
@given(answer=answers, last=answers, elapsed=st.integers(0, 10_000), deviation=st.integers(1, 2_000))
def test_publishes_exactly_when_the_rational_move_reaches_the_threshold(
    answer: int, last: int, elapsed: int, deviation: int
) -> None:
    policy = TriggerPolicy(deviation_bps=deviation, heartbeat_s=3600, breaker_bps=0)
    decision = decide(answer, T0 + elapsed, Published(last, T0), None, policy)
    move_bps = Fraction(abs(answer - last) * 10_000, last)
    if move_bps >= deviation:
        assert decision == Decision("publish", "deviation")
    elif elapsed >= 3600:
        assert decision == Decision("publish", "heartbeat")
    else:
        assert decision == Decision("unchanged", "within_threshold")
