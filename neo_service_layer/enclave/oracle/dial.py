"""Dialling only what was checked: name resolution, the check of every address, the connection.

neo-go checks, in its dialer's ``Control`` function, the IP address actually dialled
(``pkg/services/oracle/network.go``), so that a name which resolves to a public address when checked
and to a private one when dialled (DNS rebinding) cannot get through. Here the same guarantee comes
from resolving once: :class:`CheckedBackend` — the network backend of the fetcher's httpcore pool —
resolves the host itself through a :class:`Resolver`, refuses the host if ANY of its addresses may not
be dialled (a name that mixes public and private addresses is an attack or a mistake), connects to the
checked address literally (no second lookup), and then checks the peer address of the connected
socket again, as ``Control`` would. TLS runs afterwards on that connection with the URL's host as SNI
and as the name the certificate must carry (httpcore's ``start_tls``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Protocol

import httpcore

from neo_service_layer.enclave.oracle.addresses import IPAddress, check_address, parse_host
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """The addresses of the DNS name ``host`` (lower-case, no trailing dot), in preference order;
        an :class:`OracleFailure` when it has none."""
        ...


def _address(sockaddr: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]) -> IPAddress:
    host = str(sockaddr[0])
    if len(sockaddr) == 4 and sockaddr[3]:
        # A link-local answer carries its zone: keep it, so that the check refuses it.
        return ipaddress.IPv6Address(f"{host.partition('%')[0]}%{sockaddr[3]}")
    return ipaddress.ip_address(host.partition("%")[0])


class LoopResolver:
    """The system resolver through the event loop's ``getaddrinfo`` (in a thread)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every TCP address of ``host``, without duplicates, in the resolver's order."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICSERV
            )
        except (socket.gaierror, UnicodeError):
            raise OracleFailure(OracleCode.Error, f"{host} does not resolve") from None
        return list(dict.fromkeys(_address(info[4]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that dials only addresses that pass :func:`check_address`."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        allow_private_hosts: bool,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolver = resolver
        self._allow_private_hosts = allow_private_hosts
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int, seconds: float | None) -> Sequence[IPAddress]:
        """The checked addresses of ``host`` (a literal is its own); ``Forbidden`` if any is refused."""
        parsed = parse_host(host)
        if isinstance(parsed, str):
            try:
                async with asyncio.timeout(seconds):
                    addresses = list(await self._resolver.resolve(parsed, port))
            except TimeoutError:
                raise OracleFailure(OracleCode.Timeout, f"resolving {host} timed out") from None
            if not addresses:
                raise OracleFailure(OracleCode.Error, f"{host} does not resolve")
        else:
            addresses = [parsed]
        for address in addresses:
            check_address(address, allow_private_hosts=self._allow_private_hosts, host=host)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's AsyncNetworkBackend signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to the first checked address of ``host`` that accepts one."""
        failure: Exception | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            await self._check_peer(stream, address, host)
            return stream
        assert failure is not None  # addresses() returns at least one address
        raise failure

    async def _check_peer(self, stream: httpcore.AsyncNetworkStream, address: IPAddress, host: str) -> None:
        peer = stream.get_extra_info("server_addr")
        dialled = ipaddress.ip_address(str(peer[0]).partition("%")[0]) if peer else None
        try:
            if dialled != address:
                raise OracleFailure(OracleCode.Forbidden, f"the connection to {host} reached another address")
            check_address(dialled, allow_private_hosts=self._allow_private_hosts, host=host)
        except OracleFailure:
            await stream.aclose()
            raise

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's AsyncNetworkBackend signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: the oracle reaches the network only."""
        raise OracleFailure(OracleCode.Forbidden, "the oracle does not dial Unix sockets")

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (httpcore's retries; the fetcher makes none)."""
        await asyncio.sleep(seconds)
