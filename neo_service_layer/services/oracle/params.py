"""An oracle request as the caller gives it, checked into typed parameters with stable error codes.

Every rule is checked here, before anything is sent or recorded (testable without HTTP): the URL is
absolute with a host and no secret before its path, headers are from the allow-list, placeholders are
well formed, the filter parses in the N3 dialect, the aggregation fits the sources, and the limits are
within the operator's. The scheme is *not* refused here: ``ftp://`` is an N3 outcome
(``ProtocolNotSupported``), recorded and signed like any other, as on Neo N3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from neo_service_layer.enclave.opdefs.oracle import MAX_FILTER_CHARS, MAX_TIMEOUT_MS, SPREAD_PATTERN
from neo_service_layer.enclave.oracle import template
from neo_service_layer.enclave.oracle.aggregate import MAX_SOURCES, AggregateMode
from neo_service_layer.enclave.oracle.extract import ExtractSpec, ValueType
from neo_service_layer.enclave.oracle.query import FilterSyntax, QueryInvalid, check_query
from neo_service_layer.services.oracle.errors import (
    OracleAggregateInvalid,
    OracleExtractInvalid,
    OracleFilterInvalid,
    OracleHeaderNotAllowed,
    OracleLimitExceeded,
    OracleTooManySources,
    OracleUrlInvalid,
)

Method = Literal["GET", "POST"]


@dataclass(frozen=True, slots=True)
class SourceParams:
    """One checked source: URL template, method, headers and body, and the host it goes to."""

    url: str
    host: str
    method: Method = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    secret_names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OracleParams:
    """A checked request."""

    sources: tuple[SourceParams, ...]
    filter: str | None
    filter_syntax: FilterSyntax
    extract: ExtractSpec | None
    aggregate: AggregateMode
    quorum: int | None
    max_spread: str | None
    max_response_bytes: int
    timeout_ms: int

    @property
    def hosts(self) -> frozenset[str]:
        """The destination hosts of the sources."""
        return frozenset(source.host for source in self.sources)


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's limits: defaults and maxima of a request's response size and timeout."""

    max_response_bytes: int
    max_response_bytes_limit: int
    timeout_ms: int
    timeout_ms_limit: int = MAX_TIMEOUT_MS


def check_filter(path: str | None, syntax: FilterSyntax = FilterSyntax.N3) -> str | None:
    """``path`` if it parses in ``syntax`` (or is absent); :class:`OracleFilterInvalid` otherwise."""
    if path is None:
        return None
    if len(path) > MAX_FILTER_CHARS:
        raise OracleFilterInvalid(f"the filter is over {MAX_FILTER_CHARS} characters")
    try:
        check_query(syntax, path)
    except QueryInvalid as exc:
        raise OracleFilterInvalid(f"invalid {syntax.value} filter: {exc}") from exc
    return path


def check_extract(value_type: ValueType | None, decimals: int) -> ExtractSpec | None:
    """The typed extraction asked for, or None; :class:`OracleExtractInvalid` for a bad one."""
    if value_type is None:
        if decimals:
            raise OracleExtractInvalid("decimals need an extract type")
        return None
    try:
        return ExtractSpec(value_type, decimals)
    except ValueError as exc:
        raise OracleExtractInvalid(str(exc)) from exc


def parse_source(url: str, method: Method, headers: dict[str, str], body: str | None) -> SourceParams:
    """One source, checked (module docstring)."""
    try:
        host = template.template_host(url)
    except template.TemplateError as exc:
        raise OracleUrlInvalid(f"invalid URL: {exc}") from exc
    except ValueError as exc:  # urlsplit: an invalid IPv6 literal or port
        raise OracleUrlInvalid(f"invalid URL: {exc}") from exc
    if method == "GET" and body is not None:
        raise OracleHeaderNotAllowed("a GET request has no body; use POST")
    try:
        template.check_headers(headers)
        names = template.secret_names(url, headers, body)
    except template.TemplateError as exc:
        raise OracleHeaderNotAllowed(str(exc)) from exc
    return SourceParams(url, host, method, dict(headers), body, frozenset(names))


def _check_aggregate(mode: AggregateMode, quorum: int | None, max_spread: str | None, sources: int) -> None:
    if quorum is not None and not 1 <= quorum <= sources:
        raise OracleAggregateInvalid(f"quorum must be 1..{sources} (the number of sources)")
    if max_spread is not None:
        if mode is not AggregateMode.MEDIAN:
            raise OracleAggregateInvalid("max_spread applies to the median only")
        if not re.fullmatch(SPREAD_PATTERN, max_spread):
            raise OracleAggregateInvalid("max_spread is a decimal fraction such as 0.005 (0.5 %)")


def parse_request(
    sources: list[SourceParams],
    *,
    filter_path: str | None,
    filter_syntax: FilterSyntax = FilterSyntax.N3,
    extract: ExtractSpec | None = None,
    aggregate: AggregateMode,
    quorum: int | None,
    max_spread: str | None,
    max_response_bytes: int | None,
    timeout_ms: int | None,
    limits: Limits,
) -> OracleParams:
    """Check a whole request (each source already checked by :func:`parse_source`)."""
    if not 1 <= len(sources) <= MAX_SOURCES:
        raise OracleTooManySources(f"a request has 1..{MAX_SOURCES} sources, got {len(sources)}")
    _check_aggregate(aggregate, quorum, max_spread, len(sources))
    size = limits.max_response_bytes if max_response_bytes is None else max_response_bytes
    if not 1 <= size <= limits.max_response_bytes_limit:
        raise OracleLimitExceeded(f"max_response_bytes must be 1..{limits.max_response_bytes_limit}")
    timeout = limits.timeout_ms if timeout_ms is None else timeout_ms
    if not 1 <= timeout <= limits.timeout_ms_limit:
        raise OracleLimitExceeded(f"timeout_ms must be 1..{limits.timeout_ms_limit}")
    return OracleParams(
        tuple(sources),
        check_filter(filter_path, filter_syntax),
        filter_syntax,
        extract,
        aggregate,
        quorum,
        max_spread,
        size,
        timeout,
    )
