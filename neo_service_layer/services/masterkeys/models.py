"""Account master keys (AMK): one AES-256 key per account and version, sealed by the enclave.

The host stores only the sealed blob; the enclave opens it when a request hands it back. Key
versions and secret data keys are wrapped under an AMK version (see docs/enclave.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, utcnow


class AccountMasterKey(TenantOwned, Base):
    __tablename__ = "account_master_keys"
    __table_args__ = (UniqueConstraint("account_id", "version", name="uq_account_master_keys_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
