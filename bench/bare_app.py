"""The baseline: a bare FastAPI hello-world, served exactly like the NSL app by ``bench/api.py``.

Run by uvicorn as ``bench.bare_app:create_app --factory``.
"""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    """One async ``GET /`` returning ``{"hello": "world"}``: no middleware, no dependencies."""
    app = FastAPI()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app
