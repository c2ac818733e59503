"""A devnet price feed as its example consumer reads it, on each chain (``nsl devnet demo pricefeed``):
the latest round through ``PriceFeedConsumer`` (EVM ``getCheckedPrice``, N3 ``get_latest``), its round
id from the feed contract, and the chain's height."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final, Protocol

from web3 import Web3
from web3.exceptions import ContractLogicError

from neo_service_layer.chains.devnet.state import ChainRecord
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.neo_n3.relay import call_script
from neo_service_layer.chains.neo_n3.rpc import N3Rpc

#: ``getCheckedPrice``'s maximum age: a demo reads a round of the last hour.
CHECKED_MAX_AGE_SECONDS: Final = 3600


@dataclass(frozen=True, slots=True)
class OnChainRound:
    """A feed's latest round as the consumer returned it (``round_id`` from the feed contract)."""

    round_id: int
    answer: int
    observed_at: int


class FeedReader(Protocol):
    chain_name: str  # as the publishers name the chain: "evm:<chain id>", "n3:<magic>"
    consumer: str  # the example consumer's address / script hash
    feed: str  # the NSLPriceFeed (EVM: of the pair; N3: the one contract of every pair)

    async def head(self) -> int: ...
    async def latest(self) -> OnChainRound | None: ...  # None before the first round
    async def close(self) -> None: ...


def evm_description(pair: str) -> str:
    """The pair as the EVM deployment names its feed ("NEO/USD" -> "NEO / USD")."""
    return pair.replace("/", " / ")


class EvmFeedReader:
    """The pair's ``NSLPriceFeed`` and its ``PriceFeedConsumer`` on the devnet's anvil."""

    def __init__(self, record: ChainRecord, pair: str) -> None:
        description = evm_description(pair)
        build = build_contracts()
        self._w3: Web3 = node_web3(record.rpc_url)
        self.chain_name = f"evm:{record.network}"
        self.feed = record.contracts["price_feeds"][description]
        self.consumer = record.contracts["examples"][f"PriceFeedConsumer {description}"]
        self._feed = contract_at(self._w3, build["NSLPriceFeed"], self.feed)
        self._consumer = contract_at(self._w3, build["PriceFeedConsumer"], self.consumer)

    async def head(self) -> int:
        return int(await asyncio.to_thread(lambda: self._w3.eth.block_number))

    def _latest(self) -> OnChainRound | None:
        try:
            round_id, answer, _, updated_at, _ = self._feed.functions.latestRoundData().call()
            checked = self._consumer.functions.getCheckedPrice(CHECKED_MAX_AGE_SECONDS).call()
        except ContractLogicError:  # NoDataPresent before the first round; StalePrice for an old one
            return None
        if tuple(checked) != (answer, updated_at):
            return None  # a round landed between the two reads: the next read sees it whole
        return OnChainRound(int(round_id), int(checked[0]), int(checked[1]))

    async def latest(self) -> OnChainRound | None:
        return await asyncio.to_thread(self._latest)

    async def close(self) -> None:
        """Nothing held (web3's HTTP provider keeps no pool to release)."""


class N3FeedReader:
    """The devnet's ``nsl_price_feed`` and ``price_feed_consumer`` on neo-go."""

    def __init__(self, record: ChainRecord, pair: str) -> None:
        self._pair = pair
        self._rpc = N3Rpc(record.rpc_url)
        self.chain_name = f"n3:{record.network}"
        self.feed = str(record.contracts["price_feed"])
        self.consumer = str(record.contracts["examples"]["PriceFeedConsumer"])

    async def head(self) -> int:
        return await self._rpc.block_count() - 1

    async def _call(self, contract: str, method: str, args: list[Any]) -> dict[str, Any] | None:
        reply = await self._rpc.invoke_script(call_script(contract, method, args), [])
        if reply.get("state") != "HALT" or not reply.get("stack"):
            return None  # "no data present" before the first round
        return dict(reply["stack"][0])

    async def latest(self) -> OnChainRound | None:
        data = await self._call(self.feed, "latest_round_data", [self._pair])
        checked = await self._call(self.consumer, "get_latest", [self._pair])
        if data is None or checked is None:
            return None
        round_id, answer, _, updated_at, _ = (int(item["value"]) for item in data["value"])
        if [int(item["value"]) for item in checked["value"]] != [answer, updated_at]:
            return None  # a round landed between the two reads: the next read sees it whole
        return OnChainRound(round_id, answer, updated_at)

    async def close(self) -> None:
        await self._rpc.close()


def feed_reader(chain: str, record: ChainRecord, pair: str) -> FeedReader:
    """The reader of ``pair`` on ``chain`` ("evm" | "n3")."""
    return EvmFeedReader(record, pair) if chain == "evm" else N3FeedReader(record, pair)
