"""``/v1/feeds``: operators define feeds, every account reads them; bad definitions are refused with
their codes; rounds page by cursor and carry the enclave's signed observation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from neo_service_layer.api.state import AppState
from neo_service_layer.client.feeds import FeedsClient
from neo_service_layer.client.pricefeed import verify_price_round
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.pricefeed.config_hash import config_hash_of_params
from neo_service_layer.errors import ApiRequestFailed
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import feed_config_hash, feed_rules
from neo_service_layer.services.pricefeed.poller import FeedPoller
from tests.api.conftest import RoleKeys
from tests.api.helpers import assert_problem, audit_entries, auth
from tests.conftest import Tenant
from tests.services.pricefeed.observations import TARGETS, Chains, SigningObserver, verified_identity

SOURCES: list[dict[str, Any]] = [
    {"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"},
    {"name": "okx", "adapter": "okx", "symbol": "NEO-USDT"},
    {"name": "kraken", "adapter": "kraken", "symbol": "NEOUSD"},
]
FEED: dict[str, Any] = {"pair": "NEO/USD", "sources": SOURCES, "targets": TARGETS, "deviation_bps": 50}


def feed(**changes: Any) -> dict[str, Any]:
    return {**FEED, **changes}


async def feed_count(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(PriceFeed))).scalar_one())


async def create(
    client: httpx.AsyncClient, admin_key: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/v1/feeds", json=body or FEED, headers=auth(admin_key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


BAD_DEFINITIONS = [
    pytest.param(feed(pair="neo/usd"), "feed_pair_invalid", id="pair-lower-case"),
    pytest.param(feed(pair="NEOUSD"), "feed_pair_invalid", id="pair-no-slash"),
    pytest.param(feed(pair="NEO/USD/EUR"), "feed_pair_invalid", id="pair-three-parts"),
    pytest.param(feed(decimals=19), "feed_decimals_invalid", id="decimals-19"),
    pytest.param(feed(decimals=-1), "feed_decimals_invalid", id="decimals-negative"),
    pytest.param(
        feed(heartbeat_seconds=10, poll_interval_seconds=30),
        "feed_heartbeat_below_poll_interval",
        id="heartbeat",
    ),
    pytest.param(feed(deviation_bps=0), "feed_threshold_invalid", id="deviation-zero"),
    pytest.param(feed(deviation_bps=-50), "feed_threshold_invalid", id="deviation-negative"),
    pytest.param(feed(max_spread_bps=0), "feed_threshold_invalid", id="spread-zero"),
    pytest.param(feed(poll_interval_seconds=0), "feed_threshold_invalid", id="poll-zero"),
    pytest.param(feed(max_quote_age_seconds=0), "feed_threshold_invalid", id="age-zero"),
    pytest.param(feed(breaker_bps=-1), "feed_threshold_invalid", id="breaker-negative"),
    pytest.param(feed(outlier_mad_k="0"), "feed_threshold_invalid", id="mad-zero"),
    pytest.param(feed(outlier_mad_k="1e3"), "feed_threshold_invalid", id="mad-exponent"),
    pytest.param(feed(outlier_mad_k="0.5"), "feed_threshold_invalid", id="mad-below-one"),
    pytest.param(feed(breaker_bps=50), "feed_threshold_invalid", id="breaker-not-above-deviation"),
    pytest.param(feed(max_quote_age_seconds=8 * 86400), "feed_threshold_invalid", id="age-over-a-week"),
    pytest.param(
        feed(
            sources=[
                {
                    "name": "g",
                    "adapter": "generic",
                    "url": "https://x.example/p",
                    "filter": "$.p",
                    "symbol": "X",
                }
            ]
        ),
        "feed_sources_invalid",
        id="generic-with-symbol",
    ),
    pytest.param(
        feed(sources=[{**SOURCES[0], "name": "Binance"}]), "feed_sources_invalid", id="name-upper-case"
    ),
    pytest.param(feed(min_sources=4), "feed_min_sources_invalid", id="min-sources-above-sources"),
    pytest.param(feed(min_sources=0), "feed_min_sources_invalid", id="min-sources-zero"),
    pytest.param(feed(sources=[]), "feed_sources_invalid", id="no-sources"),
    pytest.param(
        feed(sources=[{**SOURCES[0], "adapter": "mtgox"}]), "feed_sources_invalid", id="unknown-adapter"
    ),
    pytest.param(feed(sources=[SOURCES[0], SOURCES[0]]), "feed_sources_invalid", id="same-name-twice"),
    pytest.param(
        feed(sources=[{"name": "g", "adapter": "generic", "url": "https://x.example/p"}]),
        "feed_sources_invalid",
        id="generic-without-filter",
    ),
    pytest.param(feed(sources=[{"name": "b", "adapter": "binance"}]), "feed_sources_invalid", id="no-symbol"),
    pytest.param(
        feed(sources=[{**SOURCES[0], "base_url": "ftp://x"}]), "feed_sources_invalid", id="base-url-not-http"
    ),
    pytest.param(
        feed(targets=[{"chain": "evm", "feed": "0x12"}]), "feed_targets_invalid", id="short-address"
    ),
    pytest.param(
        feed(targets=[{"chain": "btc", "feed": TARGETS[0]["feed"]}]),
        "feed_targets_invalid",
        id="unknown-chain",
    ),
    pytest.param(
        feed(targets=[{"chain": "n3", "feed": TARGETS[0]["feed"]}]),
        "feed_targets_invalid",
        id="n3-needs-contract",
    ),
    pytest.param(feed(targets=[TARGETS[0], TARGETS[0]]), "feed_targets_invalid", id="target-twice"),
    pytest.param(feed(decimals="8"), "validation_failed", id="decimals-as-text"),
    pytest.param(feed(description="x" * 201), "validation_failed", id="description-too-long"),
    pytest.param(
        feed(targets=[{"chain": "evm", "feed": "0x" + f"{n:040x}"} for n in range(17)]),
        "validation_failed",
        id="seventeen-targets",
    ),
    pytest.param(feed(deviation=50), "validation_failed", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "code"), BAD_DEFINITIONS)
async def test_a_bad_definition_is_refused_with_its_code(
    client: httpx.AsyncClient, admin_key: str, state: AppState, body: dict[str, Any], code: str
) -> None:
    assert_problem(await client.post("/v1/feeds", json=body, headers=auth(admin_key)), 422, code)
    assert await feed_count(state.db) == 0


BAD_CHANGES = [
    pytest.param({"heartbeat_seconds": 5}, "feed_heartbeat_below_poll_interval", id="heartbeat-below-poll"),
    pytest.param({"deviation_bps": 0}, "feed_threshold_invalid", id="threshold-zero"),
    pytest.param({"decimals": 40}, "feed_decimals_invalid", id="decimals"),
    pytest.param({"min_sources": 9}, "feed_min_sources_invalid", id="min-sources"),
    pytest.param({"sources": SOURCES[:1]}, "feed_min_sources_invalid", id="fewer-sources-than-min"),
    pytest.param({"pair": "GAS/USD"}, "validation_failed", id="pair-is-not-changeable"),
]


@pytest.mark.parametrize(("body", "code"), BAD_CHANGES)
async def test_a_bad_change_is_refused_and_the_feed_kept(
    client: httpx.AsyncClient, admin_key: str, body: dict[str, Any], code: str
) -> None:
    before = await create(client, admin_key)
    response = await client.patch("/v1/feeds/NEO-USD", json=body, headers=auth(admin_key))
    assert_problem(response, 422, code)
    after = (await client.get("/v1/feeds/NEO-USD", headers=auth(admin_key))).json()
    assert after == {**before, "latest": None}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        pytest.param("GET", "/v1/feeds/BTC-USD", 404, "feed_not_found", id="get-unknown"),
        pytest.param("PATCH", "/v1/feeds/BTC-USD", 404, "feed_not_found", id="patch-unknown"),
        pytest.param("DELETE", "/v1/feeds/BTC-USD", 404, "feed_not_found", id="delete-unknown"),
        pytest.param("GET", "/v1/feeds/BTC-USD/rounds", 404, "feed_not_found", id="rounds-unknown"),
        pytest.param("GET", "/v1/feeds/NEO-USD/rounds/7", 404, "price_round_not_found", id="round-unknown"),
        pytest.param("GET", "/v1/feeds/NEO_USD", 422, "feed_pair_invalid", id="underscore"),
        pytest.param("GET", "/v1/feeds/NEO-USD-EUR", 422, "feed_pair_invalid", id="three-parts"),
        pytest.param("GET", "/v1/feeds/NEO-USD/rounds/0", 422, "validation_failed", id="round-zero"),
        pytest.param("GET", "/v1/feeds/NEO-USD/rounds?cursor=%21", 422, "validation_failed", id="bad-cursor"),
    ],
)
async def test_unknown_and_malformed_names(
    client: httpx.AsyncClient, admin_key: str, method: str, path: str, status: int, code: str
) -> None:
    await create(client, admin_key)
    body = {"deviation_bps": 10} if method == "PATCH" else None
    response = await client.request(method, path, json=body, headers=auth(admin_key))
    assert_problem(response, status, code)


async def test_a_pair_has_one_feed(client: httpx.AsyncClient, admin_key: str) -> None:
    await create(client, admin_key)
    response = await client.post("/v1/feeds", json=feed(description="again"), headers=auth(admin_key))
    assert_problem(response, 409, "feed_exists")


async def test_operators_create_change_and_delete_feeds_audited(
    client: httpx.AsyncClient, admin_key: str, state: AppState
) -> None:
    created = await create(client, admin_key, feed(decimals=6))
    assert (created["pair"], created["path"], created["decimals"], created["latest"]) == (
        "NEO/USD",
        "NEO-USD",
        6,
        None,
    )
    # Left out: the operator's defaults (settings.pricefeed).
    assert (created["heartbeat_seconds"], created["breaker_bps"], created["min_sources"]) == (3600, 2000, 3)
    changed = await client.patch(
        "/v1/feeds/neo-usd", json={"deviation_bps": 25, "enabled": False}, headers=auth(admin_key)
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["deviation_bps"], changed.json()["enabled"]) == (25, False)
    assert (await client.delete("/v1/feeds/NEO-USD", headers=auth(admin_key))).status_code == 204
    assert await feed_count(state.db) == 0

    entries = [e for e in await audit_entries(state.db) if e.action.startswith("feeds.")]
    assert [(e.action, e.outcome.value, e.resource) for e in entries] == [
        ("feeds.create", "success", "/v1/feeds/NEO-USD"),
        ("feeds.update", "success", "/v1/feeds/NEO-USD"),
        ("feeds.delete", "success", "/v1/feeds/NEO-USD"),
    ]
    assert entries[0].details["feed_id"] == created["id"]
    assert entries[1].details["changed"] == ["deviation_bps", "enabled"]


@pytest.mark.parametrize("role", ["owner", "developer", "viewer"])
async def test_no_tenant_creates_changes_or_deletes_a_feed(
    client: httpx.AsyncClient, admin_key: str, role_keys: RoleKeys, state: AppState, tenant: Tenant, role: str
) -> None:
    before = await create(client, admin_key)
    key = auth(role_keys[role])
    attempts = [
        await client.post("/v1/feeds", json=feed(pair="GAS/USD"), headers=key),
        await client.patch("/v1/feeds/NEO-USD", json={"deviation_bps": 1}, headers=key),
        await client.delete("/v1/feeds/NEO-USD", headers=key),
    ]
    for response in attempts:
        assert_problem(response, 403, "forbidden")
    assert await feed_count(state.db) == 1
    assert (await client.get("/v1/feeds/NEO-USD", headers=key)).json() == {**before, "latest": None}
    denied = [e for e in await audit_entries(state.db, tenant.account_id) if e.action.startswith("feeds.")]
    assert [(e.action, e.outcome.value) for e in denied][:3] == [
        ("feeds.create", "denied"),
        ("feeds.update", "denied"),
        ("feeds.delete", "denied"),
    ]


@pytest.fixture
def identity() -> Identity:
    return Identity.generate()


async def publish_rounds(
    state: AppState, identity: Identity, feed_id: str, answers: list[int]
) -> SigningObserver:
    observer = SigningObserver(identity)
    chains = Chains(identity.public)
    await chains.register_stored(state.db, feed_id)
    poller = FeedPoller(state.db, observer, chains)
    for answer in answers:
        observer.script("publish", "deviation", answer)
        await poller.poll(feed_id)
    return observer


async def test_every_account_reads_feeds_latest_answers_and_signed_rounds(
    client: httpx.AsyncClient,
    admin_key: str,
    state: AppState,
    role_keys: RoleKeys,
    other_tenant: Tenant,
    identity: Identity,
) -> None:
    created = await create(client, admin_key)
    await create(client, admin_key, feed(pair="GAS/USD", targets=[]))
    observer = await publish_rounds(state, identity, created["id"], [1_234_000_000, 1_300_000_000])

    for key in (role_keys["viewer"], other_tenant.owner_key, admin_key):
        listed = await client.get("/v1/feeds", headers=auth(key))
        assert listed.status_code == 200, listed.text
        assert [(f["pair"], f["latest"] and f["latest"]["round_id"]) for f in listed.json()["items"]] == [
            ("GAS/USD", None),
            ("NEO/USD", 2),
        ]
        latest = (await client.get("/v1/feeds/neo-usd", headers=auth(key))).json()["latest"]
        assert (latest["round_id"], latest["answer"], latest["answer_decimal"]) == (
            2,
            "1300000000",
            "13.00000000",
        )
        assert latest["observed_at"] == observer.observed_at
        assert latest["staleness_seconds"] >= 0
        assert [s["name"] for s in latest["sources"]] == ["binance", "okx", "kraken"]

    signed = (await client.get("/v1/feeds/NEO-USD/rounds/2", headers=auth(role_keys["viewer"]))).json()
    assert [(t["chain"], t["chain_round_id"], t["status"], t["fee"]) for t in signed["transmissions"]] == [
        ("evm:31337", 2, "confirmed", str(10**18 + 7)),
        ("n3:894710606", 2, "confirmed", str(10**18 + 7)),
    ]
    verified = verify_price_round(signed, verified_identity(identity))
    assert (verified.answer, verified.round_id) == (1_300_000_000, 2)


async def test_rounds_page_by_cursor_oldest_first(
    client: httpx.AsyncClient, admin_key: str, state: AppState, identity: Identity, tenant: Tenant
) -> None:
    created = await create(client, admin_key)
    answers = [1_000_000_000 + 100_000_000 * n for n in range(5)]
    await publish_rounds(state, identity, created["id"], answers)

    seen: list[tuple[int, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/feeds/NEO-USD/rounds", params=query, headers=tenant.headers)).json()
        pages += 1
        seen += [(item["round_id"], item["answer"]) for item in page["items"]]
        assert all("envelope" not in item for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [(n + 1, str(answer)) for n, answer in enumerate(answers)]


async def test_metrics_per_feed(
    client: httpx.AsyncClient, admin_key: str, state: AppState, identity: Identity
) -> None:
    created = await create(client, admin_key)
    await create(client, admin_key, feed(pair="GAS/USD", targets=[]))
    observer = SigningObserver(identity)
    chains = Chains(identity.public)
    await chains.register_stored(state.db, created["id"])
    chains.by_kind["n3"].keys = Identity.generate().public  # N3 refuses every report: publish failures
    poller = FeedPoller(state.db, observer, chains)
    for answer in (1_234_000_000, 1_300_000_000):
        observer.script("publish", "deviation", answer, observed_at=int(utcnow().timestamp()) - 5)
        await poller.poll(created["id"])
    observer.script("unchanged", "within_threshold", 1_313_000_000)  # 100 bps above the last round
    await poller.poll(created["id"])

    response = await client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name.startswith("nsl_pricefeed_")
    }
    neo, gas = (("pair", "NEO/USD"),), (("pair", "GAS/USD"),)
    evm, n3 = (("chain", "evm:31337"), *neo), (("chain", "n3:894710606"), *neo)
    assert samples[("nsl_pricefeed_answer", neo)] == 13.0
    assert 5 <= samples[("nsl_pricefeed_age_seconds", neo)] < 60
    assert samples[("nsl_pricefeed_sources_up", neo)] == 3
    assert samples[("nsl_pricefeed_sources_up", gas)] == 0
    assert samples[("nsl_pricefeed_deviation_bps", neo)] == 100
    assert samples[("nsl_pricefeed_rounds_published_total", evm)] == 2
    assert samples[("nsl_pricefeed_publish_failures_total", n3)] == 2
    assert ("nsl_pricefeed_answer", gas) not in samples
    assert ("nsl_pricefeed_rounds_published_total", n3) not in samples


async def test_the_python_client_reads_feeds_and_verifies_rounds(
    client: httpx.AsyncClient, admin_key: str, state: AppState, identity: Identity, tenant: Tenant
) -> None:
    created = await create(client, admin_key)
    await create(client, admin_key, feed(pair="GAS/USD", targets=[]))
    await publish_rounds(state, identity, created["id"], [1_000_000_000, 1_100_000_000, 1_200_000_000])

    feeds = FeedsClient("http://nsl.test", tenant.owner_key, http=client)
    assert [f["pair"] async for f in feeds.feeds(page_size=1)] == ["GAS/USD", "NEO/USD"]
    assert (await feeds.feed("NEO/USD"))["latest"]["answer_decimal"] == "12.00000000"
    assert [r["round_id"] async for r in feeds.rounds("NEO/USD", page_size=2)] == [1, 2, 3]
    verified = await feeds.verified_round("NEO/USD", 2, verified_identity(identity))
    assert verified.price == Decimal("11")
    with pytest.raises(ApiRequestFailed) as missing:
        await feeds.feed("BTC/USD")
    assert (missing.value.api_code, missing.value.api_status) == ("feed_not_found", 404)
    await feeds.close()  # the caller's HTTP client stays open
    assert (await client.get("/healthz")).status_code == 200


async def test_a_feed_shows_the_config_hash_its_targets_must_register(
    client: httpx.AsyncClient, admin_key: str, state: AppState, identity: Identity
) -> None:
    created = await create(client, admin_key)
    shown = (await client.get("/v1/feeds/NEO-USD", headers=auth(admin_key))).json()["config_hash"]
    assert created["config_hash"] == shown
    async with state.db.session(for_read=True) as session:
        stored = await service.get_feed(session, "NEO/USD")
    assert shown == feed_config_hash(stored).hex() == config_hash_of_params(feed_rules(stored)).hex()
    # A change of the rules changes it; a change of when to publish does not.
    when = {"deviation_bps": 75, "heartbeat_seconds": 7200}
    response = await client.patch("/v1/feeds/NEO-USD", json=when, headers=auth(admin_key))
    assert response.json()["config_hash"] == shown
    response = await client.patch("/v1/feeds/NEO-USD", json={"min_sources": 1}, headers=auth(admin_key))
    assert response.json()["config_hash"] != shown
    # A published round's signed rules are that hash, and the client recomputes it from the request.
    observer = await publish_rounds(state, identity, created["id"], [1_234_000_000])
    assert observer.calls
    rounds = (await client.get("/v1/feeds/NEO-USD/rounds/1", headers=auth(admin_key))).json()
    verified = verify_price_round(rounds, verified_identity(identity))
    assert verified.config_hash.hex() == response.json()["config_hash"]
