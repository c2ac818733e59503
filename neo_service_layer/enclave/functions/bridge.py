"""How a run's ``fetch`` reaches the web: the sandbox asks the enclave over its socket, the enclave
performs the request with a :class:`FetchBridge`, and the answer goes back as a frame.

:class:`SafeFetcherBridge` is the enclave's bridge: the oracle's safe fetcher (the same SSRF, redirect,
size and timeout rules, TLS ending in the enclave) behind the function's own domain allow-list. The
JavaScript side sees a refusal as a rejected promise whose error has ``code`` and ``message`` and
never the host's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from neo_service_layer.enclave.capabilities import HTTP_METHODS, HttpFetcher, HttpRequest
from neo_service_layer.enclave.oracle.codes import OracleFailure
from neo_service_layer.errors import NSLError


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What the function passed to ``fetch(url, {method, headers, body})``, as text."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def from_wire(cls, data: Any) -> FetchRequest:
        """Parse what the sandbox sent; :class:`FetchRefused` (``bad_request``) for anything else."""
        if not isinstance(data, dict):
            raise FetchRefused("bad_request", "a fetch request must be an object")
        url, method, headers, body = (
            data.get("url"),
            data.get("method"),
            data.get("headers"),
            data.get("body"),
        )
        if not isinstance(url, str) or not isinstance(method, str) or not isinstance(body, str):
            raise FetchRefused("bad_request", "url, method and body must be strings")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise FetchRefused("bad_request", "headers must map strings to strings")
        return cls(url=url, method=method, headers=headers, body=body)


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """Any status the server answered with (a function decides what a 404 means); ``body`` decoded as
    UTF-8 with replacement characters."""

    status: int
    headers: Mapping[str, str]
    body: str
    url: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"status": self.status, "headers": dict(self.headers), "body": self.body, "url": self.url}


class FetchRefused(Exception):
    """No response: ``code`` is stable (``forbidden``, ``timeout``, ``response_too_large``, ``not_allowed``,
    ``fetch_limit``, ``bad_request``, ``error``), ``message`` is safe to show the function's owner."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FetchBridge(Protocol):
    async def fetch(
        self, request: FetchRequest, *, timeout_seconds: float, max_bytes: int, tenant: str
    ) -> FetchResponse:
        """The response, or :class:`FetchRefused`; never another exception for a refused request."""
        ...


class NoFetch:
    """The bridge of a pool that reaches no network: every fetch is refused."""

    async def fetch(
        self, request: FetchRequest, *, timeout_seconds: float, max_bytes: int, tenant: str
    ) -> FetchResponse:
        raise FetchRefused("not_allowed", "this sandbox has no network")


def host_allowed(host: str, allowed_domains: frozenset[str] | None) -> bool:
    """None allows every host the fetcher allows; otherwise the host is a listed domain or below one."""
    if allowed_domains is None:
        return True
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed_domains)


class SafeFetcherBridge:
    """:class:`FetchBridge` over the enclave's :class:`HttpFetcher` (the oracle's ``SafeFetcher``)."""

    def __init__(self, fetcher: HttpFetcher, allowed_domains: frozenset[str] | None = None) -> None:
        self._fetcher = fetcher
        self._allowed = None if allowed_domains is None else frozenset(d.lower() for d in allowed_domains)

    async def fetch(
        self, request: FetchRequest, *, timeout_seconds: float, max_bytes: int, tenant: str
    ) -> FetchResponse:
        method = request.method.upper()
        if method not in HTTP_METHODS:
            raise FetchRefused("bad_request", f"method {method[:16]!r} is not supported")
        host = urlsplit(request.url).hostname or ""
        if not host_allowed(host, self._allowed):
            raise FetchRefused("not_allowed", "the host is not in the function's allowed domains")
        try:
            response = await self._fetcher.fetch(
                HttpRequest(
                    method=method,
                    url=request.url,
                    timeout_seconds=timeout_seconds,
                    max_bytes=max_bytes,
                    headers=dict(request.headers),
                    body=request.body.encode(),
                    tenant=tenant,
                    any_status=True,
                )
            )
        except OracleFailure as exc:
            # The oracle's code names the reason; its detail never quotes the request.
            raise FetchRefused(_snake(exc.code.name), exc.detail) from None
        except NSLError as exc:
            raise FetchRefused(exc.code, exc.detail) from None
        except ValueError:
            raise FetchRefused("bad_request", "the request is not one the fetcher can send") from None
        return FetchResponse(
            status=response.status,
            headers=dict(response.headers),
            body=response.body.decode("utf-8", errors="replace"),
            url=response.url,
        )


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
