"""Operator bearer tokens (``/v1/auth``): exchange a credential for a short-lived JWT; the JWKS."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from neo_service_layer.api.guards import CredentialCtx
from neo_service_layer.api.routes import AUTHENTICATED
from neo_service_layer.api.routes.schemas import TokenIn, TokenOut
from neo_service_layer.api.state import app_state

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, name="auth.token", responses=AUTHENTICATED)
async def issue_token(body: TokenIn, ctx: CredentialCtx) -> TokenOut:
    """A JWT with the caller's own account, role and scopes (never more), valid for ``ttl_seconds``."""
    ttl = body.ttl_seconds or ctx.state.settings.jwt_ttl_seconds
    issued = ctx.state.signer.issue(ctx.principal, ttl)
    ctx.audit_details = {"ttl_seconds": ttl}
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in)


@router.get("/jwks", name="auth.jwks")
async def jwks(request: Request) -> dict[str, Any]:
    """The public key that verifies NSL bearer tokens (JWK Set, RFC 7517 / RFC 8037)."""
    return app_state(request).signer.jwks()
