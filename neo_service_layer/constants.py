"""Storage and cache key prefixes, in one place so that no two features collide."""

from __future__ import annotations

RATE_LIMIT_REDIS_PREFIX = "nsl:rl:"
JWT_KEY_FILENAME = "jwt-signing-key.pem"
DATABASE_FILENAME = "nsl.db"
SCHEDULER_LEASE = "scheduler"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
