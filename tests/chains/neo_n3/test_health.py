"""``chains.health`` against a real neo-go: a live node is ready at its height."""

from __future__ import annotations

from neo_service_layer.chains.health import chain_readiness
from neo_service_layer.chains.neo_n3.devnet import N3Devnet
from neo_service_layer.config import Settings


async def test_a_live_node_is_ready_at_its_height(n3_devnet: N3Devnet) -> None:
    before = n3_devnet.block_count() - 1
    checks = await chain_readiness(Settings(n3={"rpc_url": n3_devnet.rpc_url}))
    after = n3_devnet.block_count() - 1
    assert set(checks) == {"neo_n3"}
    assert checks["neo_n3"]["ok"] is True
    assert before <= checks["neo_n3"]["height"] <= after  # a block a second: read between two counts
