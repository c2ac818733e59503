"""Who may call what: every route of the app, as every role, with and without the route's scope.

``ACCESS`` is the decision for each route, written out here from docs/keys.md, docs/secrets.md and the
README (roles), keyed by (method, path) — not derived from ``role_allows``, which is what it checks.
The routes come from the app itself (``app.routes``): a route missing from the table fails
:func:`test_every_route_has_a_decision`, so no route ships without one, and each authenticated route
must declare exactly the requirement the table gives it (``api.guards``; a route that authenticates
without declaring one, or declares another, fails :func:`test_every_route_declares_the_tables_requirement`),
so the declarations and the table cannot drift apart. The table test then calls each
route without a credential, and as owner, developer, viewer and admin (the system account), each
once with every scope and once without the route's service, and expects exactly: 401
``unauthenticated`` with no credential, 403 ``forbidden`` when the role may not, 403 ``missing_scope``
when the credential lacks the scope, and otherwise an answer of the route itself. Each sample request
is valid, so the route's own checks are reached; "an answer of the route" is anything but 401, 403, a
request validation error or a 5xx (a 404 for a sample id is the route answering).

One app and one database per backend for the whole table: failures are collected and reported together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from neo_service_layer.api.app import create_app
from neo_service_layer.api.auth import CurrentPrincipal, authenticate
from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import Guard, Requires
from neo_service_layer.client.attestation import verify_attestation
from neo_service_layer.client.secrets import RecipientKey, seal_secret_value
from neo_service_layer.config import Settings
from neo_service_layer.services.accounts.principal import ANY_CREDENTIAL, PLATFORM_ADMIN, Requirement
from neo_service_layer.services.accounts.scopes import READ, READ_VALUE, SERVICES, WRITE
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.conftest import AppFactory
from tests.api.helpers import NO_RATE_LIMITS, auth, dependency_calls, new_secret
from tests.conftest import make_tenant

ROLES: Final = ("owner", "developer", "viewer", "admin")
EVERYONE: Final = frozenset(ROLES)
# Services' writes, and reads that return a value (a secret's, sealed to the caller): never a viewer.
WRITERS: Final = frozenset({"owner", "developer", "admin"})
# The account's people, credentials and master key.
OWNERS: Final = frozenset({"owner", "admin"})
ADMINS: Final = frozenset({"admin"})

SECRET = "table-secret"
PATH_VALUES: Final = {
    "name": SECRET,
    "key_id": "key_01TABLE",
    "account_id": "acc_01TABLE",
    "member_id": "mem_01TABLE",
    "request_id": "rnd_01TABLE",
    "grantee_kind": "function",
    "grantee": "table-fn",
    "pair": "NEO-USD",
    "round_id": "1",
    "function_id": "fn_01TABLE",
    "run_id": "fnr_01TABLE",
}
RECIPIENT: Final = RecipientKey.generate().public_hex
B64: Final = "AAAA"


@dataclass(frozen=True)
class Access:
    """The roles a route admits and the scope it needs (None: none), the requirement the route must
    declare for that, and a valid sample request."""

    roles: frozenset[str]
    scope: str | None
    requirement: Requirement
    body: Any = None
    query: dict[str, str] | None = None

    @property
    def service(self) -> str | None:
        return None if self.scope is None else self.scope.partition(":")[0]

    def expected(self, role: str, scoped: bool) -> str:
        """What a credential of ``role`` gets, holding the route's scope or not (role is checked first)."""
        if role not in self.roles:
            return "403 forbidden"
        if not scoped and self.scope is not None:
            return "403 missing_scope"
        return ANSWERED


ANSWERED: Final = "answered by the route"


def reads(service: str, **sample: Any) -> Access:
    return Access(EVERYONE, f"{service}:read", Requirement(service, READ), **sample)


def reads_values(service: str, **sample: Any) -> Access:
    return Access(WRITERS, f"{service}:read", Requirement(service, READ_VALUE), **sample)


def writes(service: str, **sample: Any) -> Access:
    return Access(WRITERS, f"{service}:write", Requirement(service, WRITE), **sample)


def manages(**sample: Any) -> Access:
    return Access(OWNERS, "account:write", Requirement("account", WRITE), **sample)


def platform(**sample: Any) -> Access:
    # Admin routes check the role only: an admin credential with narrower scopes still reaches them.
    return Access(ADMINS, None, PLATFORM_ADMIN, **sample)


# None: a public route (no credential at all).
ACCESS: Final[dict[tuple[str, str], Access | None]] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/v1/auth/jwks"): None,
    ("GET", "/v1/attestation"): None,
    # Never more than the credential has: any credential may trade itself for a token.
    ("POST", "/v1/auth/token"): Access(EVERYONE, None, ANY_CREDENTIAL, body={}),
    ("POST", "/v1/admin/accounts"): platform(body={"name": "made-by-the-table"}),
    ("GET", "/v1/admin/accounts"): platform(),
    ("GET", "/v1/admin/accounts/{account_id}"): platform(),
    ("PATCH", "/v1/admin/accounts/{account_id}"): platform(body={"disabled": False}),
    ("POST", "/v1/admin/accounts/{account_id}/api-keys"): platform(body={"name": "k", "role": "viewer"}),
    ("GET", "/v1/account"): reads("account"),
    ("GET", "/v1/account/members"): reads("account"),
    ("POST", "/v1/account/members"): manages(body={"email": "table@acme.io", "role": "viewer"}),
    ("DELETE", "/v1/account/members/{member_id}"): manages(),
    ("POST", "/v1/account/master-key/rotate"): manages(),
    ("POST", "/v1/api-keys"): manages(body={"name": "t", "role": "viewer", "scopes": ["audit:read"]}),
    ("GET", "/v1/api-keys"): reads("account"),
    ("GET", "/v1/api-keys/{key_id}"): reads("account"),
    ("POST", "/v1/api-keys/{key_id}/rotate"): manages(body={}),
    ("POST", "/v1/api-keys/{key_id}/revoke"): manages(),
    ("GET", "/v1/audit"): reads("audit"),
    # docs/keys.md: keys:read for GETs, verification and public keys; everything else (signing,
    # decryption, data keys, backups) is keys:write, so never a viewer's.
    ("POST", "/v1/keys"): writes("keys", body={"name": "table-key", "type": "aes256-gcm"}),
    ("GET", "/v1/keys"): reads("keys"),
    ("POST", "/v1/keys/restore"): writes("keys", body={"backup": B64}),
    ("GET", "/v1/keys/{key_id}"): reads("keys"),
    ("PATCH", "/v1/keys/{key_id}"): writes("keys", body={}),
    ("POST", "/v1/keys/{key_id}/rotate"): writes("keys"),
    ("POST", "/v1/keys/{key_id}/disable"): writes("keys"),
    ("POST", "/v1/keys/{key_id}/enable"): writes("keys"),
    ("POST", "/v1/keys/{key_id}/schedule-deletion"): writes("keys"),
    ("POST", "/v1/keys/{key_id}/cancel-deletion"): writes("keys"),
    ("GET", "/v1/keys/{key_id}/public-key"): reads("keys"),
    ("POST", "/v1/keys/{key_id}/backup"): writes("keys"),
    ("POST", "/v1/keys/{key_id}/sign"): writes("keys", body={"message": B64}),
    ("POST", "/v1/keys/{key_id}/verify"): reads("keys", body={"message": B64, "signature": "00"}),
    ("POST", "/v1/keys/{key_id}/encrypt"): writes("keys", body={"plaintext": B64}),
    ("POST", "/v1/keys/{key_id}/decrypt"): writes("keys", body={"ciphertext": f"nsl:v1:{B64}"}),
    ("POST", "/v1/keys/{key_id}/rewrap"): writes("keys", body={"ciphertext": f"nsl:v1:{B64}"}),
    ("POST", "/v1/keys/{key_id}/datakey"): writes("keys", body={}),
    ("POST", "/v1/keys/{key_id}/hmac"): writes("keys", body={"data": B64}),
    ("POST", "/v1/keys/{key_id}/hmac/verify"): reads("keys", body={"data": B64, "hmac": f"nsl:v1:{B64}"}),
    ("POST", "/v1/keys/{key_id}/neo/sign-transaction"): writes(
        "keys", body={"transaction": B64, "network_magic": 1}
    ),
    ("POST", "/v1/keys/{key_id}/evm/sign-transaction"): writes("keys", body={"transaction": {}}),
    ("POST", "/v1/keys/{key_id}/evm/sign-message"): writes("keys", body={"message": B64}),
    ("POST", "/v1/keys/{key_id}/evm/sign-typed-data"): writes("keys", body={"typed_data": {}}),
    # docs/secrets.md: a value needs a developer or an owner; a viewer sees metadata and grants.
    ("PUT", "/v1/secrets/{name}"): writes("secrets", body={"sealed_value": B64}),
    ("GET", "/v1/secrets"): reads("secrets"),
    ("GET", "/v1/secrets/{name}"): reads_values("secrets", query={"recipient": RECIPIENT}),
    ("GET", "/v1/secrets/{name}/metadata"): reads("secrets"),
    ("PATCH", "/v1/secrets/{name}/metadata"): writes("secrets", body={}),
    ("POST", "/v1/secrets/{name}/delete"): writes("secrets", body={"versions": [1]}),
    ("POST", "/v1/secrets/{name}/undelete"): writes("secrets", body={"versions": [1]}),
    ("POST", "/v1/secrets/{name}/destroy"): writes("secrets", body={"versions": [1]}),
    ("POST", "/v1/secrets/{name}/grants"): writes(
        "secrets", body={"grantee_kind": "function", "grantee": "table-fn"}
    ),
    ("GET", "/v1/secrets/{name}/grants"): reads("secrets"),
    ("DELETE", "/v1/secrets/{name}/grants/{grantee_kind}/{grantee}"): writes("secrets"),
    ("DELETE", "/v1/secrets/{name}"): writes("secrets"),  # last: the routes above find the secret
    ("POST", "/v1/randomness"): writes("randomness", body={}),
    ("POST", "/v1/randomness/batch"): writes("randomness", body={"requests": [{}]}),
    ("POST", "/v1/randomness/verify"): reads("randomness", body={"public_key": "00"}),
    ("GET", "/v1/randomness"): reads("randomness"),
    ("GET", "/v1/randomness/{request_id}"): reads("randomness"),
    # The sample request names a secret without a grant: refused by the service (422), before any fetch.
    ("POST", "/v1/oracle/requests"): writes("oracle", body={"url": "https://a.example/{{secrets.NOPE}}"}),
    ("GET", "/v1/oracle/requests"): reads("oracle"),
    ("GET", "/v1/oracle/requests/{request_id}"): reads("oracle"),
    ("POST", "/v1/oracle/filter"): reads("oracle", body={"filter": "$", "document": "{}"}),
    # Functions: the sample deploy asks a limit above the maximum, refused (422) before the enclave's check.
    ("POST", "/v1/functions"): writes(
        "functions", body={"name": "t", "source": "return 1;", "limits": {"timeout_ms": 10**6}}
    ),
    ("GET", "/v1/functions"): reads("functions"),
    ("GET", "/v1/functions/{function_id}"): reads("functions"),
    ("PATCH", "/v1/functions/{function_id}"): writes("functions", body={"allowed_domains": []}),
    ("DELETE", "/v1/functions/{function_id}"): writes("functions"),
    ("GET", "/v1/functions/{function_id}/versions"): reads("functions"),
    ("POST", "/v1/functions/{function_id}/runs"): writes("functions", body={"args": {}}),
    ("GET", "/v1/functions/{function_id}/runs"): reads("functions"),
    ("GET", "/v1/functions/{function_id}/runs/{run_id}"): reads("functions"),
    # Price feeds: every account reads them, only operators define them (docs/pricefeed.md).
    ("GET", "/v1/feeds"): reads("pricefeed"),
    ("GET", "/v1/feeds/{pair}"): reads("pricefeed"),
    ("GET", "/v1/feeds/{pair}/rounds"): reads("pricefeed"),
    ("GET", "/v1/feeds/{pair}/rounds/{round_id}"): reads("pricefeed"),
    ("POST", "/v1/feeds"): platform(
        body={"pair": "TBL/USD", "sources": [{"name": "b", "adapter": "binance", "symbol": "TBLUSDT"}]}
    ),
    ("PATCH", "/v1/feeds/{pair}"): platform(body={"deviation_bps": 10}),
    ("DELETE", "/v1/feeds/{pair}"): platform(),
}


@dataclass(frozen=True)
class Served:
    """A route as the app serves it: whether it authenticates its caller, and what it declares."""

    authenticated: bool
    declared: tuple[Requirement, ...]


def app_routes(app: FastAPI) -> dict[tuple[str, str], Served]:
    """Every (method, path) the app serves, read from ``app.routes``."""
    routes: dict[tuple[str, str], Served] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            calls = list(dependency_calls(route.dependant))
            declared = tuple(call.requirement for call in calls if isinstance(call, Guard))
            # A declared requirement authenticates the caller itself (api.guards.Guard); a route can also
            # take the principal alone (CurrentPrincipal: the authenticate dependency).
            served = Served(authenticated=authenticate in calls or bool(declared), declared=declared)
            for method in route.methods or ():
                routes[(method, str(context.path))] = served
    return routes


def declaration_errors(app: FastAPI, table: dict[tuple[str, str], Access | None]) -> list[str]:
    """The routes whose declaration is not the table's: an authenticated route declares exactly the
    table's requirement, a public route none."""
    errors = []
    for route, served in sorted(app_routes(app).items()):
        access = table.get(route)
        expected = () if access is None else (access.requirement,)
        if served.authenticated and not served.declared:
            errors.append(f"{route}: authenticates its caller but declares no requirement")
        elif served.declared != expected:
            errors.append(f"{route}: declares {served.declared}, the table says {expected}")
    return errors


def _app() -> FastAPI:
    return create_app(Settings(data_dir=Path("/nonexistent")))


def test_every_route_declares_the_tables_requirement() -> None:
    assert declaration_errors(_app(), ACCESS) == []


def test_a_route_without_its_declaration_fails_the_check() -> None:
    """The attack on the check itself: a route that reads the caller's principal and decides nothing,
    and a write route declaring a mere read, both served by the app, are both caught."""
    app = _app()

    async def undeclared(principal: CurrentPrincipal) -> None: ...

    async def lenient(key_id: str, ctx: Annotated[RequestContext, Requires("keys", READ)]) -> None: ...

    app.add_api_route("/v1/keys/{key_id}/undeclared", undeclared, methods=["POST"])
    app.add_api_route("/v1/keys/{key_id}/lenient", lenient, methods=["POST"])
    table = {
        **ACCESS,
        ("POST", "/v1/keys/{key_id}/undeclared"): writes("keys"),
        ("POST", "/v1/keys/{key_id}/lenient"): writes("keys"),
    }
    assert declaration_errors(app, table) == [
        f"('POST', '/v1/keys/{{key_id}}/lenient'): declares {(Requirement('keys', READ),)}, "
        f"the table says {(Requirement('keys', WRITE),)}",
        "('POST', '/v1/keys/{key_id}/undeclared'): authenticates its caller but declares no requirement",
    ]


def test_every_route_has_a_decision() -> None:
    served = app_routes(_app())
    undecided = sorted(set(served) - set(ACCESS))
    stale = sorted(set(ACCESS) - set(served))
    assert not undecided, f"routes without an entry in ACCESS (decide who may call them): {undecided}"
    assert not stale, f"ACCESS entries for routes the app does not serve: {stale}"
    public_mismatch = sorted(
        route for route, facts in served.items() if facts.authenticated == (ACCESS[route] is None)
    )
    assert not public_mismatch, (
        f"public in ACCESS but authenticated by the app, or the reverse: {public_mismatch}"
    )


def _outcome(response: httpx.Response) -> str:
    """``"<status> <code>"`` for refusals and failures, :data:`ANSWERED` for an answer of the route."""
    is_problem = response.headers.get("content-type", "").startswith("application/problem+json")
    body = response.json() if is_problem else {}
    request_invalid = response.status_code == 422 and "errors" in body  # never reached the route
    if response.status_code in (401, 403) or response.status_code >= 500 or request_invalid:
        return f"{response.status_code} {body.get('code')}"
    return ANSWERED


@dataclass(frozen=True)
class Credentials:
    """API keys by role: one with every scope, and per service one with every scope but that service's."""

    full: dict[str, str]
    lacking: dict[tuple[str, str], str]

    def key(self, role: str, access: Access, scoped: bool) -> str:
        if scoped:
            return self.full[role]
        return self.lacking[(role, access.service or "account")]


async def _credentials(client: httpx.AsyncClient, admin_key: str, owner_key: str) -> Credentials:
    full = {"owner": owner_key, "admin": admin_key}
    lacking: dict[tuple[str, str], str] = {}
    for role in ROLES:
        maker = admin_key if role == "admin" else owner_key
        if role not in full:
            full[role] = await new_secret(client, maker, name=f"{role}-all", role=role)
        for service in SERVICES:
            scopes = [f"{other}:write" for other in SERVICES if other != service]
            lacking[(role, service)] = await new_secret(
                client, maker, name=f"{role}-no-{service}", role=role, scopes=scopes
            )
    return Credentials(full, lacking)


async def _store_secret(client: httpx.AsyncClient, key: str) -> None:
    """The secret the table reads, in the account of ``key`` (so value reads reach a real value)."""
    identity = verify_attestation((await client.get("/v1/attestation")).json(), allow_software=True)
    account_id = (await client.get("/v1/account", headers=auth(key))).json()["id"]
    sealed = seal_secret_value(identity, account_id, SECRET, b"table-value", cas=0)
    response = await client.put(f"/v1/secrets/{SECRET}", json={"sealed_value": sealed}, headers=auth(key))
    assert response.status_code == 201, response.text


async def test_each_route_admits_exactly_its_roles_and_scopes(app_factory: AppFactory) -> None:
    running = await app_factory(rate_limits=NO_RATE_LIMITS)
    client = running.client
    async with running.state.db.transaction() as session:
        issued = await bootstrap(session)
    assert issued is not None
    tenant = await make_tenant(client, issued.plaintext, "route-table")
    credentials = await _credentials(client, issued.plaintext, tenant.owner_key)
    for key in (tenant.owner_key, issued.plaintext):
        await _store_secret(client, key)

    failures: list[str] = []
    answered = 0
    for (method, path), access in ACCESS.items():
        url = path.format(**PATH_VALUES)
        if access is None:
            got = _outcome(await client.request(method, url))
            if got != ANSWERED:
                failures.append(f"{method} {path} (public) without a credential: got {got}")
            continue
        sample: dict[str, Any] = {"json": access.body, "params": access.query}
        got = _outcome(await client.request(method, url, **sample))
        if got != "401 unauthenticated":
            failures.append(f"{method} {path} without a credential: expected 401 unauthenticated, got {got}")
        for role in ROLES:
            for scoped in (True, False):
                headers = auth(credentials.key(role, access, scoped))
                got = _outcome(await client.request(method, url, headers=headers, **sample))
                expected = access.expected(role, scoped)
                answered += got == ANSWERED
                if got != expected:
                    holding = "with" if scoped else "without"
                    failures.append(
                        f"{method} {path} as {role} {holding} {access.scope or 'any scope'}: "
                        f"expected {expected}, got {got}"
                    )
    assert not failures, f"{len(failures)} calls were not decided as ACCESS says:\n" + "\n".join(failures)
    assert answered > 0  # the positive control: allowed calls did reach their routes
