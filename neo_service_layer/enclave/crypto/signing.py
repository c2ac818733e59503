"""Sign and verify with the asymmetric key types, in the raw, DER and EVM signature formats.

Primitives (never hand-rolled):

- secp256r1: ECDSA of FIPS 186-5 §6.4 through ``cryptography`` (OpenSSL), with the *deterministic*
  nonce of RFC 6979 §3.2 (``deterministic_signing=True``): no signing-time RNG dependence inside
  the enclave, and the output is reproducible (tested against the RFC 6979 §A.2.5 vectors).
- secp256k1: ECDSA of SEC 1 v2 §4.1 through ``coincurve`` (libsecp256k1): RFC 6979 nonces, recoverable
  signatures, ``s`` always low (libsecp256k1 only emits low-s).
- ed25519: PureEdDSA of RFC 8032 §5.1.6 through ``cryptography``; the message is signed as is
  (``hash_alg`` must be ``none``).

Low-s: every ECDSA signature we *produce* has ``s ≤ n/2`` (for P-256 we replace ``s`` by ``n - s``, an
equally valid signature; libsecp256k1 does it for secp256k1). EVM requires it (EIP-2; OpenZeppelin
``ECDSA.recover`` rejects high s); Neo N3 accepts both, so low-s there only makes our signatures
non-malleable. When *verifying*, ``raw`` and ``der`` follow plain ECDSA (FIPS 186-5 §6.4.2, SEC 1
§4.1.4) and accept a high ``s`` on both curves (the CAVP vectors contain some); the ``evm`` format
rejects a high ``s`` and any ``v`` other than 27/28, as the Ethereum ecosystem does.

``verify`` returns ``False`` for any wrong, tampered or malformed signature bytes and never raises for
them; it raises :class:`UnsupportedOperation` for a key type / hash / format combination that is not
allowed, :class:`InvalidKeyMaterial` for an unusable public key and :class:`InvalidInput` for a
``none``-hashed input that is not a 32-byte digest.
"""

from __future__ import annotations

import coincurve
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.errors import CryptoError, UnsupportedOperation
from neo_service_layer.enclave.crypto.hashing import ecdsa_digest
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat

#: Size of one ECDSA scalar (r or s) in the raw format on the 256-bit curves.
SCALAR_SIZE = 32
#: Size of a raw ``r ‖ s`` ECDSA signature and of an ed25519 signature.
RAW_SIGNATURE_SIZE = 64
#: Size of an EVM ``r ‖ s ‖ v`` signature.
EVM_SIGNATURE_SIZE = 65
#: ``v`` = 27 + recovery id (Yellow Paper Appendix F; the pre-EIP-155 ``ecrecover`` convention).
EVM_V_OFFSET = 27

_P256_HASHES: dict[HashAlgorithm, hashes.HashAlgorithm] = {
    HashAlgorithm.SHA256: hashes.SHA256(),
    HashAlgorithm.SHA384: hashes.SHA384(),
    HashAlgorithm.SHA512: hashes.SHA512(),
}


def sign(
    key_type: KeyType,
    material: bytes,
    data: bytes,
    *,
    hash_alg: HashAlgorithm,
    fmt: SignatureFormat,
) -> bytes:
    """Sign ``data`` (a message, or a 32-byte digest if ``hash_alg`` is ``none``) and encode as ``fmt``."""
    key_type.check_signature_params(hash_alg, fmt)
    return _sign(key_type, keys.signing_key(key_type, material), data, hash_alg, fmt)


def sign_with_key(
    key: keys.LoadedKey, data: bytes, *, hash_alg: HashAlgorithm, fmt: SignatureFormat
) -> bytes:
    """:func:`sign` with a key loaded once (:class:`keys.LoadedKey`) instead of its material."""
    key.key_type.check_signature_params(hash_alg, fmt)
    return _sign(key.key_type, key.signer, data, hash_alg, fmt)


def verify(
    key_type: KeyType,
    public_key: bytes,
    data: bytes,
    signature: bytes,
    *,
    hash_alg: HashAlgorithm,
    fmt: SignatureFormat,
) -> bool:
    """True if ``signature`` (encoded as ``fmt``) is a valid signature of ``data`` under ``public_key``."""
    key_type.check_signature_params(hash_alg, fmt)
    if key_type is KeyType.ED25519:
        ed_key = keys.ed25519_public_key(public_key)
        if len(signature) != RAW_SIGNATURE_SIZE:
            return False
        try:
            ed_key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
    if key_type is KeyType.SECP256R1:
        p256_key = keys.p256_public_key(public_key)
        e = _p256_prehash(hash_alg, data)
        decoded = _decode(key_type, signature, fmt)
        if decoded is None:
            return False
        r, s, _ = decoded
        algorithm = ec.ECDSA(_P256_HASHES[hash_alg]) if e is None else ec.ECDSA(Prehashed(hashes.SHA256()))
        try:
            p256_key.verify(encode_dss_signature(r, s), data if e is None else e, algorithm)
        except InvalidSignature:
            return False
        return True
    return _k1_verify(public_key, ecdsa_digest(hash_alg, data), signature, fmt)


# --- internals ----------------------------------------------------------------------------------------


def _sign(
    key_type: KeyType,
    signer: keys.SigningKey | None,
    data: bytes,
    hash_alg: HashAlgorithm,
    fmt: SignatureFormat,
) -> bytes:
    """The signature of a key type that signs (``check_signature_params`` passed) with its key object."""
    if isinstance(signer, Ed25519PrivateKey):
        return signer.sign(data)
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        r, s = _p256_sign(signer, data, hash_alg)
        return _encode(key_type, r, s, fmt, recovery_id=None)
    if isinstance(signer, coincurve.PrivateKey):
        # secp256k1: r ‖ s ‖ recid, s already low (libsecp256k1 normalizes).
        recoverable = signer.sign_recoverable(ecdsa_digest(hash_alg, data), hasher=None)
        r = int.from_bytes(recoverable[:SCALAR_SIZE], "big")
        s = int.from_bytes(recoverable[SCALAR_SIZE:RAW_SIGNATURE_SIZE], "big")
        return _encode(key_type, r, s, fmt, recovery_id=recoverable[RAW_SIGNATURE_SIZE])
    raise UnsupportedOperation(f"key type {key_type.value} cannot sign")  # pragma: no cover


def _p256_prehash(hash_alg: HashAlgorithm, data: bytes) -> bytes | None:
    """The 32-byte value to pass to OpenSSL as pre-hashed, or None when OpenSSL hashes itself (SHA-2)."""
    if hash_alg in _P256_HASHES:
        return None
    return ecdsa_digest(hash_alg, data)  # keccak256, or an already computed 32-byte digest


def _p256_sign(private: ec.EllipticCurvePrivateKey, data: bytes, hash_alg: HashAlgorithm) -> tuple[int, int]:
    e = _p256_prehash(hash_alg, data)
    if e is None:
        # OpenSSL hashes with the named SHA-2 and uses it for the RFC 6979 HMAC_DRBG as well.
        der = private.sign(data, ec.ECDSA(_P256_HASHES[hash_alg], deterministic_signing=True))
    else:
        # Prehashed: only the length must match; HMAC-SHA-256 drives RFC 6979 for keccak / none.
        der = private.sign(e, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    n = keys.P256_ORDER
    return r, (n - s if s > n // 2 else s)


def _k1_verify(public_key: bytes, e: bytes, signature: bytes, fmt: SignatureFormat) -> bool:
    k1_key = keys.k1_public_key(public_key)
    decoded = _decode(KeyType.SECP256K1, signature, fmt)
    if decoded is None:
        return False
    r, s, recovery_id = decoded
    n = keys.SECP256K1_ORDER
    if fmt is SignatureFormat.EVM:
        if recovery_id is None or s > n // 2:  # EIP-2: high-s is not canonical in EVM land
            return False
        compact = signature[:RAW_SIGNATURE_SIZE] + bytes([recovery_id])
        try:
            recovered = coincurve.PublicKey.from_signature_and_message(compact, e, hasher=None)
        except ValueError:
            return False
        return recovered.format(compressed=True) == k1_key.format(compressed=True)
    # Plain ECDSA accepts (r, s) and (r, n - s) alike; libsecp256k1 only verifies the low form.
    low_s = n - s if s > n // 2 else s
    try:
        return k1_key.verify(encode_dss_signature(r, low_s), e, hasher=None)
    except ValueError:  # pragma: no cover - r, s are range-checked, so the DER always parses
        return False


def _decode(key_type: KeyType, signature: bytes, fmt: SignatureFormat) -> tuple[int, int, int | None] | None:
    """Parse ``signature`` into ``(r, s, recovery_id)``, or None if malformed or out of range."""
    recovery_id: int | None = None
    if fmt is SignatureFormat.DER:
        try:
            r, s = decode_dss_signature(signature)
        except ValueError:
            return None
    elif fmt is SignatureFormat.RAW:
        if len(signature) != RAW_SIGNATURE_SIZE:
            return None
        r = int.from_bytes(signature[:SCALAR_SIZE], "big")
        s = int.from_bytes(signature[SCALAR_SIZE:], "big")
    else:
        if len(signature) != EVM_SIGNATURE_SIZE or signature[-1] not in (EVM_V_OFFSET, EVM_V_OFFSET + 1):
            return None
        r = int.from_bytes(signature[:SCALAR_SIZE], "big")
        s = int.from_bytes(signature[SCALAR_SIZE:RAW_SIGNATURE_SIZE], "big")
        recovery_id = signature[-1] - EVM_V_OFFSET
    n = keys.curve_order(key_type)
    if not (0 < r < n and 0 < s < n):  # FIPS 186-5 §6.4.2 step 1
        return None
    return r, s, recovery_id


def _encode(key_type: KeyType, r: int, s: int, fmt: SignatureFormat, *, recovery_id: int | None) -> bytes:
    if fmt is SignatureFormat.DER:
        return encode_dss_signature(r, s)
    raw = r.to_bytes(SCALAR_SIZE, "big") + s.to_bytes(SCALAR_SIZE, "big")
    if fmt is SignatureFormat.RAW:
        return raw
    if recovery_id is None or recovery_id > 1:
        # libsecp256k1 returns recid 2/3 only if r >= n (probability ~2^-128); EVM cannot express it.
        raise CryptoError(f"{key_type.value} signature has no EVM recovery id")  # pragma: no cover
    return raw + bytes([EVM_V_OFFSET + recovery_id])
