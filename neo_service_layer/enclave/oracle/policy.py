"""What the oracle's fetcher allows: one frozen policy, its defaults, and how settings make one.

The defaults are neo-go's oracle (``pkg/services/oracle/oracle.go``: a 5 s request timeout, at most 2
redirects; ``pkg/config/oracle_config.go``: ``AllowPrivateHost`` off, ``AllowedContentTypes``) and
N3's ``MaxOracleResultSize`` of 65535 bytes (neo-go ``pkg/core/transaction/oracle.go``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from neo_service_layer.enclave.oracle.urls import DomainList

if TYPE_CHECKING:
    from neo_service_layer.config.groups import OracleSettings

DEFAULT_ALLOWED_CONTENT_TYPES: Final = frozenset({"application/json"})
DEFAULT_MAX_REDIRECTS: Final = 2
DEFAULT_TIMEOUT_SECONDS: Final = 5.0
DEFAULT_MAX_RESPONSE_BYTES: Final = 0xFFFF
DEFAULT_MAX_CONCURRENT_PER_HOST: Final = 4
DEFAULT_MAX_CONCURRENT_PER_TENANT: Final = 16
DEFAULT_PER_HOST_RATE_PER_SECOND: Final = 10.0
DEFAULT_PER_HOST_BURST: Final = 20
#: Hosts whose limits are remembered at once; idle ones are forgotten first (``limits.py``).
DEFAULT_MAX_TRACKED_HOSTS: Final = 1024
DEFAULT_USER_AGENT: Final = "NeoServiceLayerOracle/1.0"


def _content_types(types: Iterable[str]) -> frozenset[str]:
    return frozenset(kind.strip().lower() for kind in types if kind.strip())


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The fetcher's rules. An empty ``allowed_content_types`` allows any (as neo-go); an empty
    ``allow_domains`` allows every domain not denied. ``fail_on_status``: a final status other than 200
    is an :class:`OracleFailure` with neo-go's code (the oracle); off, it is returned (functions)."""

    allow_http: bool = False
    allow_private_hosts: bool = False
    allowed_content_types: frozenset[str] = DEFAULT_ALLOWED_CONTENT_TYPES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_domains: DomainList = field(default_factory=DomainList)
    deny_domains: DomainList = field(default_factory=DomainList)
    connect_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    total_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_concurrent_per_host: int = DEFAULT_MAX_CONCURRENT_PER_HOST
    max_concurrent_per_tenant: int = DEFAULT_MAX_CONCURRENT_PER_TENANT
    per_host_rate_per_second: float = DEFAULT_PER_HOST_RATE_PER_SECOND
    per_host_burst: int = DEFAULT_PER_HOST_BURST
    max_tracked_hosts: int = DEFAULT_MAX_TRACKED_HOSTS
    fail_on_status: bool = True
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_content_types", _content_types(self.allowed_content_types))
        timeouts = (self.connect_timeout_seconds, self.read_timeout_seconds, self.total_timeout_seconds)
        if not all(seconds > 0 for seconds in timeouts):
            raise ValueError("timeouts must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        positive = (
            self.max_response_bytes,
            self.max_concurrent_per_host,
            self.max_concurrent_per_tenant,
            self.per_host_burst,
        )
        if min(positive) < 1 or self.max_tracked_hosts < 1:
            raise ValueError("max_response_bytes, max_concurrent_per_host, per_host_burst must be >= 1")
        if not self.per_host_rate_per_second > 0:
            raise ValueError("per_host_rate_per_second must be positive")

    @classmethod
    def from_settings(cls, settings: OracleSettings) -> FetchPolicy:
        """The policy of ``settings.oracle`` (``NSL_ORACLE_*``); ``ValueError`` for a bad domain pattern."""
        return cls(
            allow_http=settings.allow_http,
            allow_private_hosts=settings.allow_private_hosts,
            allowed_content_types=frozenset(settings.allowed_content_types),
            allow_domains=DomainList.parse(settings.allow_domains),
            deny_domains=DomainList.parse(settings.deny_domains),
            connect_timeout_seconds=settings.timeout_seconds,
            read_timeout_seconds=settings.timeout_seconds,
            total_timeout_seconds=settings.timeout_seconds,
            max_response_bytes=settings.max_response_bytes,
            max_concurrent_per_host=settings.max_concurrent_per_host,
            max_concurrent_per_tenant=settings.max_concurrent_per_account,
            per_host_rate_per_second=settings.per_host_rate_per_second,
            per_host_burst=settings.per_host_burst,
        )
