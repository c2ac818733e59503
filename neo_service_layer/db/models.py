"""ORM models of the platform foundation: accounts, members, API keys, audit log, idempotency, jobs, locks.

Service packages keep their own models in ``services/<name>/models.py`` on the same ``Base``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, enum_column, utcnow


class Role(enum.StrEnum):
    """Roles, most powerful first. ``admin`` (platform operator) exists only in the system account."""

    ADMIN = "admin"
    OWNER = "owner"
    DEVELOPER = "developer"
    VIEWER = "viewer"


class Account(Base):
    """A tenant. Every tenant-owned row carries its ``id`` as ``account_id``."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(TenantOwned, Base):
    """A person in an account, with a role."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("account_id", "email", name="uq_members_account_email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(enum_column(Role, 20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(TenantOwned, Base):
    """An API key. Only the SHA-256 of the secret part is stored; the prefix stays visible."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    role: Mapped[Role] = mapped_column(enum_column(Role, 20))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))


class Outcome(enum.StrEnum):
    """How a request ended, as recorded in the audit log."""

    SUCCESS = "success"
    DENIED = "denied"  # a 4xx: refused, invalid or not found
    ERROR = "error"  # a 5xx
    REPLAYED = "replayed"  # an idempotent replay of an earlier success


class AuditEntry(Base):
    """One append-only, hash-chained audit record (see ``services/audit``).

    Not ``TenantOwned``: platform events (failed logins, admin actions) have no account, and
    the chain spans all accounts. Reads for a tenant filter on ``account_id`` explicitly.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, 20))
    status_code: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last sequence number and hash of the chain; lets ``audit verify`` notice a deleted tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A checkpoint of the audit chain signed by the enclave (``services/audit/checkpoints.py``).

    ``envelope`` is the signed result as the enclave returned it, the only column verification trusts;
    the others repeat its fields for queries. Append-only like the log. ``prev_checkpoint`` is unique:
    two writers extending the same checkpoint at once cannot both commit, so the stored checkpoints
    form one chain.
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    checkpoint_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prev_checkpoint: Mapped[str] = mapped_column(String(64), unique=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnchorStatus(enum.StrEnum):
    """Where an anchor transaction stands: recorded and broadcast, or mined."""

    SENT = "sent"
    CONFIRMED = "confirmed"


class AuditAnchor(Base):
    """A checkpoint's hash published on a chain (``services/audit/anchors.py``): the signed transaction is
    recorded before it is broadcast, then confirmed with its block. The chain, not this row, is what
    verification trusts; the row only says what was sent."""

    __tablename__ = "audit_anchors"

    checkpoint_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    chain: Mapped[str] = mapped_column(String(64))
    anchorer: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[AnchorStatus] = mapped_column(enum_column(AnchorStatus, 16))
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyRecord(TenantOwned, Base):
    """The stored response of a POST sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_idempotency_account_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class JobStatus(enum.StrEnum):
    """Where a job stands in the queue (``worker/queue.py``)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class Job(Base):
    """A unit of background work. Claimed with a lease; a crashed worker's lease expires."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus, 20), index=True, default=JobStatus.QUEUED
    )
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The stable code of the last failure (``PermanentJobError.code``, an NSLError's code, ``lease_expired``
    #: or ``unexpected_error``): what an operator or a dashboard groups dead jobs by.
    last_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Lease(Base):
    """A named lock held until ``expires_at`` (scheduler leadership and other singletons)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
