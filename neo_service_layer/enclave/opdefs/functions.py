"""The functions' enclave ops (handler: ``handlers/functions.py``; docs/functions.md).

``functions.check`` compiles a source in a sandbox process without running it: ``ok`` or the syntax
error with its line and column (what the API reports at deploy). ``functions.run`` (signed) runs one
version of a function in a fresh sandbox context: the signed ``params`` name the function, version,
run id, the exact source, args, limits and allowed domains; the stored records of the granted secrets
are :data:`UNSIGNED` (values never leave the enclave). The result carries the SHA-256 of the source and
of the canonical args, so a reader who holds only the envelope can tell which code ran on which input
(``client.verify_function_result``). ``functions.pool_stats`` tells the API's metrics how the sandbox pool
stands.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, Field, field_validator

from neo_service_layer.enclave.canonical import CanonicalJSONError, canonical_json
from neo_service_layer.enclave.functions import limits as lim
from neo_service_layer.enclave.functions.runs import RunStatus
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.opdefs.secrets import MAX_RESOLVED_SECRETS, StoredVersion
from neo_service_layer.enclave.schemas import UNSIGNED, EnclaveModel, Hex32, NoArgs, SignedArgs
from neo_service_layer.ids import ResourceId

#: The largest source the enclave accepts (the service may set a lower limit).
MAX_SOURCE_CHARS: Final = 256 * 1024
MAX_ALLOWED_DOMAINS: Final = 32
#: A domain of the allow-list: a host name in lower case (a listed domain allows its subdomains).
DOMAIN_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
MAX_VERSION: Final = 2**31 - 1

StatusName = Literal["succeeded", "failed", "timed_out", "memory_exceeded", "output_too_large", "crashed"]
if set(get_args(StatusName)) != {status.value for status in RunStatus}:  # kept in step with the pool's
    raise ImportError("functions.run's StatusName and RunStatus differ")


def _valid_unicode(text: str) -> str:
    # The source's hash is of its UTF-8 bytes: a lone surrogate (possible in JSON) has none.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("source is not valid Unicode") from None
    return text


Source = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE_CHARS), AfterValidator(_valid_unicode)]
Domain = Annotated[str, Field(min_length=1, max_length=253, pattern=DOMAIN_PATTERN)]


class Limits(EnclaveModel):
    """:class:`~neo_service_layer.enclave.functions.limits.RunLimits` on the wire, bounded by the
    operator's maximums (the pool's own maximums may be lower: then the run is refused)."""

    timeout_ms: Annotated[int, Field(ge=1, le=lim.MAX_TIMEOUT_MS)] = lim.DEFAULT_TIMEOUT_MS
    memory_mb: Annotated[int, Field(ge=lim.MIN_MEMORY_MB, le=lim.MAX_MEMORY_MB)] = lim.DEFAULT_MEMORY_MB
    max_output_bytes: Annotated[int, Field(ge=0, le=lim.MAX_OUTPUT_BYTES)] = lim.DEFAULT_MAX_OUTPUT_BYTES
    max_log_bytes: Annotated[int, Field(ge=0, le=lim.MAX_LOG_BYTES)] = lim.DEFAULT_MAX_LOG_BYTES
    max_fetches: Annotated[int, Field(ge=0, le=lim.MAX_FETCHES)] = lim.DEFAULT_MAX_FETCHES
    max_fetch_response_bytes: Annotated[int, Field(ge=0, le=lim.MAX_FETCH_RESPONSE_BYTES)] = (
        lim.DEFAULT_MAX_FETCH_RESPONSE_BYTES
    )

    def run_limits(self) -> lim.RunLimits:
        return lim.RunLimits(**self.model_dump())


class CheckArgs(EnclaveModel):
    """``functions.check``: compile ``source`` (the body of an async function) without running it."""

    source: Source


class CheckResult(EnclaveModel):
    """``ok``, or the first syntax error: its message and 1-based line and column in ``source`` (the
    position of the function body as the author wrote it, not of the wrapper around it)."""

    ok: bool
    message: str | None = None
    line: int | None = None
    column: int | None = None


class RunArgs(SignedArgs):
    """``functions.run``: run version ``version`` of ``function_id`` as run ``run_id``.

    ``args`` must have a canonical JSON form (RFC 8785: no floats outside the safe integers' exactness,
    valid Unicode): its hash is what the result names. ``secrets`` are the stored records of the
    secrets granted to the function (a secret is given to the JavaScript only if the writer sealed it
    with every one of the function's allowed domains, docs/functions.md "Secrets")."""

    function_id: ResourceId
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)]
    run_id: ResourceId
    source: Source
    args: Any = None
    limits: Limits = Field(default_factory=Limits)
    allowed_domains: Annotated[list[Domain], Field(max_length=MAX_ALLOWED_DOMAINS)] = Field(
        default_factory=list
    )
    secrets: Annotated[list[StoredVersion], Field(max_length=MAX_RESOLVED_SECRETS), UNSIGNED] = Field(
        default_factory=list
    )

    @field_validator("args")
    @classmethod
    def _canonical(cls, value: Any) -> Any:
        try:
            canonical_json(value)
        except CanonicalJSONError as exc:
            raise ValueError(f"args have no canonical JSON form: {exc}") from None
        return value


class RunErrorInfo(EnclaveModel):
    """A JavaScript error: name, message and JavaScript stack (never host internals)."""

    name: str
    message: str
    stack: str = ""


class RunOutcome(EnclaveModel):
    """What ``functions.run`` answers (signed: the envelope's ``request_hash`` covers the params).

    ``result`` is the returned value as JSON text (``succeeded`` only); ``duration_ms`` is whole
    milliseconds measured by the enclave; ``memory_bytes`` the engine's peak where measured."""

    run_id: str
    function_id: str
    version: int
    source_sha256: Hex32
    args_sha256: Hex32
    status: StatusName
    result: str | None
    error: RunErrorInfo | None
    logs: str
    logs_truncated: bool
    fetches: int
    duration_ms: int
    memory_bytes: int | None


class PoolStatsResult(EnclaveModel):
    """``functions.pool_stats``: the sandbox pool's processes kept, idle now and replaced since the
    enclave started, and their seccomp filter (``enclave.functions.runs.PoolStats``)."""

    size: int
    idle: int
    replaced: int
    seccomp: str


CHECK: Final = Op("functions.check", CheckArgs, CheckResult)
POOL_STATS: Final = Op("functions.pool_stats", NoArgs, PoolStatsResult)
RUN: Final = SignedOp("functions.run", RunArgs, RunOutcome)

# Names the brief uses (the service may import either).
FUNCTIONS_CHECK: Final = CHECK
FUNCTIONS_RUN: Final = RUN
