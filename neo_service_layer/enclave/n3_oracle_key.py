"""The enclave's Neo N3 oracle node key: a secp256r1 key derived from the identity, never stored.

The committee designates its public key for the Oracle role (RoleManagement ``designateAsRole(8,
[keys])``); the key then signs native oracle response transactions as (one of) the designated nodes'
multi-signature account (``handlers/n3_oracle.py``). Like the chain VRF keys (``chain_keys.py``), it
is a function of the sealed identity, so every start that unseals the same state has the same key and
the host never holds it::

    okm = HKDF-SHA256(ikm = p256 scalar ‖ k1 scalar, salt = none, info = "nsl-n3-oracle-p256-v1", L = 48)
    d   = OS2IP(okm) mod (n - 1) + 1            (FIPS 186-5 §A.2.1: 64 extra bits, bias < 2^-64)

A key separate from the identity's own secp256r1 key keeps the identity's signatures (attestation,
fulfilment messages) apart from transaction witnesses, and lets a new key be designated without a new
identity (a new ``info`` version).
"""

from __future__ import annotations

from typing import Final

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.identity import Identity

N3_ORACLE_KEY_INFO: Final = b"nsl-n3-oracle-p256-v1"
_OKM_SIZE: Final = 48
_SCALAR_SIZE: Final = 32


def n3_oracle_material(identity: Identity) -> bytes:
    """The oracle key's 32-byte private scalar (big-endian), as ``crypto.keys`` takes SECP256R1 material."""
    okm = int.from_bytes(identity.derive(N3_ORACLE_KEY_INFO, _OKM_SIZE), "big")
    return (okm % (signing.P256_ORDER - 1) + 1).to_bytes(_SCALAR_SIZE, "big")


def n3_oracle_public_key(identity: Identity) -> bytes:
    """The oracle key's compressed public key (33 bytes): what the committee designates."""
    return keys.public_key(KeyType.SECP256R1, n3_oracle_material(identity))
