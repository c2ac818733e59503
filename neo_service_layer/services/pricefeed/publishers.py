"""The poller's :class:`~neo_service_layer.services.pricefeed.poller.PublisherFactory` on the configured
chains: an ``EvmPricePublisher`` per EVM target through ``NSL_EVM_RPC_URL`` (the relayer's transactions
signed in the enclave), the N3 publisher once it exists.

The EVM chain id is the node's own (one question per factory, that is per poll): a target names only
its feed contract, and the publisher refuses a node of another chain.
"""

from __future__ import annotations

import asyncio

from web3 import Web3

from neo_service_layer.chains.evm.price_publisher import FeedNotConfigured, evm_price_publisher
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.pricefeeds import PricePublisher
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.services.keys.platform import EnclaveRelayerSigner
from neo_service_layer.services.pricefeed.params import FeedTarget


class ChainPublishers:
    """Publishers for the targets of feeds, from ``settings`` (module docstring)."""

    def __init__(self, settings: Settings, db: Database, enclave: EnclaveClient) -> None:
        self._settings = settings
        self._db = db
        self._enclave = enclave
        self._evm: tuple[Web3, int] | None = None  # the node and its chain id, once asked

    async def publisher(self, pair: str, target: FeedTarget) -> PricePublisher:
        """The publisher of ``target``; :class:`FeedNotConfigured` when its chain is not configured here."""
        if target.kind == "evm":
            w3, chain_id = await self._evm_node()
            signer = EnclaveRelayerSigner(self._db, self._enclave, chain_id)
            return await evm_price_publisher(
                self._settings, self._db, signer, target.address, chain_id=chain_id, w3=w3
            )
        raise FeedNotConfigured(
            f"no publisher for N3 price feeds in this build (target {target.address} of {pair})"
        )

    async def _evm_node(self) -> tuple[Web3, int]:
        if self._evm is None:
            if not self._settings.evm.rpc_url:
                raise FeedNotConfigured("NSL_EVM_RPC_URL must be set to publish price rounds on EVM")
            w3 = node_web3(self._settings.evm.rpc_url)
            self._evm = (w3, int(await asyncio.to_thread(lambda: w3.eth.chain_id)))
        return self._evm
