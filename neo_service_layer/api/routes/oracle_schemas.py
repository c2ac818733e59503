"""Request and response bodies of ``/v1/oracle``.

Bodies check JSON types and sizes; the rules (URL, headers, placeholders, filter, aggregation, limits)
are checked by ``services.oracle.params`` so that each failure has its own ``oracle_*`` code. A
request names one URL (``url`` with ``method``, ``headers``, ``body``) or up to 7 ``sources``, each
with its own. ``result`` is the filter's output as JSON text; ``envelope`` is the enclave's signed
answer unchanged (``client.verify_oracle_result``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from neo_service_layer.api.routes.schemas import StrictBody
from neo_service_layer.enclave.opdefs.oracle import (
    MAX_BODY_CHARS,
    MAX_FILTER_CHARS,
    MAX_URL_CHARS,
    CodeName,
)
from neo_service_layer.enclave.oracle.aggregate import AggregateMode
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import ValueType
from neo_service_layer.enclave.oracle.query import FilterSyntax
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.oracle.errors import (
    OracleDocumentInvalid,
    OracleHeaderNotAllowed,
    OracleTooManySources,
    OracleUrlInvalid,
)
from neo_service_layer.services.oracle.models import OracleRequest
from neo_service_layer.services.oracle.params import (
    Limits,
    OracleParams,
    SourceParams,
    check_extract,
    parse_request,
    parse_source,
)
from neo_service_layer.services.oracle.service import source_result_text

# Wide enough that the service's own checks (16 headers, 7 sources) answer with their codes.
MAX_HEADER_ITEMS = 64
MAX_SOURCE_ITEMS = 64
MAX_DOCUMENT_CHARS = 4 * 1024 * 1024
Method = Literal["GET", "POST"]
Headers = Annotated[
    dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=8192)]],
    Field(max_length=MAX_HEADER_ITEMS),
]
Url = Annotated[
    str, Field(max_length=MAX_URL_CHARS, description="https:// (http:// where the operator allows it)")
]


class ExtractIn(StrictBody):
    """``{"type": "int256" | "uint256" | "string" | "bool", "decimals": 0..77}`` (decimals: numbers only)."""

    type: ValueType
    decimals: int = Field(default=0, strict=True)


class SourceIn(StrictBody):
    """One URL to fetch; ``{{secrets.NAME}}`` in its path, query, header values or body."""

    url: Url
    method: Method = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)

    def checked(self) -> SourceParams:
        return parse_source(self.url, self.method, self.headers, self.body)


class OracleRequestIn(StrictBody):
    """One URL (``url``…) or several (``sources``), one filter, how the sources must agree."""

    url: Url | None = None
    method: Method = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    sources: list[SourceIn] | None = Field(default=None, max_length=MAX_SOURCE_ITEMS)
    filter_syntax: FilterSyntax = Field(
        default=FilterSyntax.N3, description="n3 (Neo N3's dialect) or rfc9535"
    )
    extract: ExtractIn | None = Field(
        default=None, description="the filter's one value as a typed, ABI-encoded value"
    )
    filter: str | None = Field(
        default=None, max_length=MAX_FILTER_CHARS * 4, description="N3 JSONPath, e.g. $.price"
    )
    aggregate: AggregateMode = AggregateMode.IDENTICAL
    quorum: int | None = Field(default=None, strict=True)
    max_spread: str | None = Field(
        default=None, max_length=40, description="median only: a fraction, e.g. 0.005"
    )
    max_response_bytes: int | None = Field(default=None, strict=True)
    timeout_ms: int | None = Field(default=None, strict=True)

    def params(self, limits: Limits) -> OracleParams:
        """The checked request (typed 422s, docs/oracle.md)."""
        if (self.url is None) == (self.sources is None):
            raise OracleUrlInvalid("give url (one source) or sources (several), exactly one of them")
        if self.sources is not None:
            if self.headers or self.body is not None or self.method != "GET":
                raise OracleHeaderNotAllowed("with sources, give method, headers and body per source")
            if not self.sources:
                raise OracleTooManySources("a request has 1..7 sources, got 0")
            sources = [source.checked() for source in self.sources]
        else:
            assert self.url is not None
            sources = [parse_source(self.url, self.method, self.headers, self.body)]
        return parse_request(
            sources,
            filter_path=self.filter,
            filter_syntax=self.filter_syntax,
            extract=None if self.extract is None else check_extract(self.extract.type, self.extract.decimals),
            aggregate=self.aggregate,
            quorum=self.quorum,
            max_spread=self.max_spread,
            max_response_bytes=self.max_response_bytes,
            timeout_ms=self.timeout_ms,
            limits=limits,
        )


class SourceOut(BaseModel):
    host: str
    code: CodeName
    status: int | None
    result: str | None = Field(description="this source's filter output (JSON text)")
    tls_leaf_sha256: str | None = Field(description="SHA-256 of the server's TLS certificate (DER), hex")
    detail: str


class OracleRequestOut(BaseModel):
    """A recorded request and its answer: everything ``client.verify_oracle_result`` needs."""

    id: str
    account_id: str
    code: CodeName
    code_value: int = Field(description="the N3 OracleResponseCode byte")
    result: str | None = Field(description="the filter's output (JSON text) when code is Success")
    abi: str | None = Field(description="with extract: the answer ABI-encoded (hex, 0x-prefixed)")
    detail: str
    request: dict[str, object]
    request_hash: str
    sources: list[SourceOut]
    fetched_at: datetime
    created_at: datetime
    envelope: SignedResult

    @classmethod
    def of(cls, record: OracleRequest) -> OracleRequestOut:
        return cls(
            id=record.id,
            account_id=record.account_id,
            code=record.code,
            code_value=OracleCode[record.code].value,
            result=record.result.decode() if record.result else None,
            abi=None if record.abi is None else "0x" + record.abi.hex(),
            detail=record.detail,
            request=record.request,
            request_hash=record.request_hash,
            sources=[
                SourceOut(
                    host=report["host"],
                    code=report["code"],
                    status=report["status"],
                    result=source_result_text(report),
                    tls_leaf_sha256=report["tls_leaf_sha256"],
                    detail=report["detail"],
                )
                for report in record.sources
            ],
            fetched_at=record.fetched_at,
            created_at=record.created_at,
            envelope=SignedResult.model_validate(record.envelope),
        )


class FilterIn(StrictBody):
    """A filter and a document: ``document`` (JSON text) or ``document_base64`` (any bytes)."""

    filter: str | None = Field(max_length=MAX_FILTER_CHARS * 4)
    filter_syntax: FilterSyntax = FilterSyntax.N3
    document: str | None = Field(default=None, max_length=MAX_DOCUMENT_CHARS)
    document_base64: str | None = Field(default=None, max_length=MAX_DOCUMENT_CHARS * 2)

    def document_bytes(self) -> bytes:
        if (self.document is None) == (self.document_base64 is None):
            raise OracleDocumentInvalid("give document or document_base64, exactly one of them")
        if self.document is not None:
            return self.document.encode("utf-8", "surrogatepass")
        try:
            return base64.b64decode(self.document_base64 or "", validate=True)
        except ValueError:
            raise OracleDocumentInvalid("document_base64 is not base64") from None


class FilterOut(BaseModel):
    result: str = Field(description="the filter's output, JSON text, exactly as the oracle would answer")
