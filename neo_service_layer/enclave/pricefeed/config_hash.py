"""A feed's ``configHash``: SHA-256 of the rules that decide its price (docs/pricefeed.md, "Trust").

A feed's definition lives in the host's database, which a compromised host can rewrite — point a source
at its own server, lower the quorum, widen the spread. The enclave would then sign that price honestly.
So every report carries the hash of the rules it was observed under, and the feed contracts accept a
report only under the hash the feed's owner registered on chain: a host that rewrites the rules gets a
signed observation that no chain takes.

The hash covers what decides the answer: the pair, decimals, every source (all its fields), the quorum
(``min_sources``), ``max_quote_age_s``, ``outlier_mad_k``, ``max_spread_bps`` and ``breaker_bps``. Not
``deviation_bps`` / ``heartbeat_s``: they decide only *when* a round is published, and the host can
always withhold a round anyway. The document hashed is canonical JSON (``enclave/canonical.py``)::

    {"format": "NSL-PRICEFEED-CONFIG-V1", "pair", "decimals", "sources": [SourceSpec fields, by name],
     "min_sources", "max_quote_age_s", "outlier_mad_k" (normalized decimal text), "max_spread_bps",
     "breaker_bps"}

Sources are sorted by name (their order decides nothing) and ``outlier_mad_k`` normalized ("5.0" is "5"),
so the same rules always have the same hash. One function for everyone: the op (which computes it from
its own args, never taking it from the host), the service (``GET /v1/feeds/{pair}``, ``nsl feeds
config-hash``) and the client (recomputed from the signed request).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError

from neo_service_layer.enclave.canonical import canonical_json, sha256
from neo_service_layer.enclave.opdefs.pricefeed import PRICEFEED_ACCOUNT_ID, ObserveArgs

__all__ = ["CONFIG_FORMAT", "InvalidFeedConfig", "config_document", "config_hash", "config_hash_of_params"]

CONFIG_FORMAT: Final = "NSL-PRICEFEED-CONFIG-V1"


class InvalidFeedConfig(ValueError):
    """The rules are not a valid feed definition (``ObserveArgs``): they have no hash."""

    code = "invalid_feed_config"


def _mad_k(text: str) -> str:
    value = Decimal(text).normalize()
    return format(value, "f")


def config_document(args: ObserveArgs) -> dict[str, Any]:
    """The canonical document whose SHA-256 is the feed's ``configHash`` (module docstring)."""
    return {
        "format": CONFIG_FORMAT,
        "pair": args.pair,
        "decimals": args.decimals,
        "sources": [source.model_dump() for source in sorted(args.sources, key=lambda s: s.name)],
        "min_sources": args.min_sources,
        "max_quote_age_s": args.max_quote_age_s,
        "outlier_mad_k": _mad_k(args.outlier_mad_k),
        "max_spread_bps": args.max_spread_bps,
        "breaker_bps": args.breaker_bps,
    }


def config_hash(args: ObserveArgs) -> bytes:
    """The 32-byte ``configHash`` of the rules in ``args``."""
    return sha256(canonical_json(config_document(args)))


def config_hash_of_params(params: Mapping[str, Any]) -> bytes:
    """The ``configHash`` of ``pricefeed.observe`` params as JSON (a signed request's ``params``, or the
    service's ``observe_args``); :class:`InvalidFeedConfig` if they are no valid feed definition."""
    try:
        args = ObserveArgs.model_validate({**params, "account_id": PRICEFEED_ACCOUNT_ID})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidFeedConfig(f"not a valid feed definition: {where}: {first['msg']}") from exc
    return config_hash(args)
