"""Resource ids: one format for the API, the services, the database and the enclave.

An id is ``<prefix>_<ULID>`` (https://github.com/ulid/spec): a prefix naming the kind of resource
(:class:`IdPrefix`), then a 48-bit millisecond timestamp and 80 random bits as 26 characters of
Crockford base32. Ids made later sort later (to the millisecond), which is what cursor pagination
orders by.

What is accepted (:data:`ID_PATTERN`, :data:`ResourceId`) is wider than what :func:`new_id` makes: any
2-8 lowercase letters, ``_``, then 1-40 letters and digits. Path parameters, request bodies and enclave
op arguments are refused unless they match, before they reach SQL or a key context; an id never
holds a colon, which separates id and version in the enclave's contexts (``<key id>:<version>``).

Shared with the enclave process (``enclave/measurement.py`` ``SHARED_MODULES``): imports nothing from
the package.
"""

from __future__ import annotations

import enum
import os
import time
from typing import Annotated, Final

from pydantic import StringConstraints


class IdPrefix(enum.StrEnum):
    """The prefix of every kind of id the platform makes; a new kind of resource adds its own here."""

    ACCOUNT = "acc"
    MEMBER = "mem"
    KEY = "key"
    # API keys have always shared the keys service's prefix; their ids already stored keep that form.
    API_KEY = "key"
    SECRET = "sec"  # noqa: S105 - an id prefix
    RANDOMNESS_REQUEST = "rnd"
    RANDOMNESS_BATCH = "rnb"
    ORACLE_REQUEST = "orq"
    PRICE_FEED = "pfd"
    FUNCTION = "fn"
    FUNCTION_RUN = "fnr"
    JOB = "job"


ID_PATTERN: Final = r"^[a-z]{2,8}_[0-9A-Za-z]{1,40}$"
#: The longest id :data:`ID_PATTERN` accepts: an 8-letter prefix, ``_`` and 40 characters.
ID_MAX_LENGTH: Final = 8 + 1 + 40
#: A resource id, as path parameters, bodies and enclave op arguments take it.
ResourceId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]

# The account an enclave op acts for: a tenant's id (``acc_<ULID>``) or one of the platform's own
# signing scopes that is no row of ``accounts`` (``nsl-audit``, the account of the audit checkpoints,
# enclave/opdefs/audit.py) - hence wider than ID_PATTERN. Never a colon: AMKs are sealed under the
# context ``<account id>:<version>`` (enclave/context.py).
ACCOUNT_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: IdPrefix) -> str:
    """A new id: ``<prefix>_`` + ULID (48-bit ms timestamp, 80 random bits, Crockford base32)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_ulid(value)}"


def id_floor(prefix: IdPrefix, unix_ms: int) -> str:
    """The smallest id :func:`new_id` makes at ``unix_ms`` (ms since the epoch) or later: every id of
    ``prefix`` made before sorts below it (a range of a primary key by time)."""
    return f"{prefix}_{_ulid(unix_ms << 80)}"


def _ulid(value: int) -> str:
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))
