"""Secrets (Vault KV v2 semantics), envelope-encrypted inside the enclave: a secret and its metadata.

This process never sees a value: writes carry a value sealed to the enclave's transport key, which the
enclave opens and encrypts under a fresh data key wrapped by the account master key; reads return the
value sealed to the reader's X25519 key (docs/secrets.md). What is stored here is ciphertext, the
wrapped data key and metadata.

One module per concern: this one finds a secret, lists its versions, changes its metadata (retention,
check-and-set) and deletes it; ``versions`` writes and reads values and deletes, undeletes and destroys
versions; ``grants`` lets functions and oracle requests use a secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.services.secrets.errors import SecretNotFound
from neo_service_layer.services.secrets.models import Secret, SecretGrant, SecretVersion


def list_statement() -> Select[Secret]:
    """The account's secrets (the session adds the account filter)."""
    return select(Secret)


async def find_secret(session: AsyncSession, name: str, *, lock: bool = False) -> Secret | None:
    """The secret ``name`` of the session's account, or None; ``lock`` takes its row (FOR UPDATE)."""
    statement = select(Secret).where(Secret.name == name).execution_options(populate_existing=True)
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get_secret(session: AsyncSession, name: str, *, lock: bool = False) -> Secret:
    """The secret ``name`` of the session's account, or SecretNotFound (also for other accounts')."""
    secret = await find_secret(session, name, lock=lock)
    if secret is None:
        raise SecretNotFound(f"secret {name} not found")
    return secret


async def versions_of(session: AsyncSession, secret: Secret) -> Sequence[SecretVersion]:
    """The secret's stored versions, oldest first (destroyed ones too: their metadata stays)."""
    return (
        (
            await session.execute(
                select(SecretVersion)
                .where(SecretVersion.secret_id == secret.id)
                .order_by(SecretVersion.version)
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )


async def prune(session: AsyncSession, secret: Secret) -> None:
    """Remove the versions older than the newest ``max_versions`` (ciphertext and data key with them)."""
    await session.execute(
        delete(SecretVersion)
        .where(
            SecretVersion.secret_id == secret.id,
            SecretVersion.version <= secret.current_version - secret.max_versions,
        )
        .execution_options(synchronize_session=False)
    )


async def update_metadata(
    session: AsyncSession, name: str, *, max_versions: int | None, cas_required: bool | None
) -> Secret:
    """Change retention (``max_versions``, pruning at once) or whether writes need check-and-set."""
    secret = await get_secret(session, name, lock=True)
    if max_versions is not None:
        secret.max_versions = max_versions
    if cas_required is not None:
        secret.cas_required = cas_required
    secret.updated_at = utcnow()
    await session.flush()
    await prune(session, secret)
    return secret


async def delete_secret(session: AsyncSession, name: str) -> Secret:
    """Remove the secret, every version (ciphertext and data keys) and its grants."""
    secret = await get_secret(session, name, lock=True)
    for model in (SecretVersion, SecretGrant):
        await session.execute(
            delete(model).where(model.secret_id == secret.id).execution_options(synchronize_session=False)
        )
    await session.delete(secret)
    await session.flush()
    return secret
