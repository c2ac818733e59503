"""AES-256-GCM against the NIST CAVP GCM vectors (SP 800-38D, ``gcmEncryptExtIV256.rsp`` and
``gcmDecrypt256.rsp``, 96-bit IVs, with AAD) and tamper / context properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto import aead
from neo_service_layer.enclave.crypto.errors import DecryptionFailed, InvalidInput, InvalidKeyMaterial
from tests.enclave.crypto.vectors import CavpRecord, load_cavp

ENCRYPT = "ciphers/AES/GCM/gcmEncryptExtIV256.rsp"
DECRYPT = "ciphers/AES/GCM/gcmDecrypt256.rsp"


def _params(path: str, *, taglens: set[str], with_fail: bool = True) -> list[Any]:
    params = []
    for r in load_cavp(path):
        if r.params["IVlen"] != "96" or r.params["Taglen"] not in taglens:
            continue
        if not with_fail and "FAIL" in r.flags:
            continue
        p = r.params
        ident = f"CAVP-SP800-38D-PT{p['PTlen']}-AAD{p['AADlen']}-Tag{p['Taglen']}-#{r.fields['Count']}"
        params.append(pytest.param(r, id=ident + ("-FAIL" if "FAIL" in r.flags else "")))
    return params


ALL_TAGLENS = {"128", "120", "112", "104", "96", "64", "32"}
ENCRYPT_VECTORS = _params(ENCRYPT, taglens=ALL_TAGLENS)
DECRYPT_VECTORS = _params(DECRYPT, taglens={"128"})
TRUNCATED_TAG_VECTORS = _params(DECRYPT, taglens=ALL_TAGLENS - {"128"}, with_fail=False)


def test_vector_counts() -> None:
    # CAVS 14.0 GCM files: 15 vectors for each (PTlen, AADlen, Taglen) with a 96-bit IV.
    assert len(ENCRYPT_VECTORS) == 7 * 375
    assert len(DECRYPT_VECTORS) == 375
    assert sum("FAIL" in p.values[0].flags for p in DECRYPT_VECTORS) > 100
    assert len(TRUNCATED_TAG_VECTORS) > 1000


@pytest.mark.parametrize("record", ENCRYPT_VECTORS)
def test_cavp_gcm_encrypt(record: CavpRecord) -> None:
    """GCM-AE (SP 800-38D §7.1): CT matches; the tag's leftmost Taglen bits match (§5.2.1.2 MSB_t)."""
    out = aead._encrypt_with_nonce(record.hex("Key"), record.hex("IV"), record.hex("PT"), record.hex("AAD"))
    ciphertext, tag = out[: -aead.TAG_SIZE], out[-aead.TAG_SIZE :]
    assert ciphertext == record.hex("CT")
    expected_tag = record.hex("Tag")
    assert tag[: len(expected_tag)] == expected_tag


@pytest.mark.parametrize("record", DECRYPT_VECTORS)
def test_cavp_gcm_decrypt(record: CavpRecord) -> None:
    """GCM-AD (SP 800-38D §7.2): opens to PT, or fails exactly when the vector says FAIL."""
    blob = record.hex("IV") + record.hex("CT") + record.hex("Tag")
    if "FAIL" in record.flags:
        with pytest.raises(DecryptionFailed):
            aead.decrypt(record.hex("Key"), blob, record.hex("AAD"))
    else:
        assert aead.decrypt(record.hex("Key"), blob, record.hex("AAD")) == record.hex("PT")


@pytest.mark.parametrize("record", TRUNCATED_TAG_VECTORS)
def test_truncated_tags_are_never_accepted(record: CavpRecord) -> None:
    """Vectors valid under a truncated tag (SP 800-38D §5.2.1.2) must not open: we require 128 bits."""
    blob = record.hex("IV") + record.hex("CT") + record.hex("Tag")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(record.hex("Key"), blob, record.hex("AAD"))


def test_blob_layout_and_random_nonce() -> None:
    key = aead.generate_data_key()
    first = aead.encrypt(key, b"secret value", b"ctx")
    second = aead.encrypt(key, b"secret value", b"ctx")
    assert len(first) == aead.NONCE_SIZE + len(b"secret value") + aead.TAG_SIZE
    assert first[: aead.NONCE_SIZE] != second[: aead.NONCE_SIZE]
    assert first != second
    nonce = first[: aead.NONCE_SIZE]
    assert first[aead.NONCE_SIZE :] == aead._encrypt_with_nonce(key, nonce, b"secret value", b"ctx")


def _tamper(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x80
    return bytes(out)


@pytest.mark.parametrize(
    ("case", "transform"),
    [
        pytest.param("nonce", lambda b: _tamper(b, 0), id="flip-nonce"),
        pytest.param("ciphertext", lambda b: _tamper(b, aead.NONCE_SIZE), id="flip-ciphertext"),
        pytest.param("tag", lambda b: _tamper(b, len(b) - 1), id="flip-tag"),
        pytest.param("drop-tag-byte", lambda b: b[:-1], id="truncated-tag"),
        pytest.param("append", lambda b: b + b"\x00", id="appended-byte"),
        pytest.param("empty", lambda b: b"", id="empty"),
        pytest.param("27-bytes", lambda b: b[:27], id="shorter-than-nonce-plus-tag"),
        pytest.param("nonce-only", lambda b: b[: aead.NONCE_SIZE], id="nonce-only"),
    ],
)
def test_tampered_blob_fails(case: str, transform: Any) -> None:
    key = aead.generate_data_key()
    blob = aead.encrypt(key, b"attack at dawn", b"account=42")
    with pytest.raises(DecryptionFailed) as info:
        aead.decrypt(key, transform(blob), b"account=42")
    assert info.value.code == "decryption_failed", case
    assert "attack" not in str(info.value)


def test_wrong_context_and_key_fail() -> None:
    key = aead.generate_data_key()
    blob = aead.encrypt(key, b"pt", b"purpose\x00account=1")
    assert aead.decrypt(key, blob, b"purpose\x00account=1") == b"pt"
    for context in (b"", b"purpose\x00account=2", b"purpose\x00account=1\x00"):
        with pytest.raises(DecryptionFailed):
            aead.decrypt(key, blob, context)
    with pytest.raises(DecryptionFailed):
        aead.decrypt(aead.generate_data_key(), blob, b"purpose\x00account=1")


def test_empty_plaintext_and_context() -> None:
    key = aead.generate_data_key()
    blob = aead.encrypt(key, b"", b"")
    assert len(blob) == aead.MIN_BLOB_SIZE
    assert aead.decrypt(key, blob, b"") == b""


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_only_aes256_keys(size: int) -> None:
    key = b"\x07" * size
    with pytest.raises(InvalidKeyMaterial, match="32 bytes"):
        aead.encrypt(key, b"pt", b"")
    with pytest.raises(InvalidKeyMaterial):
        aead.decrypt(key, b"\x00" * 40, b"")


@pytest.mark.parametrize("size", [0, 8, 11, 13, 16])
def test_nonce_must_be_96_bits(size: int) -> None:
    with pytest.raises(InvalidInput, match="12 bytes"):
        aead._encrypt_with_nonce(aead.generate_data_key(), b"\x00" * size, b"pt", b"")


def test_data_keys() -> None:
    first, second = aead.generate_data_key(), aead.generate_data_key()
    assert len(first) == aead.KEY_SIZE
    assert first != second
    kek = aead.generate_data_key()
    wrapped = aead.generate_wrapped_data_key(kek, b"secret=7")
    assert len(wrapped.plaintext) == aead.KEY_SIZE
    assert aead.decrypt(kek, wrapped.ciphertext, b"secret=7") == wrapped.plaintext
    with pytest.raises(DecryptionFailed):
        aead.decrypt(kek, wrapped.ciphertext, b"secret=8")


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    plaintext=st.binary(max_size=512),
    context=st.binary(max_size=64),
    other=st.binary(max_size=64),
)
def test_encrypt_decrypt_round_trip(key: bytes, plaintext: bytes, context: bytes, other: bytes) -> None:
    blob = aead.encrypt(key, plaintext, context)
    assert aead.decrypt(key, blob, context) == plaintext
    if other != context:
        with pytest.raises(DecryptionFailed):
            aead.decrypt(key, blob, other)
