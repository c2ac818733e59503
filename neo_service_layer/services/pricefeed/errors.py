"""Errors of the price feed service (docs/pricefeed.md). Codes are public API, never renamed.

These refuse a feed definition or name a feed or round that does not exist. What happens to a feed
once it runs (too few sources, a spread too wide, a transmission refused on chain) is recorded with the
observation and the transmission, never an HTTP error.
"""

from __future__ import annotations

from neo_service_layer.errors import Conflict, NotFound, ValidationFailed


class FeedNotFound(NotFound):
    code = "feed_not_found"
    title = "No price feed for this pair"


class PriceRoundNotFound(NotFound):
    code = "price_round_not_found"
    title = "The feed has no such round"


class FeedExists(Conflict):
    code = "feed_exists"
    title = "A feed for this pair exists already"


class FeedPairInvalid(ValidationFailed):
    code = "feed_pair_invalid"
    title = "A pair is BASE/QUOTE in upper case (NEO-USD in a URL): 1-16 letters or digits each"


class FeedDecimalsInvalid(ValidationFailed):
    code = "feed_decimals_invalid"
    title = "decimals must be within 0..18"


class FeedHeartbeatBelowPoll(ValidationFailed):
    code = "feed_heartbeat_below_poll_interval"
    title = "The heartbeat must not be shorter than the poll interval"


class FeedThresholdInvalid(ValidationFailed):
    code = "feed_threshold_invalid"
    title = "Thresholds, intervals and ages must be positive (breaker_bps: 0 for none)"


class FeedMinSourcesInvalid(ValidationFailed):
    code = "feed_min_sources_invalid"
    title = "min_sources must be within 1..the number of sources"


class FeedSourcesInvalid(ValidationFailed):
    code = "feed_sources_invalid"
    title = "A feed has 1 to 20 sources with unique names, each of a known adapter"


class FeedTargetsInvalid(ValidationFailed):
    code = "feed_targets_invalid"
    title = 'A target is {"chain": "evm", "feed": "0x…"} or {"chain": "n3", "contract": "0x…"}, once each'
