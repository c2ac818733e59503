"""The ``nsl`` command: run the platform's processes and administer it."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer

from neo_service_layer import __version__
from neo_service_layer.cli import admin, audit, devnet, feeds
from neo_service_layer.cli.common import console, err_console, load_settings, open_database, print_json, run
from neo_service_layer.cli.supervisor import (
    Supervisor,
    serve_api_workers,
    serve_children,
    warn_if_enclave_shares_api_user,
)
from neo_service_layer.config import Settings, mask_url_password
from neo_service_layer.db.migrate import current_revision, head_revision
from neo_service_layer.logging import configure_logging
from neo_service_layer.services.accounts.first_start import ensure_system_account

app = typer.Typer(
    name="nsl", help="Neo Service Layer: off-chain services for Neo N3 and Neo X.", no_args_is_help=True
)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(devnet.app, name="devnet")
app.add_typer(feeds.app, name="feeds")

READY_TIMEOUT_SECONDS = 60.0


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets masked."""
    print_json(load_settings().masked())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (also done on every start)."""
    settings = load_settings()

    async def body() -> None:
        async with open_database(settings) as db:
            revision = await current_revision(db)
        console.print(f"database {mask_url_password(settings.effective_database_url)} at revision {revision}")

    run(body)


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this code ships."""
    settings = load_settings()

    async def body() -> None:
        from neo_service_layer.db.session import Database

        db = Database(settings.effective_database_url)
        try:
            print_json({"current": await current_revision(db), "head": head_revision()})
        finally:
            await db.dispose()

    run(body)


@app.command()
def api(
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="API processes serving the port (default: NSL_API_WORKERS, else 1); more than 1 needs "
            "NSL_REDIS_URL",
        ),
    ] = None,
) -> None:
    """Run the API server (stateless; run as many replicas as you like)."""
    from neo_service_layer.api.server import api_server

    settings = load_settings(api_workers=workers) if workers is not None else load_settings()
    configure_logging(settings.log_level, settings.log_format)
    api_server(settings).run()


@app.command()
def worker() -> None:
    """Run a worker: job queue, scheduler (when leader)."""
    from neo_service_layer.worker import run_worker
    from neo_service_layer.worker.service_jobs import service_dead_hooks, service_handlers, service_tasks

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.pricefeed.load_default_feeds:
        run(lambda: _load_default_feeds(settings))
    run(
        lambda: run_worker(
            settings,
            handlers=service_handlers(settings),
            tasks=service_tasks(settings),
            on_dead=service_dead_hooks(),
        )
    )


async def _load_default_feeds(settings: Settings) -> None:
    from neo_service_layer.services.pricefeed.defaults import load_default_feeds

    async with open_database(settings) as db:
        await load_default_feeds(db, settings, "worker")


@app.command()
def enclave() -> None:
    """Run the enclave: the only process that holds keys and secret plaintext."""
    from neo_service_layer.enclave.main import EVENT_LOOP, run_enclave

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    run(lambda: run_enclave(settings), loop_factory=EVENT_LOOP)


@app.command()
def serve() -> None:
    """Run the whole platform on this machine: enclave, API and worker, SQLite under the data directory.

    All as this user; with NSL_SERVE_ENCLAVE=false the enclave runs elsewhere, as its own user."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)

    new_admin_key = run(lambda: ensure_system_account(settings))
    children = serve_children(enclave=settings.serve_enclave, api_workers=serve_api_workers(settings))
    supervisor = Supervisor(children)
    warn_if_enclave_shares_api_user(supervisor.children)
    url = f"http://{settings.host}:{settings.port}"
    # Printed to the terminal only, never logged: the bootstrap key is the one secret we show.
    if new_admin_key is not None:
        err_console.print(f"First start. Admin API key (shown once, store it now):\n{new_admin_key}")
    _announce_when_ready(supervisor, url)
    supervisor.run()


def _announce_when_ready(supervisor: Supervisor, url: str) -> None:
    """Start the children and print the URL once the API answers."""
    import threading

    def wait() -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    err_console.print(f"NSL is running at {url}  (docs: {url}/docs)")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        err_console.print(f"NSL API did not answer at {url} within {READY_TIMEOUT_SECONDS:.0f} s")

    threading.Thread(target=wait, name="ready-announcer", daemon=True).start()


def main() -> None:
    """Entry point of the ``nsl`` command."""
    app()


if __name__ == "__main__":
    main()
