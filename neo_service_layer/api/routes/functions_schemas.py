"""Request and response bodies of ``/v1/functions``.

Bodies check JSON types and sizes; the rules (source size and syntax, limits against the operator's
maximums, the args schema) are the service's, so each failure has its own ``function_*`` code. The
source field admits more than the service's limit so that a large source gets
``function_source_too_large``, not a generic validation error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from neo_service_layer.api.routes.schemas import StrictBody

# The enclave's own rules for a domain list (lower case, no wildcards): what deploys is what runs.
from neo_service_layer.enclave.opdefs.functions import MAX_ALLOWED_DOMAINS, Domain
from neo_service_layer.enclave.opdefs.secrets import SecretName
from neo_service_layer.services.functions.models import Function, FunctionRun, FunctionVersion
from neo_service_layer.services.functions.service import MAX_SOURCE_BYTES, FunctionSpec

FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
MAX_SECRETS = 32
Limit = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)]
Source = Annotated[str, Field(min_length=1, max_length=2 * MAX_SOURCE_BYTES)]
Name = Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
RunMode = Literal["sync", "async"]
# Loose bounds on the body only: the service checks each entry and the count (at most 64), so a bad
# list is ``function_consumer_invalid``.
Consumers = Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=256)]


class LimitsIn(StrictBody):
    """Per-run limits; each left out takes the default (docs/functions.md), none above the maximum."""

    timeout_ms: Limit | None = None
    memory_mb: Limit | None = None
    max_output_bytes: Limit | None = None
    max_log_bytes: Limit | None = None
    max_fetches: Limit | None = None
    max_fetch_response_bytes: Limit | None = None

    def given(self) -> dict[str, int]:
        return self.model_dump(exclude_none=True)


class FunctionIn(StrictBody):
    """A function to deploy: ``source`` is the body of an async function (``args``, ``secrets``,
    ``console`` and ``fetch`` in scope; its return value is the result)."""

    name: Name
    source: Source
    limits: LimitsIn = Field(default_factory=LimitsIn)
    allowed_domains: Annotated[list[Domain], Field(max_length=MAX_ALLOWED_DOMAINS)] = Field(
        default_factory=list
    )
    secrets: Annotated[list[SecretName], Field(max_length=MAX_SECRETS)] = Field(default_factory=list)
    args_schema: dict[str, Any] | None = None
    #: Contracts that may call the function through the gateways (``evm:<chain id>:<address>``,
    #: ``n3:<magic>:<script hash>``); none by default.
    onchain_consumers: Consumers = Field(default_factory=list)

    def spec(self) -> FunctionSpec:
        return FunctionSpec(
            name=self.name,
            source=self.source,
            limits=self.limits.given(),
            allowed_domains=self.allowed_domains,
            secrets=self.secrets,
            args_schema=self.args_schema,
            onchain_consumers=self.onchain_consumers,
        )


class FunctionPatch(StrictBody):
    """What to change; a new ``source`` makes a new version. ``limits`` replaces the whole set."""

    name: Name | None = None
    source: Source | None = None
    limits: LimitsIn | None = None
    allowed_domains: Annotated[list[Domain], Field(max_length=MAX_ALLOWED_DOMAINS)] | None = None
    secrets: Annotated[list[SecretName], Field(max_length=MAX_SECRETS)] | None = None
    args_schema: dict[str, Any] | None = None
    #: Replaces the whole list (``[]``: no contract may call the function any more).
    onchain_consumers: Consumers | None = None

    def spec(self) -> FunctionSpec:
        return FunctionSpec(
            name=self.name,
            source=self.source,
            limits=None if self.limits is None else self.limits.given(),
            allowed_domains=self.allowed_domains,
            secrets=self.secrets,
            args_schema=self.args_schema,
            onchain_consumers=self.onchain_consumers,
        )


class FunctionOut(BaseModel):
    """A function and its current version."""

    id: str
    name: str
    version: int
    limits: dict[str, int]
    allowed_domains: list[str]
    secrets: list[str]
    args_schema: dict[str, Any] | None
    onchain_consumers: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, function: Function) -> FunctionOut:
        return cls(
            id=function.id,
            name=function.name,
            version=function.version,
            limits=function.limits,
            allowed_domains=function.allowed_domains,
            secrets=function.secrets,
            args_schema=function.args_schema,
            onchain_consumers=function.onchain_consumers,
            created_at=function.created_at,
            updated_at=function.updated_at,
        )


class VersionOut(BaseModel):
    """One version's source and its SHA-256 (hex, of the UTF-8 bytes: what runs sign)."""

    function_id: str
    version: int
    source: str
    source_sha256: str
    created_at: datetime

    @classmethod
    def of(cls, version: FunctionVersion) -> VersionOut:
        return cls(
            function_id=version.function_id,
            version=version.version,
            source=version.source,
            source_sha256=version.source_sha256,
            created_at=version.created_at,
        )


class RunIn(StrictBody):
    """``args`` (any JSON, checked against the function's ``args_schema``) and how to wait for it."""

    args: Any = None
    mode: RunMode = "sync"


class RunOut(BaseModel):
    """A run: ``status`` ``queued``/``running`` until it ends, then how it ended (``succeeded``,
    ``failed``, ``timed_out``, …); ``result`` the returned value as JSON text; ``envelope`` the
    enclave's signed result unchanged (``client.verify_function_result``)."""

    id: str
    function_id: str
    version: int
    status: str
    mode: RunMode
    #: ``api`` or ``chain`` (a contract asked, through a gateway: ``chain_request`` names the request).
    trigger: Literal["api", "chain"]
    chain_request: str | None
    args: Any
    result: str | None
    error: dict[str, Any] | None
    logs: str
    logs_truncated: bool
    fetches: int
    duration_ms: int | None
    memory_bytes: int | None
    envelope: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: FunctionRun) -> RunOut:
        return cls(
            id=run.id,
            function_id=run.function_id,
            version=run.version,
            status=run.status,
            mode="async" if run.mode == "async" else "sync",
            trigger="chain" if run.trigger == "chain" else "api",
            chain_request=run.chain_request,
            args=run.args,
            result=run.result,
            error=run.error,
            logs=run.logs,
            logs_truncated=run.logs_truncated,
            fetches=run.fetches,
            duration_ms=run.duration_ms,
            memory_bytes=run.memory_bytes,
            envelope=run.envelope,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
