"""``audit.checkpoint`` over the real protocol: it signs the head the entries chain to, with its own clock,
and only extends checkpoints it signed itself, over entries that follow them (docs/audit.md).

The attacks are a host that controls the op's args: it hands in a previous checkpoint that another
enclave signed, that this enclave signed for another op, or that was edited; entries that skip, repeat
or smuggle a second ``seq``; a previous checkpoint from the future (a clock set back)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import pytest

from neo_service_layer.client import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.audit import (
    CHECKPOINT,
    CHECKPOINT_REQUEST,
    GENESIS_HASH,
    MAX_CHECKPOINT_ENTRIES,
    CheckpointArgs,
    CheckpointResult,
)
from neo_service_layer.enclave.ops import sign_result
from neo_service_layer.enclave.protocol import read_frame
from neo_service_layer.enclave.schemas import SignedArgs, SignedResult
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import EnclaveCryptoFailed, EnclaveRejected, SignatureInvalid
from tests.services.audit.helpers import other_enclave


def body(seq: int, **fields: Any) -> str:
    return json.dumps({"seq": seq, "action": "test", **fields}, sort_keys=True, separators=(",", ":"))


def chained(start_hash: str, bodies: list[str]) -> str:
    head = start_hash
    for item in bodies:
        head = hashlib.sha256(bytes.fromhex(head) + item.encode()).hexdigest()
    return head


async def checkpoint(
    client: UnixEnclaveClient, bodies: list[str], previous: SignedResult | None = None
) -> SignedResult:
    signed = await client.run(CHECKPOINT, CheckpointArgs(previous=previous, entries=bodies))
    return signed.envelope


@pytest.fixture
def verified(ctx: EnclaveContext) -> VerifiedIdentity:
    return verify_attestation(ctx.report, allow_software=True)


async def test_checkpoints_chain_from_the_genesis_and_verify_offline(
    client: UnixEnclaveClient, verified: VerifiedIdentity
) -> None:
    first_bodies = [body(1), body(2, details={"key_id": "ключ"})]
    before = time.time_ns() // 1_000_000
    first = await checkpoint(client, first_bodies)
    after = time.time_ns() // 1_000_000
    result = CheckpointResult.model_validate(verify_result(first, verified, request=CHECKPOINT_REQUEST))
    assert (result.seq, result.hash) == (2, chained(GENESIS_HASH, first_bodies))
    assert (result.prev_seq, result.prev_checkpoint) == (0, GENESIS_HASH)
    assert before <= result.time_ms <= after  # the enclave's clock: the args carry no time

    second = await checkpoint(client, [body(3)], previous=first)
    extended = CheckpointResult.model_validate(verify_result(second, verified, request=CHECKPOINT_REQUEST))
    assert (extended.seq, extended.hash) == (3, chained(result.hash, [body(3)]))
    assert (extended.prev_seq, extended.prev_checkpoint) == (2, first.result_hash)
    assert extended.time_ms >= result.time_ms


async def test_a_checkpoint_signs_a_constant_request_and_no_entry(client: UnixEnclaveClient) -> None:
    """The signed request is the same for every checkpoint: a verifier needs nothing but the envelope."""
    one = await checkpoint(client, [body(1)])
    other = await checkpoint(client, [body(1, actor="someone else")])
    assert one.request_hash == other.request_hash
    assert one.result_hash != other.result_hash


async def test_a_checkpoint_is_no_other_ops_result(
    client: UnixEnclaveClient, verified: VerifiedIdentity
) -> None:
    envelope = await checkpoint(client, [body(1)])
    with pytest.raises(SignatureInvalid, match="different request"):
        verify_result(envelope, verified, request={**CHECKPOINT_REQUEST, "op": "keys.sign"})


def _forged_previous(ctx: EnclaveContext, genuine: SignedResult, kind: str) -> SignedResult:
    """A previous checkpoint the host made up (``kind``), next to the genuine one it replaces."""
    result = CheckpointResult.model_validate(genuine.result)
    if kind == "other-enclave":
        return sign_result(other_enclave(), CHECKPOINT.name, CheckpointArgs(entries=["{}"]), genuine.result)
    if kind == "edited-result":
        moved = {**genuine.result, "seq": result.seq + 5}
        return genuine.model_copy(update={"result": moved})
    if kind == "edited-result-and-hash":
        moved = result.model_copy(update={"hash": "ab" * 32}).model_dump(mode="json")
        forged = sign_result(ctx, CHECKPOINT.name, CheckpointArgs(entries=["{}"]), moved)
        return genuine.model_copy(update={"result": moved, "result_hash": forged.result_hash})
    if kind == "another-ops-result":  # a genuine signature of this enclave, for another request
        return sign_result(ctx, "keys.sign", SignedArgs(account_id="nsl-audit"), genuine.result)
    if kind == "float-in-result":  # signed data never holds floats (canonical JSON refuses them)
        return genuine.model_copy(update={"result": {**genuine.result, "time_ms": 1.5}})
    if kind == "k1-of-another-key":  # its own P-256 signature, another key's valid secp256k1 one
        theirs = sign_result(other_enclave(), CHECKPOINT.name, CheckpointArgs(entries=["{}"]), genuine.result)
        signatures = genuine.signatures.model_copy(update={"k1": theirs.signatures.k1})
        return genuine.model_copy(update={"signatures": signatures})
    if kind == "bad-k1-signature":
        signatures = genuine.signatures.model_copy(update={"k1": "00" * 64 + "1b"})
        return genuine.model_copy(update={"signatures": signatures})
    raise AssertionError(kind)


FORGERIES = [
    ("other-enclave", "not signed by this enclave"),
    ("edited-result", "hashes do not match"),
    ("edited-result-and-hash", "not signed by this enclave"),
    ("another-ops-result", "hashes do not match"),
    ("bad-k1-signature", "secp256k1 signature is malformed"),
    ("float-in-result", "not canonical JSON"),
    ("k1-of-another-key", "not signed by this enclave"),
]


@pytest.mark.parametrize(("kind", "reason"), FORGERIES, ids=[kind for kind, _ in FORGERIES])
async def test_only_its_own_checkpoints_are_extended(
    client: UnixEnclaveClient, ctx: EnclaveContext, kind: str, reason: str
) -> None:
    genuine = await checkpoint(client, [body(1), body(2)])
    forged = _forged_previous(ctx, genuine, kind)
    with pytest.raises(EnclaveCryptoFailed, match=reason):
        await checkpoint(client, [body(3)], previous=forged)
    assert (await checkpoint(client, [body(3)], previous=genuine)).result["seq"] == 3


@pytest.mark.parametrize(
    "bodies",
    [
        [body(2)],  # skips entry 1: a truncated or shifted log
        [body(1), body(1)],  # repeats one
        [body(1), body(3)],  # a gap
        ['{"seq":1,"seq":2}'],  # two seqs: parsers would disagree which is meant
        ['{"seq":"1"}'],
        ['{"seq":true}'],
        ["[1]"],
        ["not json"],
    ],
    ids=["skip", "repeat", "gap", "duplicate-key", "seq-string", "seq-bool", "not-object", "not-json"],
)
async def test_entries_must_follow_the_previous_checkpoint(
    client: UnixEnclaveClient, bodies: list[str]
) -> None:
    with pytest.raises(EnclaveCryptoFailed):
        await checkpoint(client, bodies)


async def test_a_lone_surrogate_in_an_entry_is_refused_not_a_crash(server: EnclaveServer) -> None:
    """JSON may escape a lone surrogate (``"\\ud800"``), which no UTF-8 entry body can hold."""
    request = {"v": 1, "id": 7, "op": CHECKPOINT.name, "args": {"entries": ["\ud800"]}}
    payload = json.dumps(request).encode()  # ASCII: the surrogate travels escaped
    reader, writer = await asyncio.open_unix_connection(server.path)
    try:
        writer.write(len(payload).to_bytes(4, "big") + payload)
        await writer.drain()
        frame = await asyncio.wait_for(read_frame(reader), 5.0)
        assert frame is not None
        response = json.loads(frame)
    finally:
        writer.close()
    assert response["error"]["code"] == "crypto_error"
    assert "not valid Unicode" in response["error"]["detail"]


async def test_a_previous_checkpoint_from_the_future_is_refused(
    client: UnixEnclaveClient, ctx: EnclaveContext
) -> None:
    """The times along a checkpoint chain never go backwards: a checkpoint signed while the clock was an
    hour ahead is not extended by a clock that was set back."""
    head = chained(GENESIS_HASH, [body(1)])
    ahead = CheckpointResult(
        seq=1,
        hash=head,
        time_ms=time.time_ns() // 1_000_000 + 3_600_000,
        prev_seq=0,
        prev_checkpoint=GENESIS_HASH,
    )
    previous = sign_result(
        ctx, CHECKPOINT.name, CheckpointArgs(entries=[body(1)]), ahead.model_dump(mode="json")
    )
    with pytest.raises(EnclaveCryptoFailed, match="clock is behind"):
        await checkpoint(client, [body(2)], previous=previous)


@pytest.mark.parametrize(
    "args",
    [
        {"entries": []},
        {"entries": [body(1)] * (MAX_CHECKPOINT_ENTRIES + 1)},
        {"entries": [body(1)], "account_id": "acc_01TENANT"},
        {"entries": [body(1)], "time_ms": 1},
    ],
    ids=["no-entries", "too-many", "tenant-account", "host-time"],
)
async def test_malformed_args_are_refused(client: UnixEnclaveClient, args: dict[str, Any]) -> None:
    raw = {"account_id": "nsl-audit", "previous": None} | args
    with pytest.raises(EnclaveRejected) as caught:
        # As a compromised host: raw args, which the host-side schema would not let through.
        await client._roundtrip(CHECKPOINT.name, raw)
    assert caught.value.enclave_code == "invalid_args"
