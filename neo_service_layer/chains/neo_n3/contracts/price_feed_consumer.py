"""Example consumer (neo3-boa 1.5): reads NSL's price feed contract, as Chainlink consumers read theirs.

The feed contract (``nsl_price_feed``, its hash set at deploy) holds every pair with Chainlink's round
model; this contract only reads it, like the EVM ``PriceFeedConsumer.sol`` reads an AggregatorV3Interface:
the latest answer unchecked, the latest answer checked for staleness (``get_checked_price``), a past
round's answer, and the pair's decimals and description. Prices are integers with the pair's decimals
(8 for the default pairs): 1234000000 is 12.34. Compiled by neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.types import UInt160
from boa3.sc.utils import abort, call_contract


def manifest_metadata() -> NeoMetadata:
    """Manifest: reads the price feed contract (its hash is set at deploy)."""
    meta = NeoMetadata()
    meta.name = "NSLPriceFeedConsumer"
    meta.author = "Neo Service Layer"
    meta.add_permission(
        contract="*", methods=["latest_round_data", "get_round_data", "decimals", "description"]
    )
    return meta


KEY_FEED = b"f"


@public
def _deploy(data: Any, update: bool) -> None:
    """``data`` is the price feed contract's script hash."""
    if update:
        return
    storage.put_uint160(KEY_FEED, cast(UInt160, data))


def latest(pair: str) -> list[int]:
    round_data: list[int] = call_contract(storage.get_uint160(KEY_FEED), "latest_round_data", [pair])
    return round_data


@public(safe=True)
def get_latest(pair: str) -> list[int]:
    """``[answer, updated_at]`` of ``pair``'s latest round, unchecked (updated_at: Unix seconds)."""
    round_data = latest(pair)
    return [round_data[1], round_data[3]]


@public(safe=True)
def get_checked_price(pair: str, max_age: int) -> list[int]:
    """``[answer, updated_at]`` of the latest round if its answer is positive and at most ``max_age``
    seconds old at this block (``runtime.time`` is in milliseconds); aborts "stale price" otherwise."""
    round_data = latest(pair)
    round_id = round_data[0]
    answer = round_data[1]
    updated_at = round_data[3]
    if answer <= 0 or round_data[4] < round_id:
        abort("invalid price")
    if (updated_at + max_age) * 1000 < runtime.time:
        abort("stale price")
    return [answer, updated_at]


@public(safe=True)
def get_answer_at(pair: str, round_id: int) -> int:
    """The answer of round ``round_id`` of ``pair`` (aborts "no data present" if never written)."""
    round_data: list[int] = call_contract(
        storage.get_uint160(KEY_FEED), "get_round_data", [pair, round_id]
    )
    return round_data[1]


@public(safe=True)
def get_decimals(pair: str) -> int:
    """The decimals of ``pair``'s answers."""
    value: int = call_contract(storage.get_uint160(KEY_FEED), "decimals", [pair])
    return value


@public(safe=True)
def get_description(pair: str) -> str:
    """The description of ``pair``."""
    value: str = call_contract(storage.get_uint160(KEY_FEED), "description", [pair])
    return value
