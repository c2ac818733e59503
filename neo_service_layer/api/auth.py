"""Authentication and rate limiting of every request (a FastAPI dependency).

Credentials: ``X-API-Key: nsl_…`` or ``Authorization: Bearer <nsl_… API key | JWT>``. A JWT is only as
good as the API key it was exchanged for: revoking that key, its expiry, or disabling the account ends
the token too (checked like a key, through the same short-lived cache). Refused credentials are
counted, logged and audited in aggregate (``api.auth_failures``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from neo_service_layer.api.auth_failures import API_KEY, JWT, NO_CREDENTIAL, failure_of
from neo_service_layer.api.ratelimit import Bucket
from neo_service_layer.api.state import AppState, app_state
from neo_service_layer.errors import RateLimited, Unauthenticated
from neo_service_layer.services.accounts.api_keys import KEY_PREFIX, authenticate_key, ensure_usable
from neo_service_layer.services.accounts.principal import Caller, Principal
from neo_service_layer.services.accounts.service import account_view

api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An NSL API key (nsl_…)")
bearer_scheme = HTTPBearer(auto_error=False, description="An operator JWT, or an API key")


async def _caller_of_key(state: AppState, plaintext: str) -> Caller:
    async def load() -> tuple[Caller, datetime | None]:
        async with state.db.session() as session:
            principal, expires_at = await authenticate_key(session, plaintext)
            return Caller(principal, await account_view(session, principal.account_id)), expires_at

    return await state.auth_cache.get_or_load(plaintext, load)


async def _caller_of_token(state: AppState, token: str) -> Caller:
    async def load() -> tuple[Caller, datetime | None]:
        principal, token_expires_at = state.signer.verify_with_expiry(token)
        async with state.db.session() as session:
            key_expires_at = await ensure_usable(session, principal.credential_id)
            caller = Caller(principal, await account_view(session, principal.account_id))
        return caller, token_expires_at if key_expires_at is None else min(token_expires_at, key_expires_at)

    return await state.auth_cache.get_or_load(token, load)


async def _enforce_rate_limits(state: AppState, principal: Principal) -> None:
    limits = state.settings.rate_limits
    # Both buckets in one call, both or neither taken (one Redis round trip).
    refusal = await state.limiter.acquire_all(
        [
            Bucket(f"key:{principal.credential_id}", limits.key_per_second, limits.key_burst),
            Bucket(f"account:{principal.account_id}", limits.account_per_second, limits.account_burst),
        ]
    )
    if refusal is not None:
        raise RateLimited(refusal.wait, "API key" if refusal.index == 0 else "account")


def client_address(request: Request) -> str:
    """The peer's address (uvicorn puts a trusted proxy's X-Forwarded-For there)."""
    return request.client.host if request.client is not None else "unknown"


async def authenticate(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """The caller, authenticated and within their rate limits. A refused credential is recorded
    (api.auth_failures) before the 401 goes out. Also sets ``request.state.account``: the caller's
    account as cached with the principal.

    The dependency form (:data:`CurrentPrincipal`); a declared requirement (``api.guards.Guard``) calls
    :func:`authenticate_request` instead, the same check without FastAPI solving three more dependencies
    per request."""
    state = app_state(request)
    credential, presented = NO_CREDENTIAL, api_key or (bearer.credentials if bearer is not None else None)
    try:
        if api_key:
            credential = API_KEY
            caller = await _caller_of_key(state, api_key)
        elif bearer is not None:
            token = bearer.credentials
            if token.startswith(f"{KEY_PREFIX}_"):
                credential = API_KEY
                caller = await _caller_of_key(state, token)
            else:
                credential = JWT
                caller = await _caller_of_token(state, token)
        else:
            raise Unauthenticated(
                "send an API key in X-API-Key or a bearer token in Authorization", reason="missing"
            )
    except Unauthenticated as exc:
        state.auth_failures.record(failure_of(exc, credential, presented, client_address(request)))
        raise
    principal = caller.principal
    # The unit of work hands the account to the route (api.context): read with the principal, no query.
    request.state.principal, request.state.account = principal, caller.account
    await _enforce_rate_limits(state, principal)
    return principal


#: The schemes :func:`authenticate` reads, in its order (also what the OpenAPI document declares for
#: every route with a requirement: ``api.openapi``).
SECURITY_SCHEMES = (api_key_scheme, bearer_scheme)


async def authenticate_request(request: Request) -> Principal:
    """:func:`authenticate` with the credentials read by the same scheme objects FastAPI would call."""
    return await authenticate(request, await api_key_scheme(request), await bearer_scheme(request))


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
