"""``nsl devnet up | status | down | demo``: local Neo N3 and EVM chains with the NSL contracts (devnet,
chains.devnet), and a first request through them (devnet.demo).

``up`` and ``demo`` import the chain libraries (web3, neo-mamba) when they run: every other ``nsl``
command starts without them. Progress is printed for people (rich); logs follow ``NSL_LOG_FORMAT``
(``auto``: human-readable on a terminal, JSON otherwise).
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation

import typer

from neo_service_layer.chains.devnet import DEFAULT_EVM_BLOCK_TIME_SECONDS, stack
from neo_service_layer.chains.devnet.state import DevnetState, state_path
from neo_service_layer.cli.common import cli_actor, console, err_console, fail, load_settings, run
from neo_service_layer.config import Settings
from neo_service_layer.errors import NSLError
from neo_service_layer.logging import configure_logging

app = typer.Typer(
    help="Local Neo N3 (neo-go) and EVM (anvil) chains with the NSL contracts.", no_args_is_help=True
)
demo_app = typer.Typer(
    help="Send one request from an example consumer and show its callback (nsl serve must run), or move "
    "a price and follow its feed to the chain.",
    no_args_is_help=True,
)
app.add_typer(demo_app, name="demo")


def _settings() -> Settings:
    """The settings, with logs configured as they say (``auto``: for people on a terminal)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    # Alembic's info lines name each migration: ``up`` says "preparing the database" instead.
    alembic = logging.getLogger("alembic")
    alembic.setLevel(max(logging.getLogger().level, logging.WARNING))
    return settings


def _print_state(state: DevnetState) -> None:
    for name, record, network in (("EVM", state.evm, "chain id"), ("Neo N3", state.n3, "magic")):
        console.print(
            f"{name}: {record.rpc_url}  ({network} {record.network}, pid {record.pid})", soft_wrap=True
        )
        console.print(f"  gateway {record.contracts['gateway']}", soft_wrap=True)
        for role, address in record.accounts.items():
            console.print(f"  {role}: {address}", soft_wrap=True)
    if state.exchanges is not None:
        sim = state.exchanges
        console.print(f"Exchange simulator: {sim.base_url}  (pid {sim.pid}, log {sim.log})", soft_wrap=True)
        console.print(f"  price feeds on both chains: {', '.join(sim.feeds)}", soft_wrap=True)


def _progress(step: str) -> None:
    err_console.print(f"… {step}", soft_wrap=True)


@app.command()
def up(
    evm_block_time: int = typer.Option(
        DEFAULT_EVM_BLOCK_TIME_SECONDS, min=0, help="Seconds between EVM blocks (0: one per transaction)."
    ),
) -> None:
    """Start both chains, deploy the contracts, fund the platform's accounts, write the NSL config."""
    from neo_service_layer.devnet import up as devnet_up

    settings = _settings()
    result = run(
        lambda: devnet_up.up(settings, evm_block_time=evm_block_time, progress=_progress, actor=cli_actor())
    )
    if not result.started:
        console.print("devnet already up; nothing changed")
        _print_state(result.state)
        return
    if result.admin_key is not None:
        err_console.print(f"First start. Admin API key (shown once, store it now):\n{result.admin_key}")
    console.print(f"devnet up (state in {state_path(settings.data_dir)})", soft_wrap=True)
    _print_state(result.state)
    console.print(f"wrote {', '.join(stack.CONFIG_KEYS)} to {result.config_file}", soft_wrap=True)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show each chain (running, RPC URL, height, contracts) and the exchange simulator; exit 1 unless
    all are up."""
    settings = _settings()
    try:
        current = stack.status(settings)
    except NSLError as e:
        fail(e)
    if as_json:
        console.print(json.dumps(current.to_dict(), indent=2), soft_wrap=True)
    elif not current.recorded:
        console.print("no devnet (nsl devnet up starts one)")
    else:
        for chain in current.chains:
            height = "-" if chain.height is None else str(chain.height)
            console.print(
                f"{chain.name:<7} {'running' if chain.running else 'DOWN':<8} pid {chain.pid:<8} "
                f"{chain.rpc_url}  height {height}  gateway {chain.contracts.get('gateway', '-')}",
                soft_wrap=True,
            )
        if current.exchanges is not None:
            sim = current.exchanges
            console.print(
                f"{stack.EXCHANGES:<9} {'running' if sim.running else 'DOWN':<8} pid {sim.pid:<8} "
                f"{sim.base_url}  feeds {', '.join(sim.feeds) or '-'}",
                soft_wrap=True,
            )
    if not current.healthy:
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop the chains and the exchange simulator, delete the state file and the devnet's keys from the
    NSL config. Idempotent."""
    settings = _settings()
    try:
        result = stack.down(settings)
    except NSLError as e:
        fail(e)
    if not result.recorded:
        console.print("no devnet is up; nothing to do")
        return
    stopped = ", ".join(result.stopped) or "none (already stopped)"
    console.print(f"devnet down; stopped: {stopped}")
    if result.config_keys_removed:
        console.print("removed the devnet's keys from the NSL config")


CHAIN_HELP = "evm (anvil) or n3 (neo-go)."
TIMEOUT_HELP = "Seconds to wait for the callback."


def _chain(value: str) -> str:
    from neo_service_layer.devnet.demo import CHAINS

    if value not in CHAINS:
        raise typer.BadParameter(f"one of {', '.join(CHAINS)}")
    return value


def _seed(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as e:
        raise typer.BadParameter("hex bytes, e.g. 0x0102") from e


@demo_app.command("randomness")
def demo_randomness(
    chain: str = typer.Option("evm", "--chain", callback=_chain, help=CHAIN_HELP),
    seed: str | None = typer.Option(None, help="The request's seed, hex (default: 16 random bytes)."),
    signature_only: bool = typer.Option(
        False, "--signature-only", help="Skip the gateway's on-chain proof check (cheaper)."
    ),
    timeout: float = typer.Option(60.0, min=1, help=TIMEOUT_HELP),
) -> None:
    """Request DY-VRF randomness from the example RandomnessConsumer; print it and how to verify it."""
    from neo_service_layer.devnet import demo

    settings = _settings()
    _progress(f"requesting randomness on {chain}; waiting for nsl serve to fulfil it (up to {timeout:.0f} s)")
    result = run(
        lambda: demo.randomness(
            settings, chain, seed=_seed(seed), verify_on_chain=not signature_only, within=timeout
        )
    )
    for line in demo.randomness_lines(result):
        console.print(line, soft_wrap=True)
    if not (result.delivery.callback_success and result.verified_offline):
        err_console.print("Error: the callback failed or the proof did not verify (above)")
        raise typer.Exit(1)


@demo_app.command("oracle")
def demo_oracle(
    chain: str = typer.Option("evm", "--chain", callback=_chain, help=CHAIN_HELP),
    url: str | None = typer.Option(
        None, help="An https URL the enclave fetches (default: NEO/USDT on Binance)."
    ),
    filter_: str | None = typer.Option(
        None,
        "--filter",
        help='A JSONPath into the answer (default with the default URL: "$.price"; "" for none).',
    ),
    extract: str | None = typer.Option(
        None, help='EVM: deliver a typed value, ABI-encoded: "uint256:8", "int256", "bool", "string".'
    ),
    timeout: float = typer.Option(60.0, min=1, help=TIMEOUT_HELP),
) -> None:
    """Ask the example OracleConsumer for a URL (and a filter); print the code and the data delivered."""
    from neo_service_layer.devnet import demo
    from neo_service_layer.devnet.demo.formats import extract_spec

    if extract:
        if chain != "evm":
            raise typer.BadParameter(
                "for --chain evm only (an N3 callback gets JSON text)", param_hint="--extract"
            )
        try:
            extract_spec(extract)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--extract") from e
    settings = _settings()
    target = url or demo.DEFAULT_ORACLE_URL
    # The default filter belongs to the default URL; another URL gets none unless one is given.
    chosen = filter_ if filter_ is not None else (demo.DEFAULT_ORACLE_FILTER if url is None else None)
    _progress(f"requesting {target} on {chain}; waiting for nsl serve to fulfil it (up to {timeout:.0f} s)")
    result = run(
        lambda: demo.oracle(
            settings, chain, url=target, filter_=chosen or None, extract=extract, within=timeout
        )
    )
    for line in demo.oracle_lines(result):
        console.print(line, soft_wrap=True)
    if not result.delivery.callback_success:
        err_console.print("Error: the consumer's callback failed (above)")
        raise typer.Exit(1)


@demo_app.command("functions")
def demo_functions(
    chain: str = typer.Option("evm", "--chain", callback=_chain, help=CHAIN_HELP),
    args: str | None = typer.Option(
        None, help='The args as JSON text (default: {"a": 2, "b": 40}; the demo function adds a and b).'
    ),
    timeout: float = typer.Option(60.0, min=1, help=TIMEOUT_HELP),
) -> None:
    """Call a function from the example FunctionsConsumer (the demo function, deployed once in the
    system account with the consumer allowed); print the code, the hash of the code that ran and the
    result delivered."""
    from neo_service_layer.devnet import demo

    settings = _settings()
    _progress(
        f"calling the demo function on {chain}; waiting for nsl serve to fulfil it (up to {timeout:.0f} s)"
    )
    result = run(lambda: demo.functions(settings, chain, args=args, within=timeout))
    for line in demo.functions_lines(result):
        console.print(line, soft_wrap=True)
    if not result.delivery.callback_success or result.code != "Success":
        err_console.print("Error: the call did not succeed (above)")
        raise typer.Exit(1)


FEED_PAIRS = ("NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD")  # the feeds nsl devnet up creates


def _pair(value: str) -> str:
    if value.upper() not in FEED_PAIRS:
        raise typer.BadParameter(f"one of {', '.join(FEED_PAIRS)}")
    return value.upper()


def _price(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(value)
    except InvalidOperation as e:
        raise typer.BadParameter("a decimal number, e.g. 12.5") from e
    if not price.is_finite() or price <= 0:
        raise typer.BadParameter("a positive decimal number, e.g. 12.5")
    return price


@demo_app.command("pricefeed")
def demo_pricefeed(
    chain: str = typer.Option("evm", "--chain", callback=_chain, help=CHAIN_HELP),
    pair: str = typer.Option(
        "NEO/USD", callback=_pair, help="The feed: NEO/USD, GAS/USD, BTC/USD or ETH/USD."
    ),
    price: str | None = typer.Option(
        None, help="The new price on every exchange of the simulator (default: 5 % above the current one)."
    ),
    timeout: float = typer.Option(60.0, min=1, help="Seconds to wait for the new round on chain."),
) -> None:
    """Move a price on the devnet's exchange simulator, poll the feed until the new round is on chain,
    and read it back through the example PriceFeedConsumer."""
    from neo_service_layer.devnet import demo

    new_price = _price(price)
    settings = _settings()
    _progress(f"moving {pair} on the exchange simulator; polling its feed on {chain} (up to {timeout:.0f} s)")
    result = run(
        lambda: demo.pricefeed(
            settings, chain, pair=pair, price=new_price, within=timeout, progress=_progress
        )
    )
    for line in demo.pricefeed_lines(result):
        console.print(line, soft_wrap=True)
