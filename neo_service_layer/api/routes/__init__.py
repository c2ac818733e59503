"""One router module per path group; each route is thin and calls the logic in ``services``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from neo_service_layer.api.problems import PROBLEM_JSON
from neo_service_layer.ids import ResourceId

# An id in the path (neo_service_layer.ids): anything else is a 422 before it reaches SQL.
PathId = Annotated[ResourceId, Path(description="An id such as key_01J…")]


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is returned.

    ``code`` is stable; validation errors add ``errors`` and other codes may add members of their own.
    """

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Per-field validation errors")


_PROBLEM_SCHEMA = Problem.model_json_schema()


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses (problem+json, inline schema)."""
    return {
        status: {
            "description": "Problem details",
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


# What any authenticated route may answer besides its own errors: a body that is not JSON or a bad
# Content-Length (400), missing or bad credentials (401), role or scope (403), a body over the limit
# (413), invalid input (422), the rate limit (429), the shared rate limiter down (503).
AUTHENTICATED = problems(400, 401, 403, 413, 422, 429, 503)
