"""NSLGateway for Neo N3 (neo3-boa 1.5): service requests from contracts, fulfilled with enclave-signed results.

- ``request`` stores a request under a unique incrementing id, pinned (randomness) to the VRF key version
  registered at that moment, charges the mode's fee plus ``gas_for_response`` (the callback's GAS, paid
  up front as the native OracleContract charges it) from the caller's prepaid GAS balance and emits
  ``Request``;
- ``fulfill`` accepts a result only with the registered enclave key's secp256r1 signature over the
  fulfilment message — which it rebuilds from the stored payload hash, the pinned key version and that
  version's key hash, so one request has exactly one acceptable result — once per request, optionally
  verifies a Dodis-Yampolskiy proof on chain with CryptoLib's BLS12-381 methods against the pinned key,
  then calls the consumer back and emits ``Fulfilled``;
- the admin (the deploying account) rotates the enclave key (with its attestation measurement),
  registers VRF key versions (only ever growing; old ones stay for pending requests), sets the fees,
  pauses, and withdraws collected fees.

The relayer that sends ``fulfill`` pays its system fee, burnt in full; NeoVM cannot cap the gas of one
call, so the relayer caps the transaction instead (``chains/neo_n3/fulfiller.py``): never more than the
request paid (its fee and ``gas_for_response``), whatever the callback does.

Formats (the fulfilment message, the randomness result, the VRF input) are in docs/chains-neo-n3.md and
built identically in Python by ``neo_service_layer.chains.neo_n3.messages``. This file is compiled by
neo3-boa, never executed by CPython.
"""

from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import CryptoLib, GasToken
from boa3.sc.types import ECPoint, Event, NamedCurveHash, UInt160
from boa3.sc.utils import CreateNewEvent, abort, call_contract, to_bytes, to_int


def manifest_metadata() -> NeoMetadata:
    """Manifest: the gateway calls any consumer's callback (its name is chosen per request) and GAS."""
    meta = NeoMetadata()
    meta.name = "NSLGateway"
    meta.author = "Neo Service Layer"
    meta.description = "NSL request/fulfil gateway with enclave signatures and DY-VRF verification"
    meta.add_permission(contract="*", methods="*")
    return meta


# --- formats (docs/chains-neo-n3.md; messages.py builds the same bytes) -----------------------------------

FULFIL_TAG = b"NSL-N3-FULFIL-V2"
ALPHA_TAG = b"NSL-N3-DYVRF-ALPHA-V1"
RANDOMNESS = "randomness"
#: Randomness result: beta (32) || pi (compressed G2, 96) || x (32, little-endian scalar).
BETA_SIZE = 32
PROOF_SIZE = 96
SCALAR_SIZE = 32
RANDOMNESS_RESULT_SIZE = 160
VRF_KEY_SIZE = 48
MAX_KEY_VERSION = 0xFFFFFFFF
#: 10 GAS: the most a consumer may ask the relayer to budget for its callback.
MAX_GAS_FOR_RESPONSE = 1_000_000_000
MAX_MEASUREMENT_SIZE = 64
# The compressed BLS12-381 generators (ZCash encoding) and the compressed point at infinity.
G1_GENERATOR = (
    b"\x97\xf1\xd3\xa7\x31\x97\xd7\x94\x26\x95\x63\x8c\x4f\xa9\xac\x0f\xc3\x68\x8c\x4f\x97\x74\xb9\x05"
    b"\xa1\x4e\x3a\x3f\x17\x1b\xac\x58\x6c\x55\xe8\x3f\xf9\x7a\x1a\xef\xfb\x3a\xf0\x0a\xdb\x22\xc6\xbb"
)
G2_GENERATOR = (
    b"\x93\xe0\x2b\x60\x52\x71\x9f\x60\x7d\xac\xd3\xa0\x88\x27\x4f\x65\x59\x6b\xd0\xd0\x99\x20\xb6\x1a"
    b"\xb5\xda\x61\xbb\xdc\x7f\x50\x49\x33\x4c\xf1\x12\x13\x94\x5d\x57\xe5\xac\x7d\x05\x5d\x04\x2b\x7e"
    b"\x02\x4a\xa2\xb2\xf0\x8f\x0a\x91\x26\x08\x05\x27\x2d\xc5\x10\x51\xc6\xe4\x7a\xd4\xfa\x40\x3b\x02"
    b"\xb4\x51\x0b\x64\x7a\xe3\xd1\x77\x0b\xac\x03\x26\xa8\x05\xbb\xef\xd4\x80\x56\xc8\xc1\x21\xbd\xb8"
)
G1_INFINITY = (
    b"\xc0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
)

# --- storage keys (one byte each; requests are prefixed by their id) --------------------------------------

KEY_OWNER = b"o"
KEY_PAUSED = b"p"
KEY_ENCLAVE_KEY = b"k"
KEY_MEASUREMENT = b"m"
KEY_ENCLAVE_VERSION = b"v"
KEY_VRF_VERSION = b"w"
KEY_VRF_VERSION_LE = b"x"
KEY_GT = b"g"
KEY_COUNTER = b"n"
KEY_FEE_SIGNATURE = b"s"
KEY_FEE_VERIFY = b"f"
KEY_COLLECTED = b"c"
PREFIX_BALANCE = b"b"
PREFIX_REQUEST = b"r"
PREFIX_DONE = b"d"
PREFIX_VRF_KEY = b"q"
PREFIX_VRF_KEY_HASH = b"h"
NO_KEY_HASH = b"\x00" * 32
#: Key versions are kept as 4 little-endian bytes (the message's encoding), made once when a key is
#: registered: boa's int-to-bytes conversions cost ~0.01 GAS each, a fulfilment needs none of them.
NO_KEY_VERSION = b"\x00\x00\x00\x00"

# --- events ---------------------------------------------------------------------------------------------

on_request: Event = CreateNewEvent(
    [
        ("request_id", int),
        ("service", str),
        ("payload", bytes),
        ("callback_contract", UInt160),
        ("callback_method", str),
        ("gas_for_response", int),
        ("verify_on_chain", bool),
    ],
    "Request",
)
on_fulfilled: Event = CreateNewEvent([("request_id", int), ("result", bytes)], "Fulfilled")
on_enclave_key_set: Event = CreateNewEvent(
    [("version", int), ("pubkey", ECPoint), ("measurement", bytes)], "EnclaveKeySet"
)
on_vrf_key_set: Event = CreateNewEvent([("version", int), ("pubkey", bytes)], "VrfKeySet")
on_fees_set: Event = CreateNewEvent([("signature_only", int), ("onchain_verify", int)], "FeesSet")
on_paused: Event = CreateNewEvent([("paused", bool)], "PauseChanged")
on_deposit: Event = CreateNewEvent([("account", UInt160), ("amount", int)], "Deposited")


# --- deployment -----------------------------------------------------------------------------------------


@public
def _deploy(data: Any, update: bool) -> None:
    """Record the deploying account as admin and compute e(G1, G2) on chain (never from a caller)."""
    if update:
        return
    storage.put_uint160(KEY_OWNER, runtime.script_container.sender)
    g1 = CryptoLib.bls12_381_deserialize(G1_GENERATOR)
    g2 = CryptoLib.bls12_381_deserialize(G2_GENERATOR)
    storage.put(KEY_GT, CryptoLib.bls12_381_serialize(CryptoLib.bls12_381_pairing(g1, g2)))


# --- prepaid fees ---------------------------------------------------------------------------------------


@public
def onNEP17Payment(from_address: UInt160 | None, amount: int, data: Any) -> None:  # noqa: N802 - NEP-17
    """GAS sent to the gateway is credited to the sender's prepaid balance; other tokens are refused."""
    if runtime.calling_script_hash != GasToken.hash:
        abort("only GAS is accepted")
    if from_address is None:
        abort("no sender to credit")
    account = cast(UInt160, from_address)
    key = PREFIX_BALANCE + account
    storage.put_int(key, storage.get_int(key) + amount)
    on_deposit(account, amount)


@public(safe=True)
def balance_of(account: UInt160) -> int:
    """The prepaid GAS balance (datoshi) of ``account``."""
    return storage.get_int(PREFIX_BALANCE + account)


@public(safe=True)
def get_fee(verify_on_chain: bool) -> int:
    """The fee (datoshi) of one request in the given mode."""
    if verify_on_chain:
        return storage.get_int(KEY_FEE_VERIFY)
    return storage.get_int(KEY_FEE_SIGNATURE)


@public(safe=True)
def get_request_price(verify_on_chain: bool, gas_for_response: int) -> int:
    """What a request pays (datoshi): the mode's fee and the callback's GAS, ``gas_for_response``."""
    return get_fee(verify_on_chain) + gas_for_response


@public(safe=True)
def fees_collected() -> int:
    """Fees charged so far and not yet withdrawn (datoshi)."""
    return storage.get_int(KEY_COLLECTED)


# --- requests -------------------------------------------------------------------------------------------


@public
def request(
    service: str,
    payload: bytes,
    callback_contract: UInt160,
    callback_method: str,
    gas_for_response: int,
    verify_on_chain: bool,
) -> int:
    """Store a request from the calling contract and emit ``Request``; returns its id (1, 2, ...)."""
    if storage.get_bool(KEY_PAUSED):
        abort("gateway is paused")
    requester = runtime.calling_script_hash
    # Only the requester itself is called back: otherwise anyone could make the gateway deliver results
    # a victim never asked for to a callback that trusts "caller == gateway".
    if callback_contract != requester:
        abort("callback contract must be the caller")
    if len(service) == 0 or len(callback_method) == 0:
        abort("service and callback method are required")
    if gas_for_response < 0 or gas_for_response > MAX_GAS_FOR_RESPONSE:
        abort("gas_for_response out of range")
    if verify_on_chain and service != RANDOMNESS:
        abort("on-chain verification is only offered for randomness")
    key_version = NO_KEY_VERSION
    if service == RANDOMNESS:
        key_version = storage.get(KEY_VRF_VERSION_LE)
        if len(key_version) == 0:
            abort("VRF key not set")
    # The callback's GAS is paid up front with the fee: the relayer never spends more than this on it.
    price = get_request_price(verify_on_chain, gas_for_response)
    balance_key = PREFIX_BALANCE + requester
    balance = storage.get_int(balance_key)
    if balance < price:
        abort("insufficient prepaid GAS for the fee and gas_for_response")
    storage.put_int(balance_key, balance - price)
    storage.put_int(KEY_COLLECTED, storage.get_int(KEY_COLLECTED) + price)
    request_id = storage.get_int(KEY_COUNTER) + 1
    storage.put_int(KEY_COUNTER, request_id)
    record: list[Any] = [
        requester,
        service,
        CryptoLib.sha256(payload),
        callback_contract,
        callback_method,
        gas_for_response,
        verify_on_chain,
        price,
        key_version,
    ]
    storage.put_list(PREFIX_REQUEST + to_bytes(request_id), record)
    on_request(
        request_id, service, payload, callback_contract, callback_method, gas_for_response, verify_on_chain
    )
    return request_id


@public(safe=True)
def get_request(request_id: int) -> list[Any]:
    """``[requester, service, sha256(payload), callback_contract, callback_method, gas_for_response,
    verify_on_chain, paid, vrf_key_version]`` of a pending request (``paid``: the fee and
    ``gas_for_response`` it was charged; ``vrf_key_version``: 4 bytes little-endian, zero without a
    key), or ``[]`` if unknown or fulfilled."""
    data = storage.get(PREFIX_REQUEST + to_bytes(request_id))
    if len(data) == 0:
        return []
    return storage.get_list(PREFIX_REQUEST + to_bytes(request_id))


@public(safe=True)
def is_fulfilled(request_id: int) -> bool:
    """True once ``request_id`` has been fulfilled."""
    return storage.get_bool(PREFIX_DONE + to_bytes(request_id))


@public(safe=True)
def request_count() -> int:
    """Number of requests so far (the last id assigned)."""
    return storage.get_int(KEY_COUNTER)


# --- fulfilment -----------------------------------------------------------------------------------------


def u32le(value: int) -> bytes:
    return to_bytes(value, 4, False, False)


def u64le(value: int) -> bytes:
    return to_bytes(value, 8, False, False)


def key_hash_of(version: bytes) -> bytes:
    """SHA-256 of the VRF key of ``version`` (4 bytes LE; zero bytes for version 0, a request without a
    key), stored when the key was registered: a storage read instead of a read and a CryptoLib call."""
    if version == NO_KEY_VERSION:
        return NO_KEY_HASH
    return storage.get(PREFIX_VRF_KEY_HASH + version)


def message_of(request_id: int, record: list[Any], result: bytes) -> bytes:
    """The bytes the enclave signs (ECDSA P-256 over their SHA-256): tag || network magic (u32 LE) ||
    gateway hash (20) || request id (u64 LE) || SHA-256(payload) (32) || VRF key version (u32 LE) ||
    SHA-256(VRF key) (32) || SHA-256(result) — all but the result from the stored request."""
    payload_hash: bytes = record[2]
    key_version: bytes = record[8]
    return (
        FULFIL_TAG
        + u32le(runtime.get_network())
        + runtime.executing_script_hash
        + u64le(request_id)
        + payload_hash
        + key_version
        + key_hash_of(key_version)
        + CryptoLib.sha256(result)
    )


@public(safe=True)
def fulfilment_message(request_id: int, result: bytes) -> bytes:
    """The message a fulfilment of pending request ``request_id`` with ``result`` must be signed over."""
    key = PREFIX_REQUEST + to_bytes(request_id)
    if len(storage.get(key)) == 0:
        abort("unknown request")
    return message_of(request_id, storage.get_list(key), result)


@public(safe=True)
def randomness_alpha(request_id: int, payload_hash: bytes) -> bytes:
    """The DY-VRF input of a randomness request:
    tag || network magic (u32 LE) || gateway hash (20) || request id (u64 LE) || SHA-256(payload)."""
    return (
        ALPHA_TAG
        + u32le(runtime.get_network())
        + runtime.executing_script_hash
        + u64le(request_id)
        + payload_hash
    )


def alpha_scalar(alpha: bytes) -> int:
    """x = SHA-256(alpha) big-endian with the top two bits cleared, as an integer (< 2^254 < r)."""
    # bytearray + reverse compiles to CONVERT + REVERSEITEMS (0.005 GAS); data[::-1] is a 0.57 GAS loop.
    buf = bytearray(CryptoLib.sha256(alpha))
    buf.reverse()
    top: int = buf[31]
    buf[31] = top & 0x3F
    # Compared as an integer: NeoVM compares a Buffer with a ByteString by reference, never equal.
    return to_int(cast(bytes, buf))


def verify_randomness(request_id: int, payload_hash: bytes, key_version: bytes, result: bytes) -> None:
    """Abort unless result = beta || pi || x is the DY-VRF output for this request under its pinned key."""
    beta = result[0:BETA_SIZE]
    pi = result[BETA_SIZE : BETA_SIZE + PROOF_SIZE]
    x = result[BETA_SIZE + PROOF_SIZE : RANDOMNESS_RESULT_SIZE]
    # x is derived here from the stored request: a fulfiller-chosen x could pick among outputs.
    if to_int(x) != alpha_scalar(randomness_alpha(request_id, payload_hash)):
        abort("x does not match the request")
    if CryptoLib.sha256(pi) != beta:
        abort("beta is not SHA-256(pi)")
    g1 = CryptoLib.bls12_381_deserialize(G1_GENERATOR)
    point = CryptoLib.bls12_381_add(
        CryptoLib.bls12_381_mul(g1, x, False),
        CryptoLib.bls12_381_deserialize(storage.get(PREFIX_VRF_KEY + key_version)),
    )
    lhs = CryptoLib.bls12_381_pairing(point, CryptoLib.bls12_381_deserialize(pi))
    # e(G1, G2) was computed at deploy: a caller-supplied constant would make any proof pass.
    if not CryptoLib.bls12_381_equal(lhs, CryptoLib.bls12_381_deserialize(storage.get(KEY_GT))):
        abort("invalid VRF proof")


@public
def fulfill(request_id: int, result: bytes, signature: bytes) -> None:
    """Deliver an enclave-signed result: verify, mark done, call the consumer back, emit ``Fulfilled``."""
    if storage.get_bool(KEY_PAUSED):
        abort("gateway is paused")
    id_bytes = to_bytes(request_id)
    if storage.get_bool(PREFIX_DONE + id_bytes):
        abort("request already fulfilled")
    key = PREFIX_REQUEST + id_bytes
    if len(storage.get(key)) == 0:
        abort("unknown request")
    record = storage.get_list(key)
    message = message_of(request_id, record, result)
    if not CryptoLib.verify_with_ecdsa(
        message, storage.get_ecpoint(KEY_ENCLAVE_KEY), signature, NamedCurveHash.SECP256R1SHA256
    ):
        abort("signature is not from the enclave key")
    service: str = record[1]
    if service == RANDOMNESS:
        if len(result) != RANDOMNESS_RESULT_SIZE:
            abort("randomness result must be 160 bytes")
        verify: bool = record[6]
        if verify:
            payload_hash: bytes = record[2]
            key_version: bytes = record[8]
            verify_randomness(request_id, payload_hash, key_version, result)
    # Marked done before the callback, so a re-entrant fulfill hits "already fulfilled".
    storage.delete(key)
    storage.put_bool(PREFIX_DONE + id_bytes, True)
    callback_contract: UInt160 = record[3]
    callback_method: str = record[4]
    # A callback that FAULTs fails the whole fulfilment: the request stays pending (nothing is lost),
    # and the relayer sees the FAULT in its test invocation before sending.
    call_contract(callback_contract, callback_method, [request_id, result])
    on_fulfilled(request_id, result)


# --- administration -------------------------------------------------------------------------------------


def require_admin() -> None:
    if not runtime.check_witness(storage.get_uint160(KEY_OWNER)):
        abort("only the admin")


@public(safe=True)
def owner() -> UInt160:
    """The admin account (the deployer)."""
    return storage.get_uint160(KEY_OWNER)


@public
def set_enclave_key(pubkey: ECPoint, attestation_measurement: bytes) -> None:
    """Rotate the enclave signing key (secp256r1), recording the attestation measurement of its enclave."""
    require_admin()
    if len(attestation_measurement) == 0 or len(attestation_measurement) > MAX_MEASUREMENT_SIZE:
        abort("measurement must be 1-64 bytes")
    version = storage.get_int(KEY_ENCLAVE_VERSION) + 1
    storage.put_ecpoint(KEY_ENCLAVE_KEY, pubkey)
    storage.put(KEY_MEASUREMENT, attestation_measurement)
    storage.put_int(KEY_ENCLAVE_VERSION, version)
    on_enclave_key_set(version, pubkey, attestation_measurement)


@public(safe=True)
def get_enclave_key() -> list[Any]:
    """``[pubkey, attestation_measurement, version]`` of the current enclave key."""
    return [
        storage.get_ecpoint(KEY_ENCLAVE_KEY),
        storage.get(KEY_MEASUREMENT),
        storage.get_int(KEY_ENCLAVE_VERSION),
    ]


@public(safe=True)
def get_enclave_public_key() -> ECPoint:
    """The current enclave key alone: what other NSL contracts (the price feed) check signatures against,
    at a third of ``get_enclave_key``'s GAS (one storage read instead of three)."""
    return storage.get_ecpoint(KEY_ENCLAVE_KEY)


@public
def set_vrf_key(version: int, pubkey: bytes) -> None:
    """Register DY-VRF public key ``version`` (compressed G1, 48 bytes; checked on the curve, not the
    identity) and make it current: randomness requests from now on are pinned to it. Versions only grow
    and are never overwritten, so pending requests keep the key they were made under."""
    require_admin()
    if version <= storage.get_int(KEY_VRF_VERSION) or version > MAX_KEY_VERSION:
        abort("VRF key version must be newer than the current one (and a uint32)")
    if len(pubkey) != VRF_KEY_SIZE:
        abort("VRF key must be 48 bytes")
    if pubkey == G1_INFINITY:
        abort("VRF key is the point at infinity")
    CryptoLib.bls12_381_deserialize(pubkey)  # FAULTs unless on the curve and in the subgroup
    version_le = u32le(version)
    storage.put(PREFIX_VRF_KEY + version_le, pubkey)
    storage.put(PREFIX_VRF_KEY_HASH + version_le, CryptoLib.sha256(pubkey))
    storage.put_int(KEY_VRF_VERSION, version)
    storage.put(KEY_VRF_VERSION_LE, version_le)
    on_vrf_key_set(version, pubkey)


@public(safe=True)
def get_vrf_key() -> bytes:
    """The current DY-VRF public key (empty until set)."""
    return get_vrf_key_of(storage.get_int(KEY_VRF_VERSION))


@public(safe=True)
def get_vrf_key_of(version: int) -> bytes:
    """DY-VRF public key ``version`` (empty if never registered)."""
    if version <= 0 or version > MAX_KEY_VERSION:
        return b""
    return storage.get(PREFIX_VRF_KEY + u32le(version))


@public(safe=True)
def get_vrf_key_version() -> int:
    """The current DY-VRF key version (0 until a key is set)."""
    return storage.get_int(KEY_VRF_VERSION)


@public(safe=True)
def get_pairing_constant() -> bytes:
    """e(G1, G2) as CryptoLib serializes it (576 bytes), computed at deploy."""
    return storage.get(KEY_GT)


@public
def set_fees(signature_only: int, onchain_verify: int) -> None:
    """Set the fee (datoshi) of a signature-only request and of one with on-chain proof verification."""
    require_admin()
    if signature_only < 0 or onchain_verify < 0:
        abort("fees must not be negative")
    storage.put_int(KEY_FEE_SIGNATURE, signature_only)
    storage.put_int(KEY_FEE_VERIFY, onchain_verify)
    on_fees_set(signature_only, onchain_verify)


@public
def pause() -> None:
    """Refuse requests and fulfilments until ``unpause``."""
    require_admin()
    storage.put_bool(KEY_PAUSED, True)
    on_paused(True)


@public
def unpause() -> None:
    """Accept requests and fulfilments again."""
    require_admin()
    storage.put_bool(KEY_PAUSED, False)
    on_paused(False)


@public(safe=True)
def is_paused() -> bool:
    """True while paused."""
    return storage.get_bool(KEY_PAUSED)


@public
def withdraw(to: UInt160, amount: int) -> None:
    """Send collected fees to ``to`` (prepaid balances not yet charged stay untouched)."""
    require_admin()
    collected = storage.get_int(KEY_COLLECTED)
    if amount <= 0 or amount > collected:
        abort("amount exceeds collected fees")
    storage.put_int(KEY_COLLECTED, collected - amount)
    if not GasToken.transfer(runtime.executing_script_hash, to, amount, None):
        abort("GAS transfer failed")
