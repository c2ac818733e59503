"""Key-type capabilities, the wire names of the enums and the error codes (OpenBao transit style policy)."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave import crypto
from neo_service_layer.enclave.crypto.errors import (
    CryptoError,
    DecryptionFailed,
    InvalidInput,
    InvalidKeyMaterial,
    InvalidProof,
    ProofUndefined,
    UnsupportedOperation,
)
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat

H = HashAlgorithm
F = SignatureFormat
ALL_EC_HASHES = (H.SHA256, H.SHA384, H.SHA512, H.KECCAK256, H.NONE)

# key type: (sign, verify, encrypt, hmac, data key, asymmetric, vrf), hashes, formats
CAPABILITIES = [
    pytest.param(
        KeyType.SECP256R1,
        (True, True, False, False, False, True, True),
        ALL_EC_HASHES,
        (F.RAW, F.DER),
        id="secp256r1",
    ),
    pytest.param(
        KeyType.SECP256K1,
        (True, True, False, False, False, True, False),
        ALL_EC_HASHES,
        (F.RAW, F.DER, F.EVM),
        id="secp256k1",
    ),
    pytest.param(
        KeyType.ED25519, (True, True, False, False, False, True, True), (H.NONE,), (F.RAW,), id="ed25519"
    ),
    pytest.param(
        KeyType.AES256_GCM, (False, False, True, False, True, False, False), (), (), id="aes256-gcm"
    ),
    pytest.param(
        KeyType.HMAC_SHA256, (False, False, False, True, False, False, False), (), (), id="hmac-sha256"
    ),
    # A public key (asymmetric) but no signatures: the material is a Dodis-Yampolskiy VRF secret.
    pytest.param(KeyType.BLS12381, (False, False, False, False, False, True, True), (), (), id="bls12381"),
]


@pytest.mark.parametrize(("key_type", "flags", "hashes", "formats"), CAPABILITIES)
def test_capabilities(
    key_type: KeyType,
    flags: tuple[bool, ...],
    hashes: tuple[HashAlgorithm, ...],
    formats: tuple[SignatureFormat, ...],
) -> None:
    got = (
        key_type.can_sign,
        key_type.can_verify,
        key_type.can_encrypt,
        key_type.can_hmac,
        key_type.can_generate_data_key,
        key_type.is_asymmetric,
        key_type.can_vrf,
    )
    assert got == flags
    assert key_type.supported_hashes == hashes
    assert key_type.supported_signature_formats == formats
    assert (key_type.default_hash is not None) == key_type.can_sign
    if key_type.default_hash is not None:
        assert key_type.default_hash in key_type.supported_hashes


def test_wire_names_are_stable() -> None:
    # These strings are stored in the database and cross the enclave protocol: never rename.
    assert [k.value for k in KeyType] == [
        "secp256r1",
        "secp256k1",
        "ed25519",
        "aes256-gcm",
        "hmac-sha256",
        "bls12381",
    ]
    assert [h.value for h in HashAlgorithm] == ["sha256", "sha384", "sha512", "keccak256", "none"]
    assert [f.value for f in SignatureFormat] == ["raw", "der", "evm"]
    assert KeyType("aes256-gcm") is KeyType.AES256_GCM


@pytest.mark.parametrize(
    ("key_type", "hash_alg", "fmt", "reason"),
    [
        pytest.param(KeyType.SECP256R1, H.SHA256, F.EVM, "format evm", id="p256-evm-format"),
        pytest.param(KeyType.ED25519, H.SHA256, F.RAW, "hash sha256", id="ed25519-prehash-rfc8032-pure-only"),
        pytest.param(KeyType.ED25519, H.NONE, F.DER, "format der", id="ed25519-der"),
        pytest.param(KeyType.ED25519, H.NONE, F.EVM, "format evm", id="ed25519-evm"),
        pytest.param(KeyType.AES256_GCM, H.NONE, F.RAW, "cannot sign", id="aes-sign"),
        pytest.param(KeyType.HMAC_SHA256, H.SHA256, F.RAW, "cannot sign", id="hmac-sign"),
        pytest.param(KeyType.BLS12381, H.SHA256, F.RAW, "cannot sign", id="bls12381-sign"),
    ],
)
def test_check_signature_params_rejects(
    key_type: KeyType, hash_alg: HashAlgorithm, fmt: SignatureFormat, reason: str
) -> None:
    with pytest.raises(UnsupportedOperation, match=reason) as info:
        key_type.check_signature_params(hash_alg, fmt)
    assert info.value.code == "unsupported_operation"


@pytest.mark.parametrize("key_type", [k for k in KeyType if k.can_sign], ids=str)
def test_check_signature_params_accepts_every_advertised_combination(key_type: KeyType) -> None:
    for hash_alg in key_type.supported_hashes:
        for fmt in key_type.supported_signature_formats:
            key_type.check_signature_params(hash_alg, fmt)  # does not raise


ERRORS: list[tuple[type[CryptoError], str, bool]] = [
    (CryptoError, "crypto_error", False),
    (UnsupportedOperation, "unsupported_operation", True),
    (InvalidKeyMaterial, "invalid_key_material", True),
    (InvalidInput, "invalid_input", True),
    (DecryptionFailed, "decryption_failed", True),
    (InvalidProof, "invalid_proof", True),
    (ProofUndefined, "proof_undefined", True),
]


@pytest.mark.parametrize(("error", "code", "user_error"), ERRORS, ids=[e[1] for e in ERRORS])
def test_error_codes_are_stable(error: type[CryptoError], code: str, user_error: bool) -> None:
    err = error("detail text")
    assert isinstance(err, CryptoError)
    assert err.code == code
    assert err.user_error is user_error
    assert err.detail == "detail text"
    assert str(err) == "detail text"


def test_error_codes_are_unique_and_exported() -> None:
    assert len({code for _, code, _ in ERRORS}) == len(ERRORS)
    for error, _, _ in ERRORS:
        assert getattr(crypto, error.__name__) is error
