"""Keys of the keys service: a versioned policy per key and one wrapped private material per version."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, enum_column, utcnow
from neo_service_layer.enclave.crypto.keytypes import KeyType


class KeyState(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_DELETION = "pending_deletion"


class Key(TenantOwned, Base):
    """A key's policy (OpenBao transit's "key policy"): versions, limits, allowed operations."""

    __tablename__ = "keys"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_keys_account_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[KeyType] = mapped_column(enum_column(KeyType, 20))
    state: Mapped[KeyState] = mapped_column(enum_column(KeyState, 20), default=KeyState.ENABLED)
    latest_version: Mapped[int] = mapped_column(Integer)
    min_decryption_version: Mapped[int] = mapped_column(Integer, default=1)
    min_encryption_version: Mapped[int] = mapped_column(Integer, default=0)
    exportable: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_operations: Mapped[list[str]] = mapped_column(JSON)
    deletion_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KeyVersion(TenantOwned, Base):
    """One version of a key: private material wrapped by the account master key, and its public key."""

    __tablename__ = "key_versions"
    __table_args__ = (UniqueConstraint("key_id", "version", name="uq_key_versions_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(40), ForeignKey("keys.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    wrapped_material: Mapped[bytes] = mapped_column(LargeBinary)
    amk_version: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
