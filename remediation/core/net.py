"""Prefix arithmetic: the one place that parses and compares CIDR prefixes and IP addresses.

Unparsable text is never an exception here: it is `None` (or kept as it is, for display), so the callers
decide whether it is a conflict to report. ARM stores prefixes as text (`10.1.4.7/24` is accepted and kept), so
every comparison goes through `canonical_prefix` (docs/arm-notes.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The default route; IPv6 is never routed by this tool (docs/architecture.md section 3, rule 4).
DEFAULT_PREFIX = "0.0.0.0/0"


# Prefixes and addresses repeat across a fleet (every spoke's routes name the same few; issue 26 counted 715 k
# prefix parses for 30 k distinct prefixes at 10,000 clusters): each is parsed once. The results are immutable.
@lru_cache(maxsize=65536)
def network(prefix: str) -> Network | None:
    """The parsed prefix (host bits allowed, as ARM allows them), or None for text that is not one."""
    try:
        return ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None


def ipv4_span(value: str) -> tuple[int, int] | None:
    """The first and last IPv4 address (as integers) of an address, a CIDR (host bits allowed) or a range
    `a-b` (Azure Firewall rules accept all three), or None for anything else (a tag, IPv6, a reversed range)."""
    text = value.strip()
    if "-" in text:
        first, _, last = text.partition("-")
        low, high = address(first), address(last)
        if not isinstance(low, ipaddress.IPv4Address) or not isinstance(high, ipaddress.IPv4Address):
            return None
        return (int(low), int(high)) if int(low) <= int(high) else None
    parsed = network(text)
    if not isinstance(parsed, ipaddress.IPv4Network):
        return None
    return int(parsed.network_address), int(parsed.broadcast_address)


def ipv4_span_count(spans: Iterable[tuple[int, int]]) -> int:
    """How many distinct addresses the spans cover together (overlaps counted once)."""
    total, end = 0, -1
    for low, high in sorted(spans):
        if high > end:
            total += high - max(low, end + 1) + 1
            end = high
    return total


@lru_cache(maxsize=65536)
def address(ip: str | None) -> Address | None:
    try:
        return ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def canonical_prefix(prefix: str) -> str:
    """`10.1.4.7/24` -> `10.1.4.0/24`; IPv6 compressed. Unparsable text is kept (stripped) as it is."""
    net = network(prefix)
    return str(net) if net is not None else prefix.strip()


@lru_cache(maxsize=65536)
def prefix_sort_key(prefix: str) -> tuple[int, int, int, str]:
    """Numeric order (10.2.0.0/16 before 10.10.0.0/16), unparsable text last."""
    net = network(prefix)
    if net is None:
        return (9, 0, 0, prefix)
    return (net.version, int(net.network_address), net.prefixlen, "")


def sorted_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Canonical, de-duplicated, in numeric order; blank entries dropped."""
    return tuple(sorted({canonical_prefix(p) for p in prefixes if p.strip()}, key=prefix_sort_key))


def contains_ip(prefix: str, ip: str) -> bool:
    addr = address(ip)
    bounds = ipv4_prefix_span(prefix)
    if bounds is not None:  # IPv4: integer bounds, cached by text (a plan asks this per route, issue 26)
        return isinstance(addr, ipaddress.IPv4Address) and bounds[0] <= int(addr) <= bounds[1]
    net = network(prefix)
    return net is not None and addr is not None and net.version == addr.version and addr in net


def covers(net: Network | None, prefix: str) -> bool:
    """Whether `prefix` lies inside `net` (same IP version)."""
    other = network(prefix)
    if net is None or other is None or net.version != other.version:
        return False
    return other.subnet_of(net)  # type: ignore[arg-type]  # same IP version, checked above


def overlaps(prefix: str, others: Iterable[str]) -> bool:
    bounds = ipv4_prefix_span(prefix)
    if bounds is not None:  # IPv4: integer bounds, cached by text; IPv6 and unparsable others never overlap it
        low, high = bounds
        return any(b is not None and b[0] <= high and low <= b[1] for b in map(ipv4_prefix_span, others))
    net = network(prefix)
    if net is None:
        return False
    for other in others:
        o = network(other)
        if o is not None and o.version == net.version and net.overlaps(o):
            return True
    return False


def is_ipv6(prefix: str) -> bool:
    net = network(prefix)
    return net is not None and net.version == 6


def ipv4_only(prefixes: Iterable[str]) -> tuple[str, ...]:
    """The IPv4 prefixes (unparsable text is dropped too: it can be neither routed nor put in a rule)."""
    return tuple(p for p in prefixes if (n := network(p)) is not None and n.version == 4)


def ipv6_only(prefixes: Iterable[str]) -> tuple[str, ...]:
    return tuple(p for p in prefixes if is_ipv6(p))



Span = tuple[int, int]  # first and last address of a range, as integers


@lru_cache(maxsize=65536)
def span(net: Network) -> Span:
    return int(net.network_address), int(net.broadcast_address)


@lru_cache(maxsize=65536)
def ipv4_prefix_span(prefix: str) -> Span | None:
    """The span of an IPv4 prefix (host bits allowed), or None (IPv6, unparsable). Keyed by the text, whose hash
    Python keeps, where `span` hashes a network object on every call."""
    parsed = network(prefix)
    return span(parsed) if parsed is not None and parsed.version == 4 else None


def span_difference(whole: Span, cuts: Iterable[Span]) -> list[Span]:
    """What is left of `whole` once every span of `cuts` is taken out, in order (empty when covered whole)."""
    left = [whole]
    for lo, hi in sorted(cuts):
        kept: list[Span] = []
        for a, b in left:
            if hi < a or lo > b:
                kept.append((a, b))
                continue
            if a < lo:
                kept.append((a, lo - 1))
            if hi < b:
                kept.append((hi + 1, b))
        left = kept
    return left
