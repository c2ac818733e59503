"""The poller's :class:`~neo_service_layer.services.pricefeed.poller.PublisherFactory` on the configured
chains: an ``EvmPricePublisher`` per EVM target through ``NSL_EVM_RPC_URL`` and an ``N3PricePublisher`` per
N3 target through ``NSL_N3_RPC_URL``, the relayers' transactions signed in the enclave.

The chain id and network magic are the nodes' own (one question per factory, that is per poll): a target
names only its feed contract, and the EVM publisher refuses a node of another chain. The factory owns the
N3 node's connection pool: :meth:`ChainPublishers.close` when the poll ends.
"""

from __future__ import annotations

import asyncio

from web3 import Web3

from neo_service_layer.chains.evm.price_publisher import FeedNotConfigured, evm_price_publisher
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.neo_n3.price_publisher import N3PricePublisher, N3PublishPolicy
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.pricefeeds import PricePublisher
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.services.keys.platform import EnclaveRelayerSigner, N3EnclaveRelayerSigner
from neo_service_layer.services.pricefeed.params import FeedTarget


class ChainPublishers:
    """Publishers for the targets of feeds, from ``settings`` (module docstring)."""

    def __init__(self, settings: Settings, db: Database, enclave: EnclaveClient) -> None:
        self._settings = settings
        self._db = db
        self._enclave = enclave
        self._evm: tuple[Web3, int] | None = None  # the node and its chain id, once asked
        self._n3: tuple[N3Rpc, int] | None = None  # the node and its network magic, once asked

    async def publisher(self, pair: str, target: FeedTarget) -> PricePublisher:
        """The publisher of ``target``; :class:`FeedNotConfigured` when its chain is not configured here."""
        if target.kind == "evm":
            w3, chain_id = await self._evm_node()
            signer = EnclaveRelayerSigner(self._db, self._enclave, chain_id)
            return await evm_price_publisher(
                self._settings, self._db, signer, target.address, chain_id=chain_id, w3=w3
            )
        rpc, magic = await self._n3_node()
        return await N3PricePublisher.connect(
            rpc,
            target.address,
            pair,
            self._db,
            N3EnclaveRelayerSigner(self._db, self._enclave, magic),
            policy=N3PublishPolicy.from_settings(self._settings.n3),
        )

    async def close(self) -> None:
        """Release the N3 node's connections (the EVM provider holds none between calls)."""
        if self._n3 is not None:
            await self._n3[0].close()
            self._n3 = None

    async def _evm_node(self) -> tuple[Web3, int]:
        if self._evm is None:
            if not self._settings.evm.rpc_url:
                raise FeedNotConfigured("NSL_EVM_RPC_URL must be set to publish price rounds on EVM")
            w3 = node_web3(self._settings.evm.rpc_url)
            self._evm = (w3, int(await asyncio.to_thread(lambda: w3.eth.chain_id)))
        return self._evm

    async def _n3_node(self) -> tuple[N3Rpc, int]:
        if self._n3 is None:
            if not self._settings.n3.rpc_url:
                raise FeedNotConfigured("NSL_N3_RPC_URL must be set to publish price rounds on Neo N3")
            rpc = N3Rpc(self._settings.n3.rpc_url)
            try:
                self._n3 = (rpc, await rpc.magic())
            except BaseException:
                await rpc.close()
                raise
        return self._n3
