"""``chains.health`` against a real anvil: a live node is ready at its height."""

from __future__ import annotations

from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.health import chain_readiness
from neo_service_layer.config import Settings


async def test_a_live_node_is_ready_at_its_height_and_a_foreign_reply_is_an_rpc_error(
    devnet: EvmDevnet,
) -> None:
    # anvil mines only on transactions here, so its height cannot move between the two reads.
    checks = await chain_readiness(Settings(evm={"rpc_url": devnet.rpc_url}, n3={"rpc_url": devnet.rpc_url}))
    assert checks["evm"] == {"ok": True, "height": devnet.web3().eth.block_number}
    # anvil answers N3's getblockcount with a JSON-RPC error: a node, but not the chain configured.
    assert checks["neo_n3"] == {"ok": False, "error": "rpc_error"}
