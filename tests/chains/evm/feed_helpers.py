"""Set-up of the price publisher tests: the platform (real enclave relayer, real database) publishing to the
session deployment's NEO / USD ``NSLPriceFeed``, with reports signed by the key the gateway trusts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.price_feed_rpc import PriceFeedRpc
from neo_service_layer.chains.evm.price_publisher import EvmPricePublisher, publication_key
from neo_service_layer.chains.evm.relay import EvmRelay, FulfilPolicy
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.fulfilments import ChainFulfilment, FulfilmentStore
from neo_service_layer.chains.pricefeeds import SignedReport
from neo_service_layer.config.groups import (
    DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI,
    DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS,
)
from neo_service_layer.services.keys.platform import EnclaveRelayerSigner
from tests.chains.evm.flows import Nsl
from tests.chains.evm.fulfil_helpers import Platform
from tests.chains.evm.helpers import EnclaveKey
from tests.chains.fulfilment_rows import fulfilment_row, wait_fulfilment

NEO_USD = 12_34_000_000  # 12.34 with 8 decimals
#: The rules' hash the session deployment registers for NEO / USD (``deploy_nsl(config_hashes=...)``).
TEST_CONFIG_HASH = hashlib.sha256(b"NEO / USD test rules").digest()


@dataclass(frozen=True)
class Feed:
    """The platform and the feed it publishes to."""

    platform: Platform

    @property
    def nsl(self) -> Nsl:
        return self.platform.nsl

    @property
    def address(self) -> str:
        return str(self.nsl.feed.address)

    @property
    def relayer(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self.platform.keys.relayer)

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.nsl.w3.eth.get_block("latest")["timestamp"])

    def report(
        self,
        round_id: int,
        answer: int,
        observed_at: int,
        key: EnclaveKey | None = None,
        config_hash: bytes = TEST_CONFIG_HASH,
    ) -> SignedReport:
        """A report signed as the enclave signs it (by the key the gateway trusts unless ``key``), under
        the feed's registered rules unless ``config_hash``."""
        digest = messages.price_report_digest(
            self.nsl.chain_id, self.address, round_id, answer, observed_at, config_hash
        )
        return SignedReport(round_id, answer, observed_at, (key or self.nsl.enclave).sign(digest))

    def transmit(self, report: SignedReport) -> None:
        """Someone else (the test user) relays ``report``."""
        fn = self.nsl.feed.functions.transmit(
            report.round_id, report.answer, report.observed_at, report.signature
        )
        transact(self.nsl.w3, self.nsl.user, fn)

    def publisher(
        self,
        *,
        relay: type[EvmRelay] = EvmRelay,
        max_fee_wei: int = DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI,
        observation_wait_seconds: float = DEFAULT_EVM_PRICEFEED_OBSERVATION_WAIT_SECONDS,
        **policy: Any,
    ) -> EvmPricePublisher:
        """A fresh publisher (as a restarted worker builds it), polling fast, with a ``relay`` class."""
        nsl, platform = self.nsl, self.platform
        rpc = PriceFeedRpc(nsl.w3, self.address)
        store = FulfilmentStore(platform.db, platform.chain)
        signer = EnclaveRelayerSigner(platform.db, platform.enclave, nsl.chain_id)
        sender = relay(
            rpc, store, signer, chain_id=nsl.chain_id, policy=FulfilPolicy(poll_seconds=0.05, **policy)
        )
        return EvmPricePublisher(
            rpc,
            store,
            signer,
            chain_id=nsl.chain_id,
            max_fee_wei=max_fee_wei,
            relay=sender,
            observation_wait_seconds=observation_wait_seconds,
        )

    def key(self, round_id: int) -> str:
        return publication_key(self.platform.chain, self.address, round_id)

    async def row(self, round_id: int) -> ChainFulfilment | None:
        return await fulfilment_row(self.platform.db, self.platform.chain, self.key(round_id))

    async def wait_status(self, round_id: int, *statuses: str) -> ChainFulfilment:
        return await wait_fulfilment(
            self.platform.db, self.platform.chain, self.key(round_id), *statuses, within=20
        )

    def sent(self) -> int:
        """Transactions the relayer has had mined."""
        return int(self.nsl.w3.eth.get_transaction_count(self.relayer))

    def rounds(self) -> list[Any]:
        """Every ``AnswerUpdated`` event of the feed."""
        return list(self.nsl.feed.events.AnswerUpdated().get_logs(from_block=0))

    def knows(self, tx_hash: str | None) -> bool:
        assert tx_hash is not None
        return PriceFeedRpc(self.nsl.w3, self.address).knows(tx_hash)


def trust_test_signer(platform: Platform) -> Feed:
    """Make the gateway trust the session's stand-in enclave key for reports (``wire_platform`` registered
    the real enclave's identity; the observe op that signs reports with it is another part of issue 15)."""
    nsl = platform.nsl
    g = nsl.gateway.functions
    transact(nsl.w3, nsl.owner, g.setEnclave(nsl.enclave.address, g.enclaveMeasurement().call()))
    return Feed(platform)
