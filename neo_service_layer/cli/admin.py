"""``nsl admin``: operator commands that work directly on the database (before any API key exists)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from neo_service_layer.cli import platform_keys
from neo_service_layer.cli.common import cli_actor, cli_event, load_settings, open_database, print_json, run
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Role
from neo_service_layer.services.accounts import api_keys, service
from neo_service_layer.services.accounts.first_start import ensure_system_account
from neo_service_layer.services.audit.chain import append

app = typer.Typer(help="Accounts and API keys, straight on the database.", no_args_is_help=True)
app.add_typer(platform_keys.app, name="platform-keys")


@app.command("bootstrap")
def bootstrap() -> None:
    """Migrate the database and create the system account and its first admin key, printed once.

    What ``nsl serve`` does on first start, for deployments that run ``nsl api`` and ``nsl worker`` as
    services of their own (docs/deployment.md). Prints no key when the system account exists already
    or when ``NSL_BOOTSTRAP_ADMIN_KEY`` pins it."""
    settings = load_settings()
    secret = run(lambda: ensure_system_account(settings))
    print_json({"created": secret is not None, "secret": secret})


@app.command("create-account")
def create_account(name: Annotated[str, typer.Argument(help="Display name of the account")]) -> None:
    """Create a tenant account and print it as JSON."""
    settings = load_settings()

    async def body() -> None:
        async with open_database(settings) as db, db.transaction() as session:
            account = await service.create_account(session, name)
            event = cli_event(
                "admin.accounts.create", f"/v1/admin/accounts/{account.id}", account.id, status_code=201
            )
            await append(session, event)
        print_json({"id": account.id, "name": account.name, "created_at": account.created_at.isoformat()})

    run(body)


@app.command("create-key")
def create_key(
    account: Annotated[str, typer.Option("--account", help="Account id (acc_…)")],
    name: Annotated[str, typer.Option(help="Label of the key")] = "cli",
    role: Annotated[Role, typer.Option(help="Role of the key")] = Role.OWNER,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope, repeatable (default '*')")
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days")] = None,
) -> None:
    """Create an API key and print it once. It is not stored anywhere in plaintext."""
    settings = load_settings()

    async def body() -> None:
        async with open_database(settings) as db, db.transaction() as session:
            target = await service.get_account(session, account)
            if role == Role.ADMIN and not target.is_system:
                raise typer.BadParameter("admin keys exist only in the system account", param_hint="--role")
            expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
            issued = await api_keys.create_key(
                session,
                account_id=target.id,
                name=name,
                role=role,
                scopes=scope or ["*"],
                expires_at=expires_at,
                created_by=cli_actor(),
            )
            event = cli_event(
                "admin.api_keys.create",
                f"/v1/api-keys/{issued.record.id}",
                target.id,
                status_code=201,
                details={"key_id": issued.record.id, "role": role.value},
            )
            await append(session, event)
        print_json(
            {
                "id": issued.record.id,
                "account_id": issued.record.account_id,
                "prefix": issued.record.prefix,
                "role": issued.record.role,
                "scopes": issued.record.scopes,
                "expires_at": issued.record.expires_at.isoformat() if issued.record.expires_at else None,
                "secret": issued.plaintext,
            }
        )

    run(body)
