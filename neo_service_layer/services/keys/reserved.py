"""Reserved keys: the keys NSL itself uses (relayers), out of reach of every ``/v1/keys`` caller.

A key whose name starts with :data:`RESERVED_KEY_PREFIX` is reserved, in every account. Only code that
marks its session with :func:`allow_reserved` — the platform's own (``services.keys.platform``: the
fulfillers, ``nsl devnet``, ``nsl admin rotate-platform-key``) — may create, use, rotate or change one;
through the API every such call is refused with ``key_reserved`` (403), whoever asks: a system-account
credential with ``keys:write`` cannot sign with the relayer key, make it exportable, back it up, disable,
rotate or delete it, nor create a key under a reserved name before the platform does (which would let it
choose the relayer's policy). Reading its metadata and public key stays allowed: operators need the
relayer's address to fund it.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.services.keys.errors import KeyReserved

RESERVED_KEY_PREFIX: Final = "platform-"
# session.info flag: this session is the platform's own and may reach reserved keys.
_PLATFORM_SESSION: Final = "nsl.reserved_keys_allowed"


def is_reserved(name: str) -> bool:
    """Whether a key of this name is reserved for the platform."""
    return name.startswith(RESERVED_KEY_PREFIX)


def allow_reserved(session: AsyncSession) -> AsyncSession:
    """Mark ``session`` as the platform's own (never done for an API request's session)."""
    session.info[_PLATFORM_SESSION] = True
    return session


def require_reachable(session: AsyncSession, name: str, key_id: str | None = None) -> None:
    """Refuse a reserved key (or key name) unless ``session`` is the platform's own."""
    if is_reserved(name) and not session.info.get(_PLATFORM_SESSION, False):
        raise KeyReserved(
            f"key {key_id or name!r} is reserved for the platform: it cannot be created, used or changed "
            "through the keys API (nsl admin rotate-platform-key rotates it)",
            **({"key_id": key_id} if key_id else {"name": name}),
        )
