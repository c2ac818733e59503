"""NSLGateway on a real neo-go chain: request → Request event → enclave-signed fulfilment → consumer value,
with and without on-chain DY-VRF verification; forged, replayed, unknown and tampered fulfilments FAULT.

Formats: docs/chains-neo-n3.md (messages.py builds the same bytes). DY-VRF: docs/dyvrf.md §5.1.
"""

from __future__ import annotations

import hashlib
from typing import Any

from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.enclave.crypto import dyvrf, n3_gateway
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.onchain import n3_result
from tests.chains.neo_n3.helpers import (
    EnclaveKey,
    Nsl,
    events,
    flip,
    send,
    stack_bytes,
    stack_int,
    test_invoke,
)

RANDOMNESS = "RandomnessConsumer"
#: Measured GAS (system fee, datoshi) of one fulfil per mode, printed for docs/chains-neo-n3.md.
GAS = 10**8
#: The example consumers' gas_for_response (contracts/randomness_consumer.py CALLBACK_GAS).
CALLBACK_GAS = 10_000_000


async def _request_randomness(nsl: Nsl, seeds: list[tuple[bytes, bool]]) -> list[int]:
    """Request randomness for each (seed, verify) from the consumer, all in one transaction; the ids."""
    consumer = nsl.consumer(RANDOMNESS)
    calls = [consumer.call_function("request_randomness", [seed, verify]) for seed, verify in seeds]
    state, _, notifications, exception = await send(nsl, calls, nsl.admin)
    assert state == "HALT", exception
    requests = events(notifications, "Request", nsl.deployment.gateway)
    assert len(requests) == len(seeds)
    return [int(r[0]) for r in requests]


async def test_views_agree_with_python(nsl: Nsl) -> None:
    (request_id,) = await _request_randomness(nsl, [(b"seed", False)])
    gw = nsl.gateway
    result = b"any result bytes"
    reply = test_invoke(
        nsl.rpc_url,
        [
            gw.call_function("fulfilment_message", [request_id, result]),
            gw.call_function("randomness_alpha", [42, hashlib.sha256(b"seed").digest()]),
            gw.call_function("get_pairing_constant"),
            gw.call_function("get_enclave_key"),
            gw.call_function("get_vrf_key"),
            gw.call_function("get_vrf_key_version"),
            gw.call_function("get_fee", [False]),
            gw.call_function("get_fee", [True]),
            gw.call_function("get_request_price", [True, 7]),
            gw.call_function("owner"),
            gw.call_function("get_enclave_public_key"),
        ],
        nsl.stranger,
    )
    assert reply.state == "HALT", reply.exception
    message, alpha, gt, enclave, vrf_key, vrf_version, fee_sig, fee_verify, price, owner, key = reply.stack
    magic = nsl.deployment.magic
    public = dyvrf.public_key(nsl.vrf_secret)
    assert stack_bytes(message) == messages.fulfilment_message(
        magic,
        nsl.gateway_le,
        request_id,
        payload_hash=hashlib.sha256(b"seed").digest(),
        vrf_key_version=1,
        vrf_key_hash=n3_gateway.vrf_key_hash(public),
        result=result,
    )
    assert len(stack_bytes(message)) == 148
    assert stack_bytes(alpha) == messages.randomness_alpha(magic, nsl.gateway_le, 42, b"seed")
    # e(G1, G2), computed by CryptoLib in _deploy (gnark-crypto GT encoding, docs/dyvrf.md §5.1).
    assert len(stack_bytes(gt)) == 576
    assert stack_bytes(gt).startswith(bytes.fromhex("0f41e58663bf08cf"))
    pubkey, measurement, version = enclave["value"]
    assert (stack_bytes(pubkey), stack_bytes(measurement)) == (nsl.enclave.public_key, nsl.measurement)
    assert stack_bytes(key) == nsl.enclave.public_key  # get_enclave_public_key: the key alone
    assert stack_int(version) % 2 == 1  # 1 at deploy; the rotation test rotates and back (+2)
    assert (stack_bytes(vrf_key), stack_int(vrf_version)) == (public, 1)
    assert (stack_int(fee_sig), stack_int(fee_verify)) == (GAS // 2, 5 * GAS)
    assert stack_int(price) == 5 * GAS + 7
    assert stack_bytes(owner) == bytes(nsl.admin.script_hash.to_array())
    unknown = test_invoke(nsl.rpc_url, gw.call_function("fulfilment_message", [10**6, result]), nsl.stranger)
    unknown.assert_fault("unknown request")


async def test_randomness_end_to_end_both_modes(nsl: Nsl) -> None:
    seeds = [(b"lottery #7", False), (b"lottery #8", True)]
    consumer = nsl.consumer(RANDOMNESS)
    before = test_invoke(nsl.rpc_url, nsl.gateway.call_function("fees_collected"), nsl.stranger)
    sig_id, verify_id = await _request_randomness(nsl, seeds)
    assert verify_id == sig_id + 1  # unique, incrementing ids
    after = test_invoke(
        nsl.rpc_url,
        [
            nsl.gateway.call_function("fees_collected"),
            nsl.gateway.call_function("get_request", [verify_id]),
        ],
        nsl.stranger,
    )
    # Each request paid its mode's fee and its callback's GAS (CALLBACK_GAS = 0.1 GAS) up front.
    assert stack_int(after.stack[0]) - stack_int(before.stack[0]) == GAS // 2 + 5 * GAS + 2 * CALLBACK_GAS
    record = after.stack[1]["value"]
    assert stack_bytes(record[0]) == bytes(consumer.hash.to_array())  # requester = the consumer
    assert stack_bytes(record[4]) == b"on_randomness"
    assert (stack_int(record[5]), stack_int(record[7]), stack_bytes(record[8])) == (
        CALLBACK_GAS,
        5 * GAS + CALLBACK_GAS,  # what it paid
        bytes.fromhex("01000000"),  # the VRF key version it is pinned to, 4 bytes little-endian
    )

    results = {
        rid: nsl.randomness_result(rid, seed)
        for rid, (seed, _) in zip((sig_id, verify_id), seeds, strict=True)
    }
    calls = {rid: nsl.fulfil_call(rid, result) for rid, result in results.items()}
    # The system fee of each mode, measured alone on the current state before sending both.
    gas = {rid: test_invoke(nsl.rpc_url, call, nsl.relayer) for rid, call in calls.items()}
    assert all(g.state == "HALT" for g in gas.values()), [g.exception for g in gas.values()]
    print(
        f"\nN3 fulfil GAS: signature only {gas[sig_id].gas_consumed / GAS:.4f}, "
        f"on-chain verify {gas[verify_id].gas_consumed / GAS:.4f}"
    )
    # The proof check (1 pairing, 1 mul, 4 deserialize, add, equal, 2 SHA-256) adds about 4.04 GAS.
    assert gas[sig_id].gas_consumed < GAS // 2
    assert 4 * GAS < gas[verify_id].gas_consumed - gas[sig_id].gas_consumed < 4.2 * GAS

    state, _, notifications, exception = await send(
        nsl, list(calls.values()), nsl.relayer
    )  # anyone may relay
    assert state == "HALT", exception
    fulfilled = events(notifications, "Fulfilled", nsl.deployment.gateway)
    assert [(int(f[0]), f[1]) for f in fulfilled] == list(results.items())
    reply = test_invoke(
        nsl.rpc_url,
        [
            consumer.call_function("get_randomness", [sig_id]),
            consumer.call_function("get_randomness", [verify_id]),
            consumer.call_function("verified_on_chain", [verify_id]),
            nsl.gateway.call_function("is_fulfilled", [verify_id]),
        ],
        nsl.stranger,
    )
    for item, (rid, (seed, _)) in zip(
        reply.stack[:2], zip((sig_id, verify_id), seeds, strict=True), strict=True
    ):
        beta = stack_bytes(item)
        # The consumer holds beta, which anyone can re-derive offline from the proof in the event.
        parts = messages.split_randomness_result(results[rid])
        assert (
            beta
            == parts.beta
            == dyvrf.verify(dyvrf.public_key(nsl.vrf_secret), nsl.alpha(rid, seed), parts.pi)
        )
    assert reply.stack[2]["value"] is True
    assert reply.stack[3]["value"] is True


async def test_forged_replayed_unknown_and_tampered_fulfilments_fault(nsl: Nsl) -> None:
    seed_sig, seed_verify = b"forgery target", b"tamper target"
    sig_id, verify_id = await _request_randomness(nsl, [(seed_sig, False), (seed_verify, True)])
    good = nsl.randomness_result(sig_id, seed_sig)
    rpc, relayer = nsl.rpc_url, nsl.relayer

    # A signature by another secp256r1 key, and a valid signature over a different result.
    test_invoke(
        rpc, nsl.fulfil_call(sig_id, good, nsl.sign(sig_id, good, EnclaveKey())), relayer
    ).assert_fault("signature is not from the enclave key")
    other = nsl.randomness_result(sig_id, b"another seed")
    test_invoke(rpc, nsl.fulfil_call(sig_id, other, nsl.sign(sig_id, good)), relayer).assert_fault(
        "signature is not from the enclave key"
    )
    # A signature for this result but another request id (or another gateway: the id and hash are signed).
    test_invoke(rpc, nsl.fulfil_call(sig_id, good, nsl.sign(verify_id, good)), relayer).assert_fault(
        "signature is not from the enclave key"
    )
    # What a compromised host could get the enclave to sign before the fix: its own key's signature over
    # another payload, another VRF key version, or a proof under a key the gateway never registered.
    foreign = dyvrf.generate_secret()
    rerolls: list[tuple[bytes, dict[str, Any]]] = [
        (
            nsl.randomness_result(sig_id, b"a seed never sent"),
            {"payload_hash": hashlib.sha256(b"a seed never sent").digest()},
        ),
        (good, {"vrf_key_version": 2}),
        (
            nsl.randomness_result(sig_id, seed_sig, secret=foreign),
            {"vrf_key_hash": n3_gateway.vrf_key_hash(dyvrf.public_key(foreign))},
        ),
    ]
    for result, fields in rerolls:
        forged = nsl.fulfil_call(sig_id, result, nsl.sign(sig_id, result, **fields))
        test_invoke(rpc, forged, relayer).assert_fault("signature is not from the enclave key")
    test_invoke(rpc, nsl.fulfil_call(10**6, good), relayer).assert_fault("unknown request")
    test_invoke(rpc, nsl.fulfil_call(sig_id, good[:-1]), relayer).assert_fault(
        "randomness result must be 160 bytes"
    )

    # On-chain verification: every tampered part is refused even with a valid enclave signature.
    valid = nsl.randomness_result(verify_id, seed_verify)
    beta, pi, x_le = messages.split_randomness_result(valid)
    wrong_pi = dyvrf.prove(nsl.vrf_secret, b"some other alpha")  # a valid G2 point, wrong proof
    other_key_pi = dyvrf.prove(dyvrf.generate_secret(), nsl.alpha(verify_id, seed_verify))
    wrong_x = dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(b"chosen by the fulfiller"))
    cases = {
        "invalid VRF proof": [
            hashlib.sha256(wrong_pi).digest() + wrong_pi + x_le,
            hashlib.sha256(other_key_pi).digest() + other_key_pi + x_le,
        ],
        "x does not match the request": [beta + pi + wrong_x],
        "beta is not SHA-256(pi)": [flip(beta, 0) + pi + x_le],
    }
    for reason, tampered in cases.items():
        for result in tampered:
            test_invoke(rpc, nsl.fulfil_call(verify_id, result), relayer).assert_fault(reason)
    # A bit-flipped pi is not a G2 point: CryptoLib's deserialize FAULTs.
    bad_point = flip(pi, 50)
    broken = test_invoke(
        rpc, nsl.fulfil_call(verify_id, hashlib.sha256(bad_point).digest() + bad_point + x_le), relayer
    )
    assert broken.state == "FAULT"

    # On chain for real: a forged fulfilment FAULTs in its block and changes nothing; the genuine one
    # in the same block succeeds; replaying it FAULTs.
    forged_state, _, _, forged_exc = await send(
        nsl, [nsl.fulfil_call(sig_id, good, nsl.sign(sig_id, good, EnclaveKey()))], relayer
    )
    assert forged_state == "FAULT"
    assert "signature is not from the enclave key" in (forged_exc or "")
    state, _, _, exception = await send(
        nsl, [nsl.fulfil_call(sig_id, good), nsl.fulfil_call(verify_id, valid)], relayer
    )
    assert state == "HALT", exception
    test_invoke(rpc, nsl.fulfil_call(sig_id, good), relayer).assert_fault("request already fulfilled")
    test_invoke(rpc, nsl.fulfil_call(verify_id, valid), relayer).assert_fault("request already fulfilled")


async def test_oracle_consumer(nsl: Nsl) -> None:
    oracle = nsl.consumer("OracleConsumer")
    query = b'{"url":"https://api.example/neo","path":"$.price"}'
    state, _, notifications, exception = await send(
        nsl, [oracle.call_function("request_data", [query])], nsl.admin
    )
    assert state == "HALT", exception
    (oracle_id, service, payload, callback, method, _, verify), *others = events(
        notifications, "Request", nsl.deployment.gateway
    )
    assert others == []
    assert (service, payload, callback, method, verify) == (
        b"oracle",
        query,
        bytes(oracle.hash.to_array()),
        b"on_result",
        False,
    )
    answer = n3_result(OracleCode.Success, b"[12.34]")
    state, _, _, exception = await send(nsl, [nsl.fulfil_call(oracle_id, answer)], nsl.relayer)
    assert state == "HALT", exception
    reply = test_invoke(
        nsl.rpc_url,
        [
            oracle.call_function("get_code", [oracle_id]),
            oracle.call_function("get_result", [oracle_id]),
        ],
        nsl.stranger,
    )
    assert stack_int(reply.stack[0]) == OracleCode.Success
    assert stack_bytes(reply.stack[1]) == b"[12.34]"


def test_callbacks_and_requests_are_guarded(nsl: Nsl) -> None:
    consumer = nsl.consumer(RANDOMNESS)
    # Only the gateway may call a consumer back; only the owner may make it spend its GAS.
    test_invoke(
        nsl.rpc_url, consumer.call_function("on_randomness", [1, bytes(160)]), nsl.stranger
    ).assert_fault("only the gateway")
    test_invoke(
        nsl.rpc_url, consumer.call_function("request_randomness", [b"s", False]), nsl.stranger
    ).assert_fault("only the owner")
    # A request straight from a transaction script names a callback that is not its caller.
    request = nsl.gateway.call_function(
        "request", ["randomness", b"s", consumer.hash, "on_randomness", 0, False]
    )
    test_invoke(nsl.rpc_url, request, nsl.stranger).assert_fault("callback contract must be the caller")
