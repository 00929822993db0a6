"""The SSRF address rules, tested as pure functions: no test here opens a connection."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from photostage.config import SourcesSettings
from photostage.sources import SourcePolicy, is_forbidden_address
from photostage.sources.addresses import AllowList, parse_ip_literal, parse_ipv4_like_inet_aton

FORBIDDEN = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.255", "0.0.0.0",
    "0.1.2.3", "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.88.99.1",
    "::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::7f00:1", "::a00:1",
    "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::808:808",
    "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1", "2001:db8::1", "3fff::1", "2001:2::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100::1", "::1:0:0:1",
]
ALLOWED = [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.32.0.1", "11.0.0.1",
    "2606:2800:220:1:248:1893:25c8:1946", "2001:4860:4860::8888", "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1",
]


@pytest.mark.parametrize("text", FORBIDDEN)
def test_sources_forbidden_addresses(text: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ALLOWED)
def test_sources_public_addresses_pass_the_check(text: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1", "0X7F.0.0.1", "017700000001", "127.0.1"],
)
def test_sources_ipv4_spellings_parse_like_inet_aton(host: str) -> None:
    assert parse_ipv4_like_inet_aton(host) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "1.2.3.04", "08.1.1.1", "0x",
        "0x.1", "0x100000000", "4294967295", "4294967296", "1.256", "1.65536.1", "1.1.65535",
        "256.1.1.1", "1.2.3.4.", "1.2.3.4.5", ".1", "1..1", "0", "example.com", "deadbeef",
    ],
)
def test_sources_ipv4_parsing_matches_the_system_inet_aton(host: str) -> None:
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    assert parse_ipv4_like_inet_aton(host) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("0x7f.1", "127.0.0.1"),
        ("example.com", None),
        ("[not:an:address]", None),
    ],
)
def test_sources_ip_literals_in_url_hosts(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (parsed if parsed is None else ipaddress.ip_address(parsed.packed)) == (
        expected if expected is None else ipaddress.ip_address(expected)
    )


def test_sources_allow_list_matches_names_ips_and_ranges() -> None:
    allow = AllowList.parse(("Assets.Internal.", "127.0.0.1", "10.0.0.0/8", "fd00::/8"))
    assert allow.allows_name("assets.internal")
    assert allow.allows_name("ASSETS.INTERNAL.")
    assert not allow.allows_name("other.internal")
    assert allow.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert allow.allows_address(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert allow.allows_address(ipaddress.ip_address("10.9.8.7"))
    assert allow.allows_address(ipaddress.ip_address("fd12::1"))
    assert not allow.allows_address(ipaddress.ip_address("127.0.0.2"))
    assert not allow.allows_address(ipaddress.ip_address("192.168.0.1"))


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "", "bad/entry"])
def test_sources_policy_refuses_malformed_allow_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        SourcePolicy(allow_hosts=(entry,))


def test_sources_policy_from_settings() -> None:
    settings = SourcesSettings(allow_hosts=["127.0.0.1", "assets.internal"], allow_http=False, timeout_s=3,
                               max_redirects=2, allow_data_uris=False)
    policy = SourcePolicy.from_settings(settings, max_bytes=1234)
    assert policy == SourcePolicy(
        allow_hosts=("127.0.0.1", "assets.internal"), allow_http=False, timeout_s=3.0, max_redirects=2,
        max_bytes=1234, allow_data_uris=False,
    )
    assert SourcePolicy.from_settings(SourcesSettings(), max_bytes=50 * 1024 * 1024) == SourcePolicy()
