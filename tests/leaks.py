"""Leak scans: every form a secret could take, one assertion that none is anywhere, and a running app
whose every artefact — its database files, its logs (production format, debug level), every response
body and header — is kept for that search (the ``leak_scan`` fixture of ``tests/api/conftest.py``)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from neo_service_layer.api.app import create_app
from neo_service_layer.api.state import AppState
from neo_service_layer.logging import configure_logging
from neo_service_layer.services.accounts.service import bootstrap
from tests.settings_helpers import settings_with


def encodings(secret: bytes) -> set[bytes]:
    """Every form in which a leaked value could show up: raw, reversed (little-endian), hex (both cases),
    base64 and base64url (with and without padding), and its Python repr."""
    forms = {
        secret,
        secret[::-1],
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        repr(secret).encode(),
    }
    return forms | {form.rstrip(b"=") for form in forms}


def assert_never_in(label: str, forms: Collection[bytes], artefacts: Mapping[str, bytes]) -> None:
    """None of ``forms`` (of the secret called ``label``) is in any of the named ``artefacts``."""
    assert forms
    assert artefacts
    for name, content in artefacts.items():
        assert not any(form in content for form in forms), f"{label} is in {name}"


@dataclass
class LeakScan:
    """An app under a leak scan: its client (every response is kept), and after it stopped, its logs."""

    client: httpx.AsyncClient
    state: AppState
    admin_key: str
    database_files: Path
    responses: list[httpx.Response] = field(default_factory=list)
    logs: bytes = b""
    # Response index -> the values that response shows by design (an API key's secret, once).
    shown: dict[int, set[bytes]] = field(default_factory=dict)

    def shown_once(self, response: httpx.Response) -> str:
        """The secret that ``response`` (a 201) shows by design; the scan allows it there and only there."""
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        assert secret
        index = next(i for i, seen in enumerate(self.responses) if seen is response)
        self.shown.setdefault(index, set()).add(secret.encode())
        return secret

    def database(self) -> dict[str, bytes]:
        """The SQLite database's files (its WAL too), by name."""
        return {path.name: path.read_bytes() for path in self.database_files.parent.glob("nsl.db*")}

    def artefacts(self, secret: bytes | None = None) -> dict[str, bytes]:
        """Everything the scan searches, by name; ``secret``'s own showing response is left out."""
        artefacts = {**self.database(), "the logs": self.logs}
        for index, response in enumerate(self.responses):
            if secret is None or secret not in self.shown.get(index, set()):
                name = f"response {index} ({response.request.method} {response.request.url.path})"
                artefacts[name] = response.content + str(response.headers.raw).encode()
        return artefacts

    def assert_never_seen(self, label: str, forms: Collection[bytes], *, shown: bytes | None = None) -> None:
        """No form of the secret ``label`` is anywhere, but in the response that showed ``shown``."""
        assert_never_in(label, forms, self.artefacts(shown))


LeakScanner = Callable[..., AbstractAsyncContextManager[LeakScan]]


def leak_scanner(
    tmp_path: Path,
    database_url: str,
    enclave_socket: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> LeakScanner:
    """``async with scanner(log_format, **settings) as scan``: the app runs on ``database_url`` (SQLite: its
    files are searched) with the bootstrap admin key; its logs are collected when it stops."""

    @asynccontextmanager
    async def run(log_format: str = "json", **overrides: Any) -> AsyncIterator[LeakScan]:
        # Production logging (structlog), at debug level, on the stderr that capsys captures now.
        configure_logging("debug", log_format)
        logging.getLogger().addHandler(caplog.handler)
        caplog.set_level(logging.DEBUG)
        base = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "log_format": log_format,
            "log_level": "debug",
            "enclave": {"socket": enclave_socket},
        }
        settings = settings_with(base, **overrides)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            state: AppState = app.state.nsl
            async with state.db.transaction() as session:
                issued = await bootstrap(session)
            assert issued is not None
            responses: list[httpx.Response] = []

            async def record(response: httpx.Response) -> None:
                await response.aread()
                responses.append(response)

            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://nsl.test",
                event_hooks={"response": [record]},
            ) as client:
                database = Path(database_url.split("///")[1])
                scan = LeakScan(client, state, issued.plaintext, database, responses)
                yield scan
        captured = capsys.readouterr()
        scan.logs = (captured.err + captured.out + "\n".join(r.getMessage() for r in caplog.records)).encode()
        assert b"request" in scan.logs  # a positive control: the access log was captured

    return run
