"""The functions service over the API (docs/functions.md §8), with runs verified offline.

::

    async with FunctionsClient("https://nsl.example", api_key) as functions:
        fn = await functions.deploy("add", "return args.a + args.b;")
        run = await functions.run(fn["id"], {"a": 2, "b": 40})          # run["result"] == "42"
        queued = await functions.start(fn["id"], {"a": 1, "b": 2})      # async: a queued run
        ended = await functions.wait(fn["id"], queued["id"])
        outcome = await functions.verified_run(fn["id"], run["id"], identity)   # offline-checked

Answers come back as the API sends them (JSON objects). A run that ends badly (``failed``,
``timed_out``, …) is a run with that ``status``, not an error; an error response is raised as
:class:`ApiRequestFailed` with the API's ``code`` (``function_syntax_error``, ``function_not_found``, …)
as ``api_code``.

:meth:`FunctionsClient.verified_run` trusts the API for nothing: it rebuilds the signed request of the
run (the args, and the source, limits and allowed domains of the run's version — a version never
changes, so a PATCH after the run does not matter) from what the API shows and hands it to
:func:`~neo_service_layer.client.functions.verify_function_result`, which checks the enclave's
signature over exactly that request — so a source, limits, args or outcome the API altered is
refused. A deleted function no longer shows its versions: its runs cannot be checked (never wrongly
accepted).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from neo_service_layer.client.attestation import VerifiedIdentity
from neo_service_layer.client.functions import verify_function_result
from neo_service_layer.client.http import DEFAULT_PAGE_SIZE, ApiClient
from neo_service_layer.enclave.opdefs.functions import Limits, RunOutcome
from neo_service_layer.errors import FunctionVerificationFailed
from neo_service_layer.ids import ID_PATTERN

PREFIX = "/v1/functions"
#: A run's status while it has not ended (docs/functions.md §8).
PENDING_STATUSES = frozenset({"queued", "running"})
DEFAULT_WAIT_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 0.5


class FunctionsClient(ApiClient):
    """``/v1/functions`` with an API key (``functions:write`` to deploy and run, ``functions:read`` to
    read); the HTTP client and errors as :class:`~neo_service_layer.client.http.ApiClient`."""

    async def deploy(
        self,
        name: str,
        source: str,
        *,
        limits: Mapping[str, int] | None = None,
        allowed_domains: Iterable[str] = (),
        secrets: Iterable[str] = (),
        args_schema: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``source`` as function ``name`` at version 1; the function (its ``id`` is ``fn_…``)."""
        body = {
            "name": name,
            "source": source,
            "limits": dict(limits or {}),
            "allowed_domains": list(allowed_domains),
            "secrets": list(secrets),
            "args_schema": None if args_schema is None else dict(args_schema),
        }
        return await self._json("POST", PREFIX, json=body, idempotency_key=idempotency_key)

    async def get(self, function_id: str) -> dict[str, Any]:
        """A live function and its current version's settings."""
        return await self._get(_function_path(function_id))

    async def update(self, function_id: str, **fields: Any) -> dict[str, Any]:
        """Change the fields given (``name``, ``source``, ``limits``, ``allowed_domains``, ``secrets``,
        ``args_schema``); a new ``source`` makes a new version. The function as it now is."""
        return await self._json("PATCH", _function_path(function_id), json=fields)

    async def delete(self, function_id: str) -> None:
        """Delete a function (its runs stay readable)."""
        await self._send("DELETE", _function_path(function_id))

    def functions(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        """The account's live functions, oldest first."""
        return self._pages(PREFIX, page_size)

    def versions(
        self, function_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """The function's versions with their sources and ``source_sha256``, oldest first."""
        return self._pages(f"{_function_path(function_id)}/versions", page_size)

    async def run(self, function_id: str, args: Any, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Run the current version with ``args`` and wait in the request: the ended run."""
        return await self._start(function_id, args, "sync", idempotency_key)

    async def start(
        self, function_id: str, args: Any, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Queue a run of the current version with ``args`` (the worker runs it): the ``queued`` run."""
        return await self._start(function_id, args, "async", idempotency_key)

    async def wait(
        self,
        function_id: str,
        run_id: str,
        *,
        timeout_seconds: float = DEFAULT_WAIT_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> dict[str, Any]:
        """The run once it has ended, read every ``poll_seconds``; TimeoutError after ``timeout_seconds``."""
        async with asyncio.timeout(timeout_seconds):
            while True:
                run = await self.run_record(function_id, run_id)
                if run["status"] not in PENDING_STATUSES:
                    return run
                await asyncio.sleep(poll_seconds)

    def runs(self, function_id: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        """The function's runs, oldest first (a deleted function's too)."""
        return self._pages(f"{_function_path(function_id)}/runs", page_size)

    async def run_record(self, function_id: str, run_id: str) -> dict[str, Any]:
        """One run as it stands: ``queued``/``running``, or ended with the enclave's signed ``envelope``."""
        return await self._get(f"{_function_path(function_id)}/runs/{_segment(run_id)}")

    async def verified_run(
        self, function_id: str, run_id: str, identity: VerifiedIdentity, *, account_id: str | None = None
    ) -> RunOutcome:
        """Run ``run_id`` verified offline against ``identity`` (module docstring): what the enclave
        signed, for exactly the source and args the API shows. ``account_id`` is the account the run
        must be for; left out, the API key's own account (``GET /v1/account``, ``account:read``).
        FunctionVerificationFailed for a run that has not ended."""
        run = await self.run_record(function_id, run_id)
        if run.get("envelope") is None:
            raise FunctionVerificationFailed(
                f"run {run_id} has no signed outcome (status {run.get('status')})"
            )
        version = await self._version(function_id, run["version"])
        try:
            # The ids asked for, not the ones the answer names: a run served in place of another fails.
            params = {
                "function_id": function_id,
                "version": run["version"],
                "run_id": run_id,
                "source": version["source"],
                "args": run["args"],
                "limits": Limits.model_validate(version["limits"]).model_dump(mode="json"),
                "allowed_domains": version["allowed_domains"],
            }
        except (KeyError, TypeError, ValidationError) as exc:
            raise FunctionVerificationFailed(f"the API's run or version is malformed: {exc}") from exc
        account = account_id if account_id is not None else (await self._get("/v1/account"))["id"]
        return verify_function_result(run["envelope"], identity, account_id=account, params=params)

    async def _start(
        self, function_id: str, args: Any, mode: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        return await self._json(
            "POST",
            f"{_function_path(function_id)}/runs",
            json={"args": args, "mode": mode},
            idempotency_key=idempotency_key,
        )

    async def _version(self, function_id: str, version: int) -> dict[str, Any]:
        """``version`` (the run's) as the API lists it: its source, limits and allowed domains."""
        async for item in self.versions(function_id):
            if item["version"] == version:
                return item
        raise FunctionVerificationFailed(f"function {function_id} shows no version {version}")


def _segment(resource_id: str) -> str:
    """An id as one path segment, refused unless it has the form of an id (``ids.ID_PATTERN``): any
    other text cannot name a resource, and ``..`` or ``/`` in it would reach another path."""
    if re.fullmatch(ID_PATTERN, resource_id) is None:
        raise ValueError(f"not a resource id: {resource_id!r}")
    return resource_id


def _function_path(function_id: str) -> str:
    return f"{PREFIX}/{_segment(function_id)}"
