"""First start of a data directory: migrate the database and create the system account if missing.

What ``nsl serve`` does before starting its children, and ``nsl devnet up`` before it creates the
platform's keys (they belong to the system account).
"""

from __future__ import annotations

from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap


async def ensure_system_account(settings: Settings) -> str | None:
    """Migrate the database of ``settings`` and bootstrap the system account if it does not exist.

    Returns the generated bootstrap admin key's plaintext when one was just issued (show it once), None
    when the account existed or the operator pinned the key (``NSL_BOOTSTRAP_ADMIN_KEY``).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    pinned = settings.bootstrap_admin_key.get_secret_value() if settings.bootstrap_admin_key else None
    try:
        await upgrade(db)
        async with db.transaction() as session:
            issued = await bootstrap(session, plaintext=pinned)
    finally:
        await db.dispose()
    return issued.plaintext if issued is not None and pinned is None else None
