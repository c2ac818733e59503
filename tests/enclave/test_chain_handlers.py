"""The chain ops' VRF keys (``enclave/chain_keys.py``, ``handlers/chains.py``): derived from the identity,
never named by the host.

A compromised host talks to the enclave socket as the worker does. Before, it could hand
``chains.evm_randomness_fulfilment`` a freshly generated BLS key and get a second validly signed output
for a request; now the op takes no key at all — only a version number — and the key of each version is
a function of the sealed identity (the same after a restart, another for another identity)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from neo_service_layer.chains.evm import messages
from neo_service_layer.enclave.chain_keys import ChainFamily, chain_vrf_secret
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import dyvrf, evm_gateway
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.opdefs.chains import (
    EVM_RANDOMNESS_FULFILMENT,
    VRF_PUBLIC_KEY,
    EvmRandomnessFulfilmentArgs,
    VrfPublicKeyArgs,
)
from neo_service_layer.errors import EnclaveRejected

GATEWAY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REQUEST = {
    "chain_id": 31337,
    "gateway": GATEWAY,
    "request_id": "ab" * 32,
    "payload_hash": "cd" * 32,
    "vrf_key_version": 1,
}


def _hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 written out with hmac, an implementation independent of the one under test."""
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()  # salt not provided: HashLen zeros
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


@pytest.mark.parametrize("family", list(ChainFamily), ids=str)
@pytest.mark.parametrize("version", [1, 2, 2**32 - 1], ids=str)
def test_the_derivation_is_hkdf_then_reduction_mod_r(family: ChainFamily, version: int) -> None:
    identity = Identity.from_secrets(b"\x01" * 32, b"\x02" * 32)
    info = b"nsl-chain-vrf-v1\x00" + family.value.encode() + b"\x00" + version.to_bytes(4, "big")
    expected = int.from_bytes(_hkdf_sha256(b"\x01" * 32 + b"\x02" * 32, info, 48), "big") % dyvrf.CURVE_ORDER
    assert chain_vrf_secret(identity, family, version) == expected.to_bytes(32, "big")


def test_known_answers_pin_the_derivation() -> None:
    """Deployed gateways register these keys: a change to the derivation must be deliberate."""
    identity = Identity.from_secrets(b"\x01" * 32, b"\x02" * 32)
    known = {
        (ChainFamily.EVM, 1): "a17b8934884bc9c29ad1b9ea8e32ab5c19b5b5e7261e2744e6aa2e7858bef83a"
        "47d60b37738889d3e015ce949aa8afcc",
        (ChainFamily.N3, 1): "976063b82bdc70ac36e6c76aec479bc58ed3f00d1c53c3d6819602dbf8d4bd5d"
        "579970cf33c9fc94948257488b04b268",
    }
    for (family, version), public in known.items():
        assert dyvrf.public_key(chain_vrf_secret(identity, family, version)).hex() == public


def test_keys_differ_by_version_family_and_identity_and_survive_a_restart() -> None:
    identity = Identity.generate()
    keys = {(f, v): chain_vrf_secret(identity, f, v) for f in ChainFamily for v in (1, 2, 3)}
    assert len(set(keys.values())) == len(keys)
    restarted = Identity.from_secrets(*identity.secrets())  # what unsealing the state file gives
    assert all(chain_vrf_secret(restarted, f, v) == key for (f, v), key in keys.items())
    other = Identity.generate()
    assert chain_vrf_secret(other, ChainFamily.EVM, 1) != keys[(ChainFamily.EVM, 1)]
    for version in (0, 2**32):
        with pytest.raises(ValueError, match="version"):
            chain_vrf_secret(identity, ChainFamily.EVM, version)


async def test_one_request_has_one_output_under_the_derived_key(client: UnixEnclaveClient) -> None:
    args = EvmRandomnessFulfilmentArgs.model_validate(REQUEST)
    first = await client.run(EVM_RANDOMNESS_FULFILMENT, args)
    again = await client.run(EVM_RANDOMNESS_FULFILMENT, args)
    assert again == first
    key_args = VrfPublicKeyArgs(family=ChainFamily.EVM, version=1)
    key = await client.run(VRF_PUBLIC_KEY, key_args)
    assert first.vrf_public_key == key.public_key
    assert key.key_hash == evm_gateway.vrf_key_hash(dyvrf.eip2537_g1(key.public_key))
    gateway = bytes.fromhex(GATEWAY[2:])
    alpha = evm_gateway.randomness_alpha(31337, gateway, args.request_id, args.payload_hash)
    pi = messages.compress_eip2537_g2(first.result[32:])
    assert dyvrf.verify(key.public_key, alpha, pi) == first.beta
    # Another version is another key, with another output: the gateway accepts only the pinned one.
    v2 = args.model_copy(update={"vrf_key_version": 2})
    other = await client.run(EVM_RANDOMNESS_FULFILMENT, v2)
    assert other.vrf_public_key != first.vrf_public_key
    assert other.beta != first.beta


@pytest.mark.parametrize(
    "extra",
    [
        {"material": "AAAA", "key_id": "key_01X", "version": 1, "key_type": "bls12381"},
        {"vrf_secret": "01" * 32},
        {"vrf_key_version": 0},
        {"vrf_key_version": 2**32},
    ],
    ids=["wrapped-key", "raw-secret", "version-0", "version-2^32"],
)
async def test_the_host_cannot_name_a_key(client: UnixEnclaveClient, extra: dict[str, Any]) -> None:
    with pytest.raises(EnclaveRejected) as refused:
        await client._roundtrip(EVM_RANDOMNESS_FULFILMENT.name, REQUEST | extra)  # as a compromised host
    assert refused.value.extra["enclave_code"] == "invalid_args"
