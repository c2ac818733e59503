"""api/gc_tuning.py: a serving API process freezes what it started with and collects its young objects
less often; cycles are still collected, and stopping gives everything back."""

from __future__ import annotations

import gc
import weakref

import pytest
from fastapi import FastAPI

from neo_service_layer.api.app import create_app
from neo_service_layer.api.gc_tuning import YOUNG_THRESHOLD, tuned_for_serving
from neo_service_layer.config import Settings


class _Node:
    """A container the collector tracks, to build a reference cycle with."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def _dropped_cycle() -> weakref.ref[_Node]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)  # the cycle is unreachable once this returns: only the collector frees it


@pytest.fixture
def untuned() -> tuple[int, int, int]:
    """The thresholds before the test, checked to be the process's own (no app left serving)."""
    before = gc.get_threshold()
    assert before[0] != YOUNG_THRESHOLD
    return before


def test_serving_freezes_the_process_and_raises_the_young_threshold(untuned: tuple[int, int, int]) -> None:
    frozen_before = gc.get_freeze_count()
    with tuned_for_serving():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *untuned[1:])
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == untuned
    assert gc.get_freeze_count() == frozen_before == 0


def test_cycles_made_while_serving_are_still_collected_on_their_own(untuned: tuple[int, int, int]) -> None:
    with tuned_for_serving():
        cycle = _dropped_cycle()
        assert cycle() is not None  # reference counting alone cannot free a cycle
        # More tracked allocations than the young threshold, all kept alive: a collection must run.
        kept: list[list[object]] = [[] for _ in range(YOUNG_THRESHOLD * 2)]
        assert cycle() is None
        del kept
    assert gc.get_threshold() == untuned


def test_the_block_gives_everything_back_when_it_fails(untuned: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError, match="boom"), tuned_for_serving():
        raise RuntimeError("boom")
    assert gc.get_threshold() == untuned
    assert gc.get_freeze_count() == 0


async def test_the_api_is_tuned_while_it_serves_and_not_after(
    settings: Settings, untuned: tuple[int, int, int]
) -> None:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 10_000  # the app's modules, routes and state, at least
    assert gc.get_threshold() == untuned
    assert gc.get_freeze_count() == 0
