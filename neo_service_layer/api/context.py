"""The unit of work of an authenticated request: principal, database session, audit entry.

Every authenticated route enters one through the requirement it declares (``api.guards``): a session
scoped to the caller's account (see ``db.session``), or unscoped for platform operators. The caller is
checked against the requirement first, inside the unit of work, so a refusal is audited like any other
failure. The route's writes and the request's audit entry commit in one transaction before the
response is sent; if the route fails, its writes roll back and a failure entry is audited instead.
Reads are audited too, as in Vault: who read what is often what an investigation needs.

The session is opened when the route first uses ``ctx.session`` (most reads of a cached account or
principal need none), and its transaction begins at its first statement: a route that touches no
table pays no session, BEGIN or COMMIT.

An entry with no change to commit with (a route that never used its session, a GET or HEAD that wrote
nothing, or any failure, whose changes were rolled back) goes to the process's group-commit writer
(``services/audit/writer``):
the request still waits until its entry is committed and fails if it is not, but the entries of
concurrent requests share one transaction. A GET that does write (noticed by ``db.session.wrote``)
appends in its own transaction, like any other method. (POSTs that change nothing, such as a
signature, could share batches too; at concurrency 1 that costs a second transaction, so they
keep the single-transaction path — measured with bench/keys.py.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.api.problems import as_nsl_error
from neo_service_layer.api.state import AppState, app_state
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import wrote
from neo_service_layer.errors import Conflict
from neo_service_layer.services.accounts.principal import AccountView, Principal, Requirement
from neo_service_layer.services.audit.chain import AuditEvent, append_batch

# audit_log.resource is 500 characters; PostgreSQL refuses longer values and NUL bytes in text.
MAX_RESOURCE_LENGTH = 500
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# Safe methods (RFC 9110, section 9.2.1): their session begins as a read (db.session, for_read).
READ_METHODS = frozenset({"GET", "HEAD"})
# What makes Starlette's ``request.url.path`` differ from the scope's path (``request_path``).
_URL_CHANGES = re.compile(r"[?#\\\t\r\n]")


@dataclass(slots=True)
class RequestContext:
    """What a route needs: who calls (and their account, as cached with the principal for the auth-cache
    TTL), a session in a transaction, and what to audit."""

    principal: Principal
    account: AccountView
    request_id: str
    state: AppState
    action: str
    resource: str
    status_code: int
    # Opens the request's session (scoped as its requirement says), on the first use of ``session``.
    open_session: Callable[[], AsyncSession]
    audit_details: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.SUCCESS
    opened: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The request's session, opened on first use; its transaction begins at its first statement
        (SQLAlchemy's autobegin) and the unit of work commits it with the audit entry."""
        if self.opened is None:
            self.opened = self.open_session()
        return self.opened

    def event(self, outcome: Outcome, status_code: int, details: dict[str, Any]) -> AuditEvent:
        return AuditEvent(
            actor=self.principal.actor,
            action=self.action,
            resource=self.resource,
            outcome=outcome,
            status_code=status_code,
            request_id=self.request_id,
            account_id=self.principal.account_id,
            details=details,
        )


def audit_resource(path: str) -> str:
    """The request path as the audit log keeps it: percent-encoded (no control bytes), bounded."""
    return quote(path, safe=_PATH_SAFE)[:MAX_RESOURCE_LENGTH]


def request_path(request: Request) -> str:
    """``request.url.path``, without building the URL (~7 µs a request) for the paths where it is the
    scope's path as it stands: every path without a character Starlette's URL escapes (``?``, ``#``,
    ``\\``) or ``urlsplit`` drops (tab, CR, LF), and not starting with ``//``."""
    path: str = request.scope["path"]
    if _URL_CHANGES.search(path) is None and not path.startswith("//"):
        return path
    return request.url.path


def _route_status(request: Request) -> int:
    return int(getattr(request.scope.get("route"), "status_code", None) or 200)


@asynccontextmanager
async def unit_of_work(
    request: Request, principal: Principal, requirement: Requirement
) -> AsyncIterator[RequestContext]:
    """The request's context once ``principal`` meets ``requirement``; commits or audits the failure."""
    state = app_state(request)
    route = request.scope.get("route")
    reading = request.method in READ_METHODS
    ctx = RequestContext(
        principal=principal,
        account=request.state.account,
        request_id=request.state.request_id,
        state=state,
        action=str(name) if (name := getattr(route, "name", None)) is not None else request_path(request),
        resource=audit_resource(request_path(request)),
        status_code=_route_status(request),
        # Platform operators act across accounts: their session is not scoped to their own.
        open_session=partial(
            state.db.session, None if requirement.platform else principal.account_id, for_read=reading
        ),
    )
    try:
        requirement.check(principal)
        try:
            yield ctx
            event = ctx.event(ctx.outcome, ctx.status_code, ctx.audit_details)
            session = ctx.opened
            if session is not None and not (reading and not wrote(session)):
                # A change and its audit entry commit together, or neither does.
                await append_batch(session, [event])
                await session.commit()
            else:
                if session is not None:
                    # The read transaction ends and gives its connection back (SQLite has one per
                    # process, which the writer needs).
                    await session.commit()
                # The response waits for the entry's commit.
                await state.audit.append(event)
        except IntegrityError as exc:
            raise Conflict("a concurrent request changed the same resource; retry") from exc
    except Exception as exc:
        error = as_nsl_error(exc)
        await _audit_failure(
            ctx, Outcome.DENIED if error.status < 500 else Outcome.ERROR, error.status, error.code
        )
        raise
    finally:
        if ctx.opened is not None:
            await ctx.opened.close()


async def _audit_failure(ctx: RequestContext, outcome: Outcome, status: int, code: str) -> None:
    # The route's changes are rolled back first: the entry has nothing to commit with, so it goes
    # through the group-commit writer (and the connection is free for it, see above).
    if ctx.opened is not None:
        await ctx.opened.rollback()
    await ctx.state.audit.append(ctx.event(outcome, status, {**ctx.audit_details, "code": code}))
