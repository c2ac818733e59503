"""Helpers shared by the CLI commands: settings, the database, the console."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.errors import ConfigurationError, NSLError
from neo_service_layer.services.audit.chain import AuditEvent

# markup=False: messages quote user input and error codes in brackets, which rich would eat as styles.
console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


EXIT_ERROR = 2


def fail(error: NSLError) -> NoReturn:
    """Show a typed error as ``Error: [code] detail`` and exit with code 2, never a traceback."""
    err_console.print(f"Error: [{error.code}] {error.detail}")
    raise typer.Exit(EXIT_ERROR)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and the TOML file (``overrides``: a command's options on top), or a readable
    error instead of a traceback."""
    try:
        return Settings.load(**overrides)
    except ConfigurationError as exc:
        fail(exc)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The migrated database of ``settings`` (creates the data directory for SQLite)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    try:
        await upgrade(db)
        yield db
    finally:
        await db.dispose()


def run[T](
    func: Callable[[], Coroutine[Any, Any, T]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run an async command body (on ``loop_factory``'s loop, default asyncio's); typed errors become a
    clean message and exit code 2."""
    try:
        return asyncio.run(func(), loop_factory=loop_factory)
    except NSLError as exc:
        fail(exc)


def cli_actor() -> str:
    """Who the audit log names for a command run from a shell: ``cli:<login name>``."""
    return f"cli:{getpass.getuser()}"


def cli_event(
    action: str, resource: str, account_id: str, *, status_code: int, details: dict[str, Any] | None = None
) -> AuditEvent:
    """The audit entry of an operator command that succeeded, by ``cli:<login name>``."""
    return AuditEvent(
        actor=cli_actor(),
        action=action,
        resource=resource,
        outcome=Outcome.SUCCESS,
        status_code=status_code,
        request_id="cli",
        account_id=account_id,
        details=details,
    )


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
