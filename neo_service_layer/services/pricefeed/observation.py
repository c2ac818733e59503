"""What the poller asks ``pricefeed.observe`` and what it takes back (docs/pricefeed.md §3).

The args of one poll (``ObserveArgs`` as JSON: the feed's definition, ``last``, ``pending``, each target
with its next round id), how ``last`` is chosen (the oldest published round: a target that missed a
round is caught up), the :class:`Observer` behind which the enclave op sits, and the host's check of what
comes back (:func:`check_observation`): an observation of another feed or of other rules, or reports
for other targets, is never recorded; and :func:`feed_config_hash`, the hash of a feed's rules its
targets must have registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from neo_service_layer.chains.pricefeeds import ChainRound
from neo_service_layer.enclave.opdefs.pricefeed import OBSERVE
from neo_service_layer.enclave.pricefeed.config_hash import config_hash_of_params
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound
from neo_service_layer.services.pricefeed.params import FeedConfig, FeedTarget

OBSERVE_OP: Final = OBSERVE.name
PUBLISH: Final = "publish"
BREAKER_PENDING: Final = "breaker_pending"


class ObservationMismatch(RuntimeError):
    """The enclave's observation is not for the feed, or its reports not for the targets, it was asked
    about (a host/enclave disagreement: nothing is recorded)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What ``pricefeed.observe`` returned: its result (``ObserveResult`` as JSON), the signed envelope,
    and the request the envelope's ``request_hash`` covers (``{"op", "account_id", "params"}``)."""

    result: dict[str, Any]
    envelope: dict[str, Any]
    request: dict[str, Any]


class Observer(Protocol):
    """Runs ``pricefeed.observe`` for ``args`` (``ObserveArgs`` fields as JSON, without the account,
    which is the observer's: the enclave op's platform account)."""

    async def observe(self, args: dict[str, Any]) -> Observation: ...


def published(answer: int, observed_at: int) -> dict[str, int]:
    """A ``PublishedArg`` as JSON."""
    return {"answer": answer, "observed_at": observed_at}


def oldest_last(
    db_round: PriceRound | None, chain_rounds: Sequence[ChainRound | None]
) -> dict[str, int] | None:
    """``last`` for the enclave: the oldest of the database's last round and the targets' latest rounds;
    None when a target has no round yet, or nothing was ever published."""
    if any(chain_round is None for chain_round in chain_rounds):
        return None
    candidates = [(r.updated_at, r.answer) for r in chain_rounds if r is not None]
    if db_round is not None:
        candidates.append((db_round.observed_at, db_round.answer))
    if not candidates:
        return None
    observed_at, answer = min(candidates)
    return published(answer, observed_at)


def target_arg(chain: str, target: FeedTarget, round_id: int) -> dict[str, Any]:
    """An ``EvmTarget`` / ``N3Target`` as JSON, of ``chain`` (``evm:<id>``/``n3:<magic>``)."""
    family, _, number = chain.partition(":")
    if family != target.kind or not number.isdigit():
        raise ObservationMismatch(f"publisher chain {chain!r} is not a {target.kind} chain")
    if family == "evm":
        return {"kind": "evm", "chain_id": int(number), "feed": target.address, "round_id": round_id}
    return {"kind": "n3", "network_magic": int(number), "contract": target.address, "round_id": round_id}


def observe_args(
    feed: PriceFeed, last: dict[str, int] | None, targets: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The ``ObserveArgs`` of one poll (without the account: :class:`Observer`)."""
    pending = (
        None
        if feed.pending_answer is None or feed.pending_observed_at is None
        else published(feed.pending_answer, feed.pending_observed_at)
    )
    # The rules from feed_rules, the one place that lists them: what the enclave applies is what the
    # config hash covers.
    return {**feed_rules(feed), "last": last, "pending": pending, "targets": list(targets)}


def feed_rules(feed: PriceFeed | FeedConfig) -> dict[str, Any]:
    """A feed's definition (stored, or a :class:`FeedConfig` not yet stored) as ``ObserveArgs`` JSON
    with no round state (no last, pending or target): what its config hash covers."""
    return {
        "feed_id": feed.id if isinstance(feed, PriceFeed) else "unstored",  # not covered by the hash
        "pair": feed.pair,
        "decimals": feed.decimals,
        "sources": [dict(source) for source in feed.sources],
        "min_sources": feed.min_sources,
        "max_quote_age_s": feed.max_quote_age_seconds,
        "outlier_mad_k": feed.outlier_mad_k,
        "max_spread_bps": feed.max_spread_bps,
        "deviation_bps": feed.deviation_bps,
        "heartbeat_s": feed.heartbeat_seconds,
        "breaker_bps": feed.breaker_bps,
        "last": None,
        "pending": None,
        "targets": [],
    }


def feed_config_hash(feed: PriceFeed | FeedConfig) -> bytes:
    """The ``configHash`` of ``feed``'s rules (``enclave.pricefeed.config_hash``): what its owner
    registers on each target (``nsl feeds config-hash``; a devnet at deployment, from the
    :class:`FeedConfig` it creates) for its rounds to be taken."""
    return config_hash_of_params(feed_rules(feed))


def _report_key(report: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(report.get("kind")), str(report.get("feed", "")).lower(), int(report.get("round_id", -1)))


def check_observation(result: Mapping[str, Any], feed: PriceFeed, targets: Sequence[dict[str, Any]]) -> None:
    """The observation answers this feed, and a publication carries one report per target asked."""
    if result.get("feed_id") != feed.id or result.get("pair") != feed.pair:
        raise ObservationMismatch(f"the observation is not of feed {feed.id} ({feed.pair})")
    if result.get("config_hash") != feed_config_hash(feed).hex():
        raise ObservationMismatch(f"the observation of {feed.pair} is not under the feed's rules")
    if result.get("action") != PUBLISH:
        return
    asked = sorted(
        (t["kind"], str(t.get("feed") or t.get("contract")).lower(), t["round_id"]) for t in targets
    )
    if sorted(_report_key(report) for report in result.get("reports") or []) != asked:
        raise ObservationMismatch("the observation's reports are not one per target asked for")
