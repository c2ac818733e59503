"""Dodis-Yampolskiy proofs checked on chain with the EIP-2537 precompiles (docs/dyvrf.md §5.2).

Vectors: tests/testdata/dyvrf_vectors.json (a second implementation, raw arkworks calls). The pre-Prague
case follows the pitfall measured in /work/shared/notes/dyvrf-feasibility.md: on Cancun the precompile
addresses are empty accounts, so the verifier must check RETURNDATASIZE and revert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.deploy import contract_at, deploy_contract
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.enclave.crypto import dyvrf
from tests.chains.evm.flows import Nsl, fulfil, randomness_result, request_randomness, sign_result
from tests.chains.evm.helpers import MEASUREMENT, assert_reverts, flip, one_event, revert_name

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "testdata" / "dyvrf_vectors.json").read_text()
)["vectors"]
PAIRING_CHECK = Web3.to_checksum_address("0x" + "00" * 19 + "0f")

SECRET = dyvrf.generate_secret()
OTHER_SECRET = dyvrf.generate_secret()
ALPHA = b"table-driven alpha"
PI = dyvrf.prove(SECRET, ALPHA)


def _valid() -> tuple[bytes, int, bytes]:
    return dyvrf.public_key(SECRET), dyvrf.alpha_to_scalar(ALPHA), PI


def _other_proof() -> tuple[bytes, int, bytes]:
    return dyvrf.public_key(SECRET), dyvrf.alpha_to_scalar(ALPHA), dyvrf.prove(SECRET, b"another alpha")


def _wrong_x() -> tuple[bytes, int, bytes]:
    return dyvrf.public_key(SECRET), dyvrf.alpha_to_scalar(ALPHA) + 1, PI


def _wrong_pk() -> tuple[bytes, int, bytes]:
    return dyvrf.public_key(OTHER_SECRET), dyvrf.alpha_to_scalar(ALPHA), PI


Case = Callable[[], tuple[bytes, int, bytes]]
CASES: list[tuple[str, Case, bool]] = [
    ("valid", _valid, True),
    ("tampered-pi", _other_proof, False),
    ("wrong-x", _wrong_x, False),
    ("wrong-pk", _wrong_pk, False),
]


@pytest.mark.parametrize(("case", "expected"), [(c, e) for _, c, e in CASES], ids=[c[0] for c in CASES])
def test_verify_table(nsl: Nsl, case: Case, expected: bool) -> None:
    pk, x, pi = case()
    ok = nsl.verifier.functions.verify(dyvrf.eip2537_g1(pk), x, dyvrf.eip2537_g2(pi)).call()
    assert ok is expected
    if x == dyvrf.alpha_to_scalar(ALPHA):  # the off-chain verifier agrees
        assert (dyvrf.verify(pk, ALPHA, pi) is not None) is expected


def test_off_curve_proof_reverts(nsl: Nsl) -> None:
    bad = flip(dyvrf.eip2537_g2(PI), 255)  # y.c1 changed: not on the curve; the pairing precompile fails
    fn = nsl.verifier.functions.verify(dyvrf.eip2537_g1(dyvrf.public_key(SECRET)), 1, bad)
    assert revert_name(nsl.build, fn, nsl.user.address) == "PrecompileFailed"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vectors_verify_and_hash_on_chain(nsl: Nsl, vector: dict[str, Any]) -> None:
    pk, alpha, pi = (bytes.fromhex(vector[k]) for k in ("pk", "alpha", "pi"))
    pi_evm = bytes.fromhex(vector["pi_eip2537"])
    assert dyvrf.eip2537_g2(pi) == pi_evm
    assert messages.compress_eip2537_g2(pi_evm) == pi
    assert hashlib.sha256(messages.compress_eip2537_g2(pi_evm)).digest().hex() == vector["beta"]
    assert nsl.verifier.functions.alphaToScalar(alpha).call() == int(vector["x_be"], 16)
    valid, beta = nsl.verifier.functions.verifyAlpha(dyvrf.eip2537_g1(pk), alpha, pi_evm).call()
    assert valid is True
    assert beta.hex() == vector["beta"]


def test_verify_gas(nsl: Nsl) -> None:
    pk, x, pi = _valid()
    fn = nsl.verifier.functions.verify(dyvrf.eip2537_g1(pk), x, dyvrf.eip2537_g2(pi))
    receipt = transact(nsl.w3, nsl.user, fn)
    print(f"\ngas: DYVRFVerifier.verify transaction {receipt['gasUsed']}")
    assert receipt["gasUsed"] < 160_000


def test_consumer_holds_chain_verified_randomness(nsl: Nsl) -> None:
    seed = b"on-chain verified draw"
    request_id, request_receipt = request_randomness(nsl, seed, verify=True)
    result = randomness_result(nsl, request_id, seed)
    receipt = fulfil(nsl, request_id, result)
    event = one_event(nsl.gateway, "Fulfilled", receipt)
    assert event.args.callbackSuccess is True
    requested, fulfilled, verified, value = nsl.randomness_consumer.functions.draws(request_id).call()
    assert (requested, fulfilled, verified) == (True, True, True)
    # The value is the DY-VRF output for the alpha the gateway derived itself: auditors recompute it.
    alpha = nsl.gateway.functions.randomnessAlpha(request_id).call()
    beta, pi_evm = messages.split_randomness_result(event.args.result)
    pi = messages.compress_eip2537_g2(pi_evm)
    assert dyvrf.verify(dyvrf.public_key(nsl.vrf_secret), alpha, pi) == value == beta
    print(f"\ngas: request (verify mode) {request_receipt['gasUsed']}, fulfil + verify {receipt['gasUsed']}")
    assert receipt["gasUsed"] < 260_000


def _wrong_alpha(nsl: Nsl, rid: bytes) -> bytes:
    return randomness_result(nsl, rid, b"another seed")


def _wrong_key(nsl: Nsl, rid: bytes) -> bytes:
    return randomness_result(nsl, rid, b"seed", secret=OTHER_SECRET)


def _wrong_beta(nsl: Nsl, rid: bytes) -> bytes:
    return flip(randomness_result(nsl, rid, b"seed"), 0)


def _off_curve(nsl: Nsl, rid: bytes) -> bytes:
    return flip(randomness_result(nsl, rid, b"seed"), 287)


BadResult = Callable[[Nsl, bytes], bytes]
BAD_RESULTS: list[tuple[str, BadResult, str]] = [
    ("proof-for-other-alpha", _wrong_alpha, "InvalidProof"),
    ("proof-under-other-key", _wrong_key, "InvalidProof"),
    ("beta-not-hash-of-pi", _wrong_beta, "OutputMismatch"),
    ("pi-off-curve", _off_curve, "PrecompileFailed"),
]


@pytest.mark.parametrize(
    ("make", "error"), [(m, e) for _, m, e in BAD_RESULTS], ids=[c[0] for c in BAD_RESULTS]
)
def test_enclave_signed_bad_proof_is_rejected_on_chain(nsl: Nsl, make: BadResult, error: str) -> None:
    # Even with a valid enclave signature, OnchainVerify refuses a proof that does not verify.
    request_id, _ = request_randomness(nsl, b"seed", verify=True)
    result = make(nsl, request_id)
    fn = nsl.gateway.functions.fulfill(request_id, result, sign_result(nsl, request_id, result))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, fn, error)


def test_signature_only_mode_does_not_check_the_proof(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"seed", verify=False)
    receipt = fulfil(nsl, request_id, _wrong_alpha(nsl, request_id))  # auditable offline, not on chain
    assert one_event(nsl.gateway, "Fulfilled", receipt).args.callbackSuccess is True


def test_vrf_key_registration(nsl: Nsl) -> None:
    g = nsl.gateway.functions
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.setVrfPublicKey(2, bytes(128)), "InvalidVrfPublicKey")
    off_curve = flip(dyvrf.eip2537_g1(dyvrf.public_key(SECRET)), 127)
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.setVrfPublicKey(2, off_curve), "InvalidVrfPublicKey")
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.setVrfPublicKey(2, bytes(48)), "InvalidVrfPublicKey")
    pk = dyvrf.eip2537_g1(dyvrf.public_key(OTHER_SECRET))
    # Versions only grow: the current one (1) cannot be overwritten, nor an older one re-registered.
    for stale in (0, 1):
        fn = g.setVrfPublicKey(stale, pk)
        assert_reverts(nsl.w3, nsl.build, nsl.owner, fn, "VrfKeyVersionNotNewer")
    first = bytes(g.vrfPublicKey().call())
    receipt = transact(nsl.w3, nsl.owner, g.setVrfPublicKey(5, pk))
    event = one_event(nsl.gateway, "VrfPublicKeySet", receipt)
    assert (event.args.version, event.args.publicKey, event.args.keyHash) == (5, pk, Web3.keccak(pk))
    assert (g.vrfKeyVersion().call(), g.vrfPublicKey().call()) == (5, pk)
    # The old version stays for requests pinned to it.
    assert (g.vrfPublicKeys(1).call(), g.vrfKeyHashes(1).call()) == (first, Web3.keccak(first))


def test_randomness_needs_a_registered_key(nsl: Nsl) -> None:
    gateway = contract_at(
        nsl.w3,
        nsl.build["NSLGateway"],
        deploy_contract(nsl.w3, nsl.owner, nsl.build["NSLGateway"], nsl.enclave.address, MEASUREMENT),
    )
    randomness = messages.service_id("randomness")
    for mode in (0, 1):
        transact(nsl.w3, nsl.owner, gateway.functions.setFee(randomness, mode, 0, True))
    zero = "0x" + "00" * 20
    # In either mode: a request must be pinned to a key, or no output would be the only acceptable one.
    for mode in (0, 1):
        fn = gateway.functions.request(randomness, b"s", zero, bytes(4), 0, mode)
        assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "VrfPublicKeyNotSet")


@pytest.fixture(scope="module")
def cancun() -> Iterator[EvmDevnet]:
    with EvmDevnet(hardfork="cancun", accounts=1) as chain:
        yield chain


def test_pre_prague_chain_reverts(cancun: EvmDevnet, evm_build: ContractBuild) -> None:
    w3, account = cancun.web3(), cancun.accounts[0].signer
    # The precompile address is an empty account: a call succeeds and returns nothing.
    assert w3.eth.call({"to": PAIRING_CHECK, "data": b"\x00" * 384}) == b""
    verifier = contract_at(
        w3, evm_build["DYVRFVerifier"], deploy_contract(w3, account, evm_build["DYVRFVerifier"])
    )
    pk, x, pi = _valid()
    fn = verifier.functions.verify(dyvrf.eip2537_g1(pk), x, dyvrf.eip2537_g2(pi))
    assert revert_name(evm_build, fn, account.address) == "PrecompileFailed"
    gateway_address = deploy_contract(w3, account, evm_build["NSLGateway"], account.address, MEASUREMENT)
    gateway = contract_at(w3, evm_build["NSLGateway"], gateway_address)
    set_key = gateway.functions.setVrfPublicKey(1, dyvrf.eip2537_g1(pk))
    assert revert_name(evm_build, set_key, account.address) == "PrecompileFailed"
