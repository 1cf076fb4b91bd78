"""core/net.py: the integer-bound fast paths of `overlaps` and `contains_ip` (issue 26) answer exactly as the
ipaddress module does, for IPv4, IPv6 and text that is no prefix at all."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from remediation.core import net

_V4 = st.builds(lambda a, n: f"{ipaddress.IPv4Address(a)}/{n}", st.integers(0, 2**32 - 1), st.integers(0, 32))
_ODD = st.sampled_from(["", "not-a-prefix", "fd00::/8", "::/0", "10.0.0.0/33", " 10.1.0.0/16 ", "AzureCloud"])
PREFIXES = st.one_of(_V4, _ODD)
ADDRESSES = st.one_of(st.builds(lambda a: str(ipaddress.IPv4Address(a)), st.integers(0, 2**32 - 1)),
                      st.sampled_from(["", "fd00::4", "x", "10.0.0.4"]))


def _reference_overlaps(prefix: str, others: list[str]) -> bool:
    mine = net.network(prefix)
    return mine is not None and any((o := net.network(other)) is not None and o.version == mine.version
                                    and mine.overlaps(o) for other in others)


@given(prefix=PREFIXES, others=st.lists(PREFIXES, max_size=4))
def test_overlaps_agrees_with_ipaddress(prefix: str, others: list[str]) -> None:
    assert net.overlaps(prefix, others) == _reference_overlaps(prefix, others)


@given(prefix=PREFIXES, ip=ADDRESSES)
def test_contains_ip_agrees_with_ipaddress(prefix: str, ip: str) -> None:
    parsed, address = net.network(prefix), net.address(ip)
    expected = parsed is not None and address is not None and parsed.version == address.version and address in parsed
    assert net.contains_ip(prefix, ip) == expected


def test_ipv4_prefix_span() -> None:
    assert net.ipv4_prefix_span("10.1.4.7/24") == (int(ipaddress.IPv4Address("10.1.4.0")),
                                                   int(ipaddress.IPv4Address("10.1.4.255")))
    assert net.ipv4_prefix_span("fd00::/8") is None
    assert net.ipv4_prefix_span("nonsense") is None
