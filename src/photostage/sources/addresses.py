"""Which network addresses a source fetch may connect to.

The checks here are pure functions over :mod:`ipaddress` values, so the SSRF rules can be read
and tested without any network. The tables are written out explicitly instead of leaning on
``ipaddress``'s ``is_private``/``is_global`` flags, whose meaning has changed between Python
patch releases; a security rule must not move under us on an upgrade.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IANA IPv4 special-purpose ranges that are not globally reachable, plus multicast and the
# reserved class E block (which includes the limited broadcast address).
_FORBIDDEN_V4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network", including the unspecified address
        "10.0.0.0/8",  # RFC 1918 private
        "100.64.0.0/10",  # carrier-grade NAT shared space
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, including the 169.254.169.254 cloud metadata service
        "172.16.0.0/12",  # RFC 1918 private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918 private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255 broadcast
    )
)

# Only 2000::/3 is allocated as global unicast; everything outside it (loopback, unspecified,
# ULA fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8, the deprecated
# IPv4-compatible ::/96, discard 100::/64, local-use NAT64 64:ff9b:1::/48, ...) is refused,
# except the well-known NAT64 prefix, which is judged by the IPv4 address it embeds.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")
_FORBIDDEN_GLOBAL_V6 = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "2001:2::/48",  # benchmarking
        "2001:10::/28",  # deprecated ORCHID
        "2001:20::/28",  # ORCHIDv2
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)

_HEX_PART = re.compile(r"0[xX][0-9a-fA-F]+")
_OCTAL_PART = re.compile(r"0[0-7]*")
_DECIMAL_PART = re.compile(r"[1-9][0-9]*")


def canonical_address(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) *is* the IPv4 address on a dual-stack
    socket, so it is judged, allow-listed and connected to as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.packed)  # drops a zone id
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """IPv4 addresses a translator or tunnel would forward traffic for this address to."""
    if address in _NAT64_V6:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


def is_forbidden_address(address: IPAddress) -> bool:
    """True for every address a server-side fetch must not reach on a user's behalf: loopback,
    private, link-local (cloud metadata), CGNAT, unspecified, multicast, broadcast, reserved,
    documentation and benchmarking ranges, IPv6 ULA/link-local/site-local, and IPv6 forms that
    embed a forbidden IPv4 address (mapped, compatible, NAT64, 6to4, Teredo)."""
    address = canonical_address(address)
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in block for block in _FORBIDDEN_V4)
    if address in _NAT64_V6:
        return any(is_forbidden_address(inner) for inner in _embedded_ipv4(address))
    if address not in _GLOBAL_UNICAST_V6:
        return True
    if any(address in block for block in _FORBIDDEN_GLOBAL_V6):
        return True
    return any(is_forbidden_address(inner) for inner in _embedded_ipv4(address))


def _parse_inet_aton_part(part: str) -> int | None:
    if _HEX_PART.fullmatch(part):
        return int(part[2:], 16)
    if _OCTAL_PART.fullmatch(part):
        return int(part, 8)
    if _DECIMAL_PART.fullmatch(part):
        return int(part, 10)
    return None


def parse_ipv4_like_inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` the way ``inet_aton`` (and so ``getaddrinfo``) does: one to four dotted
    parts, each decimal, octal (leading 0) or hex (0x); the last part fills the remaining bytes.
    So ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` all mean 127.0.0.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_parse_inet_aton_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [value for value in values if value is not None]
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(parts))):
        return None
    number = 0
    for value in leading:
        number = (number << 8) | value
    number = (number << (8 * (5 - len(parts)))) | last
    return ipaddress.IPv4Address(number)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host names literally, in any form a resolver would accept, or None
    for a host name. IPv6 may be bracketed and carry a (percent-encoded) zone id."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        address_text = unquote(text).split("%", 1)[0]
        try:
            return ipaddress.IPv6Address(address_text)
        except ValueError:
            return None
    return parse_ipv4_like_inet_aton(text)


def normalise_host_name(host: str) -> str:
    """Host names compare case-insensitively and without the root label's trailing dot."""
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True)
class AllowList:
    """Hosts an operator explicitly trusts although they are loopback or private: matched by
    the host name as written in the URL, or by the address (single IP or CIDR range)."""

    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> AllowList:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
            elif "/" in entry or not normalise_host_name(entry):
                raise ValueError(f"allow_hosts entry {entry!r} is neither a host name, an IP nor a CIDR")
            else:
                names.add(normalise_host_name(entry))
        return cls(names=frozenset(names), networks=tuple(networks))

    def allows_name(self, host: str) -> bool:
        return normalise_host_name(host) in self.names

    def allows_address(self, address: IPAddress) -> bool:
        address = canonical_address(address)
        return any(address.version == network.version and address in network for network in self.networks)


def _parse_network(entry: str) -> IPNetwork | None:
    text = entry.strip().strip("[]")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network
