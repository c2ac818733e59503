"""Oracle requests: what was asked (placeholders, never secret values), what each source gave, the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, utcnow


class OracleRequest(TenantOwned, Base):
    """One request and its signed answer.

    ``request`` is the signed params of ``oracle.fetch`` (sources with their ``{{secrets.NAME}}``
    placeholders, filter, aggregation, limits); ``code`` the N3 outcome by name; ``result`` the
    answer's bytes (the filter's JSON output, empty unless ``Success``); ``abi`` its ABI encoding when
    the request asked for a typed value; ``sources`` each source's
    report (host, code, HTTP status, filtered result, TLS leaf hash); ``envelope`` the enclave's
    signed result as ``oracle.fetch`` returned it.
    """

    __tablename__ = "oracle_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    result: Mapped[bytes] = mapped_column(LargeBinary)
    abi: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    detail: Mapped[str] = mapped_column(String(500))
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
