"""The platform's chain VRF keys: derived inside the enclave from its identity, never named by the host.

A randomness request made on chain is proved with the DY-VRF key the gateway registered *before* the
request, under a version number the gateway stores with it (docs/chains-evm.md, docs/chains-neo-n3.md).
The enclave does not take that key from the host, as it does account keys (wrapped material in the host
database): it derives the secret of version ``v`` of chain family ``f`` from its own sealed identity::

    okm = HKDF-SHA256(ikm = p256 scalar ‖ k1 scalar, salt = none,
                      info = "nsl-chain-vrf-v1" ‖ 0x00 ‖ f ‖ 0x00 ‖ v (u32 big-endian), L = 48)
    sk  = OS2IP(okm) mod r                       (draft-irtf-cfrg-bls-signature-05 §2.3 reduction)

So a compromised host can name a version number, nothing else: every version's key is a function of the
identity, the gateway keeps the hash of the key it registered under each version, and the fulfilment
signature covers that hash — a proof made with any other key, or for another version than the
request's, is refused on chain. The keys are pinned by the sealed identity itself: an enclave that
unseals the same state always has the same keys, and a new identity (a new state, or an SGX build with
another MRENCLAVE) has new ones, registered with the new enclave signer.
"""

from __future__ import annotations

import enum
from typing import Final

from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.identity import Identity

CHAIN_VRF_INFO: Final = b"nsl-chain-vrf-v1"
MAX_KEY_VERSION: Final = 2**32 - 1


class ChainFamily(enum.StrEnum):
    """A family of chains whose gateways share the platform's VRF keys."""

    EVM = "evm"
    N3 = "n3"


def chain_vrf_secret(identity: Identity, family: ChainFamily, version: int) -> bytes:
    """The DY-VRF secret of ``version`` (1 to 2^32 - 1) of ``family``'s platform key (module docstring)."""
    if not 1 <= version <= MAX_KEY_VERSION:
        raise ValueError(f"a chain VRF key version is 1-{MAX_KEY_VERSION}")
    info = b"\x00".join((CHAIN_VRF_INFO, family.value.encode(), version.to_bytes(4, "big")))
    return dyvrf.secret_from_okm(identity.derive(info, dyvrf.KEYGEN_OKM_SIZE))
