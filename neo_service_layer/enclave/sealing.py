"""Sealing: AES-256-GCM under the enclave's sealing key, each blob bound to a purpose and a context.

Blob format (docs/enclave.md §2)::

    0x01 ‖ nonce (12) ‖ AES-256-GCM(key, nonce, plaintext, aad) (ciphertext ‖ 16-byte tag)
    aad = "nsl-seal-v1" ‖ 0x00 ‖ purpose ‖ 0x00 ‖ context

Purposes are short names without NUL and contexts contain no NUL, so the AAD is an unambiguous
encoding: a blob sealed for one purpose or account never opens for another. Nonces are random
96-bit values, the construction of NIST SP 800-38D §8.2.2, which bounds one key to 2^32 blobs
(§8.3) — several orders of magnitude above what one deployment seals.

Sealing key providers (the key never leaves the enclave process):

* ``passphrase``: scrypt (RFC 7914) with N=2^15, r=8, p=1 over the operator's passphrase and a random
  salt stored beside the state; the parameters are the RFC's interactive-login set, ~32 MiB and
  ~0.1 s per start.
* ``key-file``: 32 random bytes in a file of mode 0600 owned by the enclave's user (as OpenSSH checks
  private keys); created with O_EXCL on first start.
* ``sgx-mrenclave``: Gramine's MRENCLAVE-bound SGX sealing key (``/dev/attestation/keys/_sgx_mrenclave``,
  128 bits, Gramine docs "Attestation and Secret Provisioning"), expanded to 256 bits with HKDF-SHA256
  (RFC 5869). The HKDF label also keeps our use apart from any Gramine encrypted mount that uses the
  same key (Gramine's manifest documentation warns against using one key for both).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr

from neo_service_layer.enclave.fsutil import read_private_file, write_new_file
from neo_service_layer.enclave.protocol import UnsealFailed
from neo_service_layer.errors import ConfigurationError

SEAL_FORMAT_VERSION: Final = 0x01
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
KEY_BYTES: Final = 32
AAD_PREFIX: Final = b"nsl-seal-v1"
MIN_BLOB_BYTES: Final = 1 + NONCE_BYTES + TAG_BYTES
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_CONTEXT_CHARS: Final = 512

# Purposes in use (one place, so that no two features share one).
PURPOSE_STATE: Final = "enclave-state"
PURPOSE_AMK: Final = "account-master-key"

SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
SALT_FILENAME: Final = "state.salt"
KEY_FILENAME: Final = "sealing.key"
SGX_KEY_BYTES: Final = 16
SGX_HKDF_INFO: Final = b"nsl-sealing-key-v1"
_KEY_CHECK_LABEL: Final = b"nsl-seal-key-check-v1"


def seal_aad(purpose: str, context: str) -> bytes:
    """The GCM additional data binding a blob to ``purpose`` and ``context``."""
    if not _PURPOSE.match(purpose):
        raise ValueError(f"invalid sealing purpose {purpose!r}")
    if "\x00" in context or len(context) > MAX_CONTEXT_CHARS:
        raise ValueError("sealing context must be at most 512 characters without NUL")
    return AAD_PREFIX + b"\x00" + purpose.encode() + b"\x00" + context.encode()


class Sealer:
    """Seals and opens blobs under one 256-bit key. Holds the key: never log or repr it."""

    __slots__ = ("_aead", "_key_check")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"sealing key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        # A public fingerprint of the key, stored with the state, so that a wrong passphrase is told
        # apart from a damaged file. It reveals nothing an attacker holding a sealed blob lacks: the
        # GCM tag already lets them test guesses.
        self._key_check = hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return "Sealer(key=**********)"

    @property
    def key_check(self) -> str:
        return self._key_check

    def seal(self, purpose: str, context: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, seal_aad(purpose, context))
        return bytes([SEAL_FORMAT_VERSION]) + nonce + sealed

    def open(self, purpose: str, context: str, blob: bytes) -> bytes:
        """The plaintext, or :class:`UnsealFailed` (wrong key, purpose or context, or a modified blob)."""
        aad = seal_aad(purpose, context)
        if len(blob) < MIN_BLOB_BYTES or blob[0] != SEAL_FORMAT_VERSION:
            raise UnsealFailed(f"not a sealed blob of format {SEAL_FORMAT_VERSION} ({purpose})")
        try:
            return self._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
        except InvalidTag as exc:
            raise UnsealFailed(
                f"sealed {purpose} blob does not open: wrong sealing key, wrong purpose or context, "
                "or the blob was modified"
            ) from exc


class SealingKeyProvider(Protocol):
    """Where the sealing key comes from. ``create``: no sealed state exists yet, so new key material
    (a salt, a key file) may be made; with existing state, missing material is an error."""

    @property
    def kind(self) -> str: ...

    def load_key(self, *, create: bool) -> bytes: ...


class PassphraseKeyProvider:
    """scrypt(passphrase, salt) with the salt in ``<state_dir>/state.salt``."""

    kind = "passphrase"

    def __init__(self, passphrase: SecretStr, state_dir: Path) -> None:
        if not passphrase.get_secret_value():
            raise ConfigurationError("the enclave passphrase is empty")
        self._passphrase = passphrase
        self.salt_path = state_dir / SALT_FILENAME

    def load_key(self, *, create: bool) -> bytes:
        if create and not self.salt_path.exists():
            write_new_file(self.salt_path, os.urandom(SALT_BYTES))
        if not self.salt_path.exists():
            raise UnsealFailed(f"{self.salt_path} is missing: the sealing key cannot be derived without it")
        salt = read_private_file(self.salt_path, max_bytes=64)
        if len(salt) < SALT_BYTES:
            raise UnsealFailed(f"{self.salt_path} is damaged ({len(salt)} bytes, expected {SALT_BYTES})")
        kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
        return kdf.derive(self._passphrase.get_secret_value().encode("utf-8"))


class KeyFileProvider:
    """A 32-byte key file of mode 0600, created (O_EXCL, atomically) on first start."""

    kind = "key-file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def load_key(self, *, create: bool) -> bytes:
        if create and not self.path.exists():
            write_new_file(self.path, os.urandom(KEY_BYTES))
        if not self.path.exists():
            raise UnsealFailed(f"sealing key file {self.path} is missing: the sealed state cannot be opened")
        key = read_private_file(self.path, max_bytes=KEY_BYTES)
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"sealing key file {self.path} must hold exactly {KEY_BYTES} bytes")
        return key


class GramineSgxKeyProvider:
    """Gramine's MRENCLAVE sealing key: only this enclave build on this CPU can derive it."""

    kind = "sgx-mrenclave"

    def __init__(self, attestation_dir: Path) -> None:
        self.path = attestation_dir / "keys" / "_sgx_mrenclave"

    def load_key(self, *, create: bool) -> bytes:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the SGX sealing key {self.path}: {exc.strerror}") from exc
        if len(raw) != SGX_KEY_BYTES:
            raise ConfigurationError(f"{self.path} returned {len(raw)} bytes, expected {SGX_KEY_BYTES}")
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=SGX_HKDF_INFO).derive(raw)


def software_key_provider(
    passphrase: SecretStr | None, key_file: Path | None, state_dir: Path
) -> SealingKeyProvider:
    """The passphrase provider when a passphrase is set, else the key file (default in ``state_dir``)."""
    if passphrase is not None:
        return PassphraseKeyProvider(passphrase, state_dir)
    return KeyFileProvider(key_file or state_dir / KEY_FILENAME)
