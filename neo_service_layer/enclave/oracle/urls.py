"""An oracle URL, parsed once into exactly what the fetcher will dial, and the operator's domain lists.

The URL is parsed by httpx's parser (``httpx.URL``: the parser of the HTTP stack the fetcher uses), and
the fetcher then sends the request built from this module's :class:`Target` — scheme, host, port and
request target — never the URL text again, so no second parser can read a different host out of it.
What parsers disagree on is refused rather than guessed: a backslash (WHATWG reads ``https://a\\@b/``
as host ``a``, httpx as host ``b``), control characters and spaces, percent-encoded hosts (WHATWG
decodes them, httpx would look the text up), userinfo (``https://good.com@127.0.0.1/`` dials
127.0.0.1; credentials belong in headers). The fragment is dropped: it is never sent.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import httpx
import idna

from neo_service_layer.enclave.oracle.addresses import IPAddress, check_address, host_text, parse_host
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure

DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_NAME = re.compile(r"[a-z0-9_.-]+")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def _malformed(what: str) -> OracleFailure:
    # neo-go: a URL that url.ParseRequestURI refuses is ProtocolNotSupported (request.go).
    return OracleFailure(OracleCode.ProtocolNotSupported, f"the URL is malformed: {what}")


def normalise_domain(name: str) -> str:
    """``name`` as hosts are compared: lower-case ASCII (IDNA for non-ASCII), no trailing dot."""
    name = name.strip().lower().removesuffix(".")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ValueError(f"{name!r} is not a valid domain name") from None
    if not name or not _NAME.fullmatch(name) or "" in name.split("."):
        raise ValueError(f"{name!r} is not a valid domain name")
    return name


@dataclass(frozen=True, slots=True)
class DomainList:
    """Operator patterns: ``example.com`` (that host exactly) and ``*.example.com`` (any subdomain, not
    the apex); an IP literal matches that address. Patterns are normalised like hosts."""

    exact: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, patterns: Iterable[str]) -> DomainList:
        """The list of ``patterns``; ``ValueError`` for a pattern that is no domain or ``*.domain``."""
        exact: set[str] = set()
        suffixes: list[str] = []
        for pattern in patterns:
            if pattern.startswith("*."):
                suffixes.append(normalise_domain(pattern[2:]))
                continue
            try:
                exact.add(str(ipaddress.ip_address(pattern.strip("[]"))))
            except ValueError:
                exact.add(normalise_domain(pattern))
        return cls(frozenset(exact), tuple(suffixes))

    def __bool__(self) -> bool:
        return bool(self.exact or self.suffixes)

    def matches(self, host: IPAddress | str) -> bool:
        """Whether ``host`` (from :func:`parse_host`) is in the list."""
        text = str(host)
        if text in self.exact:
            return True
        return isinstance(host, str) and any(text.endswith("." + suffix) for suffix in self.suffixes)


@dataclass(frozen=True, slots=True)
class Target:
    """What the fetcher dials and sends: never re-parsed from text."""

    scheme: str
    host: IPAddress | str
    port: int
    target: str  # path and query: the request line's target

    @property
    def origin(self) -> tuple[str, IPAddress | str, int]:
        """Scheme, host and port: what a redirect may not change without dropping the caller's headers."""
        return (self.scheme, self.host, self.port)

    @property
    def authority(self) -> str:
        """``host[:port]`` as the ``Host`` header writes it (the port only when not the default)."""
        text = host_text(self.host)
        return text if DEFAULT_PORTS[self.scheme] == self.port else f"{text}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL (no userinfo, no fragment): what a redirect's ``Location`` is joined to."""
        return f"{self.scheme}://{self.authority}{self.target}"

    @property
    def host_name(self) -> str:
        """The host as a failure's detail may name it (never the path or query: they may hold secrets)."""
        return host_text(self.host)


def parse_url(
    url: str,
    *,
    allow_http: bool,
    allow_private_hosts: bool,
    allow_domains: DomainList = DomainList(),
    deny_domains: DomainList = DomainList(),
) -> Target:
    """The :class:`Target` of ``url``, or an :class:`OracleFailure`: ``ProtocolNotSupported`` for a
    malformed URL or a scheme other than https (http only with ``allow_http``), ``Forbidden`` for
    userinfo, a denied or not-allowed domain, or an IP literal that may not be dialled. A name's
    addresses are checked when it is resolved, at dial time (``fetch.py``)."""
    if _FORBIDDEN_CHARS.search(url):
        raise _malformed("it holds a space, a control character or a backslash")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _malformed("it does not parse") from None
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS or (scheme == "http" and not allow_http):
        allowed = "https or http" if allow_http else "https"
        raise OracleFailure(OracleCode.ProtocolNotSupported, f"the URL's scheme is not {allowed}")
    if parsed.userinfo:
        raise OracleFailure(OracleCode.Forbidden, "credentials in the URL are not allowed")
    raw_host = parsed.raw_host.decode("ascii", errors="replace").lower()
    if not raw_host:
        raise _malformed("it has no host")
    if ":" not in raw_host and not _NAME.fullmatch(raw_host):
        raise _malformed("its host holds characters no host name has")
    host = parse_host(raw_host)
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _malformed("its port is out of range")
    target = Target(scheme, host, port, parsed.raw_path.decode("ascii"))
    if deny_domains.matches(host):
        raise OracleFailure(OracleCode.Forbidden, f"{target.host_name} is on the oracle's deny list")
    if allow_domains and not allow_domains.matches(host):
        raise OracleFailure(OracleCode.Forbidden, f"{target.host_name} is not on the oracle's allow list")
    if not isinstance(host, str):
        check_address(host, allow_private_hosts=allow_private_hosts, host=target.host_name)
    return target
