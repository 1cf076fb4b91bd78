"""Pure: the flows the runbook routes through the firewall, and whether each really takes it.

A flow is one desired route seen as traffic: its subnet (node, pod or App Gateway subnet) to its prefix (the
internet where the cluster's egress must pass the firewall, the App Gateway subnet, the P2S pools, the spoke
prefixes, the AKS ranges). Its verdict comes from the subnet's effective routes
(remediation/planning/effective_routes.py), not from the presence of our route: a more specific route, a route
learned by BGP or a VNet peering can carry the traffic elsewhere while our route stays in place.

A foreign route (or a BGP route) that wins is never deleted or edited by this tool, whatever ALLOW_TAKEOVER says:
`bypass_conflicts` turns each into a conflict that names the route and the fix a person should make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from remediation.core import net
from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import ChangeKind, Conflict, DesiredSubnetRoutes, NextHopType, Snapshot
from remediation.planning import effective_routes as er
from remediation.planning.effective_routes import EffectiveRoute, LearnedRoute, RouteSource

# The words every bypass conflict carries: compliance tells these reports (a flow's verdict) from other conflicts.
BYPASS_MARK = "around the firewall; not changed by this tool (foreign routes are never edited, ALLOW_TAKEOVER " \
              "does not apply)"


class Verdict(StrEnum):
    FIREWALL = "firewall"  # every route that carries the flow hands it to the firewall
    BYPASS = "bypass"  # some of it goes elsewhere (named)
    UNKNOWN = "unknown"  # the subnet's routes could not be read


@dataclass(frozen=True)
class Flow:
    subnet_id: str
    kind: str  # internet | appgw | p2s | spoke | aks (the role in the owned route's name)
    destination: str  # the prefix
    firewall_ip: str
    verdict: Verdict
    carriers: tuple[EffectiveRoute, ...] = ()  # every route that carries part of it (most specific first)
    reason: str | None = None  # why UNKNOWN

    @property
    def subnet(self) -> str:
        return self.subnet_id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def bypass(self) -> tuple[EffectiveRoute, ...]:
        return tuple(r for r in self.carriers if not er.through(r, self.firewall_ip))

    def next_hop(self) -> str:
        """The effective next hop(s), as ARM's effective route table would name them."""
        if self.verdict is Verdict.UNKNOWN:
            return "unknown"
        return ", ".join(dict.fromkeys(
            f"{r.next_hop_type} {r.next_hop_ip}" if r.next_hop_ip else r.next_hop_type for r in self.carriers))

    def line(self) -> str:
        head = f"{self.subnet} -> {self.kind} {self.destination}"
        if self.verdict is Verdict.UNKNOWN:
            return f"{head}: unknown ({self.reason})"
        if self.verdict is Verdict.FIREWALL:
            return f"{head}: through the firewall {self.firewall_ip}"
        return f"{head}: does not pass the firewall {self.firewall_ip}: " + "; ".join(r.describe() for r in self.bypass)


def _kind(route_name: str, settings: Settings) -> str:
    role = route_name[len(settings.ownership_prefix):].split("-", 1)[0].lower()
    return "internet" if role == "default" else role


def subnet_flows(snapshot: Snapshot, item: DesiredSubnetRoutes, settings: Settings,
                 learned: Mapping[str, Sequence[LearnedRoute]] | None = None,
                 routes: er.SubnetRoutes | None = None) -> tuple[Flow, ...]:
    """One flow per desired route of the subnet, judged against the routes in effect now (computed, or `routes`:
    ARM's effective routes of a NIC of the subnet)."""
    if routes is None:
        subnet = snapshot.subnets.get(id_key(item.subnet_id))
        routes = er.subnet_routes(snapshot, subnet, learned) if subnet is not None else None
    out: list[Flow] = []
    for route in item.routes:
        if route.next_hop_type.lower() != NextHopType.VIRTUAL_APPLIANCE.value.lower():
            continue  # not a flow through the firewall: the App Gateway subnet's direct Internet route (desired.py)
        firewall_ip = route.next_hop_ip_address or ""
        kind, prefix = _kind(route.name, settings), net.canonical_prefix(route.address_prefix)
        if routes is None or routes.unknown:
            reason = routes.unknown if routes is not None else "subnet not read"
            out.append(Flow(item.subnet_id, kind, prefix, firewall_ip, Verdict.UNKNOWN, reason=reason))
            continue
        carriers = er.flow_winners(snapshot, routes, prefix)
        through = all(er.through(r, firewall_ip) for r in carriers) and bool(carriers)
        out.append(Flow(item.subnet_id, kind, prefix, firewall_ip,
                        Verdict.FIREWALL if through else Verdict.BYPASS, carriers))
    return tuple(out)


def flows(snapshot: Snapshot, wanted: Sequence[DesiredSubnetRoutes], settings: Settings,
          learned: Mapping[str, Sequence[LearnedRoute]] | None = None) -> tuple[Flow, ...]:
    return tuple(flow for item in wanted for flow in subnet_flows(snapshot, item, settings, learned))


def _fix(route: EffectiveRoute, flow: Flow) -> str:
    if route.source is RouteSource.BGP:
        return (f"fix: set disableBgpRoutePropagation on the route table of subnet {flow.subnet}, or stop the "
                f"gateway advertising {route.prefix}")
    return f"fix: delete route {route.name} or point it at the firewall (VirtualAppliance {flow.firewall_ip})"


def bypass_conflicts(snapshot: Snapshot, wanted: Sequence[DesiredSubnetRoutes], settings: Settings,
                     learned: Mapping[str, Sequence[LearnedRoute]] | None = None) -> tuple[Conflict, ...]:
    """A conflict per foreign user route or BGP route that carries a flow around the firewall. A foreign route
    on the flow's own prefix is left out: the route planner reports it already (the route it holds is ours)."""
    found: dict[str, Conflict] = {}
    for flow in flows(snapshot, wanted, settings, learned):
        for route in flow.bypass:
            if route.source is RouteSource.SYSTEM:
                continue  # a missing owned route (the plan writes it) or a peering: shown by compliance
            if route.source is RouteSource.USER and (settings.owns_name(route.name or "")
                                                     or route.prefix == flow.destination):
                continue
            address = f"{route.table}/routes/{route.name}" if route.source is RouteSource.USER else flow.subnet_id
            kind = ChangeKind.ROUTE if route.source is RouteSource.USER else ChangeKind.SUBNET_ROUTE_TABLE
            message = (f"{route.describe()} carries traffic of {flow.subnet} -> {flow.kind} {flow.destination} "
                       f"{BYPASS_MARK}; {_fix(route, flow)}")
            found.setdefault(f"{address}|{flow.subnet_id}|{flow.destination}", Conflict(kind, address, message))
    return tuple(found[k] for k in sorted(found))


def confirmed(snapshot: Snapshot, wanted: Sequence[DesiredSubnetRoutes], settings: Settings,
              computed: Sequence[Flow]) -> tuple[tuple[Flow, ...], tuple[str, ...]]:
    """The flows as ARM's effective routes of a node NIC show them, where `status --verify` read them
    (Snapshot.effective_routes), in place of the computed ones; and one line per difference or unread subnet.
    ARM's table holds what the computation cannot see (BGP-learned routes), so its verdict is the one kept."""
    by_key = {(id_key(f.subnet_id), f.destination): f for f in computed}
    kept = dict(by_key)
    lines: list[str] = []
    for item in wanted:
        read = snapshot.effective_routes.get(id_key(item.subnet_id))
        if read is None:
            continue
        subnet = item.subnet_id.rstrip("/").rsplit("/", 1)[-1]
        if read.error is not None:
            lines.append(f"{subnet}: not verified on ARM: {read.error}")
            continue
        nic = (read.nic_id or "?").rstrip("/").rsplit("/", 1)[-1]
        for flow in subnet_flows(snapshot, item, settings, routes=er.from_arm(item.subnet_id, read.routes)):
            key = (id_key(flow.subnet_id), flow.destination)
            mine = by_key.get(key)
            kept[key] = flow
            if mine is not None and (mine.verdict, mine.next_hop()) == (flow.verdict, flow.next_hop()):
                continue
            was = f"{mine.next_hop()} [{mine.verdict.value}]" if mine is not None else "not computed"
            lines.append(f"ARM's effective routes of NIC {nic} differ for {flow.subnet} -> {flow.kind} "
                         f"{flow.destination}: ARM {flow.next_hop()} [{flow.verdict.value}], computed {was}")
    return tuple(kept.values()), tuple(lines)
