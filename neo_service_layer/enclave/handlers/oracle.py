"""``oracle.fetch``: fetch each source inside the enclave, filter, agree, sign (docs/oracle.md).

Everything the answer's trust depends on happens here, where the host cannot reach it: the granted
secrets are decrypted and substituted (``oracle/template.py``: only into requests for a host that
their grant names *and* that the writer sealed with the value, docs/secrets.md), the requests leave
through ``ctx.fetcher`` (the enclave's own TLS, destination checks on the address actually dialled:
``oracle/fetch.py``), the N3 filter runs on the body the server sent (``oracle/filter.py``), and the
sources' outcomes are aggregated (``oracle/aggregate.py``). The host sees the signed result, and never
a secret: a result that echoes a substituted value back is refused.

A server's answer maps to a code as neo-go's oracle maps it (``pkg/services/oracle/request.go``): only
200 goes on to the body (an empty body is an ``Error``, as ``readResponse`` makes it), 403 is
``Forbidden``, 404 ``NotFound``, 408 ``Timeout``, anything else ``Error``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from neo_service_layer.enclave.capabilities import HttpRequest
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers.secrets import resolve_secrets
from neo_service_layer.enclave.opdefs.oracle import (
    FETCH,
    Extract,
    FetchArgs,
    FetchResult,
    GrantedSecret,
    Source,
    SourceReport,
)
from neo_service_layer.enclave.opdefs.secrets import ResolveArgs, StoredVersion
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle import template
from neo_service_layer.enclave.oracle.aggregate import AggregateSpec, SourceOutcome, aggregate
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.extract import ExtractSpec, abi_encode, extract
from neo_service_layer.enclave.oracle.fetch import status_code
from neo_service_layer.enclave.oracle.filter import FilterError
from neo_service_layer.enclave.oracle.query import FilterSyntax, select
from neo_service_layer.enclave.protocol import InvalidArgs

registry = OpRegistry()

ECHO_REFUSED: Final = "the response holds a granted secret's value: refused"
# N3's MaxOracleResultSize; the fetcher's policy may cap lower, never higher.
DEFAULT_MAX_RESPONSE_BYTES: Final = 0xFFFF
DEFAULT_TIMEOUT_MS: Final = 5_000


@dataclass(frozen=True, slots=True)
class OracleQuery:
    """What an oracle request asks, whatever it came from (the API's ``oracle.fetch``, a gateway
    request, a native N3 ``OracleRequest``): sources, filter, how they must agree, limits, secrets."""

    account_id: str
    sources: Sequence[Source]
    filter: str | None
    filter_syntax: FilterSyntax = FilterSyntax.N3
    extract: ExtractSpec | None = None
    aggregate: AggregateSpec = field(default_factory=AggregateSpec)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    secrets: Sequence[GrantedSecret] = ()


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """The agreed answer (code, result bytes, why) and every source's report."""

    code: OracleCode
    result: bytes
    detail: str
    sources: list[SourceReport]
    fetched_at_ms: int
    abi: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A source ready to leave: its host, the request with values substituted, the values it carries."""

    host: str
    request: HttpRequest
    secrets: tuple[bytes, ...]


def _granted(
    ctx: EnclaveContext, account_id: str, secrets: Sequence[GrantedSecret]
) -> dict[str, dict[str, bytes]]:
    """The granted secrets' values by destination host, then name (decrypted here, never returned)."""
    by_host: dict[str, list[StoredVersion]] = {}
    for granted in secrets:
        host = granted.host.lower()
        # The host's word on the grant is not enough: the writer's sealed hosts must name it too
        # (bound into the ciphertext, so a host that presents other hosts gets no plaintext).
        if host not in granted.stored.allowed_hosts:
            raise InvalidArgs(
                f"secret {granted.stored.name} may not be sent to {host}: it was not sealed with that host"
            )
        by_host.setdefault(host, []).append(granted.stored)
    return {
        host: resolve_secrets(ctx, ResolveArgs(account_id=account_id, secrets=stored))
        for host, stored in by_host.items()
    }


def _prepare(source: Source, granted: Mapping[str, Mapping[str, bytes]], query: OracleQuery) -> _Prepared:
    try:
        template.check_headers(source.headers)
        names = template.secret_names(source.url, source.headers, source.body)
        host = template.template_host(source.url)
        values = granted.get(host, {})
        missing = sorted(names - values.keys())
        if missing:
            raise template.TemplateError(f"secret {missing[0]} is not granted to oracle requests for {host}")
        headers = {name: template.substitute_header(value, values) for name, value in source.headers.items()}
        body = b"" if source.body is None else template.substitute_body(source.body, values).encode()
        request = HttpRequest(
            source.method,
            template.substitute_url(source.url, values),
            timeout_seconds=query.timeout_ms / 1000,
            max_bytes=query.max_response_bytes,
            headers=headers,
            body=body,
            tenant=query.account_id,
        )
    except (template.TemplateError, ValueError) as exc:
        raise InvalidArgs(str(exc)) from exc
    return _Prepared(host, request, tuple(values[name] for name in sorted(names)))


async def _fetch_one(ctx: EnclaveContext, prepared: _Prepared, query: OracleQuery) -> SourceReport:
    status: int | None = None
    leaf: str | None = None
    try:
        response = await ctx.fetcher.fetch(prepared.request)
        status, leaf = response.status, _hex(response.tls_leaf_sha256)
        # The oracle's fetcher already fails on these (FetchPolicy.fail_on_status); a fetcher that
        # does not still gets no body through.
        code = status_code(status)
        if code is not OracleCode.Success:
            raise OracleFailure(code, f"{prepared.host} answered HTTP {status}")
        if not response.body:
            raise OracleFailure(OracleCode.Error, f"{prepared.host} sent an empty body")
        result = select(response.body, query.filter_syntax, query.filter)
        if query.extract is not None:
            result = extract(result, query.extract)
        if template.echoes(result, prepared.secrets):
            raise OracleFailure(OracleCode.Error, ECHO_REFUSED)
    except (OracleFailure, FilterError) as failure:
        code, result, detail = failure.code, b"", failure.detail
    else:
        code, detail = OracleCode.Success, ""
    return SourceReport(
        host=prepared.host, code=code.name, status=status, result=result, tls_leaf_sha256=leaf, detail=detail
    )


def _hex(digest: bytes | None) -> str | None:
    return None if digest is None else digest.hex()


async def answer(ctx: EnclaveContext, query: OracleQuery) -> OracleAnswer:
    """Fetch, filter and aggregate ``query``'s sources: what every oracle op answers with (module
    docstring). A source's failure is its report's code; InvalidArgs only for a request that breaks a
    rule (a placeholder where none may be, a secret not sealed for its host)."""
    granted = _granted(ctx, query.account_id, query.secrets)
    prepared = [_prepare(source, granted, query) for source in query.sources]
    reports = await asyncio.gather(*(_fetch_one(ctx, item, query) for item in prepared))
    agreement = aggregate(
        query.aggregate, [SourceOutcome(OracleCode[report.code], report.result) for report in reports]
    )
    code, result, detail = agreement.code, agreement.result, agreement.detail
    abi: bytes | None = None
    if query.extract is not None and code is OracleCode.Success:
        try:
            abi = abi_encode(result, query.extract)
        except OracleFailure as failure:  # e.g. the mean of two uint256 values is not one
            code, result, detail = failure.code, b"", failure.detail
    return OracleAnswer(
        code=code,
        result=result,
        detail=detail or (reports[0].detail if len(reports) == 1 else ""),
        sources=list(reports),
        fetched_at_ms=time.time_ns() // 1_000_000,
        abi=abi,
    )


def _spec(args: Extract) -> ExtractSpec:
    try:
        return args.spec()
    except ValueError as exc:
        raise InvalidArgs(str(exc)) from exc


@registry.handler(FETCH)
async def fetch(ctx: EnclaveContext, args: FetchArgs) -> FetchResult:
    """``oracle.fetch``: :func:`answer` for a request made over the API, signed."""
    spread = None if args.max_spread is None else Decimal(args.max_spread)
    query = OracleQuery(
        account_id=args.account_id,
        sources=args.sources,
        filter=args.filter,
        filter_syntax=args.filter_syntax,
        extract=None if args.extract is None else _spec(args.extract),
        aggregate=AggregateSpec(args.aggregate, args.quorum, spread),
        max_response_bytes=args.max_response_bytes,
        timeout_ms=args.timeout_ms,
        secrets=args.secrets,
    )
    result = await answer(ctx, query)
    return FetchResult(
        request_id=args.request_id,
        code=result.code.name,
        result=result.result,
        abi=result.abi,
        detail=result.detail,
        sources=result.sources,
        fetched_at=result.fetched_at_ms,
    )
