"""What the price publisher asks an EVM node about one ``NSLPriceFeed``: its latest round, one round, the
``AnswerUpdated`` log that wrote a round, and revert reasons decoded with the feed's errors; and the
``transmit`` call data.

Like :mod:`.gateway_rpc`, the ABI pieces are written here from their Solidity signatures (a test checks
them against solc's ABI of ``NSLPriceFeed``), so the worker needs no contract build. Blocking calls: the
publisher runs them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.types import FilterParams, LogReceipt, TxParams, TxReceipt

from neo_service_layer.chains.evm.contract_rpc import ContractRpc, error_table, revert_data, selector
from neo_service_layer.chains.pricefeeds import ChainRound, SignedReport

TRANSMIT_SIGNATURE = "transmit(uint80,int256,uint64,bytes)"
LATEST_ROUND_DATA_SIGNATURE = "latestRoundData()"
GET_ROUND_DATA_SIGNATURE = "getRoundData(uint80)"
CONFIG_HASH_SIGNATURE = "configHash()"
ANSWER_UPDATED_SIGNATURE = "AnswerUpdated(int256,uint256,uint256)"
ANSWER_UPDATED_TOPIC = keccak(text=ANSWER_UPDATED_SIGNATURE)
#: The custom errors ``transmit`` and the readers can revert with: NSLPriceFeed's own and its library's.
FEED_ERRORS: tuple[str, ...] = (
    "NoDataPresent()",
    "UnexpectedRound(uint80,uint80)",
    "InvalidObservationTime(uint64,uint64)",
    "NotEnclaveSigned(address)",
    "GatewayPaused()",
    "ConfigNotSet()",
    "NotOwner(address)",
    "InvalidSignature()",
)
#: Blocks searched back from the head for the ``AnswerUpdated`` log of a round the chain has but no
#: receipt of ours explains (nodes cap the range of one eth_getLogs query; a day of 1 s blocks is 86,400).
ANSWER_LOG_WINDOW = 10_000
_ROUND_TYPES = ["uint80", "int256", "uint256", "uint256", "uint80"]


@dataclass(frozen=True, slots=True)
class AnswerLog:
    """On-chain evidence of a round: the transaction that wrote it."""

    tx_hash: str
    block_number: int
    answer: int
    updated_at: int


def transmit_calldata(report: SignedReport) -> bytes:
    """ABI call data of ``transmit(roundId, answer, observedAt, signature)``."""
    return selector(TRANSMIT_SIGNATURE) + abi_encode(
        ["uint80", "int256", "uint64", "bytes"],
        [report.round_id, report.answer, report.observed_at, report.signature],
    )


class PriceFeedRpc(ContractRpc):
    """Blocking reads and sends for one ``NSLPriceFeed`` (run them in a thread)."""

    errors = error_table(FEED_ERRORS)

    def round(self, round_id: int) -> ChainRound | None:
        """``getRoundData(round_id)``, or None for a round never written (``NoDataPresent``)."""
        return self._round(selector(GET_ROUND_DATA_SIGNATURE) + abi_encode(["uint80"], [round_id]))

    def latest(self) -> ChainRound | None:
        """``latestRoundData()``, or None before the first round (``NoDataPresent``)."""
        return self._round(selector(LATEST_ROUND_DATA_SIGNATURE))

    def latest_block_time(self) -> int:
        """The timestamp of the chain's latest block: the newest observation time ``transmit`` takes."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def config_hash(self) -> bytes | None:
        """``configHash()``: the hash of the rules the feed takes reports under, None before one is set."""
        raw = bytes(
            self.w3.eth.call(
                cast(TxParams, {"to": self.address, "data": HexBytes(selector(CONFIG_HASH_SIGNATURE))})
            )
        )
        (value,) = abi_decode(["bytes32"], raw)
        return None if value == bytes(32) else bytes(value)

    def _round(self, data: bytes) -> ChainRound | None:
        try:
            raw = bytes(self.w3.eth.call(cast(TxParams, {"to": self.address, "data": HexBytes(data)})))
        except ContractLogicError as e:
            if self.decode_revert(revert_data(e)) == "NoDataPresent()":
                return None
            raise
        round_id, answer, _started, updated, _answered = abi_decode(_ROUND_TYPES, raw)
        return ChainRound(round_id=int(round_id), answer=int(answer), updated_at=int(updated))

    def find_answer(self, round_id: int, window: int = ANSWER_LOG_WINDOW) -> AnswerLog | None:
        """The ``AnswerUpdated`` log of ``round_id`` within the last ``window`` blocks, if any."""
        head = int(self.w3.eth.block_number)
        params: FilterParams = {
            "address": self.address,
            "topics": [
                HexBytes(ANSWER_UPDATED_TOPIC).to_0x_hex(),
                None,
                HexBytes(abi_encode(["uint256"], [round_id])).to_0x_hex(),
            ],
            "fromBlock": max(0, head - window),
            "toBlock": "latest",
        }
        logs = self.w3.eth.get_logs(params)
        return _answer_log(logs[0]) if logs else None

    def answer_in(self, receipt: TxReceipt, round_id: int) -> AnswerLog | None:
        """The ``AnswerUpdated`` log of ``round_id`` in ``receipt``, if it has one."""
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if (
                log["address"].lower() == self.address.lower()
                and len(topics) == 3
                and topics[0] == ANSWER_UPDATED_TOPIC
                and int.from_bytes(topics[2], "big") == round_id
            ):
                return _answer_log(log)
        return None


def _answer_log(log: LogReceipt) -> AnswerLog:
    (updated_at,) = abi_decode(["uint256"], bytes(HexBytes(log["data"])))
    return AnswerLog(
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
        block_number=int(log["blockNumber"]),
        answer=int.from_bytes(bytes(log["topics"][1]), "big", signed=True),
        updated_at=int(updated_at),
    )
