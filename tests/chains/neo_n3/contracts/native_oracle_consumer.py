"""Test-only consumer (neo3-boa 1.5) of the *native* N3 oracle: an unmodified contract of the kind any N3
dApp writes, knowing nothing of NSL.

``ask(url, filter, key)`` calls ``OracleContract.request(url, filter, "callback", key, GAS_FOR_RESPONSE)``
(``ask_unfiltered(url, key)`` with a null filter);
``callback(url, user_data, code, result)`` (only the OracleContract may call it) stores the code under
``"c" + key`` and the result under ``"r" + key``. Compiled by neo3-boa in the tests, never run by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import OracleContract
from boa3.sc.utils import abort, call_contract, to_bytes

#: 0.5 GAS: the minimum, 0.1, does not pay for storing a longer result (storage costs 0.001 GAS a byte).
GAS_FOR_RESPONSE = 50_000_000


def manifest_metadata() -> NeoMetadata:
    """Manifest: calls the OracleContract."""
    meta = NeoMetadata()
    meta.name = "NSLTestNativeOracleConsumer"
    meta.add_permission(contract="*", methods=["request"])
    return meta


@public
def ask(url: str, request_filter: str, key: str) -> None:
    """Ask the native oracle for ``url`` filtered by ``request_filter``; the answer lands under ``key``."""
    OracleContract.request(url, request_filter, "callback", key, GAS_FOR_RESPONSE)


@public
def ask_unfiltered(url: str, key: str) -> None:
    """The same with a null filter (boa's ``OracleContract.request`` takes only a str; the native
    contract takes null, and then applies no filter)."""
    call_contract(OracleContract.hash, "request", [url, None, "callback", key, GAS_FOR_RESPONSE])


@public
def callback(url: str, user_data: Any, code: int, result: bytes) -> None:
    """The OracleContract's callback: store (code, result) under the request's key."""
    if runtime.calling_script_hash != OracleContract.hash:
        abort()
    key = to_bytes(cast(str, user_data))
    storage.put_int(b"c" + key, code)
    storage.put(b"r" + key, result)


@public(safe=True)
def answered(key: str) -> list[Any]:
    """``[code, result]`` stored for ``key`` (code -1 while there is none)."""
    k = to_bytes(key)
    if len(storage.get(b"r" + k)) == 0 and storage.get_int(b"c" + k) == 0:
        return [-1, b""]
    return [storage.get_int(b"c" + k), storage.get(b"r" + k)]
