"""Key generation, material validation and public keys, against FIPS 186-3 CAVP (P-256), the SECP256K1
CAVP-format file of ``cryptography-vectors`` and RFC 8032 §7.1 (ed25519); bls12381 (the Dodis-Yampolskiy
VRF secret) is checked in depth, against its own vectors, in ``test_dyvrf.py``."""

from __future__ import annotations

from typing import Any

import pytest

from neo_service_layer.enclave.crypto import dyvrf, keys
from neo_service_layer.enclave.crypto.errors import InvalidKeyMaterial, UnsupportedOperation
from neo_service_layer.enclave.crypto.keys import P256_ORDER, SECP256K1_ORDER
from neo_service_layer.enclave.crypto.keytypes import KeyType
from tests.enclave.crypto.vectors import CavpRecord, load_cavp, load_testdata

EC_TYPES = [KeyType.SECP256R1, KeyType.SECP256K1]
P256_SIGGEN = "asymmetric/ECDSA/FIPS_186-3/SigGen.txt"
K1_SIGGEN = "asymmetric/ECDSA/SECP256K1/SigGen.txt"


def _cavp_key_params(path: str, curve: str) -> list[Any]:
    return [
        pytest.param(r, id=f"CAVP-{path.split('/')[-2]}-{r.params['section']}-#{r.index}")
        for r in load_cavp(path)
        if r.params["section"].startswith(curve)
    ]


@pytest.mark.parametrize("key_type", list(KeyType), ids=str)
def test_generate_gives_valid_distinct_material(key_type: KeyType) -> None:
    first, second = keys.generate(key_type), keys.generate(key_type)
    assert len(first) == keys.MATERIAL_SIZE
    assert first != second
    keys.validate_material(key_type, first)


@pytest.mark.parametrize(
    ("key_type", "size", "prefixes"),
    [
        pytest.param(KeyType.SECP256R1, 33, {2, 3}, id="secp256r1-sec1-compressed"),
        pytest.param(KeyType.SECP256K1, 33, {2, 3}, id="secp256k1-sec1-compressed"),
        pytest.param(KeyType.ED25519, 32, set(range(256)), id="ed25519-rfc8032"),
        # ZCash serialization: compression flag set, infinity flag clear, sign flag either way.
        pytest.param(KeyType.BLS12381, 48, set(range(0x80, 0xC0)), id="bls12381-compressed-g1"),
    ],
)
def test_public_key_shape(key_type: KeyType, size: int, prefixes: set[int]) -> None:
    public = keys.public_key(key_type, keys.generate(key_type))
    assert len(public) == size
    assert public[0] in prefixes
    assert keys.normalize_public_key(key_type, public) == public


@pytest.mark.parametrize("key_type", [KeyType.AES256_GCM, KeyType.HMAC_SHA256], ids=str)
def test_symmetric_keys_have_no_public_key(key_type: KeyType) -> None:
    material = keys.generate(key_type)
    with pytest.raises(UnsupportedOperation):
        keys.public_key(key_type, material)
    with pytest.raises(UnsupportedOperation):
        keys.normalize_public_key(key_type, material)
    with pytest.raises(UnsupportedOperation):
        keys.curve_order(key_type)


@pytest.mark.parametrize("key_type", list(KeyType), ids=str)
@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_validate_material_rejects_wrong_sizes(key_type: KeyType, size: int) -> None:
    with pytest.raises(InvalidKeyMaterial, match="32 bytes"):
        keys.validate_material(key_type, b"\x01" * size)


# SEC 1 v2 §3.2.1: a private key is an integer in [1, n-1]. The library (OpenSSL / libsecp256k1)
# decides; accepting n-1 and rejecting n also proves our order constants are the group orders.
SCALAR_CASES = [
    pytest.param(KeyType.SECP256R1, 1, True, id="p256-d=1"),
    pytest.param(KeyType.SECP256R1, P256_ORDER - 1, True, id="p256-d=n-1"),
    pytest.param(KeyType.SECP256R1, 0, False, id="p256-d=0"),
    pytest.param(KeyType.SECP256R1, P256_ORDER, False, id="p256-d=n"),
    pytest.param(KeyType.SECP256R1, P256_ORDER + 1, False, id="p256-d=n+1"),
    pytest.param(KeyType.SECP256R1, 2**256 - 1, False, id="p256-d=2^256-1"),
    pytest.param(KeyType.SECP256K1, 1, True, id="k1-d=1"),
    pytest.param(KeyType.SECP256K1, SECP256K1_ORDER - 1, True, id="k1-d=n-1"),
    pytest.param(KeyType.SECP256K1, 0, False, id="k1-d=0"),
    pytest.param(KeyType.SECP256K1, SECP256K1_ORDER, False, id="k1-d=n"),
    pytest.param(KeyType.SECP256K1, 2**256 - 1, False, id="k1-d=2^256-1"),
    # bls12381: the range check is ours; test_dyvrf.py proves CURVE_ORDER is arkworks' r.
    pytest.param(KeyType.BLS12381, 1, True, id="bls-sk=1"),
    pytest.param(KeyType.BLS12381, dyvrf.CURVE_ORDER - 1, True, id="bls-sk=r-1"),
    pytest.param(KeyType.BLS12381, 0, False, id="bls-sk=0"),
    pytest.param(KeyType.BLS12381, dyvrf.CURVE_ORDER, False, id="bls-sk=r"),
    pytest.param(KeyType.BLS12381, 2**256 - 1, False, id="bls-sk=2^256-1"),
]
PUBLIC_KEY_SIZES = {KeyType.SECP256R1: 33, KeyType.SECP256K1: 33, KeyType.BLS12381: 48}


@pytest.mark.parametrize(("key_type", "scalar", "valid"), SCALAR_CASES)
def test_scalar_range(key_type: KeyType, scalar: int, valid: bool) -> None:
    material = scalar.to_bytes(32, "big")
    if valid:
        keys.validate_material(key_type, material)
        assert len(keys.public_key(key_type, material)) == PUBLIC_KEY_SIZES[key_type]
    else:
        with pytest.raises(InvalidKeyMaterial, match=r"out of range") as info:
            keys.validate_material(key_type, material)
        assert material.hex() not in str(info.value)  # never echo key material
        with pytest.raises(InvalidKeyMaterial):
            keys.public_key(key_type, material)


def test_secp256k1_order_is_sec2() -> None:
    # SEC 2 v2 §2.4.1, n of secp256k1.
    assert SECP256K1_ORDER == 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _check_cavp_public_key(key_type: KeyType, record: CavpRecord) -> None:
    material = record.int("d").to_bytes(32, "big")
    qx, qy = record.int("Qx"), record.int("Qy")
    expected = bytes([2 + (qy & 1)]) + qx.to_bytes(32, "big")
    assert keys.public_key(key_type, material) == expected
    uncompressed = b"\x04" + qx.to_bytes(32, "big") + qy.to_bytes(32, "big")
    assert keys.uncompressed_public_key(key_type, expected) == uncompressed
    assert keys.normalize_public_key(key_type, uncompressed) == expected


@pytest.mark.parametrize("record", _cavp_key_params(P256_SIGGEN, "P-256"))
def test_p256_public_key_matches_cavp_siggen(record: CavpRecord) -> None:
    _check_cavp_public_key(KeyType.SECP256R1, record)


@pytest.mark.parametrize("record", _cavp_key_params(K1_SIGGEN, "K-256"))
def test_secp256k1_public_key_matches_cavp_siggen(record: CavpRecord) -> None:
    _check_cavp_public_key(KeyType.SECP256K1, record)


RFC8032 = load_testdata("rfc8032_ed25519.json")["vectors"]


@pytest.mark.parametrize("vector", RFC8032, ids=[f"RFC8032-{v['id']}" for v in RFC8032])
def test_ed25519_public_key_matches_rfc8032(vector: dict[str, str]) -> None:
    seed = bytes.fromhex(vector["secret_key"])
    assert keys.public_key(KeyType.ED25519, seed).hex() == vector["public_key"]


def _bad_points(compressed: bytes, uncompressed: bytes) -> dict[str, bytes]:
    y_parity = uncompressed[-1] & 1
    return {
        "truncated": compressed[:-1],
        "too-long": compressed + b"\x00",
        "unknown-prefix-05": b"\x05" + compressed[1:],
        "hybrid-prefix-06/07": bytes([6 + y_parity]) + uncompressed[1:],  # SEC 1 hybrid: refused
        "uncompressed-off-curve": uncompressed[:-1] + bytes([uncompressed[-1] ^ 1]),
        "empty": b"",
    }


@pytest.mark.parametrize("key_type", EC_TYPES, ids=str)
@pytest.mark.parametrize("case", list(_bad_points(b"\x02" * 33, b"\x04" * 65)))
def test_normalize_public_key_rejects(key_type: KeyType, case: str) -> None:
    compressed = keys.public_key(key_type, keys.generate(key_type))
    bad = _bad_points(compressed, keys.uncompressed_public_key(key_type, compressed))[case]
    with pytest.raises(InvalidKeyMaterial):
        keys.normalize_public_key(key_type, bad)


@pytest.mark.parametrize(
    "case", ["truncated", "too-long", "uncompressed-flag", "infinity", "off-curve", "empty"]
)
def test_normalize_public_key_rejects_bls12381(case: str) -> None:
    public = keys.public_key(KeyType.BLS12381, keys.generate(KeyType.BLS12381))
    bad = {
        "truncated": public[:-1],
        "too-long": public + b"\x00",
        "uncompressed-flag": bytes([public[0] & 0x7F]) + public[1:],
        "infinity": bytes([0xC0]) + bytes(47),
        "off-curve": bytes([0x80]) + (1).to_bytes(47, "big"),  # x = 1: x^3 + 4 is not a square mod p
        "empty": b"",
    }[case]
    with pytest.raises(InvalidKeyMaterial):
        keys.normalize_public_key(KeyType.BLS12381, bad)
    with pytest.raises(UnsupportedOperation):
        keys.uncompressed_public_key(KeyType.BLS12381, public)  # SEC 1 only; see dyvrf.eip2537_g1


def test_ed25519_public_key_length_is_checked() -> None:
    with pytest.raises(InvalidKeyMaterial, match="32 bytes"):
        keys.normalize_public_key(KeyType.ED25519, b"\x01" * 33)
    with pytest.raises(UnsupportedOperation):
        keys.uncompressed_public_key(KeyType.ED25519, b"\x01" * 32)


@pytest.mark.parametrize("key_type", list(KeyType), ids=str)
def test_loaded_key_matches_the_material(key_type: KeyType) -> None:
    material = keys.generate(key_type)
    loaded = keys.LoadedKey(key_type, material)
    assert loaded.material == material
    expected = keys.public_key(key_type, material) if key_type.is_asymmetric else None
    assert loaded.public_key == expected
    assert (loaded.signer is not None) == key_type.can_sign
    assert material.hex() not in repr(loaded)


@pytest.mark.parametrize("key_type", list(KeyType), ids=str)
def test_loaded_key_refuses_invalid_material(key_type: KeyType) -> None:
    with pytest.raises(InvalidKeyMaterial):
        keys.LoadedKey(key_type, b"\x00" * 31)
