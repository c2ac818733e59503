"""The oracle's enclave op ``oracle.fetch`` (handler: ``handlers/oracle.py``; docs/oracle.md).

The args are the request as the caller wrote it — sources (URL, method, headers, body with
``{{secrets.NAME}}`` placeholders, never values), filter, how the sources must agree, limits — plus the
stored records of the secrets granted to the request's hosts, which are :data:`UNSIGNED`: the signed
``params`` are exactly what the caller asked for. The result says what the oracle answers (its N3
code by name, the result bytes) and what each source gave, with the SHA-256 of the TLS certificate that
source's server presented, so a reader can tell which servers the answer came from.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.opdefs.base import SignedOp
from neo_service_layer.enclave.opdefs.secrets import MAX_RESOLVED_SECRETS, StoredVersion
from neo_service_layer.enclave.oracle.aggregate import MAX_SOURCES, AggregateMode
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import MAX_DECIMALS, ExtractSpec, ValueType
from neo_service_layer.enclave.oracle.query import FilterSyntax
from neo_service_layer.enclave.oracle.template import MAX_HEADERS
from neo_service_layer.enclave.schemas import UNSIGNED, EnclaveModel, Hex32, SignedArgs
from neo_service_layer.ids import ResourceId

MAX_URL_CHARS: Final = 2048
MAX_FILTER_CHARS: Final = 1024
MAX_BODY_CHARS: Final = 16 * 1024
#: The largest response an operator may allow per source (the default, N3's, is 65,535 bytes).
MAX_RESPONSE_BYTES_LIMIT: Final = 4 * 1024 * 1024
MAX_TIMEOUT_MS: Final = 60_000
# A decimal fraction such as "0.005" (0.5 %): bounded digits keep the exact median cheap.
SPREAD_PATTERN: Final = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,18})?$"

# An OracleCode by name ("Success", "Forbidden", ...): the name is what the API and the signature carry.
CODE_NAME_PATTERN: Final = "^(" + "|".join(code.name for code in OracleCode) + ")$"
CodeName = Annotated[str, Field(pattern=CODE_NAME_PATTERN)]
AggregateModeField = Annotated[AggregateMode, Field(strict=False)]
FilterSyntaxField = Annotated[FilterSyntax, Field(strict=False)]
ValueTypeField = Annotated[ValueType, Field(strict=False)]


class Extract(EnclaveModel):
    """Typed extraction of the filter's one value (``oracle/extract.py``)."""

    type: ValueTypeField
    decimals: Annotated[int, Field(ge=0, le=MAX_DECIMALS)] = 0

    def spec(self) -> ExtractSpec:
        """The spec (ValueError for decimals on a string or bool)."""
        return ExtractSpec(self.type, self.decimals)


class Source(EnclaveModel):
    """One URL to fetch, as the caller wrote it (placeholders, not values)."""

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)]
    method: Literal["GET", "POST"] = "GET"
    headers: Annotated[dict[str, str], Field(max_length=MAX_HEADERS)] = Field(default_factory=dict)
    body: Annotated[str, Field(max_length=MAX_BODY_CHARS)] | None = None


class GrantedSecret(EnclaveModel):
    """A secret granted to oracle requests for ``host``, as the host stores it."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    stored: StoredVersion


class FetchArgs(SignedArgs):
    """``oracle.fetch``: fetch every source, filter, agree, sign."""

    request_id: ResourceId
    sources: Annotated[list[Source], Field(min_length=1, max_length=MAX_SOURCES)]
    filter: Annotated[str, Field(max_length=MAX_FILTER_CHARS)] | None = None
    filter_syntax: FilterSyntaxField = FilterSyntax.N3
    extract: Extract | None = None
    aggregate: AggregateModeField = AggregateMode.IDENTICAL
    quorum: Annotated[int, Field(ge=1, le=MAX_SOURCES)] | None = None
    max_spread: Annotated[str, Field(pattern=SPREAD_PATTERN)] | None = None
    max_response_bytes: Annotated[int, Field(ge=1, le=MAX_RESPONSE_BYTES_LIMIT)]
    timeout_ms: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_MS)]
    secrets: Annotated[list[GrantedSecret], Field(max_length=MAX_RESOLVED_SECRETS), UNSIGNED] = Field(
        default_factory=list
    )


class SourceReport(EnclaveModel):
    """What one source gave: its code, HTTP status, filtered result and server certificate."""

    host: str
    code: CodeName
    status: int | None
    result: B64Bytes
    tls_leaf_sha256: Hex32 | None
    detail: str


class FetchResult(EnclaveModel):
    """The oracle's answer; ``fetched_at`` is when the last source answered, in Unix milliseconds. The
    request it answers is in the envelope: ``request_hash`` covers the op, account and params."""

    request_id: str
    code: CodeName
    result: B64Bytes
    # The agreed value ABI-encoded, when the request asked for typed extraction and it succeeded.
    abi: B64Bytes | None = None
    detail: str
    sources: list[SourceReport]
    fetched_at: int


FETCH: Final = SignedOp("oracle.fetch", FetchArgs, FetchResult)
