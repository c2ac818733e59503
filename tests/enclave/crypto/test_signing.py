"""Sign / verify against published vectors and as properties.

- P-256: FIPS 186-3 CAVP ``SigVer.rsp`` (exact P/F for every SHA-256/384/512 vector) and ``SigGen.txt``;
  RFC 6979 §A.2.5 deterministic signatures (OpenSSL's ``evppkey_ecdsa_rfc6979.txt``).
- secp256k1: the CAVP-format ``SECP256K1/SigGen.txt`` of cryptography-vectors; EIP-155's example.
- ed25519: RFC 8032 §7.1 (``tests/testdata/rfc8032_ed25519.json``) and SUPERCOP ``sign.input`` (1024).
- Formats: DER (SEC 1 §C.8) ↔ raw, EVM ``v``, low-s (EIP-2), malformed signatures never raise.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto import keys, signing
from neo_service_layer.enclave.crypto.errors import (
    InvalidInput,
    InvalidKeyMaterial,
    UnsupportedOperation,
)
from neo_service_layer.enclave.crypto.hashing import keccak256
from neo_service_layer.enclave.crypto.keys import P256_ORDER, SECP256K1_ORDER
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from tests.enclave.crypto.vectors import (
    CavpRecord,
    Ed25519Vector,
    Rfc6979Vector,
    cavp_section,
    load_ed25519_sign_input,
    load_rfc6979_p256,
    load_testdata,
)

H = HashAlgorithm
F = SignatureFormat
P256 = KeyType.SECP256R1
K1 = KeyType.SECP256K1
ED = KeyType.ED25519
CAVP_HASHES = {"SHA-256": H.SHA256, "SHA-384": H.SHA384, "SHA-512": H.SHA512}
ORDERS = {P256: P256_ORDER, K1: SECP256K1_ORDER}


def _cavp_params(path: str, curve: str) -> list[Any]:
    params = []
    for name, hash_alg in CAVP_HASHES.items():
        for record in cavp_section(path, f"{curve},{name}"):
            result = record.fields.get("Result", "")[:1]
            suffix = f"-{result}" if result else ""
            params.append(pytest.param(record, hash_alg, id=f"CAVP-{curve}-{name}-#{record.index}{suffix}"))
    return params


def _point(record: CavpRecord) -> bytes:
    # Fixed width: the SECP256K1 file drops leading zero nibbles.
    return b"\x04" + record.int("Qx").to_bytes(32, "big") + record.int("Qy").to_bytes(32, "big")


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- NIST CAVP, P-256 ---------------------------------------------------------------------------------

SIGVER = _cavp_params("asymmetric/ECDSA/FIPS_186-3/SigVer.rsp", "P-256")
P256_SIGGEN = _cavp_params("asymmetric/ECDSA/FIPS_186-3/SigGen.txt", "P-256")
K1_SIGGEN = _cavp_params("asymmetric/ECDSA/SECP256K1/SigGen.txt", "K-256")


def test_vector_counts() -> None:
    # FIPS 186-3 CAVP: 15 vectors per [curve,hash] section; the SECP256K1 file has 225 per section.
    assert len(SIGVER) == 45
    assert len(P256_SIGGEN) == 45
    assert len(K1_SIGGEN) == 675


@pytest.mark.parametrize(("record", "hash_alg"), SIGVER)
def test_p256_cavp_sigver(record: CavpRecord, hash_alg: HashAlgorithm) -> None:
    """FIPS 186-3 CAVP SigVer: verify returns exactly the expected Result (P or F), raw and DER."""
    expected = record.fields["Result"].startswith("P")
    message, r, s = record.hex("Msg"), record.int("R"), record.int("S")
    public = _point(record)
    assert signing.verify(P256, public, message, _raw(r, s), hash_alg=hash_alg, fmt=F.RAW) is expected
    der = encode_dss_signature(r, s)
    assert signing.verify(P256, public, message, der, hash_alg=hash_alg, fmt=F.DER) is expected
    # The same check through our prehash path: hash ourselves, then verify the digest.
    if hash_alg is H.SHA256:
        digest = hashlib.sha256(message).digest()
        assert signing.verify(P256, public, digest, der, hash_alg=H.NONE, fmt=F.DER) is expected


@pytest.mark.parametrize(("record", "hash_alg"), P256_SIGGEN)
def test_p256_cavp_siggen(record: CavpRecord, hash_alg: HashAlgorithm) -> None:
    """FIPS 186-3 CAVP SigGen: (R, S) verifies; our own signature with d verifies and is low-s."""
    message, public = record.hex("Msg"), _point(record)
    r, s = record.int("R"), record.int("S")
    assert signing.verify(P256, public, message, _raw(r, s), hash_alg=hash_alg, fmt=F.RAW)
    assert not signing.verify(P256, public, message + b"\x00", _raw(r, s), hash_alg=hash_alg, fmt=F.RAW)
    material = record.int("d").to_bytes(32, "big")
    ours = signing.sign(P256, material, message, hash_alg=hash_alg, fmt=F.RAW)
    assert int.from_bytes(ours[32:], "big") <= P256_ORDER // 2
    assert signing.verify(P256, public, message, ours, hash_alg=hash_alg, fmt=F.RAW)


@pytest.mark.parametrize(("record", "hash_alg"), K1_SIGGEN)
def test_secp256k1_cavp_siggen(record: CavpRecord, hash_alg: HashAlgorithm) -> None:
    """SECP256K1 SigGen: (R, S) verifies in raw and DER (high s included, plain ECDSA); in the EVM format
    exactly one of v = 27 / 28 verifies when s is low and none when s is high (EIP-2)."""
    message, public = record.hex("Msg"), _point(record)
    r, s = record.int("R"), record.int("S")
    assert signing.verify(K1, public, message, _raw(r, s), hash_alg=hash_alg, fmt=F.RAW)
    der = encode_dss_signature(r, s)
    assert signing.verify(K1, public, message, der, hash_alg=hash_alg, fmt=F.DER)
    assert not signing.verify(K1, public, message[1:], der, hash_alg=hash_alg, fmt=F.DER)
    evm_ok = [
        signing.verify(K1, public, message, _raw(r, s) + bytes([v]), hash_alg=hash_alg, fmt=F.EVM)
        for v in (27, 28)
    ]
    assert sum(evm_ok) == (1 if s <= SECP256K1_ORDER // 2 else 0)


# --- RFC 6979 deterministic P-256 ---------------------------------------------------------------------

_RFC6979_PEM, _RFC6979_VECTORS = load_rfc6979_p256()
RFC6979_HASHES = {"SHA256": H.SHA256, "SHA384": H.SHA384, "SHA512": H.SHA512}
RFC6979 = [
    pytest.param(v, id=f"RFC6979-A.2.5-P-256-{v.hash_name}-{v.message.decode()}")
    for v in _RFC6979_VECTORS
    if v.hash_name in RFC6979_HASHES
]


def _rfc6979_material() -> bytes:
    key = serialization.load_pem_private_key(_RFC6979_PEM.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.private_numbers().private_value.to_bytes(32, "big")


def test_rfc6979_vectors_present() -> None:
    assert len(RFC6979) == 6
    # RFC 6979 §A.2.5 private key x.
    assert _rfc6979_material().hex() == "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"


@pytest.mark.parametrize("vector", RFC6979)
def test_p256_signing_is_rfc6979_deterministic(vector: Rfc6979Vector) -> None:
    """Our P-256 signatures are RFC 6979's, with s replaced by n - s when s > n/2 (low-s)."""
    hash_alg = RFC6979_HASHES[vector.hash_name]
    r, s = decode_dss_signature(vector.der_signature)
    low_s = min(s, P256_ORDER - s)
    material = _rfc6979_material()
    assert signing.sign(P256, material, vector.message, hash_alg=hash_alg, fmt=F.RAW) == _raw(r, low_s)
    assert signing.sign(P256, material, vector.message, hash_alg=hash_alg, fmt=F.DER) == encode_dss_signature(
        r, low_s
    )
    loaded = keys.LoadedKey(P256, material)
    assert signing.sign_with_key(loaded, vector.message, hash_alg=hash_alg, fmt=F.RAW) == _raw(r, low_s)
    public = keys.public_key(P256, material)
    # Both the published (possibly high-s) signature and ours verify.
    for candidate in (vector.der_signature, encode_dss_signature(r, low_s)):
        assert signing.verify(P256, public, vector.message, candidate, hash_alg=hash_alg, fmt=F.DER)


def test_p256_keccak_and_none_hash_agree() -> None:
    material, message = keys.generate(P256), b"keccak path"
    digest = keccak256(message)
    assert len(digest) == 32
    by_message = signing.sign(P256, material, message, hash_alg=H.KECCAK256, fmt=F.RAW)
    by_digest = signing.sign(P256, material, digest, hash_alg=H.NONE, fmt=F.RAW)
    assert by_message == by_digest  # deterministic, same input to ECDSA
    public = keys.public_key(P256, material)
    assert signing.verify(P256, public, digest, by_message, hash_alg=H.NONE, fmt=F.RAW)
    assert not signing.verify(P256, public, message, by_message, hash_alg=H.SHA256, fmt=F.RAW)


# --- secp256k1 against EIP-155 and eth-account --------------------------------------------------------

EVM_VECTORS = load_testdata("evm_vectors.json")


def test_secp256k1_matches_eip155_example_signature() -> None:
    """EIP-155 example: our RFC 6979 secp256k1 signature over the signing hash is the EIP's (r, s)."""
    vector = EVM_VECTORS["eip155"]
    material = bytes.fromhex(vector["private_key"])
    signing_hash = bytes.fromhex(vector["signing_hash"])
    expected_rs = bytes.fromhex(vector["r"]) + bytes.fromhex(vector["s"])
    recovery_id = vector["v"] - (2 * vector["tx"]["chainId"] + 35)  # EIP-155: v = recid + chainId*2 + 35
    sig = signing.sign(K1, material, signing_hash, hash_alg=H.NONE, fmt=F.EVM)
    assert sig == expected_rs + bytes([27 + recovery_id])
    assert signing.sign(K1, material, signing_hash, hash_alg=H.NONE, fmt=F.RAW) == expected_rs
    public = keys.public_key(K1, material)
    assert signing.verify(K1, public, signing_hash, sig, hash_alg=H.NONE, fmt=F.EVM)
    keccak_sig = signing.sign(
        K1, material, bytes.fromhex(vector["signing_data"]), hash_alg=H.KECCAK256, fmt=F.EVM
    )
    assert keccak_sig == sig


# --- ed25519 -----------------------------------------------------------------------------------------

RFC8032 = load_testdata("rfc8032_ed25519.json")["vectors"]
SUPERCOP = load_ed25519_sign_input()


@pytest.mark.parametrize("vector", RFC8032, ids=[f"RFC8032-7.1-{v['id']}" for v in RFC8032])
def test_ed25519_rfc8032(vector: dict[str, str]) -> None:
    seed, public = bytes.fromhex(vector["secret_key"]), bytes.fromhex(vector["public_key"])
    message, signature = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    assert signing.sign(ED, seed, message, hash_alg=H.NONE, fmt=F.RAW) == signature
    assert signing.verify(ED, public, message, signature, hash_alg=H.NONE, fmt=F.RAW)
    tampered = signature[:-1] + bytes([signature[-1] ^ 0x01])
    assert not signing.verify(ED, public, message, tampered, hash_alg=H.NONE, fmt=F.RAW)
    assert not signing.verify(ED, public, message + b"x", signature, hash_alg=H.NONE, fmt=F.RAW)


def test_ed25519_supercop_sign_input() -> None:
    """All 1024 lines of djb's SUPERCOP ``sign.input`` (the source of RFC 8032's first vectors)."""
    assert len(SUPERCOP) == 1024
    vector: Ed25519Vector
    for vector in SUPERCOP:
        assert keys.public_key(ED, vector.seed) == vector.public_key
        assert signing.sign(ED, vector.seed, vector.message, hash_alg=H.NONE, fmt=F.RAW) == vector.signature
        assert signing.verify(
            ED, vector.public_key, vector.message, vector.signature, hash_alg=H.NONE, fmt=F.RAW
        )


# --- formats -----------------------------------------------------------------------------------------

EC_TYPES = [pytest.param(P256, id="secp256r1"), pytest.param(K1, id="secp256k1")]


@pytest.mark.parametrize("key_type", EC_TYPES)
def test_der_and_raw_carry_the_same_signature(key_type: KeyType) -> None:
    material = keys.generate(key_type)
    raw = signing.sign(key_type, material, b"m", hash_alg=H.SHA256, fmt=F.RAW)
    der = signing.sign(key_type, material, b"m", hash_alg=H.SHA256, fmt=F.DER)
    assert len(raw) == 64
    assert der[0] == 0x30
    # Both deterministic (RFC 6979): the two formats carry the same (r, s).
    assert decode_dss_signature(der) == (int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _malformed_der(n: int) -> dict[str, bytes]:
    good = encode_dss_signature(12345, 67890)
    return {
        "empty": b"",
        "garbage": b"\x01\x02\x03",
        "trailing-byte": good + b"\x00",
        "truncated": good[:-1],
        "non-minimal-integer": bytes.fromhex("3007020200050201" + "07"),  # INTEGER 0x0005: DER forbids
        "r-zero": encode_dss_signature(0, 5),
        "s-zero": encode_dss_signature(5, 0),
        "r-equals-n": encode_dss_signature(n, 5),
        "s-equals-n": encode_dss_signature(5, n),
    }


@pytest.mark.parametrize("key_type", EC_TYPES)
@pytest.mark.parametrize("case", list(_malformed_der(1)))
def test_malformed_der(key_type: KeyType, case: str) -> None:
    bad = _malformed_der(ORDERS[key_type])[case]
    public = keys.public_key(key_type, keys.generate(key_type))
    assert signing.verify(key_type, public, b"m", bad, hash_alg=H.SHA256, fmt=F.DER) is False


def _malformed_raw(n: int, good: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "63-bytes": good[:-1],
        "65-bytes": good + b"\x00",
        "r-zero": _raw(0, 5),
        "s-zero": _raw(5, 0),
        "r-equals-n": _raw(n, 5),
        "s-all-ones": b"\x01" * 32 + b"\xff" * 32,
        "der-given-as-raw": encode_dss_signature(5, 7),
    }


@pytest.mark.parametrize("key_type", EC_TYPES)
@pytest.mark.parametrize("case", list(_malformed_raw(1, b"\x00" * 64)))
def test_malformed_raw(key_type: KeyType, case: str) -> None:
    material = keys.generate(key_type)
    good = signing.sign(key_type, material, b"m", hash_alg=H.SHA256, fmt=F.RAW)
    bad = _malformed_raw(ORDERS[key_type], good)[case]
    public = keys.public_key(key_type, material)
    assert signing.verify(key_type, public, b"m", bad, hash_alg=H.SHA256, fmt=F.RAW) is False


@pytest.mark.parametrize(
    ("mangle", "case"),
    [
        pytest.param(lambda s: s[:64] + bytes([s[64] - 27]), "v-as-recovery-id-0/1", id="v-0-or-1"),
        pytest.param(lambda s: s[:64] + bytes([s[64] + 10]), "v-37/38-eip155-style", id="v-eip155"),
        pytest.param(lambda s: s[:64] + bytes([55 - s[64]]), "other-v", id="v-flipped-27/28"),
        pytest.param(lambda s: s[:64] + b"\x1a", "v-26", id="v-26"),
        pytest.param(lambda s: s[:64] + b"\x1d", "v-29", id="v-29"),
        pytest.param(lambda s: s[:64], "no-v", id="64-bytes"),
        pytest.param(lambda s: s + b"\x00", "66-bytes", id="66-bytes"),
    ],
)
def test_evm_format_rejects_bad_v(mangle: Any, case: str) -> None:
    material = keys.generate(K1)
    sig = signing.sign(K1, material, b"m", hash_alg=H.KECCAK256, fmt=F.EVM)
    assert sig[64] in (27, 28)
    public = keys.public_key(K1, material)
    assert signing.verify(K1, public, b"m", sig, hash_alg=H.KECCAK256, fmt=F.EVM)
    assert signing.verify(K1, public, b"m", mangle(sig), hash_alg=H.KECCAK256, fmt=F.EVM) is False, case


@pytest.mark.parametrize("key_type", EC_TYPES)
def test_low_s(key_type: KeyType) -> None:
    """We always emit low-s; plain ECDSA (raw/DER) still accepts the high-s twin; EVM does not (EIP-2)."""
    n = ORDERS[key_type]
    material = keys.generate(key_type)
    public = keys.public_key(key_type, material)
    for i in range(16):
        message = f"low-s {i}".encode()
        raw = signing.sign(key_type, material, message, hash_alg=H.SHA256, fmt=F.RAW)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert s <= n // 2
        high = _raw(r, n - s)
        assert signing.verify(key_type, public, message, high, hash_alg=H.SHA256, fmt=F.RAW)
        assert signing.verify(
            key_type, public, message, encode_dss_signature(r, n - s), hash_alg=H.SHA256, fmt=F.DER
        )
        if key_type is K1:
            evm_sig = signing.sign(K1, material, message, hash_alg=H.SHA256, fmt=F.EVM)
            assert evm_sig[:64] == raw
            high_evm = high + bytes([55 - evm_sig[64]])  # the high-s twin recovers with the other v
            assert not signing.verify(K1, public, message, high_evm, hash_alg=H.SHA256, fmt=F.EVM)


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "hash_alg", "fmt"),
    [
        pytest.param(P256, H.SHA256, F.EVM, id="p256-evm"),
        pytest.param(ED, H.SHA256, F.RAW, id="ed25519-sha256"),
        pytest.param(ED, H.KECCAK256, F.RAW, id="ed25519-keccak"),
        pytest.param(ED, H.NONE, F.DER, id="ed25519-der"),
        pytest.param(KeyType.AES256_GCM, H.NONE, F.RAW, id="aes"),
        pytest.param(KeyType.HMAC_SHA256, H.SHA256, F.RAW, id="hmac"),
    ],
)
def test_unsupported_combinations_raise(
    key_type: KeyType, hash_alg: HashAlgorithm, fmt: SignatureFormat
) -> None:
    material = keys.generate(key_type)
    with pytest.raises(UnsupportedOperation):
        signing.sign(key_type, material, b"m", hash_alg=hash_alg, fmt=fmt)
    with pytest.raises(UnsupportedOperation):
        signing.verify(key_type, b"\x02" * 33, b"m", b"\x00" * 64, hash_alg=hash_alg, fmt=fmt)


@pytest.mark.parametrize("key_type", EC_TYPES)
@pytest.mark.parametrize("size", [0, 20, 31, 33, 48, 64])
def test_none_hash_needs_a_32_byte_digest(key_type: KeyType, size: int) -> None:
    material = keys.generate(key_type)
    with pytest.raises(InvalidInput, match="32-byte digest"):
        signing.sign(key_type, material, b"\x01" * size, hash_alg=H.NONE, fmt=F.RAW)
    with pytest.raises(InvalidInput):
        signing.verify(
            key_type,
            keys.public_key(key_type, material),
            b"\x01" * size,
            b"\x01" * 64,
            hash_alg=H.NONE,
            fmt=F.RAW,
        )


@pytest.mark.parametrize("key_type", [*EC_TYPES, pytest.param(ED, id="ed25519")])
def test_bad_keys_raise(key_type: KeyType) -> None:
    hash_alg = H.NONE if key_type is ED else H.SHA256
    with pytest.raises(InvalidKeyMaterial):
        signing.sign(key_type, b"\x01" * 31, b"m", hash_alg=hash_alg, fmt=F.RAW)
    with pytest.raises(InvalidKeyMaterial):
        signing.verify(key_type, b"\x02" * 10, b"m", b"\x00" * 64, hash_alg=hash_alg, fmt=F.RAW)


@pytest.mark.parametrize("key_type", [*EC_TYPES, pytest.param(ED, id="ed25519")])
def test_wrong_key_does_not_verify(key_type: KeyType) -> None:
    hash_alg = H.NONE if key_type is ED else H.SHA256
    sig = signing.sign(key_type, keys.generate(key_type), b"m", hash_alg=hash_alg, fmt=F.RAW)
    other = keys.public_key(key_type, keys.generate(key_type))
    assert not signing.verify(key_type, other, b"m", sig, hash_alg=hash_alg, fmt=F.RAW)


def test_ed25519_malformed_signatures_return_false() -> None:
    material = keys.generate(ED)
    public = keys.public_key(ED, material)
    sig = signing.sign(ED, material, b"m", hash_alg=H.NONE, fmt=F.RAW)
    for bad in (b"", sig[:-1], sig + b"\x00", b"\x00" * 64, b"\xff" * 64):
        assert signing.verify(ED, public, b"m", bad, hash_alg=H.NONE, fmt=F.RAW) is False


# --- properties --------------------------------------------------------------------------------------

COMBINATIONS = [
    pytest.param(k, h, f, id=f"{k}-{h}-{f}")
    for k in (P256, K1, ED)
    for h in k.supported_hashes
    for f in k.supported_signature_formats
]


@pytest.mark.parametrize(("key_type", "hash_alg", "fmt"), COMBINATIONS)
@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200), flip=st.integers(0, 10**6))
def test_sign_verify_round_trip(
    key_type: KeyType, hash_alg: HashAlgorithm, fmt: SignatureFormat, seed: bytes, message: bytes, flip: int
) -> None:
    try:
        keys.validate_material(key_type, seed)
    except InvalidKeyMaterial:
        assume(False)
    data = hashlib.sha256(message).digest() if hash_alg is H.NONE and key_type is not ED else message
    sig = signing.sign(key_type, seed, data, hash_alg=hash_alg, fmt=fmt)
    public = keys.public_key(key_type, seed)
    assert signing.verify(key_type, public, data, sig, hash_alg=hash_alg, fmt=fmt)
    bit = flip % (len(sig) * 8)
    tampered = bytearray(sig)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert not signing.verify(key_type, public, data, bytes(tampered), hash_alg=hash_alg, fmt=fmt)
    other_data = data[:-1] + bytes([data[-1] ^ 1]) if data else b"\x00"
    assert not signing.verify(key_type, public, other_data, sig, hash_alg=hash_alg, fmt=fmt)


@pytest.mark.parametrize(
    ("key_type", "fmt"),
    [
        (P256, F.RAW),
        (P256, F.DER),
        (KeyType.SECP256K1, F.EVM),
        (KeyType.SECP256K1, F.RAW),
        (KeyType.ED25519, F.RAW),
    ],
    ids=["p256-raw", "p256-der", "k1-evm", "k1-raw", "ed25519"],
)
def test_sign_with_a_loaded_key_is_sign(key_type: KeyType, fmt: F) -> None:
    """All three signers are deterministic (RFC 6979, RFC 8032), so the two paths agree byte for byte."""
    material, message = keys.generate(key_type), b"loaded once"
    hash_alg = key_type.default_hash or HashAlgorithm.NONE
    expected = signing.sign(key_type, material, message, hash_alg=hash_alg, fmt=fmt)
    loaded = keys.LoadedKey(key_type, material)
    assert signing.sign_with_key(loaded, message, hash_alg=hash_alg, fmt=fmt) == expected
