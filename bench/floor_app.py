"""The framework floor: FastAPI with the same dependency shape as ``GET /v1/account``, doing no work.

It answers ``GET /v1/account`` through what our route costs FastAPI before any work of ours: the
two security schemes (``X-API-Key`` header and ``Authorization: Bearer``), an authentication
dependency, a function-scoped ``yield`` dependency around the route (our unit of work) and a
pydantic response model. No middleware, database, rate limit or audit. Measured beside the bare
hello-world it shows how much of the bare throughput FastAPI's dependency handling alone leaves,
which bounds what any authenticated route of this shape can reach.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer_scheme = HTTPBearer(auto_error=False)


class AccountOut(BaseModel):
    """The same fields as the real ``AccountOut`` carries."""

    id: str
    name: str
    status: str


async def authenticate(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> str:
    """Returns the credential it was given (ours: a cache lookup and two rate-limit buckets)."""
    return api_key or (bearer.credentials if bearer else "")


async def unit_of_work(principal: Annotated[str, Depends(authenticate)]) -> AsyncIterator[str]:
    """Ours opens a session here and appends the audit entry after the route."""
    yield principal


def create_app() -> FastAPI:
    """One ``GET /v1/account`` with the dependency shape of the real route."""
    app = FastAPI()

    @app.get("/v1/account")
    async def get_account(ctx: Annotated[str, Depends(unit_of_work, scope="function")]) -> AccountOut:
        return AccountOut(id="acc_floor", name="floor", status="active")

    return app
