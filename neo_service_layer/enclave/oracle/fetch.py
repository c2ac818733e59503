"""The oracle's HTTP fetcher: an :class:`HttpFetcher` that reaches only what its policy allows.

Built on httpcore (the engine under httpx): httpx's URL parser reads the URL once (``urls.py``) and
the request is sent from the parsed :class:`Target`, through a connection pool whose network backend
dials only checked addresses (``dial.py``). Redirects are followed here, not by the library, so that
every hop is parsed and checked like the first. neo-go's oracle is the model (``pkg/services/oracle``):

* at most 2 redirects, none from https to http (``network.go`` ``CheckRedirect``): ``Forbidden``;
* the status of the answer: 200 is the only success; 403 ``Forbidden``, 404 ``NotFound``, 408
  ``Timeout``, any other ``Error`` (``request.go`` ``processRequest``);
* the media type of a 200 must be allowed (``checkMediaType``): ``ContentTypeNotSupported``;
* a body over the limit is ``ResponseTooLarge``, never truncated (``readResponse``);
* no keep-alive (``DisableKeepAlives``): each request dials, and so is checked, afresh.

Failures are :class:`OracleFailure` whose detail names the host at most: never the URL, a header or
the body (they may carry substituted secrets). Library errors are converted ``from None`` for the same
reason (h11's messages quote header values).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

import httpcore
import httpx

from neo_service_layer.enclave.capabilities import HttpRequest, HttpResponse
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.dial import CheckedBackend, LoopResolver, Resolver
from neo_service_layer.enclave.oracle.limits import HostLimits
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.oracle.urls import Target, parse_url

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
#: neo-go request.go: the statuses with a code of their own; any other non-200 is Error.
STATUS_CODES: Final = {403: OracleCode.Forbidden, 404: OracleCode.NotFound, 408: OracleCode.Timeout}
#: Headers the fetcher writes itself; a caller's are dropped.
_OWN_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")
#: All requests in flight over all hosts (per host: ``FetchPolicy.max_concurrent_per_host``).
MAX_CONNECTIONS: Final = 256
_UNLIMITED_RATE: Final = 1e9


def status_code(status: int) -> OracleCode:
    """The oracle's outcome for a final HTTP ``status`` (neo-go ``request.go``)."""
    return OracleCode.Success if status == 200 else STATUS_CODES.get(status, OracleCode.Error)


def media_type(content_type: str | None) -> str | None:
    """The ``type/subtype`` of a ``Content-Type`` value, lower-case; ``None`` if absent or malformed."""
    if content_type is None:
        return None
    kind = content_type.partition(";")[0].strip().lower()
    return kind if _MEDIA_TYPE.fullmatch(kind) else None


def default_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The system CA store (and ``ca_file``'s certificates, if given), host names checked, TLS 1.2 at
    least."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _checked_context(context: ssl.SSLContext) -> ssl.SSLContext:
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("the fetcher's SSL context must verify certificates and host names")
    if context.minimum_version.value < ssl.TLSVersion.TLSv1_2.value:
        raise ValueError("the fetcher's SSL context must refuse TLS versions older than 1.2")
    return context


@dataclass(frozen=True, slots=True)
class _Redirect:
    status: int
    location: str


class SafeFetcher:
    """:class:`HttpFetcher` for the oracle (and functions' ``fetch``): see the module's docstring.

    ``resolver`` defaults to the system's (:class:`LoopResolver`), ``ssl_context`` to
    :func:`default_ssl_context`; an injected context must verify (tests pass one trusting a test CA).
    ``dialler`` opens the sockets once an address is checked (default httpcore's AnyIO backend; tests
    pass one that routes public test addresses to local servers, as a NAT would). The peer address
    its connection reports is checked again.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        dialler: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy if policy is not None else FetchPolicy()
        self._backend = CheckedBackend(
            resolver if resolver is not None else LoopResolver(),
            allow_private_hosts=self.policy.allow_private_hosts,
            inner=dialler,
        )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_checked_context(ssl_context) if ssl_context is not None else default_ssl_context(),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=self._backend,
        )
        self._limits = HostLimits(
            concurrency=self.policy.max_concurrent_per_host,
            rate_per_second=self.policy.per_host_rate_per_second,
            burst=self.policy.per_host_burst,
            max_hosts=self.policy.max_tracked_hosts,
            clock=clock,
        )
        # Per tenant (HttpRequest.tenant): concurrency only; its rate is the API's rate limits'.
        self._tenants = HostLimits(
            concurrency=self.policy.max_concurrent_per_tenant,
            rate_per_second=_UNLIMITED_RATE,
            burst=self.policy.max_concurrent_per_tenant,
            max_hosts=self.policy.max_tracked_hosts,
            clock=clock,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool's connections (safe to call twice)."""
        await self._pool.aclose()

    async def fetch(self, request: HttpRequest) -> HttpResponse:
        """The response to ``request``, or an :class:`OracleFailure` with the oracle's code.

        The whole exchange, redirects included, is bounded by the smaller of the request's and the
        policy's total timeout; the body by the smaller of the request's and the policy's byte limit.
        """
        seconds = min(request.timeout_seconds, self.policy.total_timeout_seconds)
        try:
            async with asyncio.timeout(seconds):
                if not request.tenant:
                    return await self._follow(request)
                async with self._tenants.slot(request.tenant):
                    return await self._follow(request)
        except TimeoutError:
            raise OracleFailure(OracleCode.Timeout, f"no complete response within {seconds:g} s") from None

    def _parse(self, url: str) -> Target:
        policy = self.policy
        return parse_url(
            url,
            allow_http=policy.allow_http,
            allow_private_hosts=policy.allow_private_hosts,
            allow_domains=policy.allow_domains,
            deny_domains=policy.deny_domains,
        )

    async def _follow(self, request: HttpRequest) -> HttpResponse:
        target = self._parse(request.url)
        secure = target.scheme == "https"
        method, headers, body = request.method, dict(request.headers), request.body
        redirects = 0
        while True:
            answer = await self._hop(
                target, method, headers, body, request.max_bytes, any_status=request.any_status
            )
            if isinstance(answer, HttpResponse):
                return answer
            if redirects == self.policy.max_redirects:
                raise OracleFailure(
                    OracleCode.Forbidden,
                    f"more than {self.policy.max_redirects} redirects from {target.host_name}",
                )
            redirects += 1
            try:
                location = str(httpx.URL(target.url).join(answer.location))
            except (httpx.InvalidURL, TypeError, ValueError):
                raise OracleFailure(
                    OracleCode.Error, f"{target.host_name} sent a malformed redirect"
                ) from None
            following = self._parse(location)
            secure = secure or following.scheme == "https"
            if secure and following.scheme != "https":
                raise OracleFailure(OracleCode.Forbidden, f"{target.host_name} redirected from https to http")
            see_other = answer.status == 303 and method != "HEAD"
            if see_other or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", b""  # what browsers and httpx do (RFC 9110 §15.4)
            if following.origin != target.origin:
                headers = {}  # the caller's headers (maybe credentials) were meant for the first origin
                if body:
                    # A 307/308 keeps the body, which may carry substituted secrets as headers may.
                    raise OracleFailure(
                        OracleCode.Forbidden,
                        f"{target.host_name} redirected a request body to another origin",
                    )
            target = following

    def _request_headers(
        self, target: Target, headers: Mapping[str, str], body: bytes
    ) -> list[tuple[str, str]]:
        own = {
            "host": target.authority,
            "user-agent": self.policy.user_agent,
            "accept-encoding": "identity",
            "connection": "close",
        }
        if body:
            own["content-length"] = str(len(body))
        given = {name.lower(): value for name, value in headers.items()}
        merged = {**own, **{name: value for name, value in given.items() if name not in _OWN_HEADERS}}
        merged["accept-encoding"] = "identity"  # a compressed body would dodge the size limit
        return list(merged.items())

    async def _hop(
        self,
        target: Target,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        max_bytes: int,
        *,
        any_status: bool = False,
    ) -> HttpResponse | _Redirect:
        host = target.host_name
        url = httpcore.URL(
            scheme=target.scheme.encode(),
            host=str(target.host).encode(),
            port=target.port,
            target=target.target.encode(),
        )
        policy = self.policy
        timeouts = {
            "connect": policy.connect_timeout_seconds,
            "read": policy.read_timeout_seconds,
            "write": policy.read_timeout_seconds,
            "pool": policy.total_timeout_seconds,
        }
        async with self._limits.slot(host):
            try:
                async with self._pool.stream(
                    method,
                    url,
                    headers=self._request_headers(target, headers, body),
                    content=body,
                    extensions={"timeout": timeouts},
                ) as response:
                    limit = min(max_bytes, policy.max_response_bytes)
                    return await self._answer(
                        target, response, limit, head=method == "HEAD", any_status=any_status
                    )
            except httpcore.TimeoutException:
                raise OracleFailure(OracleCode.Timeout, f"{host} did not answer in time") from None
            except httpcore.ConnectError:
                raise OracleFailure(OracleCode.Error, f"could not connect to {host} (TCP or TLS)") from None
            except httpcore.LocalProtocolError:
                raise OracleFailure(OracleCode.Error, f"the request to {host} is not valid HTTP") from None
            except (httpcore.NetworkError, httpcore.ProtocolError, ssl.SSLError, OSError):
                raise OracleFailure(OracleCode.Error, f"the exchange with {host} failed") from None

    async def _answer(
        self,
        target: Target,
        response: httpcore.Response,
        max_bytes: int,
        *,
        head: bool,
        any_status: bool = False,
    ) -> HttpResponse | _Redirect:
        host = target.host_name
        headers: dict[str, str] = {}
        for raw_name, raw_value in response.headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        status = response.status
        if status in REDIRECT_STATUSES and "location" in headers:
            return _Redirect(status, headers["location"])
        code = status_code(status)
        if self.policy.fail_on_status and not any_status and code is not OracleCode.Success:
            raise OracleFailure(code, f"{host} answered HTTP {status}")
        allowed = self.policy.allowed_content_types
        if allowed and media_type(headers.get("content-type")) not in allowed:
            raise OracleFailure(
                OracleCode.ContentTypeNotSupported, f"{host} answered a media type not allowed"
            )
        if headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise OracleFailure(OracleCode.Error, f"{host} answered with a content encoding")
        declared = headers.get("content-length", "").strip()
        if not head and declared.isdigit() and int(declared) > max_bytes:
            raise OracleFailure(OracleCode.ResponseTooLarge, f"{host} announced more than {max_bytes} bytes")
        leaf = _leaf_sha256(response)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_stream():
            size += len(chunk)
            if size > max_bytes:
                raise OracleFailure(OracleCode.ResponseTooLarge, f"{host} sent more than {max_bytes} bytes")
            chunks.append(chunk)
        return HttpResponse(status, headers, b"".join(chunks), url=target.url, tls_leaf_sha256=leaf)


def _leaf_sha256(response: httpcore.Response) -> bytes | None:
    """SHA-256 of the DER leaf certificate of the connection that carried ``response``."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest() if der else None
