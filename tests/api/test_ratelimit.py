"""Token buckets per API key and per account: in-process, and shared through the machine's real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from neo_service_layer.api.ratelimit import (
    Bucket,
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Refusal,
    make_rate_limiter,
)
from neo_service_layer.constants import RATE_LIMIT_REDIS_PREFIX
from neo_service_layer.errors import ServiceUnavailable
from tests.api.conftest import AppFactory
from tests.api.helpers import assert_problem, auth, new_secret
from tests.conftest import Tenant

REDIS_URL = "redis://127.0.0.1:6379/0"
# Nothing listens here: a Redis that is down.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
# Refill so slow that no token comes back during a test.
NO_REFILL = 0.001


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_limiter(redis: Redis) -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(REDIS_URL)
    yield limiter
    await limiter.close()


def unique_bucket() -> str:
    return f"test:{uuid.uuid4().hex}"


async def acquire(limiter: RateLimiter, bucket: str, rate: float, burst: int) -> float:
    """One bucket's token: 0 if taken, else the seconds to wait."""
    refusal = await limiter.acquire_all([Bucket(bucket, rate, burst)])
    return 0.0 if refusal is None else refusal.wait


@pytest.mark.parametrize("url", [None, REDIS_URL], ids=["local", "redis"])
async def test_buckets_are_taken_together_or_not_at_all(redis: Redis, url: str | None) -> None:
    limiter = make_rate_limiter(url)
    wide, narrow = Bucket(unique_bucket(), NO_REFILL, 3), Bucket(unique_bucket(), NO_REFILL, 1)
    try:
        assert await limiter.acquire_all([wide, narrow]) is None
        refusal = await limiter.acquire_all([wide, narrow])
        assert isinstance(refusal, Refusal)
        assert refusal.index == 1
        assert refusal.wait > 1.0
        # The refused call took nothing from the first bucket: two of its three tokens are left.
        assert [await limiter.acquire_all([wide]) is None for _ in range(3)] == [True, True, False]
        refused_first = await limiter.acquire_all([wide, narrow])
        assert refused_first is not None
        assert refused_first.index == 0
    finally:
        await limiter.close()
        await redis.delete(*(f"{RATE_LIMIT_REDIS_PREFIX}{b.name}" for b in (wide, narrow)))


async def test_local_bucket_allows_the_burst_then_asks_to_wait() -> None:
    limiter = LocalRateLimiter()
    waits = [await acquire(limiter, "b", rate=1.0, burst=3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] <= 1.0
    # Another bucket is untouched.
    assert await acquire(limiter, "other", rate=1.0, burst=3) == 0.0


async def test_local_bucket_refills_with_time() -> None:
    limiter = LocalRateLimiter()
    assert await acquire(limiter, "b", rate=1e12, burst=1) == 0.0
    # At 10^12 tokens a second, the bucket is full again by the next call (a nanosecond later at least).
    assert await acquire(limiter, "b", rate=1e12, burst=1) == 0.0
    # The same calls against a bucket that hardly refills: the second has to wait.
    assert await acquire(limiter, "slow", rate=NO_REFILL, burst=1) == 0.0
    assert await acquire(limiter, "slow", rate=NO_REFILL, burst=1) > 0


async def test_redis_bucket_allows_the_burst_then_asks_to_wait(
    redis: Redis, redis_limiter: RedisRateLimiter
) -> None:
    bucket = unique_bucket()
    try:
        waits = [await acquire(redis_limiter, bucket, rate=NO_REFILL, burst=2) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0]
        assert waits[2] > 1.0
        ttl_ms = await redis.pttl(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}")
        assert ttl_ms > 0  # buckets expire on their own
    finally:
        await redis.delete(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}")


async def test_two_limiters_share_one_redis_bucket(redis: Redis) -> None:
    bucket = unique_bucket()
    first, second = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)
    try:
        assert await acquire(first, bucket, rate=NO_REFILL, burst=2) == 0.0
        assert await acquire(second, bucket, rate=NO_REFILL, burst=2) == 0.0
        assert await acquire(first, bucket, rate=NO_REFILL, burst=2) > 0
        assert await acquire(second, bucket, rate=NO_REFILL, burst=2) > 0
    finally:
        await first.close()
        await second.close()
        await redis.delete(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}")


async def test_concurrent_checks_share_pipelines_and_stay_exact(redis: Redis) -> None:
    # 60 checks at once over two limiters (two processes): each limiter sends the checks of one event-loop
    # turn as one script call, and every check is still atomic and in order: exactly the burst is granted.
    bucket = unique_bucket()
    first, second = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)
    try:
        waits = await asyncio.gather(
            *(acquire(limiter, bucket, rate=NO_REFILL, burst=25) for limiter in (first, second) * 30)
        )
        assert sum(wait == 0.0 for wait in waits) == 25
        assert all(wait > 1.0 for wait in waits if wait != 0.0)
        # Refusals take nothing: the bucket has no token left, not a negative count.
        assert float(await redis.hget(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}", "tokens") or -1) >= 0
    finally:
        await first.close()
        await second.close()
        await redis.delete(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}")


# Checks made together on shared buckets (burst, no refill): "k1"/"k2" are two keys, "acct" their
# account. Each row: the checks in order, and what each must get as if made one call at a time
# (None: taken; an index: the first bucket refused, which takes nothing from any bucket).
SHARED_BUCKET_CASES = [
    pytest.param(
        {"k1": 3, "acct": 5},
        [("k1", "acct")] * 4,
        [None, None, None, 0],
        id="the key runs out first",
    ),
    pytest.param(
        {"k1": 3, "k2": 10, "acct": 5},
        [("k1", "acct")] * 4 + [("k2", "acct")] * 4,
        [None, None, None, 0, None, None, 1, 1],
        id="a refused check takes nothing from the account",
    ),
    pytest.param(
        {"k1": 1, "acct": 2},
        [("acct", "k1"), ("acct",), ("acct",), ("k1",)],
        [None, None, 0, 0],
        id="one bucket in several checks, alone and with others",
    ),
    pytest.param(
        {"k1": 2},
        [("k1", "k1"), ("k1",), ("k1",)],
        [None, None, 0],
        id="a bucket twice in one check takes one token",
    ),
]


async def _answers(
    limiter: RateLimiter, checks: list[tuple[Bucket, ...]], *, together: bool
) -> list[int | None]:
    """Each check's refused index (None: taken), the checks made in one turn or one after the other."""
    if together:
        refusals = await asyncio.gather(*(limiter.acquire_all(check) for check in checks))
    else:
        refusals = [await limiter.acquire_all(check) for check in checks]
    return [None if refusal is None else refusal.index for refusal in refusals]


@pytest.mark.parametrize(("bursts", "sequence", "expected"), SHARED_BUCKET_CASES)
async def test_checks_of_one_call_answer_as_separate_calls(
    redis: Redis, bursts: dict[str, int], sequence: list[tuple[str, ...]], expected: list[int | None]
) -> None:
    # The script reads each bucket once and writes it once per call: the answers must still be those
    # of one call per check, in order (the reference: the in-process limiter, one check at a time).
    names = {name: unique_bucket() for name in bursts}
    checks = [tuple(Bucket(names[name], NO_REFILL, bursts[name]) for name in check) for check in sequence]
    limiter = RedisRateLimiter(REDIS_URL)
    try:
        assert await _answers(LocalRateLimiter(), checks, together=False) == expected
        assert await _answers(limiter, checks, together=True) == expected
        # The state left behind is the one the checks took: each bucket's burst less what was taken.
        taken = {name: 0 for name in bursts}
        for check, answer in zip(sequence, expected, strict=True):
            for name in set(check) if answer is None else ():
                taken[name] += 1
        for name, burst in bursts.items():
            left = float(await redis.hget(f"{RATE_LIMIT_REDIS_PREFIX}{names[name]}", "tokens") or burst)
            assert round(left) == burst - taken[name], name
    finally:
        await limiter.close()
        await redis.delete(*(f"{RATE_LIMIT_REDIS_PREFIX}{name}" for name in names.values()))


async def test_a_call_reads_and_writes_each_bucket_once(redis: Redis) -> None:
    # 30 checks of one key and its account in one call: 2 reads and 2 writes (+ expiries), not 60 of each.
    key, account = Bucket(unique_bucket(), NO_REFILL, 100), Bucket(unique_bucket(), NO_REFILL, 100)
    limiter = RedisRateLimiter(REDIS_URL)
    sentinel = unique_bucket()
    seen: list[str] = []
    try:
        await limiter.acquire_all([key, account])  # loads the script if Redis has not got it
        async with redis.monitor() as monitor:
            await asyncio.gather(*(limiter.acquire_all([key, account]) for _ in range(30)))
            await redis.get(sentinel)
            while sentinel not in (command := (await monitor.next_command())["command"]):
                if key.name in command or account.name in command:
                    seen.append(command.split()[0].upper())
        assert Counter(seen) == {"EVALSHA": 1, "HMGET": 2, "HSET": 2, "PEXPIRE": 2}
        tokens = await redis.hget(f"{RATE_LIMIT_REDIS_PREFIX}{key.name}", "tokens")
        assert round(float(tokens or 0)) == 100 - 31
    finally:
        await limiter.close()
        await redis.delete(*(f"{RATE_LIMIT_REDIS_PREFIX}{b.name}" for b in (key, account)))


async def test_checks_run_again_after_redis_lost_its_scripts(
    redis: Redis, redis_limiter: RedisRateLimiter
) -> None:
    # A restarted Redis (or SCRIPT FLUSH) answers NOSCRIPT: the limiter loads the script and runs the
    # refused checks again, alone and several in one call.
    bucket = unique_bucket()
    try:
        for batch in (1, 5):
            await redis.script_flush()
            waits = await asyncio.gather(
                *(acquire(redis_limiter, bucket, rate=NO_REFILL, burst=100) for _ in range(batch))
            )
            assert waits == [0.0] * batch
        assert int(float(await redis.hget(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}", "tokens") or -1)) == 94
    finally:
        await redis.delete(f"{RATE_LIMIT_REDIS_PREFIX}{bucket}")


async def test_unreachable_redis_is_service_unavailable() -> None:
    limiter = RedisRateLimiter(DEAD_REDIS_URL)
    try:
        with pytest.raises(ServiceUnavailable):
            await acquire(limiter, unique_bucket(), rate=1.0, burst=1)
        # Checks pipelined together fail together, each with its own 503.
        results = await asyncio.gather(
            *(acquire(limiter, unique_bucket(), rate=1.0, burst=1) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, ServiceUnavailable) for result in results)
    finally:
        await limiter.close()


@pytest.mark.parametrize(
    ("url", "kind"), [(None, LocalRateLimiter), (REDIS_URL, RedisRateLimiter)], ids=["local", "redis"]
)
async def test_redis_is_used_only_when_configured(url: str | None, kind: type) -> None:
    limiter = make_rate_limiter(url)
    try:
        assert isinstance(limiter, kind)
    finally:
        await limiter.close()


async def test_key_limit_is_a_429_with_retry_after(
    app_factory: AppFactory, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    other_key = await new_secret(client, tenant.owner_key, name="other")
    running = await app_factory(rate_limits={"key_burst": 2, "key_per_second": NO_REFILL})
    responses = [await running.client.get("/v1/account", headers=tenant.headers) for _ in range(3)]
    assert [r.status_code for r in responses[:2]] == [200, 200]
    problem = assert_problem(responses[2], 429, "rate_limited")
    assert problem["limit"] == "API key"
    assert int(responses[2].headers["retry-after"]) >= 1
    # The bucket is the key's: another key of the same account still has its own.
    assert (await running.client.get("/v1/account", headers=auth(other_key))).status_code == 200


async def test_account_limit_covers_all_its_keys(
    app_factory: AppFactory, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    second = await new_secret(client, tenant.owner_key, name="second")
    running = await app_factory(rate_limits={"account_burst": 3, "account_per_second": NO_REFILL})
    for key in (tenant.owner_key, second, tenant.owner_key):
        assert (await running.client.get("/v1/account", headers=auth(key))).status_code == 200
    problem = assert_problem(
        await running.client.get("/v1/account", headers=auth(second)), 429, "rate_limited"
    )
    assert problem["limit"] == "account"
    # Another account has its own bucket.
    assert (await running.client.get("/v1/account", headers=other_tenant.headers)).status_code == 200


async def test_two_app_instances_share_a_redis_bucket(
    app_factory: AppFactory, redis: Redis, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    settings = {
        "redis_url": SecretStr(REDIS_URL),
        "rate_limits": {"key_burst": 3, "key_per_second": NO_REFILL},
    }
    first, second = await app_factory(**settings), await app_factory(**settings)
    key = await new_secret(client, tenant.owner_key)
    key_id = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"][-1]["id"]
    try:
        statuses = [
            (await app.client.get("/v1/account", headers=auth(key))).status_code
            for app in (first, second, first, second)
        ]
        # A local bucket per instance would have allowed all four.
        assert statuses == [200, 200, 200, 429]
        assert await redis.exists(f"{RATE_LIMIT_REDIS_PREFIX}key:{key_id}")
    finally:
        await redis.delete(
            f"{RATE_LIMIT_REDIS_PREFIX}key:{key_id}", f"{RATE_LIMIT_REDIS_PREFIX}account:{tenant.account_id}"
        )


async def test_redis_down_is_a_503_and_not_ready(app_factory: AppFactory, tenant: Tenant) -> None:
    running = await app_factory(redis_url=SecretStr(DEAD_REDIS_URL))
    assert_problem(
        await running.client.get("/v1/account", headers=tenant.headers), 503, "service_unavailable"
    )
    ready = await running.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["ok"] is False
    assert ready.json()["checks"]["database"]["ok"] is True


async def test_redis_up_is_ready(app_factory: AppFactory) -> None:
    running = await app_factory(redis_url=SecretStr(REDIS_URL))
    ready = await running.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"] == {"ok": True}
