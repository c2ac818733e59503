"""Example consumer (neo3-boa 1.5): requests DY-VRF randomness from NSLGateway and keeps the delivered output.

The owner (deployer) calls ``request_randomness``; the contract pays the gateway's fee from its own GAS
(fund it with a plain GAS transfer) and the gateway calls ``on_randomness`` back, which accepts only
the gateway and only ids it requested. ``get_randomness`` returns beta, the 32-byte VRF output.
Compiled by neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import GasToken
from boa3.sc.types import Event, UInt160
from boa3.sc.utils import CreateNewEvent, abort, call_contract, to_bytes


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the gateway (its hash is set at deploy) and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLRandomnessConsumer"
    meta.author = "Neo Service Layer"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
KEY_OWNER = b"o"
PREFIX_PENDING = b"p"
PREFIX_VALUE = b"v"
PREFIX_VERIFIED = b"c"
#: GAS for the callback (datoshi), paid with the fee: the callback stores 32 bytes.
CALLBACK_GAS = 10_000_000
BETA_SIZE = 32

on_received: Event = CreateNewEvent([("request_id", int), ("value", bytes)], "RandomnessReceived")


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
def request_randomness(seed: bytes, verify_on_chain: bool) -> int:
    """Pay the gateway's fee for the mode and request randomness for ``seed``; returns the request id."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    gateway = storage.get_uint160(KEY_GATEWAY)
    fee: int = call_contract(gateway, "get_request_price", [verify_on_chain, CALLBACK_GAS])
    if fee > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, fee, None):
        abort("cannot pay the gateway fee")
    request_id: int = call_contract(
        gateway,
        "request",
        ["randomness", seed, runtime.executing_script_hash, "on_randomness", CALLBACK_GAS, verify_on_chain],
    )
    storage.put_bool(PREFIX_PENDING + to_bytes(request_id), True)
    storage.put_bool(PREFIX_VERIFIED + to_bytes(request_id), verify_on_chain)
    return request_id


@public
def on_randomness(request_id: int, result: bytes) -> None:
    """Gateway callback: keep beta (the first 32 bytes of beta || pi || x)."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
    key = PREFIX_PENDING + to_bytes(request_id)
    if not storage.get_bool(key):
        abort("not a pending request")
    storage.delete(key)
    value = result[0:BETA_SIZE]
    storage.put(PREFIX_VALUE + to_bytes(request_id), value)
    on_received(request_id, value)


@public(safe=True)
def get_randomness(request_id: int) -> bytes:
    """The delivered 32-byte output of ``request_id`` (empty until fulfilled)."""
    return storage.get(PREFIX_VALUE + to_bytes(request_id))


@public(safe=True)
def verified_on_chain(request_id: int) -> bool:
    """True if ``request_id`` asked the gateway to verify the proof on chain before delivering."""
    return storage.get_bool(PREFIX_VERIFIED + to_bytes(request_id))
