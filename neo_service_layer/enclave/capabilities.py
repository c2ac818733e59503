"""What a handler reaches beyond the enclave's own keys: the web and a sandbox, behind Protocols.

* :class:`HttpFetcher` makes one HTTP request from inside the enclave (TLS ends inside, so a secret
  substituted into a request never crosses the host in the clear): what the oracle and the functions'
  ``fetch`` need.
* :class:`SandboxRunner` runs user code with limits, outside the address space that holds keys: what
  functions need.

The enclave process builds them and passes them to the ``EnclaveContext`` (``context.py``); handlers
use ``ctx.fetcher`` and ``ctx.sandbox`` and never make their own, so a unit test can hand an op a
stand-in. Without one, a context has :class:`UnconfiguredFetcher` and :class:`UnconfiguredSandbox`,
which refuse with ``capability_unavailable`` (docs/enclave.md §6). The enclave process starts a
``SandboxPool`` of ``enclave.sandbox_pool_size`` processes with itself and stops it when it stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from neo_service_layer.enclave.functions.runs import PoolStats, RunRequest, RunResult, SyntaxCheck
from neo_service_layer.enclave.protocol import CapabilityUnavailable

if TYPE_CHECKING:  # bridge.py imports this module
    from neo_service_layer.enclave.functions.bridge import FetchBridge

HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})

type JsonValue = bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request. ``timeout_seconds`` bounds the whole exchange; a response body over ``max_bytes`` is
    an error, never a truncated body (a cut JSON document could still parse)."""

    method: str
    url: str
    timeout_seconds: float
    max_bytes: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Whom the request is made for (an account id): a fetcher may bound how many run at once per tenant.
    tenant: str = ""
    # The caller reads any final status itself (a function's fetch decides what a 404 means): the
    # fetcher's policy.fail_on_status does not apply to this request; every other rule does.
    any_status: bool = False

    def __post_init__(self) -> None:
        if self.method not in HTTP_METHODS:
            raise ValueError(f"HTTP method {self.method!r} is not one of {sorted(HTTP_METHODS)}")
        if not self.timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """Any response the server sent, whatever its status: the caller decides what a 404 means.

    ``url`` is the URL that answered (after redirects; empty when the fetcher does not say) and
    ``tls_leaf_sha256`` the SHA-256 of the DER certificate that server presented (``None`` over plain
    http): what the oracle signs along with the body.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    tls_leaf_sha256: bytes | None = None


class HttpFetcher(Protocol):
    async def fetch(self, request: HttpRequest) -> HttpResponse:
        """The response to ``request``; an :class:`EnclaveError` when there is none (refused, timed out,
        over ``max_bytes``), with a detail that never quotes the request (it may carry secrets)."""
        ...


class SandboxRunner(Protocol):
    """Runs user JavaScript in a fresh context of a sandbox process that holds no key: what
    ``functions.*`` need. The enclave's is a started ``functions.pool.SandboxPool``."""

    async def run(self, request: RunRequest, *, bridge: FetchBridge | None = None) -> RunResult:
        """Run ``request`` within its limits, its fetches through ``bridge``; the function's own failures
        are a result, ``LimitAboveMaximum`` for limits above the sandbox's maximums."""
        ...

    async def check(self, source: str) -> SyntaxCheck:
        """Compile ``source`` without running it: ok or the syntax error's line and column."""
        ...

    def stats(self) -> PoolStats:
        """The processes kept, idle and replaced so far (metrics)."""
        ...


class UnconfiguredFetcher:
    """The fetcher of an enclave that reaches no network: every request is refused."""

    async def fetch(self, request: HttpRequest) -> HttpResponse:
        raise CapabilityUnavailable("this enclave has no HTTP fetcher configured")


class UnconfiguredSandbox:
    """The sandbox of an enclave that runs no user code: every run and check is refused."""

    async def run(self, request: RunRequest, *, bridge: FetchBridge | None = None) -> RunResult:
        raise CapabilityUnavailable("this enclave has no sandbox configured")

    async def check(self, source: str) -> SyntaxCheck:
        raise CapabilityUnavailable("this enclave has no sandbox configured")

    def stats(self) -> PoolStats:
        raise CapabilityUnavailable("this enclave has no sandbox configured")
