"""The fulfiller's parts without a chain: the enclave's message builders against ``messages``, the error
table against solc's ABI, fee bumps, gas floors, and nonce allocation under contention (real database)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from eth_utils.crypto import keccak

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.fulfiller import ONCHAIN_VERIFY_GAS, gas_floor
from neo_service_layer.chains.evm.gateway_rpc import (
    FULFILL_SIGNATURE,
    FULFILLED_SIGNATURE,
    GATEWAY_ERRORS,
    GET_REQUEST_SIGNATURE,
    decode_revert,
)
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.relay import bump
from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.crypto import evm_gateway
from neo_service_layer.enclave.crypto.errors import InvalidInput

GATEWAY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("chain_id", [1, 31337, 2**64], ids=["mainnet", "anvil", "large"])
def test_the_enclave_builds_the_bytes_the_host_and_the_gateway_build(chain_id: int) -> None:
    request_id, payload, result = secrets.token_bytes(32), secrets.token_bytes(40), secrets.token_bytes(288)
    gateway = bytes.fromhex(GATEWAY[2:])
    assert evm_gateway.randomness_alpha(
        chain_id, gateway, request_id, keccak(payload)
    ) == messages.randomness_alpha(chain_id, GATEWAY, request_id, payload)
    fields: dict[str, Any] = {
        "payload_hash": keccak(payload),
        "vrf_key_version": 7,
        "vrf_key_hash": keccak(b"key"),
    }
    preimage = evm_gateway.fulfilment_preimage(chain_id, gateway, request_id, result=result, **fields)
    assert keccak(preimage) == messages.fulfilment_digest(chain_id, GATEWAY, request_id, result, **fields)
    # Every field the gateway takes from storage is in the digest: changing any one changes it.
    for name, other in (("payload_hash", keccak(b"x")), ("vrf_key_version", 8), ("vrf_key_hash", bytes(32))):
        changed = messages.fulfilment_digest(
            chain_id, GATEWAY, request_id, result, **(fields | {name: other})
        )
        assert changed != keccak(preimage), name


@pytest.mark.parametrize(
    ("chain_id", "gateway", "request_id", "payload_hash", "version", "key_hash"),
    [
        (0, b"\x01" * 20, b"\x02" * 32, bytes(32), 1, bytes(32)),
        (1, b"\x01" * 19, b"\x02" * 32, bytes(32), 1, bytes(32)),
        (1, b"\x01" * 20, b"\x02" * 31, bytes(32), 1, bytes(32)),
        (1, b"\x01" * 20, b"\x02" * 32, bytes(31), 1, bytes(32)),
        (1, b"\x01" * 20, b"\x02" * 32, bytes(32), 2**32, bytes(32)),
        (1, b"\x01" * 20, b"\x02" * 32, bytes(32), -1, bytes(32)),
        (1, b"\x01" * 20, b"\x02" * 32, bytes(32), 1, bytes(33)),
    ],
    ids=[
        "chain-0",
        "short-gateway",
        "short-id",
        "short-payload-hash",
        "version-2^32",
        "version-negative",
        "long-key-hash",
    ],
)
def test_malformed_fields_are_refused_inside_the_enclave(
    chain_id: int, gateway: bytes, request_id: bytes, payload_hash: bytes, version: int, key_hash: bytes
) -> None:
    with pytest.raises(InvalidInput):
        evm_gateway.fulfilment_preimage(
            chain_id,
            gateway,
            request_id,
            payload_hash=payload_hash,
            vrf_key_version=version,
            vrf_key_hash=key_hash,
            result=b"r",
        )


def test_every_signature_matches_the_compiled_gateway(evm_build: ContractBuild) -> None:
    abi = [item for name in ("NSLGateway", "DYVRFVerifier") for item in evm_build[name].abi]

    def signature(item: dict[str, object]) -> str:
        inputs = item["inputs"]
        assert isinstance(inputs, list)
        types = ",".join(
            "(" + ",".join(c["type"] for c in i["components"]) + ")" if i["type"] == "tuple" else i["type"]
            for i in inputs
        )
        return f"{item['name']}({types})"

    errors = {signature(i) for i in abi if i["type"] == "error"}
    functions = {signature(i) for i in abi if i["type"] == "function"}
    events = {signature(i) for i in abi if i["type"] == "event"}
    assert set(GATEWAY_ERRORS) <= errors
    assert {FULFILL_SIGNATURE, GET_REQUEST_SIGNATURE} <= functions
    assert FULFILLED_SIGNATURE in events


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (keccak(text="InvalidProof()")[:4], "InvalidProof()"),
        (
            keccak(text="AlreadyFulfilled(bytes32)")[:4] + b"\xab" * 32,
            "AlreadyFulfilled(0x" + "ab" * 32 + ")",
        ),
        (b"\x01\x02\x03\x04", "unknown(0x01020304)"),
        (b"", "no revert data"),
    ],
    ids=["no-args", "bytes32", "unknown", "empty"],
)
def test_revert_data_is_decoded_by_name(data: bytes, decoded: str) -> None:
    assert decode_revert(data) == decoded


@pytest.mark.parametrize(("fee", "bumped"), [(1, 2), (8, 9), (9, 11), (10**9, 1_125_000_000)], ids=str)
def test_a_bump_is_at_least_an_eighth_and_one_wei(fee: int, bumped: int) -> None:
    assert bump(fee) == bumped
    assert bump(fee) * 8 >= fee * 9


def test_the_gas_floor_covers_the_callback_and_the_proof_check() -> None:
    plain = gas_floor(Mode.SIGNATURE_ONLY, 0)
    assert gas_floor(Mode.ONCHAIN_VERIFY, 0) - plain == ONCHAIN_VERIFY_GAS
    assert gas_floor(Mode.SIGNATURE_ONLY, 630_000) - plain > 640_000


async def test_concurrent_allocations_never_share_a_nonce_and_reuse_abandoned_ones(db: Database) -> None:
    store = FulfilmentStore(db, "evm:1")
    relayer = "0x" + "11" * 20
    ids = [f"{i:064x}" for i in range(12)]
    for request_id in ids:
        await store.ensure(request_id, "randomness", 0)

    nonces = await asyncio.gather(*(store.allocate_nonce(r, relayer, 5) for r in ids))
    again = await store.allocate_nonce(ids[0], relayer, 5)  # a retry keeps its nonce
    await store.finish(ids[3], FulfilmentStatus.FAILED, reason="test")  # ended without sending
    await store.ensure("f" * 64, "randomness", 0)
    reused = await store.allocate_nonce("f" * 64, relayer, 5)

    assert sorted(nonces) == list(range(5, 17))
    assert again == nonces[0]
    assert reused == nonces[3]  # the gap is filled, not left to stall later transactions


async def test_concurrent_allocations_for_one_request_give_it_one_nonce(db: Database) -> None:
    """Several publishers of one round (or fulfillers of one request) at once: one nonce, not one each.
    Without the row lock, one that read the row before another's nonce committed gave it a second
    nonce, and two transactions of one request were mined (seen on PostgreSQL, the price publisher)."""
    store = FulfilmentStore(db, "evm:1")
    relayer = "0x" + "11" * 20
    request_id = "e" * 64
    for _ in range(10):
        await store.ensure(request_id, "pricefeed", 0)
        nonces = await asyncio.gather(*(store.allocate_nonce(request_id, relayer, 5) for _ in range(6)))
        assert len(set(nonces)) == 1
        assert (await store.get(request_id)).nonce == nonces[0]
        await store.finish(request_id, FulfilmentStatus.FAILED, reason="test")
        request_id = f"{int(request_id, 16) - 1:064x}"
