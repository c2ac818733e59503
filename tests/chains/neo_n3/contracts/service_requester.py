"""Test-only consumer (neo3-boa 1.5): requests any service by name through the gateway, paying the
signature-only price from its GAS. The fulfiller tests use it for a service the gateway takes but NSL
does not serve (the example consumers each ask for a service NSL serves).
Compiled by neo3-boa in the tests, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import GasToken
from boa3.sc.types import UInt160
from boa3.sc.utils import abort, call_contract


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the gateway and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLTestServiceRequester"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
CALLBACK_GAS = 10_000_000


@public
def _deploy(data: Any, update: bool) -> None:
    """``data`` is the gateway's script hash."""
    if update:
        return
    storage.put_uint160(KEY_GATEWAY, cast(UInt160, data))


@public
def onNEP17Payment(from_address: UInt160 | None, amount: int, data: Any) -> None:  # noqa: N802 - NEP-17
    """Accept GAS (it pays the gateway); refuse other tokens."""
    if runtime.calling_script_hash != GasToken.hash:
        abort("only GAS is accepted")


@public
def request(service: str, payload: bytes) -> int:
    """Pay the signature-only price and request ``service`` with ``payload``; returns the id."""
    gateway = storage.get_uint160(KEY_GATEWAY)
    price: int = call_contract(gateway, "get_request_price", [False, CALLBACK_GAS])
    if price > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, price, None):
        abort("cannot pay the gateway")
    request_id: int = call_contract(
        gateway,
        "request",
        [service, payload, runtime.executing_script_hash, "on_result", CALLBACK_GAS, False],
    )
    return request_id


@public
def on_result(request_id: int, result: bytes) -> None:
    """The gateway's callback: accepted from the gateway only, kept nowhere."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
