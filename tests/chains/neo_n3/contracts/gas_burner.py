"""Test-only consumer (neo3-boa 1.5) whose callback burns GAS: the attack on the N3 relayer (issue 11).

``request(seed, gas_for_response, mode)`` pays the gateway's price for a signature-only randomness request
with that callback budget and asks for randomness; ``on_randomness`` then, by ``mode``:

- 0: stores the result (an honest consumer);
- 1: burns all the GAS it is given but a little, and returns — in a test invocation that is almost the
  node's ``MaxGasInvoke``, which a fulfiller taking its system fee from the test invocation would pay;
- 2: burns nothing while the execution has much GAS left (a test invocation), and more than it has
  otherwise (the real fulfilment, whose GAS is the system fee): it FAULTs out of GAS in the block.

Compiled by neo3-boa in the tests, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import GasToken
from boa3.sc.types import UInt160
from boa3.sc.utils import abort, call_contract, to_bytes


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the gateway and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLTestGasBurner"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
KEY_MODE = b"m"
PREFIX_VALUE = b"v"
#: GAS (datoshi) mode 1 leaves unburnt, so that its callback and the gateway's bookkeeping still HALT.
KEEP = 100_000_000
#: Mode 2 burns only when less than this is left: 50 GAS, far above any real fulfilment's system fee.
THRESHOLD = 5_000_000_000


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
def request(seed: bytes, gas_for_response: int, mode: int) -> int:
    """Pay the price and request randomness with ``gas_for_response``; the callback behaves as ``mode``."""
    gateway = storage.get_uint160(KEY_GATEWAY)
    storage.put_int(KEY_MODE, mode)
    price: int = call_contract(gateway, "get_request_price", [False, gas_for_response])
    if price > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, price, None):
        abort("cannot pay the gateway")
    request_id: int = call_contract(
        gateway,
        "request",
        ["randomness", seed, runtime.executing_script_hash, "on_randomness", gas_for_response, False],
    )
    return request_id


@public
def on_randomness(request_id: int, result: bytes) -> None:
    """The gateway's callback (module docstring)."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
    mode = storage.get_int(KEY_MODE)
    left = runtime.gas_left
    if mode == 1:
        runtime.burn_gas(left - KEEP)
    elif mode == 2 and left < THRESHOLD:
        runtime.burn_gas(left + 1)
    storage.put(PREFIX_VALUE + to_bytes(request_id), result)


@public(safe=True)
def get_result(request_id: int) -> bytes:
    """The delivered result of ``request_id`` (empty until fulfilled)."""
    return storage.get(PREFIX_VALUE + to_bytes(request_id))
