"""Functions, their versions and their runs (docs/functions.md).

Tenant data (:class:`TenantOwned`): another account's function or run is not found.

- ``functions``: one row per deployed function: its current version, limits, fetch allow-list, the
  names of the secrets it uses and the JSON Schema of its args. Deleting sets ``deleted_at`` and clears
  ``live_name`` (the unique column), so the name can be deployed again while the runs stay readable;
- ``function_versions``: every source a function had, immutable, with its SHA-256 (what runs sign);
- ``function_runs``: one per run, written ``queued``/``running`` before the enclave is called and settled
  with the enclave's signed result (``envelope``: ``client.verify_function_result`` checks it offline).
  A run a contract asked for through a gateway has ``trigger`` ``chain`` and names its request in
  ``chain_request`` (unique: one run per request however often the fulfiller retries).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, utcnow

#: How a run was asked for (``function_runs.trigger``).
API_TRIGGER: Final = "api"
CHAIN_TRIGGER: Final = "chain"


class Function(TenantOwned, Base):
    """A deployed function and the settings every run of it uses."""

    __tablename__ = "functions"
    __table_args__ = (UniqueConstraint("account_id", "live_name", name="uq_functions_account_live_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: ``name`` while the function lives, NULL once deleted (NULLs never collide in a unique constraint).
    live_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    #: ``RunLimits.to_wire()``: every limit, defaults filled in.
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON)
    #: Names of the account's secrets the function reads; each must be granted to it.
    secrets: Mapped[list[str]] = mapped_column(JSON)
    args_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: ``consumer_key``s of the contracts that may call the function through the gateways (none: no one).
    onchain_consumers: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FunctionVersion(TenantOwned, Base):
    """One version's source (never changed once written)."""

    __tablename__ = "function_versions"

    function_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FunctionRun(TenantOwned, Base):
    """One run: what it was given, how it ended and the enclave's signed result."""

    __tablename__ = "function_runs"
    __table_args__ = (UniqueConstraint("chain_request", name="uq_function_runs_chain_request"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    function_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("functions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    #: ``queued`` (async, not started), ``running``, then a ``RunStatus``.
    status: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    #: ``api`` (``POST /v1/functions/{id}/runs``) or ``chain`` (a contract, through a gateway).
    trigger: Mapped[str] = mapped_column(String(8), default=API_TRIGGER, server_default=API_TRIGGER)
    #: The gateway request a ``chain`` run serves (``evm:<chain id>:<request id hex>`` /
    #: ``n3:<magic>:<gateway>:<request id>``); NULL for ``api`` runs.
    chain_request: Mapped[str | None] = mapped_column(String(200), nullable=True)
    args: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The returned value as JSON text (``succeeded`` only).
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``{"name", "message", "stack"}`` of a JavaScript error.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    logs: Mapped[str] = mapped_column(Text, default="")
    logs_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    fetches: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    memory_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
