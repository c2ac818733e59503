"""Secrets: versioned values, each encrypted under its own data key wrapped by the account master key."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, TenantOwned, UTCDateTime, enum_column, utcnow


class Secret(TenantOwned, Base):
    """A secret's metadata (Vault KV v2's "metadata"): versions kept, check-and-set policy."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_secrets_account_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    max_versions: Mapped[int] = mapped_column(Integer)
    cas_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SecretVersion(TenantOwned, Base):
    """One value: ciphertext under a fresh data key, the data key wrapped by an AMK version."""

    __tablename__ = "secret_versions"
    __table_args__ = (UniqueConstraint("secret_id", "version", name="uq_secret_versions_secret_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("secrets.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    amk_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    destroyed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The hosts the writer sealed with the value (bound into the ciphertext; None: none, or written
    # before hosts existed). Public: the enclave checks them, the host only keeps them.
    allowed_hosts: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class GranteeKind(enum.StrEnum):
    """What a secret can be granted to."""

    FUNCTION = "function"
    ORACLE = "oracle"


class SecretGrant(TenantOwned, Base):
    """Lets a function or an oracle request of the same account use a secret by name."""

    __tablename__ = "secret_grants"
    __table_args__ = (
        UniqueConstraint("secret_id", "grantee_kind", "grantee", name="uq_secret_grants_grantee"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("secrets.id", ondelete="CASCADE"), index=True
    )
    grantee_kind: Mapped[GranteeKind] = mapped_column(enum_column(GranteeKind, 20))
    grantee: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
