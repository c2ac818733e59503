"""``nsl feeds``: operator commands for the price feeds, straight on the database."""

from __future__ import annotations

import typer

from neo_service_layer.cli.common import cli_actor, load_settings, open_database, print_json, run
from neo_service_layer.services.pricefeed.defaults import load_default_feeds

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
