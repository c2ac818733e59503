"""Errors of the audit log (docs/audit.md). Codes are public API: clients switch on them, never renamed."""

from __future__ import annotations

from neo_service_layer.errors import Conflict, NSLError, ValidationFailed


class AuditCheckpointRefused(Conflict):
    """The enclave would not sign a checkpoint: the log does not extend its last one (docs/audit.md)."""

    code = "audit_checkpoint_refused"
    title = "The enclave refused to checkpoint the audit log"


class AuditCheckpointsInvalid(ValidationFailed):
    code = "audit_checkpoints_invalid"
    title = "Not a file of exported audit checkpoints"


class AuditWriteFailed(NSLError):
    """The batch holding this request's audit entry did not commit: the request must fail."""

    code = "audit_write_failed"
    status = 500
    title = "The audit entry could not be written"


class AuditWriterUnavailable(AuditWriteFailed):
    """The single audit writer of ``nsl api --workers N`` could not be reached, or did not answer in
    time: the entry is not known to be committed, so the request fails (and may be retried)."""

    code = "audit_writer_unavailable"
    status = 503
    title = "The audit writer is unavailable"
