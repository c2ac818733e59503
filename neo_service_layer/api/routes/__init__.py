"""One router module per path group; each route is thin and calls the logic in ``services``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is returned."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": "Problem details",
        }
        for status in statuses
    }


AUTHENTICATED = problems(401, 403, 422, 429)
