"""Leader leases over the ``leases`` table: one live owner, takeover after expiry, owner-only renewal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from neo_service_layer.db.models import Lease
from neo_service_layer.db.session import Database
from neo_service_layer.worker.leader import LeaderLease
from tests.worker.helpers import FakeClock

TTL = 30.0


def lease(db: Database, owner: str, clock: FakeClock, name: str = "singleton") -> LeaderLease:
    return LeaderLease(db, name, owner, ttl_seconds=TTL, clock=clock)


async def stored_lease(db: Database, name: str = "singleton") -> Lease | None:
    async with db.transaction() as session:
        return await session.get(Lease, name)


async def test_concurrent_contenders_elect_exactly_one_leader(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    contenders = [lease(db if n % 2 else other_db, f"owner-{n}", clock) for n in range(8)]
    won = await asyncio.gather(*(contender.try_acquire() for contender in contenders))
    assert sum(won) == 1
    winner = contenders[won.index(True)]
    assert await winner.holder() == winner.owner
    # Losing contenders keep losing while the lease is live; the winner keeps renewing.
    again = await asyncio.gather(*(contender.try_acquire() for contender in contenders))
    assert again == won


async def test_owner_renews_and_the_expiry_moves(db: Database, clock: FakeClock) -> None:
    mine = lease(db, "me", clock)
    assert await mine.try_acquire()
    clock.advance(TTL / 2)
    assert await mine.try_acquire()
    stored = await stored_lease(db)
    assert stored is not None
    assert stored.expires_at == clock.now + timedelta(seconds=TTL)


async def test_non_owner_cannot_renew_or_take_a_live_lease(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    assert await lease(db, "leader", clock).try_acquire()
    before = await stored_lease(db)
    clock.advance(TTL - 0.001)
    intruder = lease(other_db, "intruder", clock)
    assert not await intruder.try_acquire()
    after = await stored_lease(db)
    assert after is not None
    assert before is not None
    assert (after.owner, after.expires_at) == ("leader", before.expires_at)
    assert await intruder.holder() == "leader"


async def test_expired_lease_is_taken_over_and_the_old_owner_cannot_renew(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    old, new = lease(db, "old-leader", clock), lease(other_db, "new-leader", clock)
    assert await old.try_acquire()
    clock.advance(TTL + 1)
    assert await old.holder() is None
    assert await new.try_acquire()
    assert not await old.try_acquire(), "the replaced leader renewed a lease it no longer owns"
    assert await old.holder() == "new-leader"


async def test_concurrent_takeover_of_an_expired_lease_has_one_winner(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    assert await lease(db, "crashed", clock).try_acquire()
    clock.advance(TTL + 1)
    contenders = [lease(db if n % 2 else other_db, f"successor-{n}", clock) for n in range(6)]
    won = await asyncio.gather(*(contender.try_acquire() for contender in contenders))
    assert sum(won) == 1
    assert await contenders[0].holder() == contenders[won.index(True)].owner


async def test_release_frees_the_lease_at_once_and_only_for_the_owner(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    leader, successor = lease(db, "leader", clock), lease(other_db, "successor", clock)
    assert await leader.try_acquire()
    assert not await successor.release(), "a non-owner released the lease"
    assert await leader.holder() == "leader"
    assert await leader.release()
    assert await stored_lease(db) is None
    assert await successor.try_acquire()
    assert not await leader.release()


async def test_leases_of_different_names_are_independent(db: Database, clock: FakeClock) -> None:
    assert await lease(db, "a", clock, name="one").try_acquire()
    assert await lease(db, "b", clock, name="two").try_acquire()
    assert not await lease(db, "b", clock, name="one").try_acquire()
