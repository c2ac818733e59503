"""Pure key-type cryptography for the enclave's keys service.

No I/O and no state: every function takes key material (raw bytes) and returns bytes. One module per
concern:

- :mod:`.keytypes` — :class:`KeyType` (with capabilities), :class:`HashAlgorithm`, :class:`SignatureFormat`;
- :mod:`.errors` — :class:`CryptoError` and its subclasses, each with a stable ``code``;
- :mod:`.keys` — generate, validate, derive public keys;
- :mod:`.hashing` — SHA-2, Keccak-256 and the ECDSA input;
- :mod:`.signing` — sign / verify (raw, DER, EVM formats);
- :mod:`.aead` — AES-256-GCM with an encryption context, data keys;
- :mod:`.mac` — HMAC-SHA256;
- :mod:`.neo` — Neo N3 script hash, address and transaction witnesses (secp256r1);
- :mod:`.evm` — EVM address, EIP-155 / EIP-1559 transactions, EIP-191 / EIP-712 signatures (secp256k1);
- :mod:`.dyvrf` — the Dodis-Yampolskiy VRF on BLS12-381 (bls12381), verifiable by N3 CryptoLib and EIP-2537.
"""

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

__all__ = [
    "CryptoError",
    "DecryptionFailed",
    "HashAlgorithm",
    "InvalidInput",
    "InvalidKeyMaterial",
    "InvalidProof",
    "KeyType",
    "ProofUndefined",
    "SignatureFormat",
    "UnsupportedOperation",
]
