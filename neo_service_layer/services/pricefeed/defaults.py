"""Loading the shipped default feeds (``services/pricefeed/default_feeds.py``) into the database.

``nsl feeds load-defaults`` runs it, and ``nsl worker`` at start when ``NSL_PRICEFEED_LOAD_DEFAULT_FEEDS``
is set. Idempotent: a pair that has a feed is left as the operator made it. The feeds are created
disabled unless ``NSL_PRICEFEED_DEFAULT_FEEDS_ENABLED`` (they fetch the real exchanges) and with no
targets (an operator adds the contracts: ``PATCH /v1/feeds/{pair}``; ``nsl devnet up`` passes its own).
The creation is audited as the operator's (or the worker's) change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.services.audit.chain import AuditEvent, append
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.service import definition_of, load_feeds

LOAD_ACTION: Final = "feeds.load_defaults"


def devnet_feeds(
    base_urls: Mapping[str, str], evm_feeds: Mapping[str, str], n3_contract: str | None
) -> dict[str, dict[str, Any]]:
    """The shipped feeds as a devnet runs them: sources on its exchange simulator (``base_urls`` by
    exchange, ``devnet.exchanges.SimulatorServer.base_urls``), published to its ``NSLPriceFeed`` of each
    pair (``evm_feeds`` by pair, ``NEO/USD``) and its N3 feed contract (every pair)."""
    feeds = {}
    for pair, feed in DEFAULT_FEEDS.items():
        targets = [{"chain": "evm", "feed": evm_feeds[pair]}] if pair in evm_feeds else []
        if n3_contract is not None:
            targets.append({"chain": "n3", "contract": n3_contract})
        feeds[pair] = {**definition_of(pointed_at(feed, base_urls)), "targets": targets}
    return feeds


async def load_default_feeds(
    db: Database,
    settings: Settings,
    actor: str,
    feeds: Mapping[str, object] | Iterable[object] | None = None,
    *,
    enabled: bool | None = None,
) -> list[str]:
    """Create the default feeds (``feeds``, or the shipped ones) that do not exist; the pairs created.

    ``enabled`` (default: ``NSL_PRICEFEED_DEFAULT_FEEDS_ENABLED``) says whether they are created enabled.
    """
    definitions: Mapping[str, object] | Iterable[object] = DEFAULT_FEEDS if feeds is None else feeds
    enabled = settings.pricefeed.default_feeds_enabled if enabled is None else enabled
    async with db.transaction() as session:
        created = await load_feeds(
            session,
            definitions,
            settings.pricefeed,
            utcnow(),
            enabled=enabled,
        )
        if created:
            event = AuditEvent(
                actor=actor,
                action=LOAD_ACTION,
                resource="/v1/feeds",
                outcome=Outcome.SUCCESS,
                status_code=201,
                request_id="defaults",
                account_id=None,
                details={"pairs": created, "enabled": enabled},
            )
            await append(session, event)
    return created
