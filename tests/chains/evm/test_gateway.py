"""NSLGateway on a real anvil chain: requests, enclave-signed fulfilments, admin, callbacks.

Signature rules (EIP-2 low s; digest binding chain id, gateway and request id) follow
docs/chains-evm.md; the callback gas rule follows Chainlink VRFCoordinatorV2.callWithExactGas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from web3 import Web3
from web3.types import TxParams

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.errors import EvmTransactionFailed
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.enclave.crypto import dyvrf, evm_gateway
from neo_service_layer.enclave.oracle import onchain
from neo_service_layer.enclave.oracle.codes import OracleCode
from tests.chains.evm.flows import (
    ORACLE,
    RANDOMNESS,
    Nsl,
    fulfil,
    randomness_result,
    request_oracle,
    request_randomness,
    sign_result,
    stored_request,
)
from tests.chains.evm.helpers import (
    REVERT_TX_GAS,
    EnclaveKey,
    assert_reverts,
    flip,
    high_s,
    one_event,
    revert_name,
)

STATUS_PENDING, STATUS_FULFILLED = 1, 2


def test_request_emits_unique_id_and_stores_request(nsl: Nsl) -> None:
    seed = b"seed-1"
    first, receipt = request_randomness(nsl, seed, verify=False)
    second, _ = request_randomness(nsl, seed, verify=False)
    assert first != second
    consumer = nsl.randomness_consumer.address
    event = one_event(nsl.gateway, "ServiceRequested", receipt)
    assert event.args.requester == consumer
    assert event.args.service == RANDOMNESS
    assert event.args.payload == seed
    assert event.args.mode == Mode.SIGNATURE_ONLY
    assert event.args.callbackContract == consumer
    assert event.args.callbackSelector == Web3.keccak(text="onRandomness(bytes32,bytes)")[:4]
    assert event.args.feePaid == nsl.w3.eth.get_transaction(receipt["transactionHash"])["value"]
    # The id is keccak256(abi.encode(chainid, gateway, nonce, requester)), nonce counting from 1.
    assert first == messages.request_id(nsl.chain_id, nsl.gateway.address, 1, consumer)
    stored = nsl.gateway.functions.getRequest(first).call()
    # requester, status, the VRF key version it is pinned to (the current one), keccak256(payload)
    assert (stored[0], stored[4], stored[6], stored[8]) == (consumer, STATUS_PENDING, 1, Web3.keccak(seed))


def test_fulfil_delivers_value_to_consumer(nsl: Nsl) -> None:
    seed = b"lottery #7"
    request_id, request_receipt = request_randomness(nsl, seed, verify=False)
    result = randomness_result(nsl, request_id, seed)
    receipt = fulfil(nsl, request_id, result)
    event = one_event(nsl.gateway, "Fulfilled", receipt)
    assert event.args.result == result
    assert event.args.callbackSuccess is True
    assert event.args.enclaveKeyVersion == 1
    requested, fulfilled, verified, value = nsl.randomness_consumer.functions.draws(request_id).call()
    assert (requested, fulfilled, verified) == (True, True, False)
    assert value == result[:32]
    assert nsl.gateway.functions.getRequest(request_id).call()[4] == STATUS_FULFILLED
    print(f"\ngas: request {request_receipt['gasUsed']}, fulfil (signature only) {receipt['gasUsed']}")
    assert receipt["gasUsed"] < 150_000


def test_digest_and_alpha_agree_with_python(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"agree", verify=True)
    result = b"any result bytes"
    on_chain = nsl.gateway.functions.fulfilmentDigest(request_id, Web3.keccak(result)).call()
    key_hash = evm_gateway.vrf_key_hash(dyvrf.eip2537_g1(dyvrf.public_key(nsl.vrf_secret)))
    assert on_chain == messages.fulfilment_digest(
        nsl.chain_id,
        nsl.gateway.address,
        request_id,
        result,
        payload_hash=Web3.keccak(b"agree"),
        vrf_key_version=1,
        vrf_key_hash=key_hash,
    )
    assert stored_request(nsl, request_id) == (Web3.keccak(b"agree"), 1, key_hash)
    alpha = nsl.gateway.functions.randomnessAlpha(request_id).call()
    assert alpha == messages.randomness_alpha(nsl.chain_id, nsl.gateway.address, request_id, b"agree")


def _other_key(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, sign_result(nsl, rid, result, key=EnclaveKey())


def _flipped_result(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, flip(result, 0), sign_result(nsl, rid, result)


def _flipped_signature(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, flip(sign_result(nsl, rid, result), 40)  # in s: still recovers, to another address


def _high_s(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, high_s(sign_result(nsl, rid, result))


def _bad_v(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    sig = sign_result(nsl, rid, result)
    return rid, result, sig[:64] + bytes([sig[64] - 27])  # v 0/1 instead of 27/28


def _short(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, sign_result(nsl, rid, result)[:64]


def _other_chain(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    payload_hash, version, key_hash = stored_request(nsl, rid)
    digest = messages.fulfilment_digest(
        nsl.chain_id + 1,
        nsl.gateway.address,
        rid,
        result,
        payload_hash=payload_hash,
        vrf_key_version=version,
        vrf_key_hash=key_hash,
    )
    return rid, result, nsl.enclave.sign(digest)


def _other_gateway(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    payload_hash, version, key_hash = stored_request(nsl, rid)
    digest = messages.fulfilment_digest(
        nsl.chain_id,
        nsl.verifier.address,
        rid,
        result,
        payload_hash=payload_hash,
        vrf_key_version=version,
        vrf_key_hash=key_hash,
    )
    return rid, result, nsl.enclave.sign(digest)


# What a compromised host could get the enclave to sign before the fix: the enclave's own key over
# another payload, another key version, or a proof under a key the gateway never registered.
def _other_payload(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    other = randomness_result(nsl, rid, b"a seed the consumer never sent")
    return (
        rid,
        other,
        sign_result(nsl, rid, other, payload_hash=Web3.keccak(b"a seed the consumer never sent")),
    )


def _other_key_version(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, sign_result(nsl, rid, result, vrf_key_version=2)


def _foreign_vrf_key(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    secret = dyvrf.generate_secret()
    other = randomness_result(nsl, rid, b"forge", secret=secret)
    key_hash = evm_gateway.vrf_key_hash(dyvrf.eip2537_g1(dyvrf.public_key(secret)))
    return rid, other, sign_result(nsl, rid, other, vrf_key_hash=key_hash)


def _other_request(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    return rid, result, sign_result(nsl, flip(rid, 31), result)


def _no_tag(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    digest = Web3.keccak(nsl.chain_id.to_bytes(32, "big") + bytes.fromhex(nsl.gateway.address[2:]) + rid)
    return rid, result, nsl.enclave.sign(digest)


def _v1_digest(nsl: Nsl, rid: bytes, result: bytes) -> tuple[bytes, bytes, bytes]:
    # The format before payload hash and key were covered: "NSL-FULFIL-V1" ‖ chainid ‖ gateway ‖ id ‖ H(r)
    gateway = bytes.fromhex(nsl.gateway.address[2:])
    digest = Web3.keccak(
        b"NSL-FULFIL-V1" + nsl.chain_id.to_bytes(32, "big") + gateway + rid + Web3.keccak(result)
    )
    return rid, result, nsl.enclave.sign(digest)


Forgery = Callable[[Nsl, bytes, bytes], tuple[bytes, bytes, bytes]]
FORGERIES: list[tuple[str, Forgery, str]] = [
    ("other-key", _other_key, "NotEnclaveSigned"),
    ("flipped-result", _flipped_result, "NotEnclaveSigned"),
    ("flipped-signature", _flipped_signature, "NotEnclaveSigned"),
    ("high-s", _high_s, "InvalidSignature"),
    ("v-not-27-28", _bad_v, "InvalidSignature"),
    ("64-byte-signature", _short, "InvalidSignature"),
    ("other-chain-id", _other_chain, "NotEnclaveSigned"),
    ("other-gateway", _other_gateway, "NotEnclaveSigned"),
    ("other-request-id", _other_request, "NotEnclaveSigned"),
    ("untagged-digest", _no_tag, "NotEnclaveSigned"),
    ("v1-digest", _v1_digest, "NotEnclaveSigned"),
    ("other-payload-hash", _other_payload, "NotEnclaveSigned"),
    ("other-vrf-key-version", _other_key_version, "NotEnclaveSigned"),
    ("foreign-vrf-key", _foreign_vrf_key, "NotEnclaveSigned"),
]


@pytest.mark.parametrize("verify", [False, True], ids=["signature-only", "onchain-verify"])
@pytest.mark.parametrize(("forge", "error"), [(f, e) for _, f, e in FORGERIES], ids=[c[0] for c in FORGERIES])
def test_forged_fulfilment_is_rejected(nsl: Nsl, forge: Forgery, error: str, verify: bool) -> None:
    request_id, _ = request_randomness(nsl, b"forge", verify=verify)
    rid, result, sig = forge(nsl, request_id, randomness_result(nsl, request_id, b"forge"))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, nsl.gateway.functions.fulfill(rid, result, sig), error)
    # Still pending: the genuine fulfilment goes through afterwards.
    fulfil(nsl, request_id, randomness_result(nsl, request_id, b"forge"))


def test_replay_and_unknown_id_are_rejected(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"once", verify=False)
    result = randomness_result(nsl, request_id, b"once")
    sig = sign_result(nsl, request_id, result)
    fulfil(nsl, request_id, result, sig)
    replay = nsl.gateway.functions.fulfill(request_id, result, sig)
    assert_reverts(nsl.w3, nsl.build, nsl.user, replay, "AlreadyFulfilled")
    unknown = bytes(32)
    fn = nsl.gateway.functions.fulfill(unknown, result, sign_result(nsl, unknown, result))
    assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "UnknownRequest")


def test_randomness_result_must_have_the_proof(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"short", verify=False)
    result = bytes(32)
    fn = nsl.gateway.functions.fulfill(request_id, result, sign_result(nsl, request_id, result))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, fn, "BadResultSize")


def test_pause_blocks_requests_and_fulfilments(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"p", verify=False)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(True))
    result = randomness_result(nsl, request_id, b"p")
    fn = nsl.gateway.functions.fulfill(request_id, result, sign_result(nsl, request_id, result))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, fn, "GatewayPaused")
    fee = nsl.fee(RANDOMNESS, Mode.SIGNATURE_ONLY)
    req = nsl.randomness_consumer.functions.requestRandomness(b"q", False)
    assert_reverts(nsl.w3, nsl.build, nsl.user, req, "GatewayPaused", value=fee)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(False))
    fulfil(nsl, request_id, result)


def test_only_owner_administers(nsl: Nsl) -> None:
    g = nsl.gateway.functions
    calls = [
        g.setEnclave(nsl.user.address, bytes(32)),
        g.setPaused(True),
        g.setFee(ORACLE, 0, 0, True),
        g.setVrfPublicKey(2, bytes(128)),
        g.withdraw(nsl.user.address, 1),
        g.transferOwnership(nsl.user.address),
    ]
    for fn in calls:
        assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "NotOwner")
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.setEnclave(Web3.to_checksum_address(bytes(20)), bytes(32)),
                   "ZeroAddress")  # fmt: skip


def test_rotation_refuses_the_old_key(nsl: Nsl) -> None:
    request_id, _ = request_randomness(nsl, b"rot", verify=False)
    result = randomness_result(nsl, request_id, b"rot")
    old_sig = sign_result(nsl, request_id, result)
    new_key, measurement = EnclaveKey(), bytes.fromhex("ab" * 32)
    receipt = transact(nsl.w3, nsl.owner, nsl.gateway.functions.setEnclave(new_key.address, measurement))
    event = one_event(nsl.gateway, "EnclaveKeyRotated", receipt)
    assert (event.args.version, event.args.signer, event.args.measurement) == (
        2,
        new_key.address,
        measurement,
    )
    assert nsl.gateway.functions.enclaveMeasurement().call() == measurement
    stale = nsl.gateway.functions.fulfill(request_id, result, old_sig)
    assert_reverts(nsl.w3, nsl.build, nsl.owner, stale, "NotEnclaveSigned")
    receipt = fulfil(nsl, request_id, result, sign_result(nsl, request_id, result, key=new_key))
    assert one_event(nsl.gateway, "Fulfilled", receipt).args.enclaveKeyVersion == 2


def test_request_rules(nsl: Nsl) -> None:
    g, fee = nsl.gateway.functions, nsl.fee(RANDOMNESS, Mode.SIGNATURE_ONLY)
    req = nsl.randomness_consumer.functions.requestRandomness(b"cheap", False)
    assert_reverts(nsl.w3, nsl.build, nsl.user, req, "InsufficientFee", value=fee - 1)
    zero = Web3.to_checksum_address(bytes(20))
    selector = bytes(4)
    unknown_service = g.request(messages.service_id("nope"), b"", zero, selector, 0, 0)
    assert_reverts(nsl.w3, nsl.build, nsl.user, unknown_service, "ServiceNotOffered", value=fee)
    oracle_verify = g.request(ORACLE, b"", zero, selector, 0, int(Mode.ONCHAIN_VERIFY))
    assert_reverts(nsl.w3, nsl.build, nsl.user, oracle_verify, "ServiceNotOffered", value=fee)
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.setFee(ORACLE, 1, 0, True), "ModeNotSupported")
    # Results go only to the requester itself: a third party cannot aim a callback at a consumer.
    aimed = g.request(RANDOMNESS, b"", nsl.randomness_consumer.address, selector, 0, 0)
    assert_reverts(nsl.w3, nsl.build, nsl.user, aimed, "CallbackNotRequester", value=fee)
    greedy = g.request(RANDOMNESS, b"", zero, selector, 2_500_001, 0)
    assert_reverts(nsl.w3, nsl.build, nsl.user, greedy, "GasForResponseTooHigh", value=fee)


def test_the_callback_gas_is_paid_at_the_request_gas_price(nsl: Nsl) -> None:
    """A consumer asking for a large callback budget pays for it: the relayer spends that gas."""
    g, fee = nsl.gateway.functions, nsl.fee(RANDOMNESS, Mode.SIGNATURE_ONLY)
    gas_price, gas = 3 * 10**9, 2_000_000
    assert g.requestPrice(RANDOMNESS, 0, gas, gas_price).call() == fee + gas * gas_price
    greedy = nsl.randomness_consumer.functions.requestRandomness(b"greedy", False)  # 100k callback gas
    callback_gas = int(nsl.randomness_consumer.functions.CALLBACK_GAS().call())
    # The flat fee alone (what the gateway took before) no longer buys a callback.
    assert revert_name(nsl.build, greedy, nsl.user.address, fee, gas_price=gas_price) == "InsufficientFee"
    short = fee + callback_gas * gas_price - 1
    assert revert_name(nsl.build, greedy, nsl.user.address, short, gas_price=gas_price) == "InsufficientFee"
    greedy.call(cast(TxParams, {"from": nsl.user.address, "value": short + 1, "gasPrice": gas_price}))
    # A real transaction paying only the flat fee is refused too (its tx.gasprice is above 0).
    with pytest.raises(EvmTransactionFailed, match="reverted"):
        transact(nsl.w3, nsl.user, greedy, value=fee, gas=REVERT_TX_GAS)


def test_request_without_callback_is_fulfilled_by_event(nsl: Nsl) -> None:
    zero = Web3.to_checksum_address(bytes(20))
    fee = nsl.fee(ORACLE, Mode.SIGNATURE_ONLY)  # no callback gas: the fee alone
    receipt = transact(
        nsl.w3, nsl.user, nsl.gateway.functions.request(ORACLE, b"q", zero, bytes(4), 0, 0), value=fee
    )
    request_id = bytes(one_event(nsl.gateway, "ServiceRequested", receipt).args.requestId)
    receipt = fulfil(nsl, request_id, b'{"price": 1}')
    event = one_event(nsl.gateway, "Fulfilled", receipt)
    assert (event.args.result, event.args.callbackSuccess) == (b'{"price": 1}', False)


def test_callback_revert_does_not_block_fulfilment(nsl: Nsl) -> None:
    request_id, _ = request_oracle(nsl, b"GET /big")
    too_big = onchain.evm_result(OracleCode.Success, b"x" * 1025)  # over OracleConsumer.MAX_DATA_SIZE
    receipt = fulfil(nsl, request_id, too_big)
    assert one_event(nsl.gateway, "Fulfilled", receipt).args.callbackSuccess is False
    assert nsl.gateway.functions.getRequest(request_id).call()[4] == STATUS_FULFILLED
    assert nsl.oracle_consumer.functions.pending(request_id).call() is True
    replay = nsl.gateway.functions.fulfill(request_id, too_big, sign_result(nsl, request_id, too_big))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, replay, "AlreadyFulfilled")


def test_oracle_consumer_receives_result(nsl: Nsl) -> None:
    request_id, _ = request_oracle(nsl, b"GET /price")
    receipt = fulfil(nsl, request_id, onchain.evm_result(OracleCode.Success, b"[12.5]"))
    assert one_event(nsl.gateway, "Fulfilled", receipt).args.callbackSuccess is True
    assert nsl.oracle_consumer.functions.codes(request_id).call() == OracleCode.Success
    assert nsl.oracle_consumer.functions.results(request_id).call() == b"[12.5]"


def test_fees_are_collected_and_withdrawn(nsl: Nsl) -> None:
    _, receipt = request_randomness(nsl, b"fee", verify=False)
    fee = one_event(nsl.gateway, "ServiceRequested", receipt).args.feePaid
    assert fee > nsl.fee(RANDOMNESS, Mode.SIGNATURE_ONLY)  # the callback's gas on top
    assert nsl.w3.eth.get_balance(nsl.gateway.address) == fee
    before = nsl.w3.eth.get_balance(nsl.user.address)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.withdraw(nsl.user.address, fee))
    assert nsl.w3.eth.get_balance(nsl.user.address) == before + fee
    assert nsl.w3.eth.get_balance(nsl.gateway.address) == 0


def test_a_request_keeps_the_vrf_key_it_was_made_under(nsl: Nsl) -> None:
    """Rotating the VRF key neither re-rolls pending requests nor lets them be proved with the new key."""
    g = nsl.gateway.functions
    old, _ = request_randomness(nsl, b"before", verify=True)
    new_secret = dyvrf.generate_secret()
    transact(nsl.w3, nsl.owner, g.setVrfPublicKey(2, dyvrf.eip2537_g1(dyvrf.public_key(new_secret))))
    new, _ = request_randomness(nsl, b"after", verify=False)
    assert (stored_request(nsl, old)[1], stored_request(nsl, new)[1]) == (1, 2)
    # The pending request proved with the new key: refused, whatever the enclave signs over.
    swapped = randomness_result(nsl, old, b"before", secret=new_secret)
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.fulfill(old, swapped, sign_result(nsl, old, swapped)),
                   "InvalidProof")  # fmt: skip
    claims_v2 = sign_result(nsl, old, swapped, vrf_key_version=2, vrf_key_hash=stored_request(nsl, new)[2])
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.fulfill(old, swapped, claims_v2), "NotEnclaveSigned")
    # And the new request cannot be served with the old key.
    stale = randomness_result(nsl, new, b"after")
    stale_sig = sign_result(nsl, new, stale, vrf_key_version=1, vrf_key_hash=stored_request(nsl, old)[2])
    assert_reverts(nsl.w3, nsl.build, nsl.owner, g.fulfill(new, stale, stale_sig), "NotEnclaveSigned")
    # Each is fulfilled with the key it was made under.
    fulfil(nsl, old, randomness_result(nsl, old, b"before"))
    fulfil(nsl, new, randomness_result(nsl, new, b"after", secret=new_secret))
