"""The worker's EVM node connection: a live node answers; a dead one fails without quoting its URL."""

from __future__ import annotations

import pytest

from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.errors import EvmRpcUnavailable
from neo_service_layer.chains.evm.rpc import node_web3


def test_a_live_node_answers_through_the_redacting_provider(devnet: EvmDevnet) -> None:
    assert node_web3(devnet.rpc_url).eth.chain_id == devnet.web3().eth.chain_id


def test_an_unreachable_node_fails_without_its_url_anywhere_in_the_error() -> None:
    w3 = node_web3(f"http://127.0.0.1:{free_port()}/v3/provider-api-key-0123", timeout=2)
    with pytest.raises(EvmRpcUnavailable) as failed:
        w3.eth.get_block_number()
    assert failed.value.code == "evm_rpc_unavailable"
    assert "eth_blockNumber" in str(failed.value)
    assert "provider-api-key" not in str(failed.value)
    # A logged traceback prints the cause and the context too: neither is kept.
    assert failed.value.__cause__ is None
    assert failed.value.__suppress_context__
