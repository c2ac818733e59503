"""Sealing (docs/enclave.md §2): AES-256-GCM blobs bound to purpose and context, and the key providers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from neo_service_layer.enclave.fsutil import write_new_file
from neo_service_layer.enclave.protocol import UnsealFailed
from neo_service_layer.enclave.sealing import (
    KEY_BYTES,
    NONCE_BYTES,
    GramineSgxKeyProvider,
    KeyFileProvider,
    PassphraseKeyProvider,
    Sealer,
    seal_aad,
    software_key_provider,
)
from neo_service_layer.errors import ConfigurationError


def test_round_trip_and_format(sealer: Sealer) -> None:
    blob = sealer.seal("account-master-key", "acc_1:1", b"secret key")
    assert blob[0] == 0x01
    assert len(blob) == 1 + NONCE_BYTES + len(b"secret key") + 16
    assert sealer.open("account-master-key", "acc_1:1", blob) == b"secret key"
    assert sealer.seal("account-master-key", "acc_1:1", b"secret key") != blob  # random nonce


@pytest.mark.parametrize(
    ("purpose", "context"),
    [
        pytest.param("enclave-state", "acc_1:1", id="other-purpose"),
        pytest.param("account-master-key", "acc_2:1", id="other-account"),
        pytest.param("account-master-key", "acc_1:2", id="other-version"),
        pytest.param("account-master-key", "acc_1:1 ", id="context-suffix"),
    ],
)
def test_blob_is_bound_to_purpose_and_context(sealer: Sealer, purpose: str, context: str) -> None:
    blob = sealer.seal("account-master-key", "acc_1:1", b"k" * 32)
    with pytest.raises(UnsealFailed, match="does not open"):
        sealer.open(purpose, context, blob)


def test_aad_encoding_is_unambiguous() -> None:
    assert seal_aad("a", "b") == b"nsl-seal-v1\x00a\x00b"
    with pytest.raises(ValueError, match="purpose"):
        seal_aad("a\x00b", "c")
    with pytest.raises(ValueError, match="context"):
        seal_aad("a", "b\x00c")


@pytest.mark.parametrize(
    "index", [0, 1, 12, 13, -1], ids=["version", "nonce", "nonce-end", "ciphertext", "tag"]
)
def test_any_modified_byte_is_refused(sealer: Sealer, index: int) -> None:
    blob = bytearray(sealer.seal("enclave-state", "v1", b"identity keys"))
    blob[index] ^= 0x01
    with pytest.raises(UnsealFailed):
        sealer.open("enclave-state", "v1", bytes(blob))


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", b"\x01" + bytes(28)], ids=["empty", "version-only", "too-short"]
)
def test_truncated_blobs_are_refused(sealer: Sealer, blob: bytes) -> None:
    with pytest.raises(UnsealFailed):
        sealer.open("enclave-state", "v1", blob)


def test_wrong_key_is_refused(sealer: Sealer) -> None:
    blob = sealer.seal("enclave-state", "v1", b"x")
    with pytest.raises(UnsealFailed):
        Sealer(os.urandom(KEY_BYTES)).open("enclave-state", "v1", blob)


def test_sealer_repr_hides_the_key() -> None:
    key = bytes(range(32))
    shown = repr(Sealer(key))
    assert key.hex() not in shown
    assert "*" in shown


def test_passphrase_key_is_stable_and_salted(short_dir: Path) -> None:
    provider = PassphraseKeyProvider(SecretStr("correct horse battery staple"), short_dir)
    key = provider.load_key(create=True)
    assert provider.salt_path.stat().st_mode & 0o777 == 0o600
    assert (
        PassphraseKeyProvider(SecretStr("correct horse battery staple"), short_dir).load_key(create=False)
        == key
    )
    assert PassphraseKeyProvider(SecretStr("wrong"), short_dir).load_key(create=False) != key
    other_dir = short_dir / "other"
    other_dir.mkdir()
    assert (
        PassphraseKeyProvider(SecretStr("correct horse battery staple"), other_dir).load_key(create=True)
        != key
    )


def test_passphrase_without_its_salt_is_refused(short_dir: Path) -> None:
    with pytest.raises(UnsealFailed, match=r"state\.salt is missing"):
        PassphraseKeyProvider(SecretStr("pass phrase"), short_dir).load_key(create=False)
    with pytest.raises(ConfigurationError, match="empty"):
        PassphraseKeyProvider(SecretStr(""), short_dir)


def test_key_file_is_created_0600_with_32_bytes(short_dir: Path) -> None:
    path = short_dir / "sealing.key"
    key = KeyFileProvider(path).load_key(create=True)
    assert len(key) == KEY_BYTES
    assert path.read_bytes() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert KeyFileProvider(path).load_key(create=True) == key  # never replaced


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666], ids=oct)
def test_key_file_readable_by_others_is_refused(short_dir: Path, mode: int) -> None:
    path = short_dir / "sealing.key"
    path.write_bytes(os.urandom(32))
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match="must be 0600"):
        KeyFileProvider(path).load_key(create=False)


@pytest.mark.parametrize("size", [0, 16, 31, 33], ids=lambda n: f"{n}-bytes")
def test_key_file_of_the_wrong_size_is_refused(short_dir: Path, size: int) -> None:
    path = short_dir / "sealing.key"
    write_new_file(path, os.urandom(size))
    with pytest.raises(ConfigurationError, match="32 bytes"):
        KeyFileProvider(path).load_key(create=False)


def test_key_file_symlink_is_refused(short_dir: Path) -> None:
    target = short_dir / "real.key"
    write_new_file(target, os.urandom(32))
    link = short_dir / "sealing.key"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="cannot open"):
        KeyFileProvider(link).load_key(create=False)


def test_missing_key_file_with_existing_state_is_refused(short_dir: Path) -> None:
    with pytest.raises(UnsealFailed, match="missing"):
        KeyFileProvider(short_dir / "sealing.key").load_key(create=False)
    assert not (short_dir / "sealing.key").exists()


def test_software_provider_choice(short_dir: Path) -> None:
    assert software_key_provider(SecretStr("pw"), None, short_dir).kind == "passphrase"
    chosen = software_key_provider(None, None, short_dir)
    assert isinstance(chosen, KeyFileProvider)
    assert chosen.path == short_dir / "sealing.key"


def test_gramine_sgx_key_is_expanded_with_hkdf(short_dir: Path) -> None:
    # FAKE DEVICE: a plain directory standing in for Gramine's /dev/attestation/keys/.
    (short_dir / "keys").mkdir()
    raw = bytes(range(16))
    (short_dir / "keys" / "_sgx_mrenclave").write_bytes(raw)
    key = GramineSgxKeyProvider(short_dir).load_key(create=False)
    assert len(key) == 32
    assert raw not in key
    assert GramineSgxKeyProvider(short_dir).load_key(create=True) == key
    (short_dir / "keys" / "_sgx_mrenclave").write_bytes(bytes(32))
    with pytest.raises(ConfigurationError, match="expected 16"):
        GramineSgxKeyProvider(short_dir).load_key(create=False)
