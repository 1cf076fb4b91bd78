"""Pure: the route safety rules. Which subnets and tables must never get a route to the firewall, and which
routes would break the subnets that use a table. No I/O; every rule is a small function on plain data.

The rules (docs/platform-notes.md 8, 3.2.3 and 9):
- platform subnets (AzureFirewallSubnet, AzureFirewallManagementSubnet, GatewaySubnet, RouteServerSubnet,
  AzureBastionSubnet) never get routes from this tool, by any path;
- a route table is judged by EVERY subnet that uses it: a route for one subnet's range lands on all of them,
  so no route may cover the range of any subnet associated with the table, and no next hop may sit inside
  one of those ranges (the appliance would route its own traffic back to itself);
- no 0.0.0.0/0 to an appliance on a table used by a v2 App Gateway subnet that is not network-isolated;
- 0.0.0.0/0 -> Internet (the secured-hub App Gateway scenario) only on a table every subnet of which hosts a
  v2 App Gateway that is not network-isolated, never any other prefix to the Internet;
- a route table Azure Virtual Network Manager manages is never written (remediation/planning/avnm.py);
- an IPv6 prefix never goes to an IPv4 appliance (Azure Firewall does not filter IPv6);
- a table whose subnets are not all known is not written ("when in doubt, don't write").

Public API: SPECIAL_SUBNETS, special_subnet_reason, is_ipv6, ipv4_only, ipv6_only, TableUse,
table_refusal, route_refusal, MAX_ROUTES_PER_TABLE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from remediation.core.ids import id_key
from remediation.core.model import NextHopType, ObservedAppGateway, ObservedSubnet, Route
from remediation.core.net import DEFAULT_PREFIX, canonical_prefix
from remediation.core.net import address as _address
from remediation.core.net import network as _network
from remediation.planning import avnm

# Subnets whose routing the platform owns (docs/platform-notes.md 8): lower-case name -> why.
SPECIAL_SUBNETS: Mapping[str, str] = {
    "azurefirewallsubnet": "the firewall's own subnet: a route to the firewall from there is a loop",
    "azurefirewallmanagementsubnet": "the firewall's management subnet must keep 0.0.0.0/0 to the Internet",
    "gatewaysubnet": "route tables on GatewaySubnet are restricted (no 0.0.0.0/0, BGP propagation stays on)",
    "routeserversubnet": "route tables are not supported on RouteServerSubnet",
    "azurebastionsubnet": "route tables are not supported on AzureBastionSubnet",
}

MAX_ROUTES_PER_TABLE = 400  # ARM limit per route table (docs/platform-notes.md 8)
_APPLIANCE = NextHopType.VIRTUAL_APPLIANCE.value.lower()  # once per process: an enum's `.value` is a slow property



def special_subnet_reason(subnet: ObservedSubnet | str) -> str | None:
    """Why the subnet must never get routes from this tool, or None. Takes a subnet or a subnet id/name."""
    name = subnet.name if isinstance(subnet, ObservedSubnet) else subnet.rstrip("/").rsplit("/", 1)[-1]
    why = SPECIAL_SUBNETS.get(name.lower())
    return f"{name}: {why}" if why else None


def _is_v2(gateway: ObservedAppGateway) -> bool:
    return (gateway.sku_name or gateway.sku_tier or "").lower().endswith("_v2")


@dataclass(frozen=True)
class TableUse:
    """Everything that decides what a route table may hold: every subnet associated with it (observed ones,
    and the ids of any that could not be read) and the v2 App Gateways that live in those subnets."""

    table_id: str
    subnets: tuple[ObservedSubnet, ...]
    unobserved_subnet_ids: tuple[str, ...] = ()
    non_isolated_v2_gateways: tuple[ObservedAppGateway, ...] = ()

    @staticmethod
    def of(
        table_id: str,
        subnet_ids: Iterable[str],
        subnets: Mapping[str, ObservedSubnet],
        gateways: Iterable[ObservedAppGateway],
    ) -> TableUse:
        """From a snapshot's maps (keyed by `ids.id_key`) and the ids of the subnets that use the table."""
        return TableUse.of_indexed(table_id, subnet_ids, subnets, gateways_by_subnet(gateways))

    @staticmethod
    def of_indexed(
        table_id: str,
        subnet_ids: Iterable[str],
        subnets: Mapping[str, ObservedSubnet],
        by_subnet: Mapping[str, Sequence[ObservedAppGateway]],
    ) -> TableUse:
        """As `of`, with the gateways indexed once per plan (`gateways_by_subnet`): a plan guards every table,
        and sorting every App Gateway for each of them made a fleet's planning quadratic (issue 26)."""
        seen: dict[str, str] = {}
        for subnet_id in subnet_ids:
            seen.setdefault(id_key(subnet_id), subnet_id)
        observed = tuple(subnets[k] for k in sorted(seen) if k in subnets)
        missing = tuple(seen[k] for k in sorted(seen) if k not in subnets)
        on_table = [g for k in seen for g in by_subnet.get(k, ())]
        v2 = tuple(g for g in sorted(on_table, key=lambda g: id_key(g.id)) if _is_v2(g) and not g.network_isolated)
        return TableUse(table_id, observed, missing, v2)


def gateways_by_subnet(gateways: Iterable[ObservedAppGateway]) -> dict[str, tuple[ObservedAppGateway, ...]]:
    """App Gateways by the `id_key` of their subnet (a gateway without a subnet is on no table)."""
    index: dict[str, list[ObservedAppGateway]] = {}
    for gateway in gateways:
        if gateway.subnet_id:
            index.setdefault(id_key(gateway.subnet_id), []).append(gateway)
    return {k: tuple(v) for k, v in index.items()}


def table_refusal(use: TableUse) -> str | None:
    """A reason to write nothing at all to this table (no route, no association), or None."""
    managed = avnm.managed_table_reason(use.table_id)
    if managed is not None:
        return f"route table is managed by Azure Virtual Network Manager ({managed}); this tool never writes it"
    for subnet in use.subnets:
        why = special_subnet_reason(subnet)
        if why:
            return f"route table serves platform subnet {why}; this tool never routes it"
    for subnet_id in use.unobserved_subnet_ids:
        why = special_subnet_reason(subnet_id)
        if why:
            return f"route table serves platform subnet {why}; this tool never routes it"
    if use.unobserved_subnet_ids:
        return ("route table is also associated with subnet(s) "
                f"{', '.join(use.unobserved_subnet_ids)} whose ranges were not observed; nothing is written "
                "to it while a route could land on a subnet it would break")
    return None


def route_refusal(route: Route, use: TableUse) -> str | None:
    """Why `route` must not be written to the table described by `use`, or None when it is safe."""
    if route.next_hop_type.lower() == NextHopType.INTERNET.value.lower():
        return _internet_refusal(route, use)
    if route.next_hop_type.lower() != _APPLIANCE:
        return None  # only routes to an appliance can loop or bypass; the tool writes no others
    net = _network(route.address_prefix)
    hop = _address(route.next_hop_ip_address)
    if net is None:
        return f"address prefix {route.address_prefix!r} is not a CIDR prefix"
    if hop is None:
        return f"next hop {route.next_hop_ip_address!r} is not an IP address"
    if net.version != hop.version:
        # Azure Firewall does not filter IPv6: an IPv6 prefix to an IPv4 appliance is never right.
        return (f"IPv{net.version} prefix {net} cannot go to IPv{hop.version} appliance {hop} "
                "(Azure Firewall does not support IPv6)")
    default = canonical_prefix(route.address_prefix) == DEFAULT_PREFIX  # cached, unlike str(net) (issue 26)
    for subnet in use.subnets:
        for own in subnet.address_prefixes:
            own_net = _network(own)
            if own_net is None or own_net.version != hop.version:
                continue
            if hop in own_net:
                return (f"next hop {hop} is inside {own_net}, the range of subnet {subnet.name} that uses the "
                        "table: the appliance would route its own traffic to itself")
            if not default and net.overlaps(own_net):
                return (f"{net} covers {own_net}, the range of subnet {subnet.name} that uses the table: "
                        "traffic inside that subnet would go through the firewall")
    if default:
        for gateway in use.non_isolated_v2_gateways:
            return (f"0.0.0.0/0 to an appliance is unsupported on the subnet of v2 App Gateway {gateway.name}, "
                    "which is not network-isolated (it breaks the gateway's control plane)")
    return None


def _internet_refusal(route: Route, use: TableUse) -> str | None:
    """The one route to the Internet this tool writes is `0.0.0.0/0 -> Internet` for the subnet of a v2 App
    Gateway whose VNet gets 0.0.0.0/0 from a secured Virtual WAN hub (docs/platform-notes.md 13, secured-hub App
    Gateway scenario). On a table that any other subnet uses it would send that subnet's egress around the
    firewall: refused unless every subnet on the table hosts a v2 App Gateway that is not network-isolated."""
    if str(_network(route.address_prefix)) != DEFAULT_PREFIX:
        return f"only 0.0.0.0/0 is ever routed to the Internet by this tool, not {route.address_prefix}"
    hosts = {id_key(g.subnet_id) for g in use.non_isolated_v2_gateways if g.subnet_id}
    for subnet in use.subnets:
        if id_key(subnet.id) not in hosts:
            return (f"0.0.0.0/0 -> Internet would send the egress of subnet {subnet.name}, which uses the table and "
                    "hosts no v2 App Gateway, around the firewall")
    if not use.subnets:
        return "0.0.0.0/0 -> Internet on a table no observed App Gateway subnet uses"
    return None
