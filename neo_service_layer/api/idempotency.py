"""``Idempotency-Key`` on POSTs that create or spend (IETF draft-ietf-httpapi-idempotency-key-header).

The stored response is written in the same transaction as the route's change, so a request either
happened once and is remembered, or did not happen at all. Same key + same body replays the stored
response (with ``Idempotent-Replayed: true``); same key + another body is a 409. Values that are
shown only once (an API key's secret) are never stored: a replay returns them as null.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, select

from neo_service_layer.api.context import RequestContext
from neo_service_layer.constants import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import IdempotencyRecord, Outcome
from neo_service_layer.errors import IdempotencyKeyReused, ValidationFailed

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Idempotency:
    """The request's idempotency key (may be absent) and the fingerprint of what was asked."""

    key: str | None
    fingerprint: str

    def _of_caller(self, ctx: RequestContext) -> tuple[ColumnElement[bool], ...]:
        # Keys are per account. Explicit, because admin routes run in an unscoped session.
        return (
            IdempotencyRecord.account_id == ctx.principal.account_id,
            IdempotencyRecord.key == self.key,
        )

    async def replay(self, ctx: RequestContext) -> JSONResponse | None:
        """The stored response for this key, or None if the request is new."""
        if self.key is None:
            return None
        record = (
            await ctx.session.execute(
                select(IdempotencyRecord).where(
                    *self._of_caller(ctx), IdempotencyRecord.expires_at > utcnow()
                )
            )
        ).scalar_one_or_none()
        if record is None:
            return None
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(f"Idempotency-Key {self.key!r} was used with a different request")
        ctx.outcome = Outcome.REPLAYED
        ctx.status_code = record.status_code
        return JSONResponse(
            json.loads(record.response_body),
            status_code=record.status_code,
            headers={REPLAYED_HEADER: "true"},
        )

    async def respond(
        self,
        ctx: RequestContext,
        status_code: int,
        body: BaseModel,
        *,
        never_store: frozenset[str] = frozenset(),
    ) -> JSONResponse:
        """Build the response, remembering it under the key (without the ``never_store`` fields)."""
        # What FastAPI's jsonable_encoder makes of a model, without its second walk over the dict.
        content: dict[str, Any] = body.model_dump(mode="json", by_alias=True)
        if self.key is not None:
            stored = {k: (None if k in never_store else v) for k, v in content.items()}
            # Expired records with the same key are replaced, not kept beside the new one.
            old = (
                await ctx.session.execute(select(IdempotencyRecord).where(*self._of_caller(ctx)))
            ).scalar_one_or_none()
            if old is not None:
                await ctx.session.delete(old)
                await ctx.session.flush()
            ctx.session.add(
                IdempotencyRecord(
                    account_id=ctx.principal.account_id,
                    key=self.key,
                    fingerprint=self.fingerprint,
                    status_code=status_code,
                    response_body=json.dumps(stored),
                    expires_at=utcnow() + timedelta(seconds=ctx.state.settings.idempotency_ttl_seconds),
                )
            )
        ctx.status_code = status_code
        return JSONResponse(content, status_code=status_code)


async def idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Makes the POST safe to retry: the same key and body return the first response.",
        ),
    ] = None,
) -> Idempotency:
    if idempotency_key is not None and not (
        1 <= len(idempotency_key) <= MAX_KEY_LENGTH and idempotency_key.isprintable()
    ):
        raise ValidationFailed(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable characters")
    body = await request.body()
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()
    return Idempotency(idempotency_key, digest)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
