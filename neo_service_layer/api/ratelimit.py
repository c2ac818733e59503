"""Token-bucket rate limits, per API key and per account.

In-process by default; with ``NSL_REDIS_URL`` the buckets live in Redis (one atomic Lua script call
for all the buckets of every check of an event-loop turn, using the Redis server's clock) so that every
API replica draws from the same bucket. A request takes a token from its key's bucket and its account's,
or from neither: a refused request costs the caller nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from neo_service_layer.constants import RATE_LIMIT_REDIS_PREFIX
from neo_service_layer.errors import ServiceUnavailable

MAX_LOCAL_BUCKETS = 100_000

# One call for every check of an event-loop turn. ARGV[1] = the number of checks; then, per check, its
# number of buckets n and n pairs (rate per second, burst); KEYS = every check's buckets, in order. Each
# check takes one token from every one of its buckets or from none, in order, as if it were its own call
# (the script is atomic, so the checks are too). Returns two integers per check: 0, 0 when all were taken,
# else the index (1-based) of the first bucket short of a token and the milliseconds until it has one.
# A call's checks mostly share a few buckets (a busy key's and its account's), so each distinct bucket
# is read once and, if a check took from it, written once at the end with its last state and expiry:
# three commands per bucket of every check were most of what the script cost Redis (docs/performance.md,
# "Tenth round"); what remains per check is the script's own argument handling and arithmetic.
_CHECKS_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local stored, stamp, ttl, written = {}, {}, {}, {}
local out = {}
local k = 0
local a = 2
for c = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local levels = {}
  local refused, wait = 0, 0
  for i = 1, n do
    local key = KEYS[k + i]
    local rate = tonumber(ARGV[a + 2 * i - 1])
    local burst = tonumber(ARGV[a + 2 * i])
    if stamp[key] == nil then
      local state = redis.call('HMGET', key, 'tokens', 'ts')
      stored[key] = tonumber(state[1]) or burst
      stamp[key] = tonumber(state[2]) or now
    end
    local tokens = math.min(burst, stored[key] + math.max(0, now - stamp[key]) * rate)
    if tokens < 1 then
      refused, wait = i, math.ceil((1 - tokens) / rate * 1000)
      break
    end
    levels[i] = tokens
  end
  if refused == 0 then
    for i = 1, n do
      local key = KEYS[k + i]
      if ttl[key] == nil then
        written[#written + 1] = key
      end
      stored[key], stamp[key] = levels[i] - 1, now
      ttl[key] = math.ceil(tonumber(ARGV[a + 2 * i]) / tonumber(ARGV[a + 2 * i - 1]) * 1000) + 1000
    end
  end
  out[2 * c - 1] = refused
  out[2 * c] = wait
  k = k + n
  a = a + 1 + 2 * n
end
for _, key in ipairs(written) do
  redis.call('HSET', key, 'tokens', tostring(stored[key]), 'ts', tostring(now))
  redis.call('PEXPIRE', key, ttl[key])
end
return out
"""
_CHECKS_SHA = hashlib.sha1(_CHECKS_LUA.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
# The checks' packed RESP parts, per distinct check (its buckets): a hot key's check is packed once.
MAX_PACKED_CHECKS = 10_000


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


def _bulk(value: str) -> bytes:
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _number(value: float) -> str:
    # As redis-py encodes arguments: repr() of a float, str() of an int.
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class _Packed:
    """One check's part of the script call, in RESP: its keys, and its arguments (count, rates, bursts)."""

    keys: bytes
    args: bytes
    key_count: int
    arg_count: int

    @classmethod
    def of(cls, buckets: Sequence[Bucket]) -> _Packed:
        args = [str(len(buckets))] + [_number(v) for bucket in buckets for v in (bucket.rate, bucket.burst)]
        return cls(
            keys=b"".join(_bulk(f"{RATE_LIMIT_REDIS_PREFIX}{bucket.name}") for bucket in buckets),
            args=b"".join(_bulk(arg) for arg in args),
            key_count=len(buckets),
            arg_count=len(args),
        )


def _script_call(checks: list[_Packed]) -> bytes:
    """``EVALSHA`` of the checks script with every check of ``checks``, as one RESP command."""
    key_count = sum(check.key_count for check in checks)
    arg_count = 1 + sum(check.arg_count for check in checks)
    head = b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (
        3 + key_count + arg_count,
        _bulk(_CHECKS_SHA),
        _bulk(str(key_count)),
    )
    return b"".join(
        [head, *(check.keys for check in checks), _bulk(str(len(checks))), *(check.args for check in checks)]
    )


_Call = tuple[_Packed, "asyncio.Future[Refusal | None]"]


class RedisRateLimiter:
    """Buckets shared by every replica through Redis.

    Auto-batched: the checks of every request that reaches the limiter within one turn of the event
    loop go to Redis as one call of one script (one write, one reply, one connection) instead of a call
    each. The script runs the checks one after the other, each exactly as a call of its own would, and
    atomically (a Lua script), so the limits are exactly those of one call per check; one check's refusal
    is only its own. The command is written in RESP here, from each distinct check's packed part (kept
    per check: a hot key's is packed once), not argument by argument through redis-py's command path,
    whose packing and reply handling cost more client CPU than the check itself (docs/performance.md)."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._packed: dict[tuple[Bucket, ...], _Packed] = {}
        # Guarded by the event loop: appended by acquire_all, taken whole by the flush it scheduled.
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def acquire_all(self, buckets: Sequence[Bucket]) -> Refusal | None:
        """As :meth:`RateLimiter.acquire_all`; ServiceUnavailable (503) while Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Refusal | None] = loop.create_future()
        if not self._pending:  # the first check of this turn schedules the call with them all
            loop.call_soon(self._flush)
        check = tuple(buckets)
        packed = self._packed.get(check)
        if packed is None:
            if len(self._packed) >= MAX_PACKED_CHECKS:
                self._packed.clear()
            packed = self._packed[check] = _Packed.of(check)
        self._pending.append((packed, result))
        try:
            return await result
        except RedisError as exc:
            # Fail closed: without the shared bucket no replica can tell whether the caller is over.
            raise ServiceUnavailable("the rate limiter (Redis) is unavailable") from exc

    def _flush(self) -> None:
        calls, self._pending = self._pending, []
        task = asyncio.create_task(self._run(calls), name="nsl-rate-limit-checks")
        self._flushes.add(task)  # a reference until it ends: the loop keeps only weak ones
        task.add_done_callback(self._flushes.discard)

    async def _run(self, calls: list[_Call]) -> None:
        outcome: list[int] | RedisError = RedisError("the rate limiter's call was cancelled")
        try:
            command = _script_call([packed for packed, _ in calls])
            try:
                outcome = await self._call(command)
            except NoScriptError:  # Redis lost its scripts (a restart, SCRIPT FLUSH): load it, run again
                await self._redis.script_load(_CHECKS_LUA)
                outcome = await self._call(command)
        except RedisError as exc:
            outcome = exc
        finally:  # every waiter is answered, whatever happened (a bug's exception goes on up)
            for n, (_, result) in enumerate(calls):
                if result.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(outcome, Exception):
                    # One exception per waiter: a shared one would collect every waiter's traceback.
                    error = RedisError(str(outcome))
                    error.__cause__ = outcome
                    result.set_exception(error)
                else:
                    index, wait_ms = outcome[2 * n], outcome[2 * n + 1]
                    result.set_result(None if index == 0 else Refusal(int(index) - 1, int(wait_ms) / 1000))

    async def _call(self, command: bytes) -> list[int]:
        """Send ``command`` on a pooled connection and read its one reply, retried on a lost connection
        as redis-py retries its own commands (the client's retry policy)."""
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py's own

        async def exchange() -> list[int]:
            await connection.send_packed_command(command)
            reply: list[int] = await connection.read_response()
            return reply

        async def lost(_error: Exception) -> None:
            await connection.disconnect()

        try:
            reply: list[int] = await connection.retry.call_with_retry(exchange, lost)
            return reply
        finally:
            await pool.release(connection)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await asyncio.gather(*self._flushes, return_exceptions=True)  # answer the checks under way
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis-backed when a URL is configured, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
