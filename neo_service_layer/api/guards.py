"""What a route declares at its definition instead of writing it in its body.

- Who may call it: ``ctx: Annotated[RequestContext, Requires("keys", WRITE)]``, or :data:`AdminCtx`
  (platform operators), or :data:`CredentialCtx` (any valid credential). The dependency enters the
  request's unit of work (``api.context``) and checks the caller first, before the request's body and
  parameters are validated, so a refusal is audited like any other failure and never reaches the
  route. Every authenticated route takes exactly one; ``tests/api/test_route_access.py`` reads them
  from ``app.routes`` and compares them with its table of who may call what.
- ``@idempotent()``: the ``Idempotency-Key`` header (``api.idempotency``): a stored response is
  replayed before the route's function runs, and its result is stored with the route's writes.
- ``@audited(details)``: the audit entry's details as a function of the route's result (public values
  only). Details that come from the request rather than the result are set on ``ctx.audit_details``.

Both decorators go below the router's (``@router.post(...)`` first); ``@audited`` goes below
``@idempotent``, so that it sees the result before it becomes the stored response.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from neo_service_layer.api.auth import authenticate_request
from neo_service_layer.api.context import RequestContext, unit_of_work
from neo_service_layer.api.idempotency import Idempotency, IdempotencyDep
from neo_service_layer.services.accounts.principal import (
    ANY_CREDENTIAL,
    PLATFORM_ADMIN,
    Requirement,
)

#: What ``@audited`` records of a route's result (public values only).
type AuditDetails[R] = Callable[[R], Mapping[str, object]]
# The parameter the idempotent wrapper adds to the route's signature (FastAPI fills it from the header).
IDEMPOTENCY_PARAM = "idempotency"
_IDEMPOTENT = "__nsl_idempotent__"


@dataclass(frozen=True, slots=True)
class Guard:
    """The dependency behind a declared requirement: authentication (with the rate limits), then the unit
    of work, entered once the caller meets it.

    One dependency, not three more below it (``authenticate`` and its two security schemes): FastAPI
    solves each per request, and those three cost ~23 µs of CPU per request (docs/performance.md); the
    OpenAPI document still declares the schemes (``api.openapi``). Frozen, so FastAPI can cache it per
    request, and readable from ``route.dependant``.
    """

    requirement: Requirement

    async def __call__(self, request: Request) -> AsyncIterator[RequestContext]:
        principal = await authenticate_request(request)
        async with unit_of_work(request, principal, self.requirement) as ctx:
            yield ctx


def Requires(service: str, action: str) -> Any:  # noqa: N802 - a declaration, read like FastAPI's Depends
    """``ctx: Annotated[RequestContext, Requires(service, action)]``: the caller's role must allow
    ``action`` on ``service`` and its scopes include it (``services.accounts.scopes``)."""
    return Depends(Guard(Requirement(service, action)), scope="function")


AdminCtx = Annotated[RequestContext, Depends(Guard(PLATFORM_ADMIN), scope="function")]
CredentialCtx = Annotated[RequestContext, Depends(Guard(ANY_CREDENTIAL), scope="function")]


def _signature(endpoint: Callable[..., Any]) -> inspect.Signature:
    """The endpoint's signature with its annotations resolved; it must take the request's ``ctx``."""
    signature = inspect.signature(endpoint, eval_str=True)
    if "ctx" not in signature.parameters:
        raise TypeError(f"{endpoint.__qualname__} needs a ctx parameter (its declared requirement)")
    return signature


def idempotent[M: BaseModel](
    *, never_store: frozenset[str] = frozenset()
) -> Callable[[Callable[..., Awaitable[M]]], Callable[..., Awaitable[M | JSONResponse]]]:
    """Make a POST (or PUT) safe to retry with ``Idempotency-Key``: the same key and body replay the first
    response (without the ``never_store`` fields, values shown once), another body is a 409.

    The response's status is ``ctx.status_code``: the route's, unless the function changes it.
    """

    def decorate(endpoint: Callable[..., Awaitable[M]]) -> Callable[..., Awaitable[M | JSONResponse]]:
        signature = _signature(endpoint)
        if IDEMPOTENCY_PARAM in signature.parameters:
            raise TypeError(f"{endpoint.__qualname__}: the parameter name {IDEMPOTENCY_PARAM!r} is taken")

        @functools.wraps(endpoint)
        async def replay_or_respond(*args: Any, **kwargs: Any) -> M | JSONResponse:
            idem: Idempotency = kwargs.pop(IDEMPOTENCY_PARAM)
            ctx: RequestContext = kwargs["ctx"]
            if (replay := await idem.replay(ctx)) is not None:
                return replay
            result = await endpoint(*args, **kwargs)
            return await idem.respond(ctx, ctx.status_code, result, never_store=never_store)

        header = inspect.Parameter(
            IDEMPOTENCY_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=IdempotencyDep
        )
        # FastAPI reads the parameters from __signature__: the route's own, and the header's dependency.
        replay_or_respond.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), header]
        )
        setattr(replay_or_respond, _IDEMPOTENT, True)
        return replay_or_respond

    return decorate


def audited[**P, R](
    details: AuditDetails[R],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Record ``details(result)`` in the request's audit entry when the route succeeds (a failure's entry
    has the error code instead)."""

    def decorate(endpoint: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        _signature(endpoint)
        if getattr(endpoint, _IDEMPOTENT, False):
            raise TypeError(f"{endpoint.__qualname__}: put @audited below @idempotent, next to the function")

        @functools.wraps(endpoint)
        async def audit(*args: P.args, **kwargs: P.kwargs) -> R:
            result = await endpoint(*args, **kwargs)
            ctx = kwargs["ctx"]
            assert isinstance(ctx, RequestContext)
            ctx.audit_details = dict(details(result))
            return result

        return audit

    return decorate
