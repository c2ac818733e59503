"""``nsl feeds``: operator commands for the price feeds, straight on the database."""

from __future__ import annotations

import typer

from neo_service_layer.cli.common import cli_actor, load_settings, open_database, print_json, run
from neo_service_layer.enclave.opdefs.pricefeed import PRICEFEED_ACCOUNT_ID, ObserveArgs
from neo_service_layer.enclave.pricefeed.config_hash import config_document, config_hash
from neo_service_layer.services.pricefeed.defaults import load_default_feeds
from neo_service_layer.services.pricefeed.observation import feed_rules
from neo_service_layer.services.pricefeed.service import get_feed

app = typer.Typer(help="Price feeds.", no_args_is_help=True)


@app.command("load-defaults")
def load_defaults() -> None:
    """Create the shipped default feeds (NEO, GAS, BTC, ETH / USD) that do not exist yet, and print them.

    Disabled unless NSL_PRICEFEED_DEFAULT_FEEDS_ENABLED=true (they fetch the real exchanges); without
    targets until an operator adds them (PATCH /v1/feeds/{pair})."""
    settings = load_settings()

    async def body() -> list[str]:
        async with open_database(settings) as db:
            return await load_default_feeds(db, settings, cli_actor())

    print_json({"created": run(body)})


@app.command("config-hash")
def config_hash_command(
    pair: str = typer.Argument(..., help="The feed's pair: NEO/USD (or NEO-USD)"),
) -> None:
    """Print the config hash of PAIR's rules, to register on each of its targets (NSLPriceFeed
    ``setConfigHash``, nsl_price_feed ``set_config_hash``), with the rules it covers.

    The rules come from this host's database: read them before you register the hash — registering it
    vouches that prices observed under exactly these sources and thresholds may be published."""
    settings = load_settings()

    async def body() -> dict[str, object]:
        async with open_database(settings) as db, db.session(for_read=True) as session:
            feed = await get_feed(session, pair.replace("-", "/").upper())
        args = ObserveArgs.model_validate({**feed_rules(feed), "account_id": PRICEFEED_ACCOUNT_ID})
        return {
            "pair": feed.pair,
            "config_hash": "0x" + config_hash(args).hex(),
            "rules": config_document(args),
        }

    print_json(run(body))
