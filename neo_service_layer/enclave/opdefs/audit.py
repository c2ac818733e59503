"""The audit log's enclave op ``audit.checkpoint`` (handler: ``handlers/audit.py``, docs/audit.md).

A checkpoint is a signed statement of the enclave: "the audit chain, extending my previous checkpoint
``prev_checkpoint`` (which covered ``prev_seq`` entries), has ``seq`` entries and head ``hash``, as of my
clock at ``time_ms``". The args carry the previous checkpoint as the enclave signed it and the canonical
bodies of the entries after it; neither is part of the signed request (``UNSIGNED``): the result states
everything that matters, so the signed request is the same constant for every checkpoint and anyone can
check one with ``client.verify_result(envelope, identity, request=CHECKPOINT_REQUEST)``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.opdefs.base import SignedOp
from neo_service_layer.enclave.schemas import UNSIGNED, EnclaveModel, Hex32, SignedArgs, SignedResult

CHECKPOINT_FORMAT: Final = "nsl-audit-checkpoint-v1"
# The audit log is the platform's, not a tenant's; account ids are ``acc_…``, so this label is no account.
CHECKPOINT_ACCOUNT_ID: Final = "nsl-audit"
#: ``prev_checkpoint`` of the first checkpoint, and the chain hash before entry 1 (``services/audit/chain``).
GENESIS_HASH: Final = "0" * 64
#: Entries one call may carry; the host splits a longer stretch into several checkpoints.
MAX_CHECKPOINT_ENTRIES: Final = 4096

Seq = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]


class CheckpointResult(EnclaveModel):
    """The signed result: the chain's head at ``seq`` and the checkpoint it extends."""

    format: Literal["nsl-audit-checkpoint-v1"] = CHECKPOINT_FORMAT
    seq: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    hash: Hex32  # the chain hash of entry ``seq``
    time_ms: Seq  # the enclave's clock (Unix milliseconds), never a host-supplied time
    prev_seq: Seq  # 0 for the first checkpoint
    prev_checkpoint: Hex32  # the previous checkpoint's result_hash; GENESIS_HASH for the first


class CheckpointArgs(SignedArgs):
    """Extend ``previous`` (None: start at the genesis) by ``entries``, the canonical bodies of the next
    entries of the log in order (``services.audit.chain.entry_body``)."""

    account_id: Literal["nsl-audit"] = CHECKPOINT_ACCOUNT_ID
    previous: Annotated[SignedResult | None, UNSIGNED] = None
    entries: Annotated[list[str], UNSIGNED, Field(min_length=1, max_length=MAX_CHECKPOINT_ENTRIES)]


CHECKPOINT: Final = SignedOp("audit.checkpoint", CheckpointArgs, CheckpointResult)
#: The signed request of every checkpoint (``client.verify_result``'s ``request``).
CHECKPOINT_REQUEST: Final[dict[str, Any]] = {
    "op": CHECKPOINT.name,
    "account_id": CHECKPOINT_ACCOUNT_ID,
    "params": {},
}
