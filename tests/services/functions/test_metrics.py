"""The run metrics' incremental read (``services.functions.metrics``) on a real database: after every
scrape its sample equals a full count of the table, each run is counted once, and a run that ends long
after its id was made is counted when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from neo_service_layer.db.models import Account
from neo_service_layer.db.session import Database
from neo_service_layer.ids import IdPrefix, id_floor
from neo_service_layer.services.functions.metrics import (
    DURATION_BUCKETS,
    SETTLE_LAG,
    FunctionRunsCollector,
    RunsSample,
    ended_runs,
)
from neo_service_layer.services.functions.models import Function, FunctionRun

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ACCOUNT = "acct_01METRICS"


def _run_id(made: datetime, n: int) -> str:
    """A run id as ``new_id`` would have made it at ``made`` (``n`` stands for its random part)."""
    return f"{id_floor(IdPrefix.FUNCTION_RUN, int(made.timestamp() * 1000))[:-4]}{n:04d}"


async def _add_runs(db: Database, *runs: tuple[datetime, int, str, int | None]) -> list[str]:
    ids = []
    async with db.transaction() as session:
        for made, n, status, duration_ms in runs:
            ids.append(_run_id(made, n))
            session.add(
                FunctionRun(
                    id=ids[-1],
                    account_id=ACCOUNT,
                    function_id="fn_01METRICS",
                    version=1,
                    status=status,
                    mode="sync",
                    logs="",
                    logs_truncated=False,
                    fetches=0,
                    duration_ms=duration_ms,
                    created_at=made,
                )
            )
    return ids


async def _full_count(db: Database) -> RunsSample:
    async with db.session() as session:
        return await ended_runs(session)


async def _scrape(db: Database, collector: FunctionRunsCollector, now: datetime) -> RunsSample:
    async with db.session() as session:
        await collector.refresh(session, now)
    return collector.sample


async def test_each_scrape_equals_a_full_count_and_counts_every_run_once(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Account(id=ACCOUNT, name="metrics"))
        await session.flush()
        session.add(
            Function(
                id="fn_01METRICS",
                account_id=ACCOUNT,
                name="f",
                live_name="f",
                version=1,
                limits={},
                allowed_domains=[],
                secrets=[],
            )
        )
    hour_ago = NOW - timedelta(hours=1)
    [_, _, _, waiting, _] = await _add_runs(
        db,
        (hour_ago, 1, "succeeded", 3),
        (hour_ago, 2, "succeeded", 400),
        (hour_ago, 3, "failed", None),
        (hour_ago, 4, "queued", None),  # its worker has been away for an hour
        (NOW - timedelta(seconds=1), 5, "succeeded", 7),
    )
    collector = FunctionRunsCollector()
    first = await _scrape(db, collector, NOW)
    assert first == await _full_count(db)
    assert dict(first.by_status) == {"succeeded": 3, "failed": 1}
    assert (first.timed, first.total_ms) == (3, 410)
    by_bound = dict(zip(DURATION_BUCKETS, first.buckets, strict=True))
    assert (by_bound[0.001], by_bound[0.005], by_bound[0.01], by_bound[0.25], by_bound[0.5]) == (
        0,
        1,
        2,
        2,
        3,
    )
    # The queued run holds the frontier back: it is counted when it ends, an hour after its id was made.
    async with db.transaction() as session:
        await session.execute(
            update(FunctionRun)
            .where(FunctionRun.id == waiting)
            .values(status="timed_out", duration_ms=60_000)
        )
    later = NOW + SETTLE_LAG * 2
    second = await _scrape(db, collector, later)
    assert second == await _full_count(db)
    assert dict(second.by_status) == {"succeeded": 3, "failed": 1, "timed_out": 1}
    assert await _scrape(db, collector, later) == second  # nothing counted twice
    await _add_runs(db, (later, 6, "crashed", 5))
    third = await _scrape(db, collector, later + timedelta(seconds=1))
    assert dict(third.by_status) == {"succeeded": 3, "failed": 1, "timed_out": 1, "crashed": 1}
    assert third == await _full_count(db)
    # Another process (a fresh collector) reads the same numbers from scratch.
    assert await _scrape(db, FunctionRunsCollector(), later + timedelta(seconds=1)) == third
