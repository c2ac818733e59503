"""The pure message builders (the contracts' agreement with them is tested on chain in test_gateway.py,
test_price_feed.py and test_vrf_verifier.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import coincurve
import pytest

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.errors import InvalidChainMessage
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.crypto.keys import SECP256K1_ORDER
from tests.chains.evm.helpers import EnclaveKey, high_s

GATEWAY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
H = bytes(32)
VECTORS = json.loads((Path(__file__).parents[2] / "testdata" / "dyvrf_vectors.json").read_text())["vectors"]


def test_service_id() -> None:
    assert messages.service_id("randomness") == b"randomness" + bytes(22)
    for bad in ("", "x" * 33, "ünïcode"):
        with pytest.raises((InvalidChainMessage, UnicodeEncodeError)):
            messages.service_id(bad)


def test_layouts() -> None:
    rid = bytes(range(32))
    alpha = messages.randomness_alpha(1, GATEWAY, rid, b"seed")
    assert len(alpha) == 18 + 32 + 20 + 32 + 32
    assert alpha.startswith(
        b"NSL-DYVRF-ALPHA-V1" + (1).to_bytes(32, "big") + bytes.fromhex(GATEWAY[2:]) + rid
    )
    h = bytes(32)
    assert len(messages.fulfilment_digest(1, GATEWAY, rid, b"r", payload_hash=h)) == 32
    assert messages.fulfilment_digest(1, GATEWAY, rid, b"r", payload_hash=h) != messages.fulfilment_digest(
        2, GATEWAY, rid, b"r", payload_hash=h
    )
    assert messages.price_report_digest(1, GATEWAY, 1, -1, 5, h) != messages.price_report_digest(
        1, GATEWAY, 1, 1, 5, h
    )
    assert messages.price_report_digest(1, GATEWAY, 1, 1, 5, h) != messages.price_report_digest(
        1, GATEWAY, 1, 1, 5, b"\x01" * 32
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: messages.fulfilment_digest(1, GATEWAY, bytes(31), b"", payload_hash=bytes(32)),
        lambda: messages.fulfilment_digest(1, "0x1234", bytes(32), b"", payload_hash=bytes(32)),
        lambda: messages.fulfilment_digest(-1, GATEWAY, bytes(32), b"", payload_hash=bytes(32)),
        lambda: messages.fulfilment_digest(1, GATEWAY, bytes(32), b"", payload_hash=bytes(31)),
        lambda: messages.fulfilment_digest(1, GATEWAY, bytes(32), b"", payload_hash=H, vrf_key_version=-1),
        lambda: messages.price_report_digest(1, GATEWAY, 2**80, 0, 0, H),
        lambda: messages.price_report_digest(1, GATEWAY, 1, 2**255, 0, H),
        lambda: messages.price_report_digest(1, GATEWAY, 1, 1, 0, bytes(31)),
        lambda: messages.randomness_result(bytes(32), bytes(255)),
        lambda: messages.split_randomness_result(bytes(287)),
        lambda: messages.compress_eip2537_g2(bytes(255)),
        lambda: messages.compress_eip2537_g2(b"\x01" + bytes(255)),  # padding byte set
    ],
    ids=["short-id", "short-address", "negative-chain", "short-payload-hash", "negative-key-version",
         "round-80-bits", "answer-256-bits", "short-config-hash", "short-pi",
         "short-result", "short-pi-compress", "bad-padding"],
)  # fmt: skip
def test_out_of_format_values_are_refused(call: object) -> None:
    with pytest.raises(InvalidChainMessage):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_compression_recipe_matches_vectors(vector: dict[str, str]) -> None:
    pi_evm = bytes.fromhex(vector["pi_eip2537"])
    assert messages.compress_eip2537_g2(pi_evm).hex() == vector["pi"]
    assert hashlib.sha256(messages.compress_eip2537_g2(pi_evm)).digest().hex() == vector["beta"]


def test_randomness_result_round_trip() -> None:
    sk = dyvrf.generate_secret()
    pi = dyvrf.prove(sk, b"a")
    beta = dyvrf.proof_to_hash(pi)
    result = messages.randomness_result(beta, dyvrf.eip2537_g2(pi))
    assert len(result) == messages.RANDOMNESS_RESULT_SIZE
    assert messages.split_randomness_result(result) == (beta, dyvrf.eip2537_g2(pi))
    assert hashlib.sha256(messages.compress_eip2537_g2(result[32:])).digest() == beta


def test_the_test_signer_signs_low_s_and_high_s_malleates() -> None:
    """What the gateway accepts (65 bytes, v 27/28, 0 < s ≤ n/2, EIP-2), and the twin it must refuse for
    its high s alone: well formed otherwise, and it recovers the same signer."""
    digest = bytes(range(32))
    sig = EnclaveKey().sign(digest)
    twin = high_s(sig)
    signers = {
        coincurve.PublicKey.from_signature_and_message(
            s[:64] + bytes([s[64] - 27]), digest, hasher=None
        ).format()
        for s in (sig, twin)
    }
    assert len(signers) == 1
    assert len(sig) == len(twin) == 65
    assert {sig[64], twin[64]} <= {27, 28}
    assert 0 < int.from_bytes(sig[32:64], "big") <= SECP256K1_ORDER // 2 < int.from_bytes(twin[32:64], "big")
