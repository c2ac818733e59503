"""Token-bucket rate limits, per API key and per account.

In-process by default; with ``NSL_REDIS_URL`` the buckets live in Redis (one atomic Lua script per
check, using the Redis server's clock) so that every API replica draws from the same bucket.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from neo_service_layer.constants import RATE_LIMIT_REDIS_PREFIX
from neo_service_layer.errors import ServiceUnavailable

MAX_LOCAL_BUCKETS = 100_000

# KEYS[1] = bucket; ARGV = rate per second, burst. Returns milliseconds to wait (0 = allowed).
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait_ms
"""


class RateLimiter(Protocol):
    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        """Take one token from ``bucket``; return 0 if allowed, else the seconds until one is free."""
        ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """Buckets in this process's memory (one replica, or tests)."""

    def __init__(self) -> None:
        # Guarded by the event loop: acquire() never awaits between read and write.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(bucket, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self._buckets[bucket] = (tokens, now)
        if len(self._buckets) > MAX_LOCAL_BUCKETS:
            self._buckets.popitem(last=False)
        return wait

    async def close(self) -> None:
        self._buckets.clear()


class RedisRateLimiter:
    """Buckets shared by every replica through Redis."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._script = self._redis.register_script(_BUCKET_LUA)

    async def acquire(self, bucket: str, rate: float, burst: int) -> float:
        """As :meth:`RateLimiter.acquire`; ServiceUnavailable (503) while Redis cannot be reached."""
        try:
            wait_ms = await self._script(keys=[f"{RATE_LIMIT_REDIS_PREFIX}{bucket}"], args=[rate, burst])
        except RedisError as exc:
            # Fail closed: without the shared bucket no replica can tell whether the caller is over.
            raise ServiceUnavailable("the rate limiter (Redis) is unavailable") from exc
        return int(wait_ms) / 1000

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis-backed when a URL is configured, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
