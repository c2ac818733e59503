"""Example consumer (neo3-boa 1.5): asks NSLGateway's oracle service for web data and keeps the answer.

The query is ``StdLib.jsonSerialize([url, filter])`` (filter: an N3 JSONPath, or null for the whole
body); the result is the N3 ``OracleResponseCode`` byte followed by the filter's output, which is empty
unless the code is Success (0x00) and at most 1,024 bytes (docs/oracle.md §8). Same pattern as the
randomness consumer: the owner calls ``request_data``, the contract pays the fee
from its GAS, and ``on_result`` accepts only the gateway and only ids this contract requested.
Compiled by neo3-boa, never executed by CPython.
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
    meta.name = "NSLOracleConsumer"
    meta.author = "Neo Service Layer"
    meta.add_permission(contract="*", methods=["request", "get_request_price", "transfer"])
    return meta


KEY_GATEWAY = b"g"
KEY_OWNER = b"o"
PREFIX_PENDING = b"p"
PREFIX_RESULT = b"r"
PREFIX_CODE = b"c"
# The callback stores up to 1,024 bytes of data: ~1.03 GAS at N3's default storage price (100,000
# datoshi a byte), plus its execution. Paid with every request (the relayer's budget, docs/chains-neo-n3.md).
CALLBACK_GAS = 150_000_000

on_received: Event = CreateNewEvent([("request_id", int), ("code", int), ("data", bytes)], "OracleResult")


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
def request_url(url: str, filter: str) -> int:
    """Request ``url`` with ``filter`` ("" for the whole body): the payload is ``[url, filter]`` as JSON."""
    query: bytes = to_bytes(StdLib.json_serialize([url, filter]))
    return request_data(query)


@public
def request_data(query: bytes) -> int:
    """Pay the signature-only fee and request ``query`` (``jsonSerialize([url, filter])``); returns the id."""
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the owner")
    gateway = storage.get_uint160(KEY_GATEWAY)
    fee: int = call_contract(gateway, "get_request_price", [False, CALLBACK_GAS])
    if fee > 0 and not GasToken.transfer(runtime.executing_script_hash, gateway, fee, None):
        abort("cannot pay the gateway fee")
    request_id: int = call_contract(
        gateway, "request", ["oracle", query, runtime.executing_script_hash, "on_result", CALLBACK_GAS, False]
    )
    storage.put_bool(PREFIX_PENDING + to_bytes(request_id), True)
    return request_id


@public
def on_result(request_id: int, result: bytes) -> None:
    """Gateway callback: keep the response code (``result[0]``) and the data (``result[1:]``)."""
    if runtime.calling_script_hash != storage.get_uint160(KEY_GATEWAY):
        abort("only the gateway")
    key = PREFIX_PENDING + to_bytes(request_id)
    if not storage.get_bool(key):
        abort("not a pending request")
    if len(result) == 0:
        abort("a result starts with its code")
    storage.delete(key)
    code: int = result[0]
    data: bytes = result[1:]
    # The code byte as it is: NeoVM stores the integer 0 (Success) as no bytes at all.
    storage.put(PREFIX_CODE + to_bytes(request_id), result[0:1])
    storage.put(PREFIX_RESULT + to_bytes(request_id), data)
    on_received(request_id, code, data)


@public(safe=True)
def get_result(request_id: int) -> bytes:
    """The delivered data of ``request_id`` (empty until fulfilled, and for any code but Success)."""
    return storage.get(PREFIX_RESULT + to_bytes(request_id))


@public(safe=True)
def get_code(request_id: int) -> int:
    """The delivered response code of ``request_id`` (-1 until fulfilled)."""
    stored = storage.get(PREFIX_CODE + to_bytes(request_id))
    if len(stored) == 0:
        return -1
    code: int = stored[0]
    return code
