"""Randomness requests: every proved output is recorded before it is returned, and never re-rolled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, enum_column, utcnow
from neo_service_layer.enclave.crypto.randomness import OutputKind
from neo_service_layer.enclave.crypto.vrf import Scheme


class RandomnessRequest(TenantOwned, Base):
    """One request and its result: seed, enclave nonce, output spec, proof, β, output and signed envelope.

    ``range_min`` / ``range_max`` are decimal strings (int256 does not fit a database integer);
    ``output`` is ``{"words": [decimal, ...]}`` or ``{"bytes": hex}``; ``envelope`` is the enclave's
    signed result as ``randomness.prove`` returned it. ``key_id`` is not a foreign key: the record
    outlives a deleted key, as the audit log does.
    """

    __tablename__ = "randomness_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40))
    key_version: Mapped[int] = mapped_column(Integer)
    scheme: Mapped[Scheme] = mapped_column(enum_column(Scheme, 40))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    seed: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    output_kind: Mapped[OutputKind] = mapped_column(enum_column(OutputKind, 10))
    output_count: Mapped[int] = mapped_column(Integer)
    range_min: Mapped[str | None] = mapped_column(String(80), nullable=True)
    range_max: Mapped[str | None] = mapped_column(String(80), nullable=True)
    alpha: Mapped[bytes] = mapped_column(LargeBinary)
    proof: Mapped[bytes] = mapped_column(LargeBinary)
    beta: Mapped[bytes] = mapped_column(LargeBinary)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    batch_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
