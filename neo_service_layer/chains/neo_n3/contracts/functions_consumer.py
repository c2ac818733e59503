"""Example consumer (neo3-boa 1.5): calls an NSL function through NSLGateway and keeps its answer.

The payload is ``StdLib.jsonSerialize([functionId, sourceHash, args])``: the function's id (``fn_…``),
the SHA-256 of the source it must run as 64 lower-case hex characters (``""``: the function's current
version, as the host says) and its args as JSON text (``""`` for null); the function's owner must list
this contract in its ``onchain_consumers``. The result is ``code (1 byte) ‖ sourceHash (32 bytes) ‖
data``: code 0 Success (data: the returned value as JSON text, at most 1,024 bytes), else an error code
and a short text (docs/functions.md). Same pattern as the oracle consumer: the owner calls
``request_function``, the contract pays the fee from its GAS, and ``on_result`` accepts only the gateway
and only ids this contract requested. Compiled by neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import GasToken, StdLib
from boa3.sc.types import Event, UInt160
from boa3.sc.utils import CreateNewEvent, abort, call_contract, to_bytes


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the gateway (its hash is set at deploy) and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLFunctionsConsumer"
    meta.author = "Neo Service Layer"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
KEY_OWNER = b"o"
PREFIX_PENDING = b"p"
PREFIX_RESULT = b"r"
PREFIX_CODE = b"c"
PREFIX_HASH = b"h"
# The callback stores up to 1,024 bytes of data and the 32-byte hash: ~1.06 GAS at N3's default storage
# price (100,000 datoshi a byte), plus its execution. Paid with every request (docs/chains-neo-n3.md).
CALLBACK_GAS = 150_000_000
RESULT_HEADER = 33  # the code byte and the source hash

on_received: Event = CreateNewEvent(
    [("request_id", int), ("code", int), ("source_hash", bytes), ("data", bytes)], "FunctionResult"
)


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
def request_function(function_id: str, source_hash: str, args: str) -> int:
    """Run ``function_id`` (only the source of SHA-256 ``source_hash`` unless it is "") on ``args``."""
    payload: bytes = to_bytes(StdLib.json_serialize([function_id, source_hash, args]))
    return request_data(payload)


@public
def request_data(payload: bytes) -> int:
    """Pay the signature-only fee and send ``payload`` as it is; returns the request id."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    gateway = storage.get_uint160(KEY_GATEWAY)
    fee: int = call_contract(gateway, "get_request_price", [False, CALLBACK_GAS])
    if fee > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, fee, None):
        abort("cannot pay the gateway fee")
    request_id: int = call_contract(
        gateway,
        "request",
        ["functions", payload, runtime.executing_script_hash, "on_result", CALLBACK_GAS, False],
    )
    storage.put_bool(PREFIX_PENDING + to_bytes(request_id), True)
    return request_id


@public
def on_result(request_id: int, result: bytes) -> None:
    """Gateway callback: keep the code (``result[0]``), the hash (``result[1:33]``) and the data."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
    key = PREFIX_PENDING + to_bytes(request_id)
    if not storage.get_bool(key):
        abort("not a pending request")
    if len(result) < RESULT_HEADER:
        abort("a result starts with its code and the source hash")
    storage.delete(key)
    code: int = result[0]
    source_hash: bytes = result[1:RESULT_HEADER]
    data: bytes = result[RESULT_HEADER:]
    # The code byte as it is: NeoVM stores the integer 0 (Success) as no bytes at all.
    storage.put(PREFIX_CODE + to_bytes(request_id), result[0:1])
    storage.put(PREFIX_HASH + to_bytes(request_id), source_hash)
    storage.put(PREFIX_RESULT + to_bytes(request_id), data)
    on_received(request_id, code, source_hash, data)


@public(safe=True)
def get_result(request_id: int) -> bytes:
    """The delivered data of ``request_id`` (empty until fulfilled)."""
    return storage.get(PREFIX_RESULT + to_bytes(request_id))


@public(safe=True)
def get_source_hash(request_id: int) -> bytes:
    """The SHA-256 of the code that ran for ``request_id`` (empty until fulfilled)."""
    return storage.get(PREFIX_HASH + to_bytes(request_id))


@public(safe=True)
def get_code(request_id: int) -> int:
    """The delivered code of ``request_id`` (-1 until fulfilled)."""
    stored = storage.get(PREFIX_CODE + to_bytes(request_id))
    if len(stored) == 0:
        return -1
    code: int = stored[0]
    return code
