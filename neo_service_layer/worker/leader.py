"""Leadership through a row of the ``leases`` table: at most one live owner per name.

A lease is held until ``expires_at``; the holder renews it well before then (every third of its
length), and anyone may take it over once it has expired — that is how a crashed leader is
replaced. Acquire, renew and takeover are one atomic upsert (``INSERT … ON CONFLICT DO UPDATE …
WHERE``), whose ``WHERE`` lets the update through only for the owner or over an expired lease:

* PostgreSQL runs the conflict check and the update under the row lock, re-reading the newest
  row version, so of two contenders for an expired lease exactly one sees it expired
  (https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT).
* SQLite serializes writers (``BEGIN IMMEDIATE``, db/session.py), so the same statement cannot
  interleave at all.

A lease is a liveness tool, not a perfect mutex: a leader that stalls longer than the lease may
act after being replaced. Whatever a leader does must therefore also be safe twice (the scheduler
enqueues with idempotency keys).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.dialects import postgresql, sqlite

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Lease
from neo_service_layer.db.session import Database
from neo_service_layer.worker.queue import Clock

MAX_OWNER_CHARS = 100  # leases.owner is String(100)


class LeaderLease:
    """A named lease that this process (``owner``) tries to hold."""

    def __init__(
        self, db: Database, name: str, owner: str, *, ttl_seconds: float, clock: Clock = utcnow
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if len(owner) > MAX_OWNER_CHARS:
            raise ValueError(f"owner longer than {MAX_OWNER_CHARS} characters")
        self._db = db
        self.name = name
        self.owner = owner
        self.ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if we hold it; True if we hold it now."""
        now = self._clock()
        values = {"name": self.name, "owner": self.owner, "expires_at": now + self.ttl}
        insert = postgresql.insert(Lease) if not self._db.is_sqlite else sqlite.insert(Lease)
        statement = (
            insert.values(values)
            .on_conflict_do_update(
                index_elements=[Lease.name],
                set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at},
                where=or_(Lease.owner == self.owner, Lease.expires_at < now),
            )
            # A row comes back only when the insert or the update happened, i.e. when we won.
            .returning(Lease.owner)
        )
        async with self._db.transaction() as session:
            won = (await session.execute(statement)).scalars().all()
        return len(won) == 1

    async def release(self) -> bool:
        """Give the lease up at once (clean shutdown) so a successor need not wait for expiry.

        Only the owner's row is deleted; True if we held it.
        """
        statement = (
            delete(Lease)
            .where(Lease.name == self.name, Lease.owner == self.owner)
            .returning(Lease.name)
            .execution_options(synchronize_session=False)
        )
        async with self._db.transaction() as session:
            deleted = (await session.execute(statement)).scalars().all()
        return len(deleted) == 1

    async def holder(self) -> str | None:
        """The owner of an unexpired lease, or None."""
        async with self._db.transaction() as session:
            lease = await session.get(Lease, self.name)
        if lease is None or lease.expires_at < self._clock():
            return None
        return lease.owner
