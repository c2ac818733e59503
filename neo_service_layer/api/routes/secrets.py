"""Secrets (``/v1/secrets``): versioned values with check-and-set, sealed end to end (docs/secrets.md).

Vault KV v2's shape: ``PUT /{name}`` writes a version, ``GET /{name}`` reads one (sealed to the caller's
recipient key), ``/{name}/metadata`` shows versions without values, ``/{name}/delete|undelete|destroy``
change versions, ``DELETE /{name}`` removes everything, ``/{name}/grants`` lets functions and oracle
requests use the secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, problems
from neo_service_layer.api.routes.secrets_schemas import (
    GRANTEE_PATTERN,
    GrantIn,
    GrantOut,
    GrantsOut,
    SecretMetadataOut,
    SecretMetadataPatch,
    SecretOut,
    SecretReadOut,
    SecretWriteIn,
    SecretWritten,
    VersionOut,
    VersionsIn,
    VersionsOut,
)
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.opdefs.secrets import MAX_SECRET_VERSION, SECRET_NAME_PATTERN
from neo_service_layer.services.accounts.scopes import READ, READ_VALUE, WRITE
from neo_service_layer.services.secrets import grants, service, versions
from neo_service_layer.services.secrets.errors import RecipientKeyInvalid
from neo_service_layer.services.secrets.models import GranteeKind, Secret, SecretVersion

if TYPE_CHECKING:  # routes name the session's type only; the queries live in the service
    from sqlalchemy.ext.asyncio import AsyncSession

SERVICE = "secrets"
RECIPIENT_HEADER = "X-NSL-Recipient-Key"
SecretsRead = Annotated[RequestContext, Requires(SERVICE, READ)]
# A value, sealed to the caller: developers and owners only (docs/secrets.md).
SecretsReadValue = Annotated[RequestContext, Requires(SERVICE, READ_VALUE)]
SecretsWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
router = APIRouter(prefix="/v1/secrets", tags=["secrets"], responses=AUTHENTICATED)

SecretName = Annotated[
    str, Path(pattern=SECRET_NAME_PATTERN, max_length=128, description="Letters, digits, '_', '.', '-'")
]
Grantee = Annotated[str, Path(pattern=GRANTEE_PATTERN, max_length=200)]


@router.put(
    "/{name}",
    response_model=SecretWritten,
    name="secrets.write",
    responses={201: {"model": SecretWritten, "description": "Created (version 1)"}, **problems(409)},
)
@idempotent()
async def write_secret(name: SecretName, body: SecretWriteIn, ctx: SecretsWrite) -> SecretWritten:
    """Write a new version from a value sealed to the enclave (201 when this creates the secret)."""
    written = await versions.write(
        ctx.session,
        ctx.state.enclave,
        ctx.principal.account_id,
        name,
        b64decode(body.sealed_value),
        cas=body.cas,
        default_max_versions=ctx.state.settings.secrets_max_versions,
    )
    ctx.audit_details = {"secret_id": written.secret.id, "version": written.version.version, "cas": body.cas}
    if written.created:
        ctx.status_code = 201
    return SecretWritten(
        id=written.secret.id,
        name=name,
        version=written.version.version,
        created_at=written.version.created_at,
    )


@router.get("", name="secrets.list")
async def list_secrets(ctx: SecretsRead, page: PageDep) -> Page[SecretOut]:
    """Every secret's metadata, never a value."""
    return await paginate(ctx.session, service.list_statement(), Secret.id, page, SecretOut.of)


@router.get("/{name}", name="secrets.read", responses=problems(404, 410))
async def read_secret(
    name: SecretName,
    ctx: SecretsReadValue,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_SECRET_VERSION, description="Default: the current version")
    ] = None,
    recipient: Annotated[
        str | None, Query(max_length=128, description=f"Your X25519 public key (hex); or {RECIPIENT_HEADER}")
    ] = None,
    recipient_header: Annotated[str | None, Header(alias=RECIPIENT_HEADER, max_length=128)] = None,
) -> SecretReadOut:
    """A version's value sealed by the enclave to your X25519 key (required: values never travel clear).

    Developers and owners only: a viewer sees metadata, never a value (``secrets:read`` either way).
    """
    if (
        recipient is not None
        and recipient_header is not None
        and recipient.lower() != recipient_header.lower()
    ):
        raise RecipientKeyInvalid(f"the recipient query parameter and {RECIPIENT_HEADER} differ")
    key = versions.check_recipient(recipient if recipient is not None else recipient_header)
    signed = await versions.read(ctx.session, ctx.state.enclave, ctx.principal.account_id, name, key, version)
    ctx.audit_details = {"secret_id": signed.result.secret_id, "version": signed.result.version}
    return SecretReadOut(
        id=signed.result.secret_id,
        name=name,
        version=signed.result.version,
        sealed_value=signed.envelope.result["sealed_value"],
        envelope=signed.envelope,
    )


@router.delete("/{name}", status_code=204, name="secrets.delete", responses=problems(404))
async def delete_secret(name: SecretName, ctx: SecretsWrite) -> Response:
    """Remove the secret: metadata, every version (ciphertext and data keys) and its grants."""
    secret = await service.delete_secret(ctx.session, name)
    ctx.audit_details = {"secret_id": secret.id}
    return Response(status_code=204)


@router.get("/{name}/metadata", name="secrets.metadata", responses=problems(404))
async def get_metadata(name: SecretName, ctx: SecretsRead) -> SecretMetadataOut:
    """The secret's settings and versions (created, deleted, destroyed), never values."""
    secret = await service.get_secret(ctx.session, name)
    return SecretMetadataOut.with_versions(secret, list(await service.versions_of(ctx.session, secret)))


@router.patch("/{name}/metadata", name="secrets.metadata.update", responses=problems(404))
async def patch_metadata(name: SecretName, body: SecretMetadataPatch, ctx: SecretsWrite) -> SecretMetadataOut:
    """Change ``max_versions`` (older versions are destroyed at once) or ``cas_required``."""
    secret = await service.update_metadata(
        ctx.session, name, max_versions=body.max_versions, cas_required=body.cas_required
    )
    ctx.audit_details = {"secret_id": secret.id, **body.model_dump(exclude_none=True)}
    return SecretMetadataOut.with_versions(secret, list(await service.versions_of(ctx.session, secret)))


type VersionChange = Callable[[AsyncSession, str, Sequence[int]], Awaitable[list[SecretVersion]]]


async def _change(name: str, body: VersionsIn, ctx: RequestContext, change: VersionChange) -> VersionsOut:
    rows = await change(ctx.session, name, body.versions)
    ctx.audit_details = {"versions": sorted(set(body.versions))}
    return VersionsOut(versions=[VersionOut.of(row) for row in rows])


@router.post("/{name}/delete", name="secrets.versions.delete", responses=problems(404))
async def delete_versions(name: SecretName, body: VersionsIn, ctx: SecretsWrite) -> VersionsOut:
    """Soft-delete versions: reads refuse them until undeleted."""
    return await _change(name, body, ctx, versions.soft_delete)


@router.post("/{name}/undelete", name="secrets.versions.undelete", responses=problems(404))
async def undelete_versions(name: SecretName, body: VersionsIn, ctx: SecretsWrite) -> VersionsOut:
    """Restore soft-deleted versions (destroyed versions stay destroyed)."""
    return await _change(name, body, ctx, versions.undelete)


@router.post("/{name}/destroy", name="secrets.versions.destroy", responses=problems(404))
async def destroy_versions(name: SecretName, body: VersionsIn, ctx: SecretsWrite) -> VersionsOut:
    """Erase versions' ciphertext and data keys for good."""
    return await _change(name, body, ctx, versions.destroy)


@router.post(
    "/{name}/grants",
    status_code=201,
    response_model=GrantOut,
    name="secrets.grants.create",
    responses=problems(404, 409),
)
@idempotent()
async def create_grant(name: SecretName, body: GrantIn, ctx: SecretsWrite) -> GrantOut:
    """Let a function or an oracle request of this account use the secret (resolved in the enclave)."""
    grant = await grants.grant(ctx.session, ctx.principal.account_id, name, body.grantee_kind, body.grantee)
    ctx.audit_details = {
        "secret_id": grant.secret_id,
        "grantee_kind": body.grantee_kind,
        "grantee": body.grantee,
    }
    return GrantOut.of(name, grant)


@router.get("/{name}/grants", name="secrets.grants.list", responses=problems(404))
async def list_grants(name: SecretName, ctx: SecretsRead) -> GrantsOut:
    secret = await service.get_secret(ctx.session, name)
    return GrantsOut(items=[GrantOut.of(name, g) for g in await grants.grants_of(ctx.session, secret)])


@router.delete(
    "/{name}/grants/{grantee_kind}/{grantee}",
    status_code=204,
    name="secrets.grants.delete",
    responses=problems(404),
)
async def delete_grant(
    name: SecretName, grantee_kind: GranteeKind, grantee: Grantee, ctx: SecretsWrite
) -> Response:
    await grants.revoke_grant(ctx.session, name, grantee_kind, grantee)
    ctx.audit_details = {"grantee_kind": grantee_kind, "grantee": grantee}
    return Response(status_code=204)
