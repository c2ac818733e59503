"""Which addresses and URLs the oracle refuses (SSRF), by IANA's special-purpose registries (RFC 6890)
and neo-go's ``pkg/services/oracle/network.go`` / ``network_test.go`` (``TestIsReserved``, whose
compat cases come from neo-node PR 1066)."""

from __future__ import annotations

import ipaddress

import pytest

from neo_service_layer.enclave.oracle.addresses import check_address, parse_host, refusal
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.urls import DomainList, Target, parse_url

#: (address, words of the refusal): refused with allow_private_hosts off.
REFUSED = [
    # IPv4 (IANA IPv4 special-purpose registry; neo-go reservedCIDRs)
    pytest.param("0.0.0.0", "this network", id="v4-unspecified"),  # noqa: S104 - an address under test, not a bind
    pytest.param("0.1.2.3", "this network", id="v4-this-network"),
    pytest.param("10.0.0.1", "RFC 1918", id="v4-10/8"),
    pytest.param("10.255.255.255", "RFC 1918", id="v4-10/8-top"),
    pytest.param("172.16.0.1", "RFC 1918", id="v4-172.16/12"),
    pytest.param("172.31.255.255", "RFC 1918", id="v4-172.16/12-top"),
    pytest.param("192.168.1.1", "RFC 1918", id="v4-192.168/16"),
    pytest.param("127.0.0.1", "loopback", id="v4-loopback"),
    pytest.param("127.255.255.254", "loopback", id="v4-loopback-top"),
    pytest.param("169.254.169.254", "link-local", id="v4-cloud-metadata"),
    pytest.param("100.64.0.1", "CGNAT", id="v4-cgnat"),
    pytest.param("100.127.255.255", "CGNAT", id="v4-cgnat-top"),
    pytest.param("198.18.0.1", "benchmarking", id="v4-benchmarking"),
    pytest.param("198.19.255.255", "benchmarking", id="v4-benchmarking-top"),
    pytest.param("192.0.2.1", "TEST-NET-1", id="v4-doc-1"),
    pytest.param("198.51.100.7", "TEST-NET-2", id="v4-doc-2"),
    pytest.param("203.0.113.9", "TEST-NET-3", id="v4-doc-3"),
    pytest.param("192.0.0.8", "IETF protocol", id="v4-192.0.0/24"),
    pytest.param("192.88.99.1", "6to4 relay", id="v4-6to4-relay"),
    pytest.param("224.0.0.1", "multicast", id="v4-multicast"),
    pytest.param("239.255.255.250", "multicast", id="v4-multicast-ssdp"),
    pytest.param("240.0.0.1", "reserved", id="v4-reserved"),
    pytest.param("255.255.255.255", "broadcast", id="v4-broadcast"),
    # IPv6 (IANA IPv6 special-purpose registry)
    pytest.param("::", "unspecified", id="v6-unspecified"),
    pytest.param("::1", "loopback", id="v6-loopback"),
    pytest.param("fc00::1", "unique local", id="v6-ula-fc"),
    pytest.param("fd12:3456::1", "unique local", id="v6-ula-fd"),
    pytest.param("fe80::1", "link-local", id="v6-link-local"),
    pytest.param("febf::1", "link-local", id="v6-link-local-top"),
    pytest.param("fec0::1", "site-local", id="v6-site-local"),
    pytest.param("ff02::1", "multicast", id="v6-multicast"),
    pytest.param("ff01::1", "multicast", id="v6-interface-local-all-nodes"),
    pytest.param("2001:db8::1", "documentation", id="v6-doc-2001:db8"),
    pytest.param("3fff::1", "documentation", id="v6-doc-3fff"),
    pytest.param("2001:2::1", "benchmarking", id="v6-benchmarking"),
    pytest.param("100::1", "discard", id="v6-discard"),
    pytest.param("5f00::1", "SRv6", id="v6-srv6"),
    pytest.param("4000::1", "outside 2000::/3", id="v6-reserved"),
    # IPv6 forms that embed IPv4: checked by the IPv4 they reach, or refused outright
    pytest.param("::ffff:127.0.0.1", "embedding loopback", id="v6-mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", "embedding private", id="v6-mapped-private"),
    pytest.param("::ffff:169.254.169.254", "embedding link-local", id="v6-mapped-metadata"),
    pytest.param("::ffff:0.0.0.0", "embedding 'this network'", id="v6-mapped-zero"),
    pytest.param("::127.0.0.1", "IPv4-compatible", id="v6-compatible"),
    pytest.param("::8.8.8.8", "IPv4-compatible", id="v6-compatible-public"),
    pytest.param("2002:c0a8:101::", "embedding private", id="6to4-192.168.1.1"),
    pytest.param("2002:a00:1::", "embedding private", id="6to4-10.0.0.1"),
    pytest.param("2002:ac10:1::", "embedding private", id="6to4-172.16.0.1"),
    pytest.param("2002:7f00:1::", "embedding loopback", id="6to4-loopback"),
    pytest.param("64:ff9b::7f00:1", "embedding loopback", id="nat64-loopback"),
    pytest.param("64:ff9b::a9fe:a9fe", "embedding link-local", id="nat64-metadata"),
    pytest.param("64:ff9b:1::808:808", "local-use NAT64", id="nat64-local-use"),
    pytest.param("2001::1", "Teredo", id="teredo"),
    pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo", id="teredo-rfc4380-example"),
    pytest.param("2001:10::1", "IETF protocol", id="v6-orchid"),
]

#: Global unicast: allowed (neo-go network_test.go's "public" cases and their neighbours).
ALLOWED = [
    pytest.param("8.8.8.8", id="v4-public"),
    pytest.param("1.1.1.1", id="v4-public-2"),
    pytest.param("172.15.255.255", id="v4-below-172.16/12"),
    pytest.param("172.32.0.0", id="v4-above-172.16/12"),
    pytest.param("100.63.255.255", id="v4-below-cgnat"),
    pytest.param("100.128.0.0", id="v4-above-cgnat"),
    pytest.param("192.175.48.1", id="v4-as112-global"),
    pytest.param("2606:4700:4700::1111", id="v6-public"),
    pytest.param("::ffff:8.8.8.8", id="v6-mapped-public"),
    pytest.param("2002:808:808::", id="6to4-public"),
    pytest.param("64:ff9b::808:808", id="nat64-public"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_special_purpose_addresses_are_refused(address: str, why: str) -> None:
    reason = refusal(ipaddress.ip_address(address), allow_private_hosts=False)
    assert reason is not None
    assert why in reason
    with pytest.raises(OracleFailure) as caught:
        check_address(ipaddress.ip_address(address), allow_private_hosts=False, host="h.example")
    assert caught.value.code is OracleCode.Forbidden
    assert caught.value.detail.startswith("h.example ")


@pytest.mark.parametrize("address", ALLOWED)
def test_global_unicast_is_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private_hosts=False) is None


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("10.1.2.3", id="private"),
        pytest.param("::1", id="v6-loopback"),
        pytest.param("fd00::1", id="ula"),
        pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
        pytest.param("192.0.2.1", id="documentation"),
    ],
)
def test_allow_private_hosts_allows_non_global_unicast(address: str) -> None:
    # neo-go AllowPrivateHost: devnets and tests reach servers on their own machine.
    assert refusal(ipaddress.ip_address(address), allow_private_hosts=True) is None


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("0.0.0.0", id="v4-unspecified"),  # noqa: S104 - an address under test, not a bind
        pytest.param("::", id="v6-unspecified"),
        pytest.param("224.0.0.1", id="v4-multicast"),
        pytest.param("ff02::1", id="v6-multicast"),
        pytest.param("255.255.255.255", id="broadcast"),
        pytest.param("240.0.0.1", id="reserved"),
        pytest.param("::ffff:0.0.0.0", id="mapped-unspecified"),
        pytest.param("fe80::1%eth0", id="zone-id"),
    ],
)
def test_never_a_destination_even_with_allow_private_hosts(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private_hosts=True) is not None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        # WHATWG URL Standard §3.5 IPv4 parser / inet_aton: what a client dials for these hosts.
        pytest.param("2130706433", "127.0.0.1", id="decimal"),
        pytest.param("0x7f000001", "127.0.0.1", id="hex-whole"),
        pytest.param("0177.0.0.1", "127.0.0.1", id="octal"),
        pytest.param("0x7f.1", "127.0.0.1", id="hex-short"),
        pytest.param("127.1", "127.0.0.1", id="short"),
        pytest.param("127.0.1", "127.0.0.1", id="short-3"),
        pytest.param("0", "0.0.0.0", id="zero"),  # noqa: S104 - an address under test, not a bind
        pytest.param("0x.0x.0", "0.0.0.0", id="empty-hex"),  # noqa: S104 - an address under test, not a bind
        pytest.param("127.0.0.1.", "127.0.0.1", id="trailing-dot"),
        pytest.param("0xA9FEA9FE", "169.254.169.254", id="hex-metadata"),
        pytest.param("::ffff:7f00:1", "::ffff:127.0.0.1", id="v6"),
        pytest.param("[::1]", "::1", id="v6-brackets"),
        pytest.param("Example.COM.", "example.com", id="name-case-dot"),
    ],
)
def test_hosts_become_what_a_client_dials(host: str, expected: str) -> None:
    assert str(parse_host(host)) == expected


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("1.2.3.256", id="octet-too-big"),
        pytest.param("1.2.3.4.5", id="five-parts"),
        pytest.param("4294967296", id="number-too-big"),
        pytest.param("foo.123", id="name-ending-in-a-number"),
        pytest.param("08.1", id="bad-octal"),
        pytest.param("a..b", id="empty-label"),
        pytest.param("[::1::2]", id="bad-v6"),
    ],
)
def test_hosts_that_are_no_address_nor_name_are_refused(host: str) -> None:
    with pytest.raises(OracleFailure) as caught:
        parse_host(host)
    assert caught.value.code is OracleCode.ProtocolNotSupported


def _parse(url: str, **options: object) -> Target:
    settings: dict[str, object] = {"allow_http": False, "allow_private_hosts": False, **options}
    return parse_url(url, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        # Schemes (neo-go request.go: anything but https is ProtocolNotSupported).
        pytest.param("http://api.example.com/", OracleCode.ProtocolNotSupported, id="http-by-default"),
        pytest.param("ftp://api.example.com/", OracleCode.ProtocolNotSupported, id="ftp"),
        pytest.param("file:///etc/passwd", OracleCode.ProtocolNotSupported, id="file"),
        pytest.param("gopher://127.0.0.1:6379/_INFO", OracleCode.ProtocolNotSupported, id="gopher"),
        pytest.param("neofs:Gfke/abc", OracleCode.ProtocolNotSupported, id="neofs"),
        pytest.param("//api.example.com/", OracleCode.ProtocolNotSupported, id="scheme-relative"),
        pytest.param("https:///path", OracleCode.ProtocolNotSupported, id="no-host"),
        # Every notation of a refused address (what the client would dial is what is checked).
        pytest.param("https://127.0.0.1/", OracleCode.Forbidden, id="dotted"),
        pytest.param("https://2130706433/", OracleCode.Forbidden, id="decimal"),
        pytest.param("https://0x7f.1/", OracleCode.Forbidden, id="hex"),
        pytest.param("https://0177.1/", OracleCode.Forbidden, id="octal-short"),
        pytest.param("https://127.1/", OracleCode.Forbidden, id="short"),
        pytest.param("https://127.0.0.1./", OracleCode.Forbidden, id="trailing-dot"),
        pytest.param("https://0/", OracleCode.Forbidden, id="zero"),
        pytest.param("https://[::1]/", OracleCode.Forbidden, id="v6-loopback"),
        pytest.param("https://[::ffff:127.0.0.1]/", OracleCode.Forbidden, id="v6-mapped"),
        pytest.param("https://[::ffff:7f00:1]/", OracleCode.Forbidden, id="v6-mapped-hex"),
        pytest.param("https://[2002:7f00:1::]/", OracleCode.Forbidden, id="6to4"),
        pytest.param("https://[64:ff9b::a9fe:a9fe]/", OracleCode.Forbidden, id="nat64-metadata"),
        pytest.param("https://[fe80::1%25eth0]/", OracleCode.Forbidden, id="zone-id"),
        pytest.param("https://169.254.169.254/latest/meta-data/", OracleCode.Forbidden, id="metadata"),
        pytest.param("https://0xA9FEA9FE/", OracleCode.Forbidden, id="metadata-hex"),
        # httpx refuses a dotted quad with leading zeros: malformed, never dialled.
        pytest.param("https://0177.0.0.1/", OracleCode.ProtocolNotSupported, id="octal-dotted"),
        # Tricks on which parsers disagree: refused rather than guessed.
        pytest.param("https://good.example@127.0.0.1/", OracleCode.Forbidden, id="userinfo-to-loopback"),
        pytest.param("https://user:pw@api.example.com/", OracleCode.Forbidden, id="userinfo-credentials"),
        pytest.param("https://127.0.0.1\\@api.example.com/", OracleCode.ProtocolNotSupported, id="backslash"),
        pytest.param(
            "https://api.example.com\\.127.0.0.1/", OracleCode.ProtocolNotSupported, id="backslash-2"
        ),
        pytest.param("https://%31%32%37.0.0.1/", OracleCode.ProtocolNotSupported, id="percent-host"),
        pytest.param("https://ex%61mple.com/", OracleCode.ProtocolNotSupported, id="percent-name"),
        pytest.param("https://api.example.com /", OracleCode.ProtocolNotSupported, id="space"),
        pytest.param("https://api.example.com\t/", OracleCode.ProtocolNotSupported, id="tab"),
        pytest.param("https://api.example.com\r\nX: y/", OracleCode.ProtocolNotSupported, id="crlf"),
        pytest.param(
            "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
            OracleCode.ProtocolNotSupported,
            id="fullwidth-digits",
        ),
        pytest.param("https://api.example.com:99999/", OracleCode.ProtocolNotSupported, id="port-range"),
        pytest.param("https://1.2.3.256/", OracleCode.ProtocolNotSupported, id="bad-ipv4"),
    ],
)
def test_urls_refused(url: str, code: OracleCode) -> None:
    with pytest.raises(OracleFailure) as caught:
        _parse(url)
    assert caught.value.code is code
    assert "/" not in caught.value.detail.replace("https or http", "")  # never the URL


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "normalised"),
    [
        pytest.param(
            "https://API.Example.com./a?b=1#frag",
            "api.example.com",
            443,
            "/a?b=1",
            "https://api.example.com/a?b=1",
            id="case-dot-fragment",
        ),
        pytest.param(
            "https://api.example.com/#@127.0.0.1", "api.example.com", 443, "/", None, id="fragment-trick"
        ),
        pytest.param("https://bücher.example/", "xn--bcher-kva.example", 443, "/", None, id="idna"),
        pytest.param(
            "https://[2606:4700::1]:8443/x",
            "2606:4700::1",
            8443,
            "/x",
            "https://[2606:4700::1]:8443/x",
            id="v6-port",
        ),
        pytest.param("https://0x08080808/", "8.8.8.8", 443, "/", "https://8.8.8.8/", id="hex-public"),
        pytest.param("https://api.example.com", "api.example.com", 443, "/", None, id="empty-path"),
    ],
)
def test_urls_normalised(url: str, host: str, port: int, target: str, normalised: str | None) -> None:
    parsed = _parse(url)
    assert (str(parsed.host), parsed.port, parsed.target) == (host, port, target)
    if normalised is not None:
        assert parsed.url == normalised


def test_http_only_when_allowed_and_private_only_when_allowed() -> None:
    assert _parse("http://api.example.com/", allow_http=True).scheme == "http"
    assert _parse("http://api.example.com/", allow_http=True).port == 80
    assert str(_parse("https://127.0.0.1:8443/", allow_private_hosts=True).host) == "127.0.0.1"
    with pytest.raises(OracleFailure) as caught:
        _parse("https://0.0.0.0/", allow_private_hosts=True)
    assert caught.value.code is OracleCode.Forbidden


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        pytest.param("https://api.example.com/", True, id="allowed-exact"),
        pytest.param("https://a.b.feeds.example/", True, id="allowed-suffix"),
        pytest.param("https://feeds.example/", False, id="suffix-not-apex"),
        pytest.param("https://evil-feeds.example/", False, id="suffix-not-substring"),
        pytest.param("https://x.api.example.com/", False, id="exact-not-subdomain"),
        pytest.param("https://bad.feeds.example/", False, id="denied-wins"),
        pytest.param("https://BAD.feeds.example./", False, id="denied-normalised"),
        pytest.param("https://8.8.8.8/", True, id="allowed-ip"),
        pytest.param("https://0x08080808/", True, id="allowed-ip-other-notation"),
        pytest.param("https://1.1.1.1/", False, id="ip-not-listed"),
    ],
)
def test_domain_lists(url: str, allowed: bool) -> None:
    allow = DomainList.parse(["api.example.com", "*.feeds.example", "8.8.8.8"])
    deny = DomainList.parse(["bad.feeds.example"])
    if allowed:
        _parse(url, allow_domains=allow, deny_domains=deny)
        return
    with pytest.raises(OracleFailure) as caught:
        _parse(url, allow_domains=allow, deny_domains=deny)
    assert caught.value.code is OracleCode.Forbidden


def test_deny_list_alone_and_idna_patterns() -> None:
    deny = DomainList.parse(["*.internal", "Bücher.example."])
    for url in ("https://db.internal/", "https://xn--bcher-kva.example/", "https://bücher.example/"):
        with pytest.raises(OracleFailure) as caught:
            _parse(url, deny_domains=deny)
        assert caught.value.code is OracleCode.Forbidden
    assert _parse("https://internal/", deny_domains=deny).host == "internal"


@pytest.mark.parametrize("pattern", ["", "*.", "a b.com", "*.a..b", "exa/mple.com"])
def test_bad_domain_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a valid domain"):
        DomainList.parse([pattern])
