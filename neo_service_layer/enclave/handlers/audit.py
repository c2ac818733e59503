"""Audit log op: ``audit.checkpoint`` signs the head of the hash-chained audit log (docs/audit.md).

The enclave keeps no database, so it cannot remember the log; what it can do is refuse to sign a head
that does not follow from a head it signed before. The host hands in the previous checkpoint, as this
enclave signed it, and the canonical bodies of the entries after it; the op

1. checks that the previous checkpoint is its own: the identity's two signatures over the constant
   checkpoint request and the recomputed result hash (docs/enclave.md §3), so a host cannot start from
   a head it made up;
2. recomputes the chain from that head over the bodies (``hash_n = SHA-256(hash_{n-1} ‖ body_n)``, the
   construction of ``services/audit/chain.py``), checking that each body is the next entry: a strict
   JSON object whose ``seq`` is the previous one plus one;
3. signs ``{seq, hash, time_ms, prev_seq, prev_checkpoint}`` with the time of its own clock, refusing
   if that clock is behind the previous checkpoint's time, so the times along the checkpoint chain never
   go backwards.

So every checkpoint chain this enclave signed is an append-only history of one log: a checkpoint proves
that the log, as of ``time_ms``, extended every checkpoint before it on its chain. What it cannot prove
is that the entries it was shown are the ones the API wrote, nor that no other chain was started from
the genesis (the enclave is stateless): docs/audit.md says how exported checkpoints catch
that. A rerun of the op (a client retry) signs the same head again with a later time: harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.canonical import CanonicalJSONError, request_hash, result_hash
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.audit import (
    CHECKPOINT,
    CHECKPOINT_ACCOUNT_ID,
    GENESIS_HASH,
    CheckpointArgs,
    CheckpointResult,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import BadFrame, CryptoFailure, decode_message
from neo_service_layer.enclave.schemas import SignedResult

registry = OpRegistry()


@registry.handler(CHECKPOINT)
async def checkpoint(ctx: EnclaveContext, args: CheckpointArgs) -> CheckpointResult:
    """The signed head of the log after ``args.entries`` (module docs)."""
    if args.previous is None:
        prev_seq, head, prev_checkpoint, prev_time = 0, GENESIS_HASH, GENESIS_HASH, 0
    else:
        previous = own_checkpoint(ctx, args.previous)
        prev_seq, head, prev_time = previous.seq, previous.hash, previous.time_ms
        prev_checkpoint = args.previous.result_hash
    seq = prev_seq
    for index, body in enumerate(args.entries):
        seq += 1
        try:
            data = body.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: no entry the host wrote has one
            raise CryptoFailure(f"entries[{index}] is not valid Unicode") from exc
        if entry_seq(data) != seq:
            raise CryptoFailure(f"entries[{index}] is not entry {seq} of the log")
        head = hashlib.sha256(bytes.fromhex(head) + data).hexdigest()
    now = time.time_ns() // 1_000_000
    if now < prev_time:
        raise CryptoFailure("the enclave clock is behind the previous checkpoint's time")
    return CheckpointResult(
        seq=seq, hash=head, time_ms=now, prev_seq=prev_seq, prev_checkpoint=prev_checkpoint
    )


def own_checkpoint(ctx: EnclaveContext, signed: SignedResult) -> CheckpointResult:
    """The checkpoint in ``signed`` if this identity signed it as a checkpoint; CryptoFailure if not."""
    try:
        expected_request = request_hash(CHECKPOINT.name, CHECKPOINT_ACCOUNT_ID, {})
        computed_result = result_hash(signed.result)
    except CanonicalJSONError as exc:
        raise CryptoFailure("the previous checkpoint is not canonical JSON") from exc
    if not (
        hmac.compare_digest(signed.request_hash, expected_request.hex())
        and hmac.compare_digest(signed.result_hash, computed_result.hex())
    ):
        raise CryptoFailure("the previous checkpoint's hashes do not match a checkpoint request and result")
    preimage = signing.result_preimage(expected_request, computed_result)
    public = ctx.identity.public
    if not signing.p256_verify(public.p256, preimage, bytes.fromhex(signed.signatures.p256)):
        raise CryptoFailure("the previous checkpoint is not signed by this enclave")
    try:
        recovered = signing.k1_recover(preimage, bytes.fromhex(signed.signatures.k1))
    except ValueError as exc:
        raise CryptoFailure("the previous checkpoint's secp256k1 signature is malformed") from exc
    if recovered != public.k1:
        raise CryptoFailure("the previous checkpoint is not signed by this enclave")
    # Its result was signed as a CheckpointResult by this code, so it parses; a failure is a bug (internal).
    return CheckpointResult.model_validate(signed.result)


def entry_seq(body: bytes) -> int | None:
    """The ``seq`` of an entry body: a strict JSON object (no duplicate keys) with an integer ``seq``."""
    try:
        entry = decode_message(body)
    except BadFrame:
        return None
    seq = entry.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
