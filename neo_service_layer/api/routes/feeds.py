"""Price feeds (``/v1/feeds``): every account reads them, platform operators define them.

Thin routes: reads need ``pricefeed:read`` (any role), writes are the operators' (``AdminCtx``; a tenant,
even an owner, gets 403 ``forbidden``). A pair in a URL is ``NEO-USD`` (any case). Every change is
audited with the pair and the feed id; reads with the pair (and round).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from neo_service_layer.api.context import RequestContext, audit_resource
from neo_service_layer.api.guards import AdminCtx, Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, problems
from neo_service_layer.api.routes.feeds_schemas import FeedIn, FeedOut, FeedPatch, RoundOut, RoundSummary
from neo_service_layer.db.base import utcnow
from neo_service_layer.services.accounts.scopes import READ
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound
from neo_service_layer.services.pricefeed.params import feed_config, pair_from_path, path_of

SERVICE = "pricefeed"
PREFIX = "/v1/feeds"
FeedsRead = Annotated[RequestContext, Requires(SERVICE, READ)]
router = APIRouter(prefix=PREFIX, tags=["feeds"], responses=AUTHENTICATED)
# The pair as URLs name it; its syntax is checked by the service (feed_pair_invalid), not here.
PathPair = Annotated[str, Path(max_length=64, description="BASE-QUOTE, e.g. NEO-USD (any case)")]
RoundId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A round id (1, 2, …)")]


def _audit(ctx: RequestContext, feed: PriceFeed, suffix: str = "", **details: object) -> None:
    ctx.resource = audit_resource(f"{PREFIX}/{path_of(feed.pair)}{suffix}")
    ctx.audit_details = {"pair": feed.pair, "feed_id": feed.id, **details}


@router.get("", name="feeds.list")
async def list_feeds(ctx: FeedsRead, page: PageDep) -> Page[FeedOut]:
    """Every feed with its latest round, by pair (cursor pagination)."""
    found: Page[Any] = await paginate(
        ctx.session, service.list_statement(), PriceFeed.pair, page, lambda f: f
    )
    feeds: list[PriceFeed] = found.items
    latest = await service.latest_rounds(ctx.session, [feed.id for feed in feeds])
    now = utcnow()
    return Page[FeedOut](
        items=[FeedOut.of(feed, latest.get(feed.id), now) for feed in feeds], next_cursor=found.next_cursor
    )


@router.get("/{pair}", name="feeds.get", responses=problems(404))
async def get_feed(pair: PathPair, ctx: FeedsRead) -> FeedOut:
    """The feed, its latest answer (round, updated at, staleness, each source's value) and the latest
    observation, published or not."""
    feed = await service.get_feed(ctx.session, pair_from_path(pair))
    _audit(ctx, feed)
    return FeedOut.of(feed, await service.latest_round(ctx.session, feed.id))


@router.get("/{pair}/rounds", name="feeds.rounds", responses=problems(404))
async def list_rounds(pair: PathPair, ctx: FeedsRead, page: PageDep) -> Page[RoundSummary]:
    """The feed's rounds, oldest first (cursor pagination)."""
    feed = await service.get_feed(ctx.session, pair_from_path(pair))
    _audit(ctx, feed, "/rounds")
    return await paginate(
        ctx.session,
        service.rounds_statement(feed.id),
        PriceRound.round_id,
        page,
        lambda row: RoundSummary.of(feed, row),
    )


@router.get("/{pair}/rounds/{round_id}", name="feeds.round", responses=problems(404))
async def get_round(pair: PathPair, round_id: RoundId, ctx: FeedsRead) -> RoundOut:
    """One round with its transmissions and the enclave's signed observation."""
    feed = await service.get_feed(ctx.session, pair_from_path(pair))
    row = await service.get_round(ctx.session, feed, round_id)
    _audit(ctx, feed, f"/rounds/{round_id}", round_id=round_id)
    return RoundOut.signed(feed, row, await service.transmissions(ctx.session, feed.id, [round_id]))


@router.post("", status_code=201, response_model=FeedOut, name="feeds.create", responses=problems(409, 422))
@idempotent()
async def create_feed(body: FeedIn, ctx: AdminCtx) -> FeedOut:
    """Define a feed (operators only); fields left out take the operator's defaults."""
    config = feed_config({"pair": body.pair, **body.values()}, ctx.state.settings.pricefeed)
    feed = await service.create_feed(ctx.session, config, utcnow())
    _audit(ctx, feed, enabled=feed.enabled, targets=len(feed.targets), sources=len(feed.sources))
    return FeedOut.of(feed)


@router.patch("/{pair}", name="feeds.update", responses=problems(404, 422))
async def update_feed(pair: PathPair, body: FeedPatch, ctx: AdminCtx) -> FeedOut:
    """Change a feed (operators only): the whole definition is checked again."""
    changes = body.values()
    feed = await service.update_feed(
        ctx.session, pair_from_path(pair), changes, ctx.state.settings.pricefeed, utcnow()
    )
    _audit(ctx, feed, changed=sorted(changes))
    return FeedOut.of(feed, await service.latest_round(ctx.session, feed.id))


@router.delete("/{pair}", status_code=204, name="feeds.delete", responses=problems(404))
async def delete_feed(pair: PathPair, ctx: AdminCtx) -> Response:
    """Remove a feed and its history here (the rounds on chain stay)."""
    feed = await service.delete_feed(ctx.session, pair_from_path(pair))
    _audit(ctx, feed)
    return Response(status_code=204)
