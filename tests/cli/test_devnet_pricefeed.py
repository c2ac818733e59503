"""``nsl devnet demo pricefeed`` end to end on the session's devnet (conftest): no ``nsl serve`` runs
(this module comes after test_devnet_demo.py's), so the demo's own polls publish — the price moved on the
exchange simulator ``up`` started, observed by the real enclave, published on the real chains, and read
back here from the chains themselves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.cli.devnet_helpers import Devnet, feed_latest, rpc
from tests.cli.test_devnet_demo import fields

pytestmark = pytest.mark.slow


def _transaction_block(devnet: Devnet, chain: str, tx_hash: str) -> int:
    state = devnet.state()
    if chain == "evm":
        receipt = rpc(state["evm"]["rpc_url"], "eth_getTransactionReceipt", [tx_hash])
        assert receipt["status"] == "0x1"
        return int(receipt["blockNumber"], 16)
    log = rpc(state["n3"]["rpc_url"], "getapplicationlog", [tx_hash])
    assert log["executions"][0]["vmstate"] == "HALT"
    return int(rpc(state["n3"]["rpc_url"], "gettransactionheight", [tx_hash]))


@pytest.mark.parametrize(
    ("chain", "pair", "price"),
    [
        pytest.param("evm", "NEO/USD", None, id="evm-neo-default-move"),
        pytest.param("n3", "BTC/USD", "101234.5", id="n3-btc-given-price"),
    ],
)
def test_pricefeed_demo(devnet: Devnet, chain: str, pair: str, price: str | None) -> None:
    extra = [] if price is None else ["--price", price]
    result = devnet.nsl("demo", "pricefeed", "--chain", chain, "--pair", pair, *extra, "--timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = fields(result.stdout)
    before, after = shown["moved"][0].split(" on every exchange")[0].split(" -> ")
    moved_to = Decimal(after)
    if price is None:
        assert moved_to == (Decimal(before) * Decimal("1.05")).quantize(Decimal("0.0001"))
    else:
        assert moved_to == Decimal(price)

    latest = feed_latest(devnet, chain, pair)
    assert latest is not None
    round_id, answer, observed_at = latest
    assert shown["round"] == [str(round_id)]
    assert shown["answer"][0].split()[0] == str(answer)
    assert shown["observed at"][0].endswith(f"({observed_at})")
    # The simulator's prices walk (±0.2 % every 5 s) from the price set: the round carries the move.
    assert abs(Decimal(answer) / 10**8 - moved_to) <= moved_to * Decimal("0.01")

    tx_hash, block = shown["transaction"][0].split("  (block ")
    assert _transaction_block(devnet, chain, tx_hash) == int(block.rstrip(")"))
    blocks, seconds = shown["took"][0].split(" blocks, ")
    assert int(blocks) >= 1
    assert float(seconds.split(" s")[0]) < 90
    if chain == "n3":
        assert shown["consumer"] == [devnet.state()["n3"]["contracts"]["examples"]["PriceFeedConsumer"]]
    else:
        examples = devnet.state()["evm"]["contracts"]["examples"]
        assert shown["consumer"] == [examples[f"PriceFeedConsumer {pair.replace('/', ' / ')}"]]
