"""Which IP addresses the oracle may dial, and what address a URL's host names.

The table follows IANA's special-purpose address registries (RFC 6890 and its updates:
https://www.iana.org/assignments/iana-ipv4-special-registry and .../iana-ipv6-special-registry), the
IPv4 ranges neo-go refuses (``pkg/services/oracle/network.go`` ``reservedCIDRs``, ``isReserved``) and
the cases of the C# node's fix for 6to4 (neo-node PR 1066, mirrored in neo-go ``network_test.go``).

Two kinds of refusal:

* **never** a destination (unspecified, ``0.0.0.0/8``, multicast, broadcast, ``240.0.0.0/4``): no
  setting allows them; ``0.0.0.0`` even reaches the local host on Linux.
* **non-global** (loopback, RFC 1918, link-local, CGNAT, ULA, documentation, benchmarking, ...): refused
  unless ``allow_private_hosts`` (neo-go's ``AllowPrivateHost``), which devnets and tests need to reach
  servers on their own machine.

IPv6 forms that embed an IPv4 address are judged by where a packet to them really goes:

* IPv4-mapped ``::ffff:0:0/96`` (RFC 4291 §2.5.5.2): a dual-stack socket dials the embedded IPv4
  address, so that address is checked.
* NAT64 well-known prefix ``64:ff9b::/96`` (RFC 6052): the translator dials the embedded IPv4 address
  (checked); DNS64 networks hand these out for every IPv4-only site, so refusing them would cut off
  IPv6-only hosts.
* 6to4 ``2002::/16`` (RFC 3056): bits 16 to 47 are the IPv4 address of the site; checked, as neo-go does.
* Refused outright: IPv4-compatible ``::/96`` (deprecated, RFC 4291 §2.5.5.1: nothing legitimate uses
  it), local-use NAT64 ``64:ff9b:1::/48`` (RFC 8215: where the IPv4 address sits depends on the
  operator's prefix length, so it cannot be read back), Teredo ``2001::/32`` (RFC 4380: the client's
  address is obfuscated and reached through a relay; the destination cannot be judged from the
  address), with the rest of ``2001::/23`` (IETF protocol assignments).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum
from typing import Final

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Kind(Enum):
    """How a special-purpose range is refused."""

    NEVER = "never"  # not a unicast destination: refused whatever the policy
    NON_GLOBAL = "non-global"  # allowed only with allow_private_hosts


@dataclass(frozen=True, slots=True)
class Special:
    network: IPNetwork
    name: str
    kind: Kind


def _ranges(*rows: tuple[str, str, Kind]) -> tuple[Special, ...]:
    return tuple(Special(ipaddress.ip_network(cidr), name, kind) for cidr, name, kind in rows)


NEVER, NON_GLOBAL = Kind.NEVER, Kind.NON_GLOBAL

#: IANA IPv4 special-purpose registry (RFC 6890 §2.2.2 and updates). First match names the refusal.
#: Globally reachable entries (AS112 192.31.196/24 and 192.175.48/24, AMT 192.52.193/24) stay allowed.
IPV4_SPECIAL: Final = _ranges(
    ("0.0.0.0/8", "'this network' (RFC 791, RFC 1122 §3.2.1.3)", NEVER),
    ("10.0.0.0/8", "private (RFC 1918)", NON_GLOBAL),
    ("100.64.0.0/10", "shared address space, CGNAT (RFC 6598)", NON_GLOBAL),
    ("127.0.0.0/8", "loopback (RFC 1122 §3.2.1.3)", NON_GLOBAL),
    ("169.254.0.0/16", "link-local (RFC 3927)", NON_GLOBAL),
    ("172.16.0.0/12", "private (RFC 1918)", NON_GLOBAL),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890 §2.1)", NON_GLOBAL),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)", NON_GLOBAL),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)", NON_GLOBAL),
    ("192.168.0.0/16", "private (RFC 1918)", NON_GLOBAL),
    ("198.18.0.0/15", "benchmarking (RFC 2544)", NON_GLOBAL),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)", NON_GLOBAL),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)", NON_GLOBAL),
    ("224.0.0.0/4", "multicast (RFC 5771)", NEVER),
    ("255.255.255.255/32", "limited broadcast (RFC 919, RFC 8190)", NEVER),
    ("240.0.0.0/4", "reserved (RFC 1112 §4)", NEVER),
)

#: IANA IPv6 special-purpose registry (RFC 6890 §2.2.3 and updates), without the forms that embed an
#: IPv4 address to be checked (``_EMBEDDING``). Anything else outside 2000::/3 is refused too.
IPV6_SPECIAL: Final = _ranges(
    ("::/128", "unspecified (RFC 4291 §2.5.2)", NEVER),
    ("::1/128", "loopback (RFC 4291 §2.5.3)", NON_GLOBAL),
    ("::/96", "IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)", NON_GLOBAL),
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)", NON_GLOBAL),
    ("100::/64", "discard-only (RFC 6666)", NON_GLOBAL),
    ("2001::/32", "Teredo (RFC 4380)", NON_GLOBAL),
    ("2001:2::/48", "benchmarking (RFC 5180)", NON_GLOBAL),
    ("2001::/23", "IETF protocol assignments (RFC 2928)", NON_GLOBAL),
    ("2001:db8::/32", "documentation (RFC 3849)", NON_GLOBAL),
    ("3fff::/20", "documentation (RFC 9637)", NON_GLOBAL),
    ("5f00::/16", "SRv6 SIDs (RFC 9602)", NON_GLOBAL),
    ("fc00::/7", "unique local (RFC 4193)", NON_GLOBAL),
    ("fe80::/10", "link-local (RFC 4291 §2.5.6)", NON_GLOBAL),
    ("fec0::/10", "site-local, deprecated (RFC 3879)", NON_GLOBAL),
    ("ff00::/8", "multicast (RFC 4291 §2.7)", NEVER),
)

IPV4_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")
#: IANA's global unicast space (RFC 4291 §2.4): what is outside it is reserved by the IETF.
GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``address`` really reaches, for the forms checked by it."""
    if address in IPV4_MAPPED or address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(address.packed[12:])
    if address in SIX_TO_FOUR:
        return ipaddress.IPv4Address(address.packed[2:6])
    return None


def refusal(address: IPAddress, *, allow_private_hosts: bool) -> str | None:
    """Why ``address`` may not be dialled (naming its range), or ``None`` when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return "an IPv6 address with a zone id (link-scoped)"
        inner = embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner, allow_private_hosts=allow_private_hosts)
            return None if why is None else f"an IPv6 form embedding {why}"
        table = IPV6_SPECIAL
    else:
        table = IPV4_SPECIAL
    for special in table:
        if address in special.network:
            if special.kind is Kind.NON_GLOBAL and allow_private_hosts:
                return None
            return special.name
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST_V6:
        return None if allow_private_hosts else "reserved by the IETF (outside 2000::/3, RFC 4291 §2.4)"
    return None


def check_address(address: IPAddress, *, allow_private_hosts: bool, host: str) -> None:
    """Raise ``Forbidden`` when ``address`` may not be dialled; ``host`` (never the URL) names it."""
    why = refusal(address, allow_private_hosts=allow_private_hosts)
    if why is not None:
        raise OracleFailure(OracleCode.Forbidden, f"{host} is an address the oracle may not reach: {why}")


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 host: decimal, ``0x`` hex or ``0``-prefixed octal; None if not one."""
    base = 10
    if part[:2].lower() == "0x":
        part, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        part, base = part[1:], 8
    if part == "":
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[base]
    return int(part, base) if all(char in digits for char in part) else None


def _ends_in_a_number(labels: list[str]) -> bool:
    # WHATWG "ends in a number": all ASCII digits (even an invalid octal "08"), or a valid IPv4 number.
    last = labels[-1]
    return bool(last) and (all(char in "0123456789" for char in last) or _ipv4_number(last) is not None)


def parse_host(host: str) -> IPAddress | str:
    """The address or the DNS name a client dials for ``host`` (the host of a parsed URL).

    IPv4 in any notation a URL parser or ``inet_aton`` accepts (``2130706433``, ``0x7f.1``, ``0177.1``,
    ``127.1``) becomes the address it denotes (WHATWG URL Standard §3.5, "IPv4 parser"), so a check sees
    what a client would dial; a name is lower-cased without its trailing dot. Raises
    ``ProtocolNotSupported`` for a host that is neither (an out-of-range number, ``1.2.3.4.5``).
    """
    text = host.strip("[]") if host.startswith("[") else host
    if ":" in text:
        if "%" in text:
            raise OracleFailure(OracleCode.Forbidden, "an IPv6 host with a zone id (link-scoped)")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise OracleFailure(OracleCode.ProtocolNotSupported, "the URL's host is malformed") from None
    name = text.lower().removesuffix(".")
    labels = name.split(".")
    if not name or not all(labels):
        raise OracleFailure(OracleCode.ProtocolNotSupported, "the URL's host is malformed")
    if not _ends_in_a_number(labels):
        return name
    numbers = [_ipv4_number(label) for label in labels]
    if len(labels) > 4 or None in numbers:
        raise OracleFailure(OracleCode.ProtocolNotSupported, "the URL's host is not a valid IPv4 address")
    parts = [number for number in numbers if number is not None]
    *head, last = parts
    if any(part > 255 for part in head) or last >= 256 ** (5 - len(parts)):
        raise OracleFailure(OracleCode.ProtocolNotSupported, "the URL's host is not a valid IPv4 address")
    value = last + sum(part << (8 * (3 - index)) for index, part in enumerate(head))
    return ipaddress.IPv4Address(value)


def host_text(host: IPAddress | str) -> str:
    """``host`` as a URL writes it: a name, dotted IPv4, or bracketed IPv6."""
    return f"[{host}]" if isinstance(host, ipaddress.IPv6Address) else str(host)
