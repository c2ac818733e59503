"""Real local servers for the fetcher's tests: a test CA, HTTPS and HTTP servers on 127.0.0.1, a
resolver with fixed answers, and a "NAT" dialler that routes public-looking test addresses to them.

The servers are asyncio servers in the test's own event loop, speaking HTTP/1.1 over real TLS with a
certificate issued by a CA made here with ``cryptography`` (like tests/enclave/dcap_pki.py builds
its chains). Nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpcore

from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.enclave.oracle.addresses import IPAddress

#: A public-looking address (not special-purpose) that the NAT dialler maps to 127.0.0.1.
PUBLIC_V4 = ipaddress.IPv4Address("93.184.215.14")
NAMES = ("localhost", "api.oracle.test", "other.oracle.test")


class OraclePKI(LocalPKI):
    """The local CA (``devnet.local_tls``) with a certificate for :data:`NAMES`, 127.0.0.1, ::1 and
    :data:`PUBLIC_V4`."""

    @classmethod
    def build(cls) -> OraclePKI:
        return cls.issue(NAMES, ("127.0.0.1", "::1", PUBLIC_V4))


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


type Route = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes = b"",
    *,
    content_type: str | None = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """One whole response with a ``Content-Length``."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"Content-Type: {content_type}"] if content_type is not None else []
    lines += [f"{name}: {value}" for name, value in headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


@dataclass
class LocalServer:
    """An HTTP/1.1 server on ``bind`` (TLS when given a context) answering by path."""

    tls: ssl.SSLContext | None
    bind: str = "127.0.0.1"
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    active: int = 0
    max_active: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> LocalServer:
        self._server = await asyncio.start_server(self._serve, self.bind, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            self._server.close_clients()
            await self._server.wait_closed()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *rest = head.decode("latin-1").split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {}
            for header in rest:
                if header:
                    name, _, value = header.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, target, headers, body)
            self.requests.append(request)
            route = self.routes.get(target.partition("?")[0])
            if route is None:
                await respond(writer, 404, b'{"error":"no route"}')
            else:
                await route(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the fetcher hung up (a refused body, a timeout): what some tests want
        finally:
            self.active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()


class StaticResolver:
    """A resolver with fixed answers: each name maps to a list of answers, one per call (the last
    repeats), so a test can make a name change its addresses between lookups (DNS rebinding)."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        answers = self._answers[host]
        answer = answers[min(self.calls.count(host), len(answers) - 1)]
        self.calls.append(host)
        return [ipaddress.ip_address(address) for address in answer]


class _NatStream(httpcore.AsyncNetworkStream):
    """A connection to a local server that reports the public address it was dialled as its peer."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, peer: tuple[str, int]) -> None:
        self._inner, self._peer = inner, peer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> object:
        return self._peer if info == "server_addr" else self._inner.get_extra_info(info)


class NatDialler(httpcore.AsyncNetworkBackend):
    """Dials :data:`PUBLIC_V4` as 127.0.0.1 (a NAT in front of the local servers) and records every
    address it is asked to dial; ``lie_about`` makes it dial 127.0.0.1 for that address too, but
    report the real peer (a dialler that went elsewhere than it was told)."""

    def __init__(self, lie_about: str | None = None) -> None:
        self.dialled: list[str] = []
        self._inner = httpcore.AnyIOBackend()
        self._lie_about = lie_about

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        if host == str(PUBLIC_V4):
            stream = await self._inner.connect_tcp("127.0.0.1", port, timeout)
            return _NatStream(stream, (host, port))
        if host == self._lie_about:
            return await self._inner.connect_tcp("127.0.0.1", port, timeout)
        return await self._inner.connect_tcp(host, port, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
