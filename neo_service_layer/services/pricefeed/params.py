"""A feed definition as an operator gives it, checked into a :class:`FeedConfig` with stable error codes.

Every check of a feed happens here (testable without HTTP), whether the definition comes from
``POST /v1/feeds``, a ``PATCH`` merged over the stored feed, or the shipped default feeds
(``load_feeds``). Fields left out take the operator's defaults (``settings.pricefeed.default_*``).
Thresholds are integers (basis points, seconds) and the outlier bound decimal text: no floats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from pydantic import ValidationError

from neo_service_layer.config import PriceFeedSettings
from neo_service_layer.enclave.opdefs.pricefeed import (
    MAD_K_PATTERN,
    MAX_AGE_S,
    MAX_BPS,
    MAX_DECIMALS,
    MAX_SOURCES,
    PAIR_PATTERN,
)
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.errors import ValidationFailed
from neo_service_layer.services.pricefeed.errors import (
    FeedDecimalsInvalid,
    FeedHeartbeatBelowPoll,
    FeedMinSourcesInvalid,
    FeedPairInvalid,
    FeedSourcesInvalid,
    FeedTargetsInvalid,
    FeedThresholdInvalid,
)

_PAIR: Final = re.compile(PAIR_PATTERN)
_PATH_PAIR: Final = re.compile(r"[A-Za-z0-9]{1,16}-[A-Za-z0-9]{1,16}")
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_MAD_K: Final = re.compile(MAD_K_PATTERN)
MAX_DESCRIPTION_CHARS: Final = 200
#: Targets one observation signs for (``ObserveArgs.targets``).
MAX_TARGETS: Final = 16
#: A target's chain family and the key its contract goes under.
TARGET_KEYS: Final[Mapping[str, str]] = {"evm": "feed", "n3": "contract"}
SOURCE_FIELDS: Final = ("name", "adapter", "symbol", "base_url", "url", "filter")
#: The integer thresholds and whether 0 is allowed (the breaker's "none").
_POSITIVE: Final = (
    "max_quote_age_seconds",
    "max_spread_bps",
    "deviation_bps",
    "heartbeat_seconds",
    "poll_interval_seconds",
)
MAX_SECONDS: Final = 366 * 86400
#: A quote older than a week is no price (the enclave's bound).
MAX_QUOTE_AGE_SECONDS: Final = MAX_AGE_S


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """One contract a feed publishes to: ``kind`` ``evm`` (an NSLPriceFeed, one per pair) or ``n3`` (the
    nsl_price_feed contract, every pair), ``address`` lower-case ``0x`` + 40 hex."""

    kind: Literal["evm", "n3"]
    address: str

    def as_json(self) -> dict[str, str]:
        """The stored form: ``{"chain": "evm", "feed": …}`` or ``{"chain": "n3", "contract": …}``."""
        return {"chain": self.kind, TARGET_KEYS[self.kind]: self.address}


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """A checked feed definition: every column of ``price_feeds`` an operator sets."""

    pair: str
    description: str
    decimals: int
    sources: tuple[Mapping[str, str | None], ...]
    min_sources: int
    max_quote_age_seconds: int
    outlier_mad_k: str
    max_spread_bps: int
    deviation_bps: int
    heartbeat_seconds: int
    poll_interval_seconds: int
    breaker_bps: int
    targets: tuple[FeedTarget, ...]
    enabled: bool

    def columns(self) -> dict[str, Any]:
        """The values as the ``PriceFeed`` columns take them (JSON lists for sources and targets)."""
        values = asdict(self)
        values["sources"] = [dict(source) for source in self.sources]
        values["targets"] = [target.as_json() for target in self.targets]
        return values


def parse_pair(value: str) -> str:
    """``value`` as a pair ``BASE/QUOTE`` (upper case); :class:`FeedPairInvalid` otherwise."""
    if not isinstance(value, str) or not _PAIR.fullmatch(value):
        raise FeedPairInvalid(f"{str(value)[:40]!r} is not a pair like NEO/USD", pair=str(value)[:40])
    return value


def pair_from_path(segment: str) -> str:
    """The pair a URL names (``NEO-USD``, any case) as stored (``NEO/USD``)."""
    if not _PATH_PAIR.fullmatch(segment):
        raise FeedPairInvalid(f"{segment[:40]!r} is not a pair like NEO-USD", pair=segment[:40])
    return segment.upper().replace("-", "/")


def path_of(pair: str) -> str:
    """The URL form of a stored pair: ``NEO/USD`` → ``NEO-USD``."""
    return pair.replace("/", "-")


def parse_target(value: Mapping[str, Any]) -> FeedTarget:
    """One target; :class:`FeedTargetsInvalid` unless it is exactly a chain and its contract."""
    if not isinstance(value, Mapping):
        raise FeedTargetsInvalid("a target is an object")
    kind = value.get("chain")
    key = TARGET_KEYS.get(kind) if isinstance(kind, str) else None
    if key is None or set(value) != {"chain", key}:
        raise FeedTargetsInvalid(
            'a target is {"chain": "evm", "feed": "0x…"} or {"chain": "n3", "contract": "0x…"}'
        )
    address = value[key]
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise FeedTargetsInvalid(f"the {kind} target's {key} must be 0x and 40 hex digits")
    return FeedTarget("evm" if kind == "evm" else "n3", address.lower())


def parse_targets(values: Sequence[Mapping[str, Any]]) -> tuple[FeedTarget, ...]:
    """The targets, each once (none: the feed is observed and recorded, published nowhere)."""
    if len(values) > MAX_TARGETS:
        raise FeedTargetsInvalid(f"a feed has at most {MAX_TARGETS} targets")
    targets = tuple(parse_target(value) for value in values)
    if len(set(targets)) != len(targets):
        raise FeedTargetsInvalid("a target is listed twice")
    return targets


def parse_source(value: Mapping[str, Any]) -> dict[str, str | None]:
    """One source, checked by the enclave's own ``SourceSpec`` (adapter, the exchange's symbol form,
    URLs and filter), so that a feed the API takes is one the enclave observes."""
    if not isinstance(value, Mapping) or not set(value) <= set(SOURCE_FIELDS):
        raise FeedSourcesInvalid(f"a source has the fields {', '.join(SOURCE_FIELDS)}")
    name = value.get("name")
    try:
        spec = SourceSpec.model_validate_json(json.dumps(dict(value)))
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise FeedSourcesInvalid(f"source {str(name)[:40]}: {problems}", source=str(name)[:40]) from None
    return spec.model_dump()


def _problem(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_sources(values: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str | None], ...]:
    """1 to 20 sources with unique names."""
    if not 1 <= len(values) <= MAX_SOURCES:
        raise FeedSourcesInvalid(f"a feed has 1 to {MAX_SOURCES} sources, not {len(values)}")
    sources = tuple(parse_source(value) for value in values)
    if len({source["name"] for source in sources}) != len(sources):
        raise FeedSourcesInvalid("two sources have the same name")
    return sources


def parse_mad_k(value: str) -> str:
    """The outlier bound: decimal text of at least 1 (``"5"``, ``"3.5"``)."""
    try:
        # At least 1: below, one source could move the answer (the enclave refuses it too).
        valid = isinstance(value, str) and bool(_MAD_K.fullmatch(value)) and Decimal(value) >= 1
    except InvalidOperation:
        valid = False
    if not valid:
        raise FeedThresholdInvalid(
            'outlier_mad_k must be decimal text of at least 1, such as "5"', field="outlier_mad_k"
        )
    return value


def _integer(values: Mapping[str, Any], name: str) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeedThresholdInvalid(f"{name} must be an integer", field=name)
    return value


def feed_config(values: Mapping[str, Any], defaults: PriceFeedSettings) -> FeedConfig:
    """Check a definition (module docstring): the first problem found raises its typed error."""
    given = {**_defaults(defaults), **{key: value for key, value in values.items() if value is not None}}
    pair = parse_pair(given.get("pair", ""))
    decimals = given["decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise FeedDecimalsInvalid(f"decimals must be within 0..{MAX_DECIMALS}", decimals=str(decimals)[:20])
    sources = parse_sources(given.get("sources") or [])
    # Left out, min_sources is the default capped at the sources there are.
    given.setdefault("min_sources", min(defaults.default_min_sources, len(sources)))
    numbers = {name: _integer(given, name) for name in (*_POSITIVE, "breaker_bps", "min_sources")}
    for name in _POSITIVE:
        limit = (
            MAX_BPS
            if name.endswith("_bps")
            else MAX_QUOTE_AGE_SECONDS
            if name == "max_quote_age_seconds"
            else MAX_SECONDS
        )
        if not 0 < numbers[name] <= limit:
            raise FeedThresholdInvalid(f"{name} must be within 1..{limit}", field=name)
    if not 0 <= numbers["breaker_bps"] <= MAX_BPS:
        raise FeedThresholdInvalid(
            f"breaker_bps must be within 0..{MAX_BPS} (0: no breaker)", field="breaker_bps"
        )
    if numbers["heartbeat_seconds"] < numbers["poll_interval_seconds"]:
        raise FeedHeartbeatBelowPoll(
            f"heartbeat_seconds {numbers['heartbeat_seconds']} is below poll_interval_seconds "
            f"{numbers['poll_interval_seconds']}: the heartbeat could not be kept"
        )
    if numbers["breaker_bps"] and numbers["breaker_bps"] <= numbers["deviation_bps"]:
        raise FeedThresholdInvalid(
            "breaker_bps must be 0 (no breaker) or above deviation_bps: a move the breaker holds must be "
            "one that would publish",
            field="breaker_bps",
        )
    if not 1 <= numbers["min_sources"] <= len(sources):
        raise FeedMinSourcesInvalid(
            f"min_sources {numbers['min_sources']} must be within 1..{len(sources)} (the feed's sources)"
        )
    description = given.get("description") or pair
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationFailed(
            f"description is text of at most {MAX_DESCRIPTION_CHARS} characters", field="description"
        )
    enabled = given.get("enabled", True)
    return FeedConfig(
        pair=pair,
        description=description,
        decimals=decimals,
        sources=sources,
        min_sources=numbers["min_sources"],
        max_quote_age_seconds=numbers["max_quote_age_seconds"],
        outlier_mad_k=parse_mad_k(given["outlier_mad_k"]),
        max_spread_bps=numbers["max_spread_bps"],
        deviation_bps=numbers["deviation_bps"],
        heartbeat_seconds=numbers["heartbeat_seconds"],
        poll_interval_seconds=numbers["poll_interval_seconds"],
        breaker_bps=numbers["breaker_bps"],
        targets=parse_targets(given.get("targets") or []),
        enabled=bool(enabled),
    )


def _defaults(defaults: PriceFeedSettings) -> dict[str, Any]:
    return {
        "decimals": defaults.default_decimals,
        "max_quote_age_seconds": defaults.default_max_quote_age_seconds,
        "outlier_mad_k": defaults.default_outlier_mad_k,
        "max_spread_bps": defaults.default_max_spread_bps,
        "deviation_bps": defaults.default_deviation_bps,
        "heartbeat_seconds": defaults.default_heartbeat_seconds,
        "poll_interval_seconds": defaults.default_poll_interval_seconds,
        "breaker_bps": defaults.default_breaker_bps,
    }
