"""Token-bucket rate limits, per API key and per account.

In-process by default; with ``NSL_REDIS_URL`` the buckets live in Redis (one atomic Lua script per
request for all its buckets, using the Redis server's clock) so that every API replica draws from the
same bucket. A request takes a token from its key's bucket and its account's, or from neither: a
refused request costs the caller nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from neo_service_layer.constants import RATE_LIMIT_REDIS_PREFIX
from neo_service_layer.errors import ServiceUnavailable

MAX_LOCAL_BUCKETS = 100_000

# KEYS = buckets; ARGV = rate per second and burst of each, in order. Takes one token from every bucket,
# or from none: returns 0 when all were taken, else {index (1-based), milliseconds to wait} of the first
# bucket short of a token. One script call for all buckets: one round trip, atomic across replicas.
_BUCKETS_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local levels = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) / rate * 1000)}
  end
  levels[i] = tokens
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    name: str
    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first bucket that had no token (its index in the call) and the seconds until it has one."""

    index: int
    wait: float


class RateLimiter(Protocol):
    async def acquire_all(self, buckets: Sequence[Bucket]) -> Refusal | None:
        """Take one token from every bucket, or from none: None if taken, else the first refusal."""
        ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """Buckets in this process's memory (one replica, or tests)."""

    def __init__(self) -> None:
        # Guarded by the event loop: acquire_all() never awaits between read and write.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def acquire_all(self, buckets: Sequence[Bucket]) -> Refusal | None:
        now = time.monotonic()
        levels = []
        for index, bucket in enumerate(buckets):
            tokens, stamp = self._buckets.get(bucket.name, (float(bucket.burst), now))
            tokens = min(float(bucket.burst), tokens + (now - stamp) * bucket.rate)
            if tokens < 1:
                return Refusal(index, (1 - tokens) / bucket.rate)
            levels.append(tokens)
        for bucket, tokens in zip(buckets, levels, strict=True):
            self._buckets.pop(bucket.name, None)  # re-inserted last: the least recently used go first
            self._buckets[bucket.name] = (tokens - 1, now)
        while len(self._buckets) > MAX_LOCAL_BUCKETS:
            self._buckets.popitem(last=False)
        return None

    async def close(self) -> None:
        self._buckets.clear()


_Call = tuple[list[str], list[float | int], "asyncio.Future[Any]"]


class RedisRateLimiter:
    """Buckets shared by every replica through Redis.

    Auto-pipelined: the checks of every request that reaches the limiter within one turn of the event
    loop go to Redis as one pipeline (one write, one read, one connection) instead of one round trip
    each. Each check is still its own script, which Redis runs atomically and in order, so the limits
    are exactly those of one call per check; a pipeline is not a transaction, and one check's refusal
    or error is only its own."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._script = self._redis.register_script(_BUCKETS_LUA)
        # Guarded by the event loop: appended by acquire_all, taken whole by the flush it scheduled.
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def acquire_all(self, buckets: Sequence[Bucket]) -> Refusal | None:
        """As :meth:`RateLimiter.acquire_all`; ServiceUnavailable (503) while Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Any] = loop.create_future()
        if not self._pending:  # the first check of this turn schedules the pipeline of them all
            loop.call_soon(self._flush)
        self._pending.append(
            (
                [f"{RATE_LIMIT_REDIS_PREFIX}{bucket.name}" for bucket in buckets],
                [value for bucket in buckets for value in (bucket.rate, bucket.burst)],
                result,
            )
        )
        try:
            reply = await result
        except RedisError as exc:
            # Fail closed: without the shared bucket no replica can tell whether the caller is over.
            raise ServiceUnavailable("the rate limiter (Redis) is unavailable") from exc
        if not isinstance(reply, list):
            return None
        index, wait_ms = reply
        return Refusal(int(index) - 1, int(wait_ms) / 1000)

    def _flush(self) -> None:
        calls, self._pending = self._pending, []
        task = asyncio.create_task(self._run(calls), name="nsl-rate-limit-pipeline")
        self._flushes.add(task)  # a reference until it ends: the loop keeps only weak ones
        task.add_done_callback(self._flushes.discard)

    async def _run(self, calls: list[_Call]) -> None:
        replies: list[Any] = [RedisError("the rate limiter's pipeline was cancelled")] * len(calls)
        try:
            replies = await self._pipeline(calls)
            missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # Redis lost its scripts (a restart, SCRIPT FLUSH): load it, run those again
                await self._redis.script_load(_BUCKETS_LUA)
                for n, reply in zip(missing, await self._pipeline([calls[n] for n in missing]), strict=True):
                    replies[n] = reply
        except RedisError as exc:
            replies = [exc] * len(calls)
        finally:  # every waiter is answered, whatever happened (a bug's exception goes on up)
            for (_, _, result), reply in zip(calls, replies, strict=True):
                if result.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(reply, Exception):
                    # One exception per waiter: a shared one would collect every waiter's traceback.
                    error = RedisError(str(reply))
                    error.__cause__ = reply
                    result.set_exception(error)
                else:
                    result.set_result(reply)

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        if len(calls) == 1:  # a pipeline of one costs more client work than the call itself
            keys, args, _ = calls[0]
            try:
                return [await self._redis.evalsha(self._script.sha, len(keys), *keys, *args)]
            except NoScriptError as exc:
                return [exc]
        pipe = self._redis.pipeline(transaction=False)
        for keys, args, _ in calls:
            pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await asyncio.gather(*self._flushes, return_exceptions=True)  # answer the checks under way
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis-backed when a URL is configured, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
