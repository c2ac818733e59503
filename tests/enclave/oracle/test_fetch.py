"""The oracle's fetcher against real local HTTPS servers (a test CA, real TLS, real sockets).

What neo-go's oracle refuses and how (``pkg/services/oracle/network.go``, ``request.go``), and what
it does not do but an oracle must: DNS rebinding, per-host limits, the leaf certificate's hash.
Most tests reach 127.0.0.1 and so use ``allow_private_hosts=True``; the ones that prove 127.0.0.1 and
other private addresses are refused at dial time use a test resolver and a NAT-like dialler that maps
a public-looking address to the local server (tests/enclave/oracle/servers.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from neo_service_layer.enclave.capabilities import HttpRequest, HttpResponse
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from tests.enclave.oracle.servers import (
    PUBLIC_V4,
    LocalServer,
    NatDialler,
    OraclePKI,
    Request,
    Route,
    StaticResolver,
    respond,
)

SECRET = "s3cr3t-token"
OK_BODY = b'{"price": 42}'
LOCAL = FetchPolicy(allow_private_hosts=True)


def get(url: str, *, max_bytes: int = 65535, timeout: float = 5.0, **headers: str) -> HttpRequest:
    return HttpRequest(method="GET", url=url, timeout_seconds=timeout, max_bytes=max_bytes, headers=headers)


async def _drip(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def _silent(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def _big_declared(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(30)  # a fetcher that waits for the body times out instead


async def _chunked(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(200):
        writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _until_close(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    for _ in range(200):
        writer.write(b"y" * 1024)
        await writer.drain()


async def _echo(request: Request, writer: asyncio.StreamWriter) -> None:
    seen = f'{{"method": "{request.method}", "auth": "{request.headers.get("authorization", "")}"}}'
    await respond(writer, 200, seen.encode())


def _static(status: int, body: bytes = OK_BODY, content_type: str | None = "application/json") -> Route:
    async def route(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, body, content_type=content_type)

    return route


def _redirect(location: Callable[[], str], status: int = 302) -> Route:
    async def route(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, b"", content_type=None, headers=[("Location", location())])

    return route


@pytest.fixture
async def plain() -> AsyncIterator[LocalServer]:
    server = await LocalServer(None).start()
    server.routes["/ok"] = _static(200)
    yield server
    await server.stop()


@pytest.fixture
async def https(pki: OraclePKI, tmp_path: Path, plain: LocalServer) -> AsyncIterator[LocalServer]:
    server = await LocalServer(pki.server_context(str(tmp_path))).start()
    port = server.port
    server.routes.update(
        {
            "/ok": _static(200),
            "/text": _static(200, b"hello", "text/plain; charset=utf-8"),
            "/html": _static(200, b"<p>", "text/html"),
            "/json-charset": _static(200, OK_BODY, "application/json; charset=utf-8"),
            "/no-type": _static(200, OK_BODY, None),
            "/gzip": _gzip,
            "/drip": _drip,
            "/silent": _silent,
            "/big-declared": _big_declared,
            "/chunked": _chunked,
            "/until-close": _until_close,
            "/echo": _echo,
            "/hop1": _redirect(lambda: "/ok"),
            "/hop2": _redirect(lambda: "/hop1"),
            "/hop3": _redirect(lambda: "/hop2"),
            "/to-loopback": _redirect(lambda: f"https://127.0.0.1:{port}/ok"),
            "/to-private-name": _redirect(lambda: f"https://other.oracle.test:{port}/ok"),
            "/to-metadata": _redirect(lambda: "https://169.254.169.254/latest/meta-data/"),
            "/to-zero": _redirect(lambda: f"https://0.0.0.0:{port}/ok"),
            "/to-http": _redirect(lambda: plain.url("/ok")),
            "/to-file": _redirect(lambda: "file:///etc/passwd"),
            "/to-userinfo": _redirect(lambda: f"https://api.oracle.test@127.0.0.1:{port}/ok"),
            "/to-echo": _redirect(lambda: "/echo", 307),
            "/to-other-origin": _redirect(lambda: f"https://localhost:{port}/echo", 307),
            "/see-other": _redirect(lambda: "/echo", 303),
        }
    )
    for status in (201, 403, 404, 408, 500):
        server.routes[f"/status/{status}"] = _static(status)
    yield server
    await server.stop()


async def _gzip(request: Request, writer: asyncio.StreamWriter) -> None:
    await respond(writer, 200, b"\x1f\x8b", headers=[("Content-Encoding", "gzip")])


@pytest.fixture
async def fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher(LOCAL, ssl_context=pki.client_context()) as fetcher:
        yield fetcher


async def _refused(fetcher: SafeFetcher, request: HttpRequest, code: OracleCode) -> OracleFailure:
    with pytest.raises(OracleFailure) as caught:
        await fetcher.fetch(request)
    assert caught.value.code is code, caught.value.detail
    return caught.value


async def _still_serves(fetcher: SafeFetcher, https: LocalServer) -> None:
    response = await fetcher.fetch(get(https.url("/ok")))
    assert (response.status, response.body) == (200, OK_BODY)


async def test_success_returns_body_headers_url_and_leaf_hash(
    fetcher: SafeFetcher, https: LocalServer, pki: OraclePKI
) -> None:
    response = await fetcher.fetch(get(https.url("/ok?q=1")))
    assert (response.status, response.body) == (200, OK_BODY)
    assert response.headers["content-type"] == "application/json"
    assert response.url == https.url("/ok?q=1")
    assert response.tls_leaf_sha256 == hashlib.sha256(pki.leaf_der).digest()
    sent = https.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/ok?q=1")
    assert sent.headers["host"] == f"127.0.0.1:{https.port}"
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["user-agent"].startswith("NeoServiceLayerOracle/")


async def test_a_name_is_verified_against_the_certificate(pki: OraclePKI, https: LocalServer) -> None:
    resolver = StaticResolver({"api.oracle.test": [["127.0.0.1"]], "evil.test": [["127.0.0.1"]]})
    async with SafeFetcher(LOCAL, resolver=resolver, ssl_context=pki.client_context()) as fetcher:
        response = await fetcher.fetch(get(https.url("/ok", host="api.oracle.test")))
        assert response.body == OK_BODY
        # evil.test is not in the certificate: the TLS handshake fails, whatever the address.
        failure = await _refused(fetcher, get(https.url("/ok", host="evil.test")), OracleCode.Error)
        assert failure.detail == "could not connect to evil.test (TCP or TLS)"
        await _still_serves(fetcher, https)


async def test_the_system_ca_store_does_not_trust_the_test_ca(https: LocalServer) -> None:
    async with SafeFetcher(LOCAL) as fetcher:
        await _refused(fetcher, get(https.url("/ok")), OracleCode.Error)


@pytest.mark.parametrize(
    ("path", "max_bytes"),
    [
        pytest.param("/big-declared", 65535, id="content-length-over-limit"),
        pytest.param("/chunked", 65535, id="chunked-no-length"),
        pytest.param("/until-close", 65535, id="close-delimited-no-length"),
        pytest.param("/ok", len(OK_BODY) - 1, id="one-byte-over"),
    ],
)
async def test_oversized_bodies_are_refused(
    fetcher: SafeFetcher, https: LocalServer, path: str, max_bytes: int
) -> None:
    started = time.monotonic()
    failure = await _refused(fetcher, get(https.url(path), max_bytes=max_bytes), OracleCode.ResponseTooLarge)
    assert time.monotonic() - started < 2  # refused, not read to the end nor timed out
    assert failure.detail.startswith("127.0.0.1 ")
    await _still_serves(fetcher, https)


async def test_a_body_of_exactly_the_limit_is_returned(fetcher: SafeFetcher, https: LocalServer) -> None:
    response = await fetcher.fetch(get(https.url("/ok"), max_bytes=len(OK_BODY)))
    assert response.body == OK_BODY


async def test_the_policy_caps_the_requests_limit(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, max_response_bytes=5)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        await _refused(fetcher, get(https.url("/ok")), OracleCode.ResponseTooLarge)


async def test_a_slow_drip_hits_the_total_timeout(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, total_timeout_seconds=0.5, read_timeout_seconds=5)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        started = time.monotonic()
        failure = await _refused(fetcher, get(https.url("/drip")), OracleCode.Timeout)
        assert 0.4 < time.monotonic() - started < 2
        assert failure.detail == "no complete response within 0.5 s"
        await _still_serves(fetcher, https)


async def test_the_requests_own_timeout_bounds_the_exchange(fetcher: SafeFetcher, https: LocalServer) -> None:
    started = time.monotonic()
    await _refused(fetcher, get(https.url("/drip"), timeout=0.3), OracleCode.Timeout)
    assert time.monotonic() - started < 2


async def test_a_silent_server_hits_the_read_timeout(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, read_timeout_seconds=0.3)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        failure = await _refused(fetcher, get(https.url("/silent")), OracleCode.Timeout)
        assert failure.detail == "127.0.0.1 did not answer in time"
        await _still_serves(fetcher, https)


@pytest.mark.parametrize(
    ("path", "allowed", "code"),
    [
        # neo-go request.go checkMediaType: the media type, parameters aside, must be in the list.
        pytest.param("/ok", None, OracleCode.Success, id="json"),
        pytest.param("/json-charset", None, OracleCode.Success, id="json-with-charset"),
        pytest.param("/html", None, OracleCode.ContentTypeNotSupported, id="html"),
        pytest.param("/text", None, OracleCode.ContentTypeNotSupported, id="text-not-opted-in"),
        pytest.param(
            "/text", frozenset({"text/plain", "application/json"}), OracleCode.Success, id="text-in"
        ),
        pytest.param("/no-type", None, OracleCode.ContentTypeNotSupported, id="missing"),
        pytest.param("/html", frozenset(), OracleCode.Success, id="empty-list-allows-any"),
    ],
)
async def test_content_types(
    pki: OraclePKI, https: LocalServer, path: str, allowed: frozenset[str] | None, code: OracleCode
) -> None:
    policy = (
        LOCAL if allowed is None else FetchPolicy(allow_private_hosts=True, allowed_content_types=allowed)
    )
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        if code is OracleCode.Success:
            assert (await fetcher.fetch(get(https.url(path)))).status == 200
        else:
            await _refused(fetcher, get(https.url(path)), code)
            await _still_serves(fetcher, https)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        # neo-go request.go processRequest: 200 only; 403, 404, 408 have codes; the rest is Error.
        pytest.param(404, OracleCode.NotFound, id="404"),
        pytest.param(403, OracleCode.Forbidden, id="403"),
        pytest.param(408, OracleCode.Timeout, id="408"),
        pytest.param(500, OracleCode.Error, id="500"),
        pytest.param(201, OracleCode.Error, id="201"),
    ],
)
async def test_statuses(fetcher: SafeFetcher, https: LocalServer, status: int, code: OracleCode) -> None:
    failure = await _refused(fetcher, get(https.url(f"/status/{status}")), code)
    assert failure.detail == f"127.0.0.1 answered HTTP {status}"
    await _still_serves(fetcher, https)


async def test_statuses_are_returned_when_not_failing_on_them(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, fail_on_status=False)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        response = await fetcher.fetch(get(https.url("/status/404")))
        assert (response.status, response.body) == (404, OK_BODY)


async def test_a_head_request_is_not_refused_for_the_length_it_announces(
    fetcher: SafeFetcher, https: LocalServer
) -> None:
    request = HttpRequest(method="HEAD", url=https.url("/big-declared"), timeout_seconds=5, max_bytes=10)
    response = await fetcher.fetch(request)
    assert (response.status, response.body, response.headers["content-length"]) == (200, b"", "100000000")


async def test_a_header_that_would_split_the_request_is_refused(
    fetcher: SafeFetcher, https: LocalServer
) -> None:
    headers = {"X-Api-Key": f"{SECRET}\r\nHost: evil.test"}
    request = HttpRequest(
        method="GET", url=https.url("/echo"), timeout_seconds=5, max_bytes=99, headers=headers
    )
    failure = await _refused(fetcher, request, OracleCode.Error)
    assert SECRET not in failure.detail
    assert https.requests == []
    await _still_serves(fetcher, https)


async def test_the_fetcher_writes_host_and_length_itself(fetcher: SafeFetcher, https: LocalServer) -> None:
    request = HttpRequest(
        method="PUT",
        url=https.url("/echo"),
        timeout_seconds=5,
        max_bytes=1000,
        headers={"Host": "evil.test", "Content-Length": "1", "X-Custom": "kept"},
        body=b"{}",
    )
    await fetcher.fetch(request)
    sent = https.requests[-1]
    assert sent.headers["host"] == f"127.0.0.1:{https.port}"
    assert (sent.headers["content-length"], sent.headers["x-custom"], sent.body) == ("2", "kept", b"{}")


async def test_a_compressed_body_is_refused(fetcher: SafeFetcher, https: LocalServer) -> None:
    await _refused(fetcher, get(https.url("/gzip")), OracleCode.Error)
    await _still_serves(fetcher, https)


@pytest.mark.parametrize("path", ["/hop1", "/hop2"])
async def test_up_to_two_redirects_are_followed(fetcher: SafeFetcher, https: LocalServer, path: str) -> None:
    response = await fetcher.fetch(get(https.url(path)))
    assert (response.body, response.url) == (OK_BODY, https.url("/ok"))


async def test_a_third_redirect_is_refused(fetcher: SafeFetcher, https: LocalServer) -> None:
    # neo-go network.go CheckRedirect: len(via) > maxRedirections (2) is ErrRestrictedRedirect: Forbidden.
    failure = await _refused(fetcher, get(https.url("/hop3")), OracleCode.Forbidden)
    assert failure.detail == "more than 2 redirects from 127.0.0.1"
    assert [request.path for request in https.requests] == ["/hop3", "/hop2", "/hop1"]
    await _still_serves(fetcher, https)


async def test_no_redirect_when_the_policy_allows_none(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, max_redirects=0)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        await _refused(fetcher, get(https.url("/hop1")), OracleCode.Forbidden)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param("/to-zero", OracleCode.Forbidden, id="unspecified"),
        pytest.param("/to-file", OracleCode.ProtocolNotSupported, id="file-scheme"),
        pytest.param("/to-userinfo", OracleCode.Forbidden, id="userinfo"),
    ],
)
async def test_redirects_are_checked_like_the_first_url(
    fetcher: SafeFetcher, https: LocalServer, path: str, code: OracleCode
) -> None:
    await _refused(fetcher, get(https.url(path)), code)
    assert https.connections == 1
    await _still_serves(fetcher, https)


async def test_a_redirect_from_https_to_http_is_refused(
    pki: OraclePKI, https: LocalServer, plain: LocalServer
) -> None:
    policy = FetchPolicy(allow_private_hosts=True, allow_http=True)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        failure = await _refused(fetcher, get(https.url("/to-http")), OracleCode.Forbidden)
        assert failure.detail == "127.0.0.1 redirected from https to http"
        assert plain.connections == 0
        response = await fetcher.fetch(get(plain.url("/ok")))  # http itself is allowed here
        assert (response.body, response.tls_leaf_sha256) == (OK_BODY, None)


async def test_http_is_refused_by_default(fetcher: SafeFetcher, plain: LocalServer) -> None:
    await _refused(fetcher, get(plain.url("/ok")), OracleCode.ProtocolNotSupported)
    assert plain.connections == 0


async def test_headers_follow_same_origin_redirects_only(fetcher: SafeFetcher, https: LocalServer) -> None:
    same = await fetcher.fetch(get(https.url("/to-echo"), Authorization=SECRET))
    assert same.body == f'{{"method": "GET", "auth": "{SECRET}"}}'.encode()
    other = await fetcher.fetch(get(https.url("/to-other-origin"), Authorization=SECRET))
    assert other.body == b'{"method": "GET", "auth": ""}'


async def test_a_body_never_follows_a_redirect_to_another_origin(
    fetcher: SafeFetcher, https: LocalServer
) -> None:
    # 307 keeps method and body; the body may hold a substituted secret, as headers may.
    request = HttpRequest(
        method="POST",
        url=https.url("/to-other-origin"),
        timeout_seconds=5,
        max_bytes=1000,
        body=SECRET.encode(),
    )
    failure = await _refused(fetcher, request, OracleCode.Forbidden)
    assert failure.detail == "127.0.0.1 redirected a request body to another origin"
    assert [r.path for r in https.requests] == ["/to-other-origin"]


async def test_one_tenants_requests_are_bounded_together(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, max_concurrent_per_host=8, max_concurrent_per_tenant=1)

    def of(tenant: str) -> HttpRequest:
        return HttpRequest(
            method="GET", url=https.url("/ok"), timeout_seconds=5, max_bytes=1000, tenant=tenant
        )

    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        responses = await asyncio.gather(*(fetcher.fetch(of("acc_a")) for _ in range(4)))
        assert [response.body for response in responses] == [OK_BODY] * 4
        assert https.max_active == 1
        # Another tenant is not held behind them.
        both = await asyncio.gather(fetcher.fetch(of("acc_a")), fetcher.fetch(of("acc_b")))
        assert [response.body for response in both] == [OK_BODY] * 2


async def test_see_other_turns_a_post_into_a_get(fetcher: SafeFetcher, https: LocalServer) -> None:
    request = HttpRequest(
        method="POST", url=https.url("/see-other"), timeout_seconds=5, max_bytes=1000, body=b"{}"
    )
    response = await fetcher.fetch(request)
    assert response.body == b'{"method": "GET", "auth": ""}'
    assert [(r.method, r.path, r.body) for r in https.requests] == [
        ("POST", "/see-other", b"{}"),
        ("GET", "/echo", b""),
    ]


@pytest.mark.parametrize(
    "path", ["/status/500", "/html", "/big-declared", "/hop3", "/to-zero", "/nowhere", "/gzip"]
)
async def test_failures_never_quote_the_url_headers_or_body(
    fetcher: SafeFetcher, https: LocalServer, path: str
) -> None:
    request = HttpRequest(
        method="POST",
        url=https.url(f"{path}?key={SECRET}"),
        timeout_seconds=5,
        max_bytes=1000,
        headers={"Authorization": f"Bearer {SECRET}"},
        body=SECRET.encode(),
    )
    with pytest.raises(OracleFailure) as caught:
        await fetcher.fetch(request)
    for text in (caught.value.detail, str(caught.value), repr(caught.value)):
        assert SECRET not in text
        assert path not in text
    assert caught.value.__cause__ is None


async def test_an_ipv6_literal_is_dialled_and_verified(pki: OraclePKI, tmp_path: Path) -> None:
    server = await LocalServer(pki.server_context(str(tmp_path)), bind="::1").start()
    server.routes["/ok"] = _static(200)
    try:
        async with SafeFetcher(LOCAL, ssl_context=pki.client_context()) as fetcher:
            response = await fetcher.fetch(get(server.url("/ok", host="[::1]")))
            assert (response.body, response.url) == (OK_BODY, f"https://[::1]:{server.port}/ok")
            assert server.requests[-1].headers["host"] == f"[::1]:{server.port}"
        async with SafeFetcher(FetchPolicy(), ssl_context=pki.client_context()) as fetcher:
            await _refused(fetcher, get(server.url("/ok", host="[::1]")), OracleCode.Forbidden)
            await _refused(fetcher, get(server.url("/ok", host="[::ffff:127.0.0.1]")), OracleCode.Forbidden)
        assert server.connections == 1
    finally:
        await server.stop()


# --- with allow_private_hosts off: the local server is reached only through the "NAT" ---


def _public(resolver: StaticResolver, dialler: NatDialler, pki: OraclePKI) -> SafeFetcher:
    return SafeFetcher(FetchPolicy(), resolver=resolver, ssl_context=pki.client_context(), dialler=dialler)


async def test_a_public_address_is_dialled(pki: OraclePKI, https: LocalServer) -> None:
    resolver, dialler = StaticResolver({"api.oracle.test": [[str(PUBLIC_V4)]]}), NatDialler()
    async with _public(resolver, dialler, pki) as fetcher:
        response = await fetcher.fetch(get(https.url("/ok", host="api.oracle.test")))
        assert response.tls_leaf_sha256 == hashlib.sha256(pki.leaf_der).digest()
    assert dialler.dialled == [str(PUBLIC_V4)]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param("/to-loopback", OracleCode.Forbidden, id="loopback-literal"),
        pytest.param("/to-private-name", OracleCode.Forbidden, id="name-to-10/8"),
        pytest.param("/to-metadata", OracleCode.Forbidden, id="cloud-metadata"),
    ],
)
async def test_redirects_to_private_addresses_are_refused(
    pki: OraclePKI, https: LocalServer, path: str, code: OracleCode
) -> None:
    resolver = StaticResolver({"api.oracle.test": [[str(PUBLIC_V4)]], "other.oracle.test": [["10.0.0.1"]]})
    dialler = NatDialler()
    async with _public(resolver, dialler, pki) as fetcher:
        await _refused(fetcher, get(https.url(path, host="api.oracle.test")), code)
        assert dialler.dialled == [str(PUBLIC_V4)]  # the private address was never dialled
        response = await fetcher.fetch(get(https.url("/ok", host="api.oracle.test")))
        assert response.body == OK_BODY


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([["127.0.0.1"]], id="loopback"),
        pytest.param([["10.1.2.3"]], id="private"),
        pytest.param([["::ffff:127.0.0.1"]], id="v4-mapped-loopback"),
        pytest.param([[str(PUBLIC_V4), "127.0.0.1"]], id="public-then-loopback-in-one-answer"),
        pytest.param([["169.254.169.254", str(PUBLIC_V4)]], id="metadata-first"),
    ],
)
async def test_names_resolving_to_private_addresses_are_refused_at_dial_time(
    pki: OraclePKI, https: LocalServer, answers: list[list[str]]
) -> None:
    resolver, dialler = StaticResolver({"api.oracle.test": answers}), NatDialler()
    async with _public(resolver, dialler, pki) as fetcher:
        failure = await _refused(fetcher, get(https.url("/ok", host="api.oracle.test")), OracleCode.Forbidden)
        assert failure.detail.startswith("api.oracle.test is an address the oracle may not reach")
    assert dialler.dialled == []
    assert https.connections == 0


async def test_dns_rebinding_cannot_reach_the_second_answer(pki: OraclePKI, https: LocalServer) -> None:
    # The name answers a public address first, loopback next: each connection resolves once, is
    # checked, and dials the address it checked, never the name again.
    resolver = StaticResolver({"api.oracle.test": [[str(PUBLIC_V4)], ["127.0.0.1"]]})
    dialler = NatDialler()
    async with _public(resolver, dialler, pki) as fetcher:
        assert (await fetcher.fetch(get(https.url("/ok", host="api.oracle.test")))).body == OK_BODY
        await _refused(fetcher, get(https.url("/ok", host="api.oracle.test")), OracleCode.Forbidden)
    assert resolver.calls == ["api.oracle.test", "api.oracle.test"]
    assert dialler.dialled == [str(PUBLIC_V4)]
    assert https.connections == 1


async def test_localhost_through_the_system_resolver_is_refused(pki: OraclePKI, https: LocalServer) -> None:
    async with SafeFetcher(FetchPolicy(), ssl_context=pki.client_context()) as fetcher:
        await _refused(fetcher, get(https.url("/ok", host="localhost")), OracleCode.Forbidden)
    assert https.connections == 0


async def test_a_connection_that_reached_another_address_is_refused(
    pki: OraclePKI, https: LocalServer
) -> None:
    # neo-go checks the address actually dialled (the dialer's Control); so does the fetcher, after
    # connecting: here the dialler was told 127.0.0.2 and reached 127.0.0.1.
    resolver, dialler = (
        StaticResolver({"api.oracle.test": [["127.0.0.2"]]}),
        NatDialler(lie_about="127.0.0.2"),
    )
    policy = FetchPolicy(allow_private_hosts=True)
    async with SafeFetcher(policy, resolver=resolver, ssl_context=pki.client_context(), dialler=dialler) as f:
        failure = await _refused(f, get(https.url("/ok", host="api.oracle.test")), OracleCode.Forbidden)
        assert failure.detail == "the connection to api.oracle.test reached another address"


async def test_a_name_without_addresses_is_an_error(pki: OraclePKI) -> None:
    async with SafeFetcher(
        LOCAL, resolver=StaticResolver({"gone.test": [[]]}), ssl_context=pki.client_context()
    ) as f:
        failure = await _refused(f, get("https://gone.test/x"), OracleCode.Error)
        assert failure.detail == "gone.test does not resolve"


async def test_per_host_concurrency_is_limited(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, max_concurrent_per_host=1)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        responses = await asyncio.gather(*(fetcher.fetch(get(https.url("/ok"))) for _ in range(4)))
    assert [response.body for response in responses] == [OK_BODY] * 4
    assert https.max_active == 1


async def test_per_host_rate_is_limited(pki: OraclePKI, https: LocalServer) -> None:
    policy = FetchPolicy(allow_private_hosts=True, per_host_rate_per_second=10, per_host_burst=1)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        started = time.monotonic()
        for _ in range(3):
            await fetcher.fetch(get(https.url("/ok")))
        assert time.monotonic() - started >= 0.18  # one token at once, then one per 100 ms


def test_http_response_keeps_its_three_field_constructor() -> None:
    response = HttpResponse(200, {}, b"")
    assert (response.url, response.tls_leaf_sha256) == ("", None)
