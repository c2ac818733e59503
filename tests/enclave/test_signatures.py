"""Identity keys and result signatures (docs/enclave.md §3), checked with independent implementations:
``cryptography`` for P-256, neo-mamba's verifier (what N3 CryptoLib.verifyWithECDsa secp256r1SHA256
does), and ``eth_keys`` / ``coincurve`` recovery for the EVM ``ecrecover`` form."""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_keys.datatypes import Signature as EthSignature
from neo3.core.cryptography import verify_signature as neo_verify_signature

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.identity import Identity

PREIMAGE = signing.result_preimage(hashlib.sha256(b"request").digest(), hashlib.sha256(b"result").digest())


def test_preimage_layout() -> None:
    assert len(PREIMAGE) == 78
    assert PREIMAGE.startswith(b"NSL-RESULT-V1\x00")
    with pytest.raises(ValueError, match="32 bytes"):
        signing.result_preimage(b"short", bytes(32))


def test_p256_signature_verifies_with_cryptography(identity: Identity) -> None:
    signature = identity.sign(PREIMAGE).p256
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    assert s <= signing.P256_ORDER // 2  # low s
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), identity.public.p256)
    public.verify(encode_dss_signature(r, s), PREIMAGE, ec.ECDSA(hashes.SHA256()))  # raises if invalid


def test_p256_signature_verifies_with_neo_mamba(identity: Identity) -> None:
    # neo3.core.cryptography.verify_signature(message, signature, public_key) with secp256r1 + SHA-256:
    # the check N3's CryptoLib.verifyWithECDsa(message, pubkey, signature, secp256r1SHA256) performs.
    signature = identity.sign(PREIMAGE).p256
    assert neo_verify_signature(PREIMAGE, signature, identity.public.p256)
    assert not neo_verify_signature(PREIMAGE + b"x", signature, identity.public.p256)


def test_k1_signature_recovers_to_the_evm_address(identity: Identity) -> None:
    signature = identity.sign(PREIMAGE).k1
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    vrs = (signature[64] - 27, int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"))
    recovered = EthSignature(vrs=vrs).recover_public_key_from_msg_hash(signing.keccak256(PREIMAGE))
    assert recovered.to_checksum_address() == identity.public.k1_address
    with_coincurve = coincurve.PublicKey.from_signature_and_message(
        signature[:64] + bytes([signature[64] - 27]), PREIMAGE, hasher=signing.keccak256
    )
    assert with_coincurve.format(compressed=True) == identity.public.k1


def test_known_evm_address() -> None:
    # Private key 1 → 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf (the well-known EIP-55 example key).
    public = coincurve.PrivateKey((1).to_bytes(32, "big")).public_key.format(compressed=True)
    assert signing.evm_address(public) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"


def test_verify_refuses_high_s_and_bad_signatures(identity: Identity) -> None:
    signature = identity.sign(PREIMAGE).p256
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    high_s = r + (signing.P256_ORDER - s).to_bytes(32, "big")
    assert signing.p256_verify(identity.public.p256, PREIMAGE, signature)
    assert not signing.p256_verify(identity.public.p256, PREIMAGE, high_s)  # valid ECDSA, not canonical
    assert not signing.p256_verify(identity.public.p256, PREIMAGE, signature[:63])
    assert not signing.p256_verify(identity.public.p256, PREIMAGE, bytes(64))
    assert not signing.p256_verify(b"\x02" + bytes(32), PREIMAGE, signature)  # not a point


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda sig: sig[:64] + b"\x1d", id="v-29"),
        pytest.param(lambda sig: sig[:64] + b"\x00", id="v-0"),
        pytest.param(lambda sig: sig[:64], id="64-bytes"),
        pytest.param(
            lambda sig: (
                sig[:32]
                + (signing.SECP256K1_ORDER - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
                + bytes([55 - sig[64]])
            ),
            id="high-s-flipped-v",
        ),
        pytest.param(lambda sig: bytes(32) + sig[32:], id="r-zero"),
    ],
)
def test_k1_recover_refuses_non_canonical_signatures(identity: Identity, mutate: object) -> None:
    assert callable(mutate)
    signature = identity.sign(PREIMAGE).k1
    with pytest.raises(ValueError, match="signature"):
        signing.k1_recover(PREIMAGE, mutate(signature))


def test_identity_round_trips_through_its_secrets(identity: Identity) -> None:
    restored = Identity.from_secrets(*identity.secrets())
    assert restored.public == identity.public
    assert signing.p256_verify(identity.public.p256, PREIMAGE, restored.sign(PREIMAGE).p256)


@pytest.mark.parametrize(
    ("p256", "k1"),
    [
        pytest.param(bytes(32), b"\x01" * 32, id="p256-zero"),
        pytest.param(signing.P256_ORDER.to_bytes(32, "big"), b"\x01" * 32, id="p256-order"),
        pytest.param(b"\x01" * 32, bytes(32), id="k1-zero"),
        pytest.param(b"\x01" * 31, b"\x01" * 32, id="short"),
    ],
)
def test_out_of_range_secrets_are_refused(p256: bytes, k1: bytes) -> None:
    with pytest.raises(ValueError, match=r"range|32 bytes"):
        Identity.from_secrets(p256, k1)


def test_identity_repr_hides_private_keys(identity: Identity) -> None:
    p256, k1 = identity.secrets()
    shown = repr(identity)
    assert p256.hex() not in shown
    assert k1.hex() not in shown
    assert identity.public.k1_address in shown
