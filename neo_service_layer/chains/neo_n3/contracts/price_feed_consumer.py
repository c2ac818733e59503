"""Example consumer (neo3-boa 1.5): asks NSLGateway's price-feed service for a pair and keeps the price.

The result is the price as a NeoVM integer (little-endian two's complement; 8 decimals by NSL
convention, ``messages.price_result``). ``on_price`` accepts only the gateway and only ids this
contract requested, and stores the price under the requested pair.
Compiled by neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import GasToken
from boa3.sc.types import Event, UInt160
from boa3.sc.utils import CreateNewEvent, abort, call_contract, to_bytes, to_int


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the gateway (its hash is set at deploy) and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLPriceFeedConsumer"
    meta.author = "Neo Service Layer"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
KEY_OWNER = b"o"
PREFIX_PENDING = b"p"
PREFIX_PRICE = b"x"
CALLBACK_GAS = 10_000_000

on_price_updated: Event = CreateNewEvent([("request_id", int), ("pair", str), ("price", int)], "PriceUpdated")


@public
def _deploy(data: Any, update: bool) -> None:
    """``data`` is the gateway's script hash; the deployer becomes the owner."""
    if update:
        return
    storage.put_uint160(KEY_GATEWAY, cast(UInt160, data))
    storage.put_uint160(KEY_OWNER, runtime.script_container.sender)


@public
def onNEP17Payment(from_address: UInt160 | None, amount: int, data: Any) -> None:  # noqa: N802 - NEP-17
    """Accept GAS (it pays the gateway's fees); refuse other tokens."""
    if runtime.calling_script_hash != GasToken.hash:
        abort("only GAS is accepted")


@public
def request_price(pair: str) -> int:
    """Pay the signature-only fee and request the price of ``pair`` (e.g. ``"NEO/USD"``); returns the id."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    gateway = storage.get_uint160(KEY_GATEWAY)
    fee: int = call_contract(gateway, "get_request_price", [False, CALLBACK_GAS])
    if fee > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, fee, None):
        abort("cannot pay the gateway fee")
    request_id: int = call_contract(
        gateway,
        "request",
        ["price-feed", to_bytes(pair), runtime.executing_script_hash, "on_price", CALLBACK_GAS, False],
    )
    storage.put_str(PREFIX_PENDING + to_bytes(request_id), pair)
    return request_id


@public
def on_price(request_id: int, result: bytes) -> None:
    """Gateway callback: store the integer price under the pair this request asked for."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
    key = PREFIX_PENDING + to_bytes(request_id)
    pair = storage.get_str(key)
    if len(pair) == 0:
        abort("not a pending request")
    storage.delete(key)
    price = to_int(result)
    storage.put_int(PREFIX_PRICE + to_bytes(pair), price)
    on_price_updated(request_id, pair, price)


@public(safe=True)
def get_price(pair: str) -> int:
    """The last delivered price of ``pair`` (0 before the first)."""
    return storage.get_int(PREFIX_PRICE + to_bytes(pair))
