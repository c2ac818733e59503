"""``nsl devnet up | status | down``: local Neo N3 and EVM chains with the NSL contracts (devnet,
chains.devnet).

``up`` imports the chain libraries (web3, neo-mamba) when it runs: every other ``nsl`` command starts
without them.
"""

from __future__ import annotations

import json

import typer

from neo_service_layer.chains.devnet import DEFAULT_EVM_BLOCK_TIME_SECONDS, stack
from neo_service_layer.chains.devnet.state import DevnetState, state_path
from neo_service_layer.cli.common import console, err_console, fail, load_settings, run
from neo_service_layer.errors import NSLError

app = typer.Typer(
    help="Local Neo N3 (neo-go) and EVM (anvil) chains with the NSL contracts.", no_args_is_help=True
)


def _print_state(state: DevnetState) -> None:
    for name, record, network in (("EVM", state.evm, "chain id"), ("Neo N3", state.n3, "magic")):
        console.print(
            f"{name}: {record.rpc_url}  ({network} {record.network}, pid {record.pid})", soft_wrap=True
        )
        console.print(f"  gateway {record.contracts['gateway']}", soft_wrap=True)
        for role, address in record.accounts.items():
            console.print(f"  {role}: {address}", soft_wrap=True)


@app.command()
def up(
    evm_block_time: int = typer.Option(
        DEFAULT_EVM_BLOCK_TIME_SECONDS, min=0, help="Seconds between EVM blocks (0: one per transaction)."
    ),
) -> None:
    """Start both chains, deploy the contracts, fund the platform's accounts, write the NSL config."""
    from neo_service_layer.devnet import up as devnet_up

    settings = load_settings()
    result = run(lambda: devnet_up.up(settings, evm_block_time=evm_block_time))
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
    """Show each chain (running, RPC URL, height, contracts); exit 1 unless both are up."""
    settings = load_settings()
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
    if not current.healthy:
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop the chains, delete the state file and the devnet's keys from the NSL config. Idempotent."""
    settings = load_settings()
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
