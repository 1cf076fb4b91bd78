"""Pure: where a subnet's traffic to a destination really goes (its effective next hop), as Azure selects it.

A subnet's effective routes are the user routes of its route table, the routes a reachable gateway learned by
BGP (unless the table sets `disableBgpRoutePropagation`) and Azure's system routes (the VNet's address space ->
VnetLocal, each Connected peering's remote address space -> VNetPeering, `0.0.0.0/0` -> Internet, the reserved
private ranges -> None). Azure picks the longest prefix that holds the destination; among routes with the same
prefix, a user route beats a BGP route beats a system route (docs/platform-notes.md, "Route selection").
IPv6 is ignored: this tool never routes it (docs/architecture.md section 3, rule 4).

BGP-learned routes are not in any resource body ARM returns cheaply, so they are a parameter (`learned`, by
gateway id): with none given, the computation holds user and system routes only.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache

from remediation.core import net
from remediation.core.ids import id_key
from remediation.core.model import (
    NextHopType,
    ObservedEffectiveRoute,
    ObservedRouteTable,
    ObservedSubnet,
    ObservedVnet,
    Snapshot,
)


class RouteSource(StrEnum):
    """The `source` ARM's effective route table gives each route (NIC effectiveRouteTable)."""

    USER = "User"
    BGP = "VirtualNetworkGateway"
    SYSTEM = "Default"


# Same prefix: user > BGP > system (docs/platform-notes.md, "Route selection").
_RANK = {RouteSource.USER: 0, RouteSource.BGP: 1, RouteSource.SYSTEM: 2}
VNET_PEERING = "VNetPeering"
_APPLIANCE = NextHopType.VIRTUAL_APPLIANCE.value.lower()  # once: an enum's `.value` is a slow property
# The default system routes with next hop None: RFC 1918 and RFC 6598 space is dropped unless a VNet or
# peering route covers it (docs/platform-notes.md, "Route selection").
RESERVED_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class EffectiveRoute:
    prefix: str
    next_hop_type: str
    source: RouteSource
    next_hop_ip: str | None = None
    table: str | None = None  # the route table (user routes) or the gateway id (BGP routes)
    name: str | None = None  # the route's name (user routes)

    def describe(self) -> str:
        hop = f"{self.prefix} -> {self.next_hop_type}" + (f" {self.next_hop_ip}" if self.next_hop_ip else "")
        if self.source is RouteSource.USER:
            where = f" on route table {_name(self.table)}" if self.table else ""
            return f"user route {self.name}{where}: {hop}"
        if self.source is RouteSource.BGP:
            return f"BGP route from gateway {_name(self.table)}: {hop}" if self.table else f"BGP route {hop}"
        return f"system route {hop}"


@dataclass(frozen=True)
class LearnedRoute:
    """A route a VPN/ExpressRoute gateway learned by BGP and propagates to the subnets of its VNet (and of
    VNets peered with `useRemoteGateways`)."""

    prefix: str
    next_hop_ip: str | None = None


@dataclass(frozen=True)
class SubnetRoutes:
    """A subnet's effective routes, or why they cannot be known (`unknown`; then `routes` is empty)."""

    subnet_id: str
    routes: tuple[EffectiveRoute, ...] = ()
    unknown: str | None = None

    @cached_property
    def ranked(self) -> tuple[_Ranked, ...]:
        """The routes ranked for selection (`_ranked`), once per subnet rather than once per flow."""
        return _ranked(self.routes)

    @cached_property
    def spans(self) -> tuple[net.Span, ...]:
        """The first and last address of each of `ranked`, in its order: all that selection looks at."""
        return tuple((first, last) for _, first, last, _ in self.ranked)


def _name(address: str | None) -> str:
    return (address or "?").rstrip("/").rsplit("/", 1)[-1]


def _ipv4(prefix: str) -> bool:
    parsed = net.network(prefix)
    return parsed is not None and parsed.version == 4


# --------------------------------------------------------------------------------------------- route sets


def vnet_of(snapshot: Snapshot, subnet_id: str) -> ObservedVnet | None:
    return snapshot.vnets.get(id_key(subnet_id.rstrip("/").rsplit("/subnets/", 1)[0]))


def peered_prefixes(vnet: ObservedVnet) -> tuple[str, ...]:
    """Remote address spaces of the peerings that carry traffic (Connected, VNet access allowed)."""
    return net.sorted_prefixes(p for peering in vnet.peerings
                               if peering.state.lower() == "connected" and peering.allow_vnet_access
                               for p in peering.remote_address_prefixes)


def system_routes(vnet: ObservedVnet | None) -> tuple[EffectiveRoute, ...]:
    """Azure's default routes for a subnet of `vnet` (None = VNet not read: the VNet-wide routes are left out)."""
    if vnet is None:
        return _system_routes((), ())
    return _system_routes(tuple(vnet.address_prefixes), peered_prefixes(vnet))


# The same for every subnet of a VNet: computed once per address space (the inputs are immutable tuples).
@lru_cache(maxsize=4096)
def _system_routes(address_prefixes: tuple[str, ...], peered: tuple[str, ...]) -> tuple[EffectiveRoute, ...]:
    local = net.ipv4_only(address_prefixes)
    peered = net.ipv4_only(peered)
    routes = [EffectiveRoute(net.canonical_prefix(p), NextHopType.VNET_LOCAL.value, RouteSource.SYSTEM)
              for p in local]
    routes += [EffectiveRoute(p, VNET_PEERING, RouteSource.SYSTEM) for p in peered]
    routes.append(EffectiveRoute(net.DEFAULT_PREFIX, NextHopType.INTERNET.value, RouteSource.SYSTEM))
    taken = {r.prefix for r in routes}
    # A reserved range assigned to the VNet (or a peer) is VNet space, not None.
    routes += [EffectiveRoute(p, NextHopType.NONE.value, RouteSource.SYSTEM) for p in RESERVED_PRIVATE
               if p not in taken]
    return tuple(routes)


def user_routes(table: ObservedRouteTable) -> tuple[EffectiveRoute, ...]:
    return tuple(EffectiveRoute(net.canonical_prefix(r.address_prefix), r.next_hop_type, RouteSource.USER,
                                r.next_hop_ip_address, table.id, r.name)
                 for r in table.routes if _ipv4(r.address_prefix))


def reachable_gateways(vnet: ObservedVnet, vnets: Mapping[str, ObservedVnet]) -> tuple[str, ...]:
    """The VNet's own gateways, and those of a peer it uses with `useRemoteGateways` (Connected)."""
    found = list(vnet.gateway_ids)
    for peering in vnet.peerings:
        if peering.use_remote_gateways and peering.state.lower() == "connected" and peering.remote_vnet_id:
            remote = vnets.get(id_key(peering.remote_vnet_id))
            found.extend(remote.gateway_ids if remote is not None else ())
    return tuple(dict.fromkeys(found))


def bgp_routes(vnet: ObservedVnet | None, vnets: Mapping[str, ObservedVnet],
               learned: Mapping[str, Sequence[LearnedRoute]]) -> tuple[EffectiveRoute, ...]:
    """The learned routes of every gateway the VNet reaches (`learned` by id_key of the gateway id)."""
    if vnet is None:
        return ()
    return tuple(EffectiveRoute(net.canonical_prefix(r.prefix), NextHopType.VIRTUAL_NETWORK_GATEWAY.value,
                                RouteSource.BGP, r.next_hop_ip, gateway)
                 for gateway in reachable_gateways(vnet, vnets)
                 for r in learned.get(id_key(gateway), ()) if _ipv4(r.prefix))


def subnet_routes(snapshot: Snapshot, subnet: ObservedSubnet,
                  learned: Mapping[str, Sequence[LearnedRoute]] | None = None) -> SubnetRoutes:
    """Every route that applies to `subnet` (user, BGP, system); `unknown` when its route table was not read."""
    table = None
    if subnet.route_table_id:
        table = snapshot.route_tables.get(id_key(subnet.route_table_id))
        if table is None:
            return SubnetRoutes(subnet.id, unknown=f"route table {subnet.route_table_id} was not read")
    vnet = vnet_of(snapshot, subnet.id)
    propagate = table is None or not table.disable_bgp_route_propagation
    bgp = bgp_routes(vnet, snapshot.vnets, learned or {}) if propagate else ()
    user = user_routes(table) if table is not None else ()
    return SubnetRoutes(subnet.id, (*user, *bgp, *system_routes(vnet)))


def from_arm(subnet_id: str, observed: Sequence[ObservedEffectiveRoute]) -> SubnetRoutes:
    """ARM's effective route table of a NIC of the subnet as a route set (sources it does not name are system
    routes: service endpoints, private endpoints and the like hold their own prefixes only)."""
    sources = {s.value.lower(): s for s in RouteSource}
    return SubnetRoutes(subnet_id, tuple(
        EffectiveRoute(net.canonical_prefix(r.address_prefix), r.next_hop_type,
                       sources.get(r.source.lower(), RouteSource.SYSTEM), r.next_hop_ip, None, r.name)
        for r in observed if _ipv4(r.address_prefix)))


# --------------------------------------------------------------------------------------------- selection


def _key(route: EffectiveRoute) -> tuple[int, int]:
    parsed = net.network(route.prefix)
    return (-(parsed.prefixlen if parsed is not None else -1), _RANK[route.source])


# A route ready for selection: (its rank `_key`, first address, last address, the route), best rank first.
_Ranked = tuple[tuple[int, int], int, int, EffectiveRoute]


def _ranked(routes: Iterable[EffectiveRoute]) -> tuple[_Ranked, ...]:
    """The IPv4 routes, best first: the first that holds an address is the one Azure uses for it."""
    return tuple(sorted(((_key(r), *s, r) for r in routes if (s := net.ipv4_prefix_span(r.prefix)) is not None),
                        key=lambda h: h[0]))


def _best(routes: Iterable[EffectiveRoute], region: net.Network) -> EffectiveRoute | None:
    """The route Azure uses for every address of `region` when no route more specific than `region` exists:
    the longest prefix that holds it, then user > BGP > system."""
    holding = [r for r in routes if (n := net.network(r.prefix)) is not None and n.version == region.version
               and region.subnet_of(n)]  # type: ignore[arg-type]  # same IP version, checked
    return min(holding, key=_key, default=None)


def next_hop(routes: Sequence[EffectiveRoute], ip: str) -> EffectiveRoute | None:
    """The route that carries traffic to one address."""
    parsed = net.network(f"{ip}/32")
    return _best(routes, parsed) if parsed is not None else None


def winners(routes: Sequence[EffectiveRoute], prefix: str, exclude: Iterable[str] = ()) -> tuple[EffectiveRoute, ...]:
    """Every route that carries traffic to some address of `prefix` outside `exclude`, most specific first.

    The range is cut at every route's first and last address: between two cuts the routes that hold an address
    are the same, so the best of them (longest prefix, then user > BGP > system) carries that whole piece. A route
    hidden entirely behind more specific ones is therefore not named.
    """
    return _winners(_ranked(routes), prefix, exclude)


def _winners(held: Sequence[_Ranked], prefix: str, exclude: Iterable[str],
             spans: tuple[net.Span, ...] | None = None) -> tuple[EffectiveRoute, ...]:
    target = net.ipv4_prefix_span(prefix)
    if target is None:
        return ()
    cut = tuple(s for e in exclude if (s := net.ipv4_prefix_span(e)) is not None)
    if spans is None:
        spans = tuple((first, last) for _, first, last, _ in held)
    found: dict[tuple[str, str, str | None], EffectiveRoute] = {}
    for index in _carriers(spans, target, cut):
        best = held[index][3]
        found.setdefault((best.prefix, best.source, best.name), best)
    return tuple(sorted(found.values(), key=lambda r: (*_key(r), net.prefix_sort_key(r.prefix))))


# Which ranked routes carry a piece of a flow depends on their spans alone, and a fleet's subnets repeat a few
# shapes (the same owned routes, VNet space and peers): each shape is worked out once (issue 26).
@lru_cache(maxsize=16384)
def _carriers(spans: tuple[net.Span, ...], target: net.Span, cut: tuple[net.Span, ...]) -> tuple[int, ...]:
    """Indexes into `spans` (best rank first) of the routes that carry some address of `target` outside `cut`,
    in the order found: the range is cut at every span's ends, and the first span holding a piece carries it."""
    ends = sorted({p for a, b in spans for p in (a, b + 1)})
    found: dict[int, None] = {}
    for lo, hi in net.span_difference(target, cut):
        # The piece's own start, then every span end inside it: between two of these the holders do not change.
        for start in (lo, *ends[bisect_right(ends, lo):bisect_right(ends, hi)]):
            best = next((i for i, (a, b) in enumerate(spans) if a <= start <= b), None)
            if best is not None:
                found.setdefault(best, None)
    return tuple(found)


def through(route: EffectiveRoute, firewall_ip: str) -> bool:
    """The route hands the traffic to the firewall (next hop VirtualAppliance at its private IP)."""
    hop = net.address(route.next_hop_ip)
    return route.next_hop_type.lower() == _APPLIANCE and hop is not None and hop == net.address(firewall_ip)


# --------------------------------------------------------------------------------------------- flows


def flow_exclusions(vnet: ObservedVnet | None, prefix: str) -> tuple[str, ...]:
    """What a flow to `prefix` does not mean. Internet (`0.0.0.0/0`): the private ranges, the VNet's own space
    and its peers' (they are other flows, or deliberately local). Any other prefix: the VNet's own ranges it
    holds (traffic inside the VNet is not the flow), unless the flow lies inside them (the App Gateway subnet)."""
    space = tuple(vnet.address_prefixes) if vnet is not None else ()
    if net.canonical_prefix(prefix) == net.DEFAULT_PREFIX:
        return _internet_exclusions(space, peered_prefixes(vnet) if vnet is not None else ())
    return _local_exclusions(space, prefix)


# Per VNet address space (and peers): the same for every flow of its subnets; the inputs are immutable.
@lru_cache(maxsize=4096)
def _internet_exclusions(space: tuple[str, ...], peered: tuple[str, ...]) -> tuple[str, ...]:
    return (*RESERVED_PRIVATE, *net.ipv4_only(space), *net.ipv4_only(peered))


@lru_cache(maxsize=16384)
def _local_exclusions(space: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    target = net.network(prefix)
    return tuple(p for p in net.ipv4_only(space) if not net.covers(net.network(p), prefix)
                 and target is not None and net.covers(target, p))


def flow_winners(snapshot: Snapshot, routes: SubnetRoutes, prefix: str) -> tuple[EffectiveRoute, ...]:
    """The routes that carry the subnet's traffic of the flow to `prefix` (see `flow_exclusions`)."""
    vnet = vnet_of(snapshot, routes.subnet_id)
    return _winners(routes.ranked, prefix, flow_exclusions(vnet, prefix), routes.spans)
