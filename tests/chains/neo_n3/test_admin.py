"""NSLGateway administration on a real neo-go chain: only the admin rotates keys, sets fees and pauses;
a paused gateway refuses requests and fulfilments; a rotated key invalidates the old one at once."""

from __future__ import annotations

from typing import Any

import pytest

from neo_service_layer.enclave.crypto import dyvrf
from tests.chains.neo_n3.helpers import EnclaveKey, Nsl, send, stack_bytes, stack_int, test_invoke

RANDOMNESS = "RandomnessConsumer"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("set_enclave_key", [bytes.fromhex("02" + "11" * 32), b"m"]),
        ("set_vrf_key", [2, dyvrf.G1_GENERATOR]),
        ("set_fees", [0, 0]),
        ("pause", []),
        ("unpause", []),
        ("withdraw", [bytes(20), 1]),
    ],
    ids=["enclave-key", "vrf-key", "fees", "pause", "unpause", "withdraw"],
)
def test_only_admin(nsl: Nsl, method: str, args: list[Any]) -> None:
    call = nsl.gateway.call_function(method, args)
    test_invoke(nsl.rpc_url, call, nsl.stranger).assert_fault("only the admin")


NEWER = "VRF key version must be newer than the current one"


@pytest.mark.parametrize(
    ("version", "pubkey", "reason"),
    [
        (2, dyvrf.G1_GENERATOR[:47], "VRF key must be 48 bytes"),
        (2, b"\xc0" + bytes(47), "VRF key is the point at infinity"),
        (2, bytes([0x80]) + bytes(46) + b"\x05", ""),  # not on the curve: CryptoLib FAULTs
        (1, dyvrf.G1_GENERATOR, NEWER),  # the current version: pending requests keep their key
        (0, dyvrf.G1_GENERATOR, NEWER),
        (2**32, dyvrf.G1_GENERATOR, NEWER),  # not a uint32
    ],
    ids=["short", "infinity", "off-curve", "current-version", "version-0", "version-2^32"],
)
def test_vrf_key_is_checked(nsl: Nsl, version: int, pubkey: bytes, reason: str) -> None:
    call = nsl.gateway.call_function("set_vrf_key", [version, pubkey])
    test_invoke(nsl.rpc_url, call, nsl.admin).assert_fault(reason)


async def test_enclave_key_rotation_refuses_the_old_key(nsl: Nsl) -> None:
    consumer = nsl.consumer(RANDOMNESS)
    new_key, new_measurement = EnclaveKey(), bytes.fromhex("77" * 48)
    state, _, notifications, exception = await send(
        nsl,
        [
            consumer.call_function("request_randomness", [b"rotation", False]),
            nsl.gateway.call_function("set_enclave_key", [new_key.public_key, new_measurement]),
        ],
        nsl.admin,
    )
    assert state == "HALT", exception
    request_id = next(int(n.state.value[0].value) for n in notifications if n.event_name == "Request")
    try:
        result = nsl.randomness_result(request_id, b"rotation")
        reply = test_invoke(nsl.rpc_url, nsl.gateway.call_function("get_enclave_key"), nsl.stranger)
        pubkey, measurement, version = reply.stack[0]["value"]
        assert (stack_bytes(pubkey), stack_bytes(measurement), stack_int(version)) == (
            new_key.public_key,
            new_measurement,
            2,
        )
        test_invoke(nsl.rpc_url, nsl.fulfil_call(request_id, result), nsl.relayer).assert_fault(
            "signature is not from the enclave key"
        )
        signed_by_new = nsl.fulfil_call(request_id, result, nsl.sign(request_id, result, new_key))
        assert test_invoke(nsl.rpc_url, signed_by_new, nsl.relayer).state == "HALT"
    finally:
        state, _, _, exception = await send(
            nsl,
            [nsl.gateway.call_function("set_enclave_key", [nsl.enclave.public_key, nsl.measurement])],
            nsl.admin,
        )
        assert state == "HALT", exception


async def test_pause_refuses_requests_and_fulfilments(nsl: Nsl) -> None:
    consumer = nsl.consumer(RANDOMNESS)
    state, _, notifications, exception = await send(
        nsl,
        [
            consumer.call_function("request_randomness", [b"paused", False]),
            nsl.gateway.call_function("pause"),
        ],
        nsl.admin,
    )
    assert state == "HALT", exception
    request_id = next(int(n.state.value[0].value) for n in notifications if n.event_name == "Request")
    try:
        assert test_invoke(nsl.rpc_url, nsl.gateway.call_function("is_paused"), nsl.stranger).stack[0][
            "value"
        ]
        result = nsl.randomness_result(request_id, b"paused")
        test_invoke(nsl.rpc_url, nsl.fulfil_call(request_id, result), nsl.relayer).assert_fault(
            "gateway is paused"
        )
        request = consumer.call_function("request_randomness", [b"while paused", False])
        test_invoke(nsl.rpc_url, request, nsl.admin).assert_fault("gateway is paused")
    finally:
        state, _, _, exception = await send(nsl, [nsl.gateway.call_function("unpause")], nsl.admin)
        assert state == "HALT", exception
    assert test_invoke(nsl.rpc_url, nsl.fulfil_call(request_id, result), nsl.relayer).state == "HALT"


async def test_admin_sets_fees_and_withdraws(nsl: Nsl) -> None:
    gw = nsl.gateway
    collected = stack_int(test_invoke(nsl.rpc_url, gw.call_function("fees_collected"), nsl.stranger).stack[0])
    assert collected > 0
    state, _, notifications, exception = await send(
        nsl,
        [
            gw.call_function("set_fees", [GAS // 10, 6 * GAS]),
            gw.call_function("withdraw", [nsl.admin.script_hash, collected]),
            gw.call_function("set_fees", [GAS // 2, 5 * GAS]),
        ],
        nsl.admin,
    )
    assert state == "HALT", exception
    assert [n.event_name for n in notifications].count("FeesSet") == 2
    after = test_invoke(nsl.rpc_url, gw.call_function("fees_collected"), nsl.stranger)
    assert stack_int(after.stack[0]) == 0
    test_invoke(
        nsl.rpc_url, gw.call_function("withdraw", [nsl.admin.script_hash, 1]), nsl.admin
    ).assert_fault("amount exceeds collected fees")


GAS = 10**8
