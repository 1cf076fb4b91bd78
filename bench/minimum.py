"""Independent minima: what any correct reconcile must read and write, computed from the topology alone.

This module deliberately shares no code with the product (no remediation.planning.desired / plan / observe): it reads
an emulator dump (`{"resources": [...]}`, bodies as an ARM GET returns them) and applies the runbook with a
small model of its own, so a wasted read or write in the product shows up as a gap instead of being counted
into the minimum. Only the standard library is used; every function is pure.

The model (docs/BENCHMARKS.md, "Independent minima"):
- A cluster is in play when it is Succeeded, uses Azure CNI (`networkPlugin: azure`) on a BYO subnet
  (`vnetSubnetID`) and, with the AGIC add-on, a v2 App Gateway. Its ranges: node subnet prefixes, plus pod
  subnet prefixes for flat CNI with `podSubnetID` (never `serviceCidr`).
- Egress subnets (node, and pod for flat CNI) need routes to the firewall for: the App Gateway subnet,
  each P2S pool whose clients reach the node VNet (a gateway in it, in the firewall's VNet, or in a VNet it
  uses with gateway transit), each SPOKE_PREFIXES entry, and 0.0.0.0/0 for `outboundType: userDefinedRouting`.
- The App Gateway subnet needs a route to the firewall for each range of each cluster behind it.
- A route "is there" when some route in the subnet's table has that prefix, `VirtualAppliance` and the
  firewall IP (names are the product's business). A prefix held by a foreign route to elsewhere is a
  conflict: no write.
- The owned rule collection group must exist and mention every in-play cluster range as a source.

Reads are counted as requests: one per list page (`ceil(items / page_size)`), one per GET, one status poll per
asynchronous write (ARM answers a Network PUT with `Updating` + `Azure-AsyncOperation`: the caller learns the
outcome only by polling at least once; the terminal poll plus the PUT body make a final GET unnecessary), and
one GET of the subnet right before each subnet PUT (a subnet PUT is a full replace, docs/arm-notes.md 2.2: the
body must be fresh, not the one the inventory read minutes earlier).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CLUSTER = "microsoft.containerservice/managedclusters"
VNET = "microsoft.network/virtualnetworks"
ROUTE_TABLE = "microsoft.network/routetables"
APP_GW = "microsoft.network/applicationgateways"
VPN_GW = "microsoft.network/virtualnetworkgateways"
FIREWALL = "microsoft.network/azurefirewalls"
RCG = "microsoft.network/firewallpolicies/rulecollectiongroups"
V2_TIERS = {"standard_v2", "waf_v2"}
DEFAULT_ROUTE = "0.0.0.0/0"


@dataclass(frozen=True)
class Rules:
    """The handful of settings the runbook model needs (plain values, not the product's Settings)."""

    firewall_id: str
    spoke_prefixes: tuple[str, ...] = ()
    group_name: str = "rmd-aks-runbook"
    force_default_route: bool = False
    ownership_prefix: str = "rmd-"
    ownership_tag: tuple[str, str] = ("managed-by", "aks-egress-remediation")


def key(resource_id: str) -> str:
    """ARM ids compare case-insensitively; `resourcegroups` and `resourceGroups` are the same word."""
    return resource_id.rstrip("/").lower()


def _type_of(body: Mapping[str, Any]) -> str:
    return str(body.get("type", "")).lower()


def _props(body: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((body or {}).get("properties") or {})


def _resource_group(resource_id: str) -> str:
    return key(resource_id).split("/providers/")[0]


def _subscription(resource_id: str) -> str:
    return key(resource_id).split("/")[2]


def _prefixes(subnet: Mapping[str, Any]) -> list[str]:
    props = _props(subnet)
    found = list(props.get("addressPrefixes") or [])
    if props.get("addressPrefix"):
        found.append(props["addressPrefix"])
    return [p for p in found if ipaddress.ip_network(p, strict=False).version == 4]


@dataclass
class Topology:
    """An emulator dump indexed by lower-cased id."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnet_vnet: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dump(cls, dump: Mapping[str, Any]) -> Topology:
        topo = cls()
        for body in dump.get("resources", []):
            topo.resources[key(body["id"])] = body
            if _type_of(body) == VNET:
                for subnet in _props(body).get("subnets") or []:
                    topo.subnets[key(subnet["id"])] = subnet
                    topo.subnet_vnet[key(subnet["id"])] = key(body["id"])
        return topo

    def of_type(self, type_key: str) -> list[dict[str, Any]]:
        return [b for b in self.resources.values() if _type_of(b) == type_key]

    def get(self, resource_id: str | None) -> dict[str, Any] | None:
        return self.resources.get(key(resource_id)) if resource_id else None

    def subnet(self, subnet_id: str | None) -> dict[str, Any] | None:
        return self.subnets.get(key(subnet_id)) if subnet_id else None

    def route_table_of(self, subnet_id: str) -> str | None:
        ref = _props(self.subnet(subnet_id)).get("routeTable")
        return key(ref["id"]) if ref and ref.get("id") else None


# ------------------------------------------------------------------------------------------ the runbook model


def firewall_ip(topo: Topology, rules: Rules) -> str | None:
    props = _props(topo.get(rules.firewall_id))
    for ipc in props.get("ipConfigurations") or []:
        ip = _props(ipc).get("privateIPAddress")
        if ip:
            return str(ip)
    hub = (props.get("hubIPAddresses") or {}).get("privateIPAddress")
    return str(hub) if hub else None


def p2s_pools(topo: Topology) -> list[str]:
    pools: list[str] = []
    for gw in topo.of_type(VPN_GW):
        pool = (_props(gw).get("vpnClientConfiguration") or {}).get("vpnClientAddressPool") or {}
        pools += list(pool.get("addressPrefixes") or [])
    return sorted(set(pools))


def _vnet_of(subnet_id: str) -> str:
    return key(subnet_id.rsplit("/subnets/", 1)[0])


def _ipconfig_vnets(body: Mapping[str, Any] | None) -> set[str]:
    return {_vnet_of(str(ipc["properties"]["subnet"]["id"])) for ipc in _props(body).get("ipConfigurations") or []
            if ((ipc.get("properties") or {}).get("subnet") or {}).get("id")}


def p2s_pools_for(topo: Topology, rules: Rules, vnet_id: str) -> list[str]:
    """The pools routed from a subnet of `vnet_id`: gateways in that VNet, in the firewall's VNet, or in a VNet it
    peers with `useRemoteGateways` (gateway transit; docs/platform-notes.md 14)."""
    vnets = {key(vnet_id)} | _ipconfig_vnets(topo.get(rules.firewall_id))
    for peering in _props(topo.get(vnet_id)).get("virtualNetworkPeerings") or []:
        peer = _props(peering)
        if peer.get("useRemoteGateways") and (peer.get("remoteVirtualNetwork") or {}).get("id"):
            vnets.add(key(peer["remoteVirtualNetwork"]["id"]))
    pools: list[str] = []
    for gw in topo.of_type(VPN_GW):
        if _ipconfig_vnets(gw) & vnets:
            pool = (_props(gw).get("vpnClientConfiguration") or {}).get("vpnClientAddressPool") or {}
            pools += list(pool.get("addressPrefixes") or [])
    return sorted(set(pools))


def agic_gateway_id(cluster: Mapping[str, Any]) -> str | None:
    addon = (_props(cluster).get("addonProfiles") or {}).get("ingressApplicationGateway") or {}
    if not addon.get("enabled"):
        return None
    config = addon.get("config") or {}
    return config.get("effectiveApplicationGatewayId") or config.get("applicationGatewayId") or None


def gateway_subnet_ids(gateway: Mapping[str, Any] | None) -> list[str]:
    return [key(ipc["properties"]["subnet"]["id"]) for ipc in _props(gateway).get("gatewayIPConfigurations") or []
            if (ipc.get("properties") or {}).get("subnet")]


def _pools(cluster: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(_props(cluster).get("agentPoolProfiles") or [])


def node_subnet_ids(cluster: Mapping[str, Any]) -> list[str]:
    return sorted({key(p["vnetSubnetID"]) for p in _pools(cluster) if p.get("vnetSubnetID")})


def pod_subnet_ids(cluster: Mapping[str, Any]) -> list[str]:
    network = _props(cluster).get("networkProfile") or {}
    if network.get("networkPluginMode") == "overlay":
        return []
    return sorted({key(p["podSubnetID"]) for p in _pools(cluster) if p.get("podSubnetID")})


def in_play(topo: Topology, cluster: Mapping[str, Any]) -> bool:
    """The runbook applies: Succeeded, Azure CNI on a BYO subnet that exists, a v2 gateway if AGIC is on."""
    props = _props(cluster)
    network = props.get("networkProfile") or {}
    if props.get("provisioningState") != "Succeeded" or network.get("networkPlugin") != "azure":
        return False
    pools = _pools(cluster)
    if not pools or any(not p.get("vnetSubnetID") for p in pools):
        return False
    if any(topo.subnet(s) is None for s in node_subnet_ids(cluster) + pod_subnet_ids(cluster)):
        return False
    gateway_id = agic_gateway_id(cluster)
    if gateway_id is not None:
        gateway = topo.get(gateway_id)
        tier = str((_props(gateway).get("sku") or {}).get("tier", "")).lower()
        if gateway is None or tier not in V2_TIERS or not gateway_subnet_ids(gateway):
            return False
    return True


def cluster_ranges(topo: Topology, cluster: Mapping[str, Any]) -> list[str]:
    ranges: list[str] = []
    for subnet_id in node_subnet_ids(cluster) + pod_subnet_ids(cluster):
        ranges += _prefixes(topo.subnet(subnet_id) or {})
    return sorted(set(ranges))


def desired_prefixes(topo: Topology, rules: Rules) -> dict[str, set[str]]:
    """Subnet id -> the prefixes that must reach the firewall from it (the runbook, section by section)."""
    wanted: dict[str, set[str]] = {}
    for cluster in topo.of_type(CLUSTER):
        if not in_play(topo, cluster):
            continue
        network = _props(cluster).get("networkProfile") or {}
        egress = set(rules.spoke_prefixes)
        for vnet_id in {topo.subnet_vnet[s] for s in node_subnet_ids(cluster) if s in topo.subnet_vnet}:
            egress |= set(p2s_pools_for(topo, rules, vnet_id))
        if network.get("outboundType") == "userDefinedRouting" or rules.force_default_route:
            egress.add(DEFAULT_ROUTE)
        gateway_id = agic_gateway_id(cluster)
        gateway_subnets = gateway_subnet_ids(topo.get(gateway_id)) if gateway_id else []
        for subnet_id in gateway_subnets:
            egress |= set(_prefixes(topo.subnet(subnet_id) or {}))
        for subnet_id in node_subnet_ids(cluster) + pod_subnet_ids(cluster):
            own = set(_prefixes(topo.subnet(subnet_id) or {}))
            wanted.setdefault(subnet_id, set()).update(egress - own)  # never a subnet's own prefix
        for subnet_id in gateway_subnets:
            wanted.setdefault(subnet_id, set()).update(cluster_ranges(topo, cluster))
    return wanted


def _route_ok(route: Mapping[str, Any], ip: str) -> bool:
    props = _props(route)
    return props.get("nextHopType") == "VirtualAppliance" and props.get("nextHopIpAddress") == ip


# ------------------------------------------------------------------------------------------ minima


Items = dict[str, int]


def writes_needed(topo: Topology, rules: Rules) -> Items:
    """Owned objects that differ between this state and the runbook's, one write each.

    A subnet without a route table: one PUT creating an owned table with all its routes (a new table has no
    foreign routes to keep) and one subnet PUT associating it. A subnet with a table: one route PUT per
    missing or wrong route (child writes keep foreign routes). The owned group: one PUT when it is missing or
    lacks an in-play range.
    """
    ip = firewall_ip(topo, rules)
    items: Items = {"routeTables created with their routes": 0, "subnet associations": 0,
                    "routes written into existing tables": 0, "rule collection group": 0}
    if ip is None:
        return items
    per_table: dict[str, set[str]] = {}
    for subnet_id, prefixes in desired_prefixes(topo, rules).items():
        if not prefixes:
            continue
        table_id = topo.route_table_of(subnet_id)
        if table_id is None:
            items["routeTables created with their routes"] += 1
            items["subnet associations"] += 1
        else:
            per_table.setdefault(table_id, set()).update(prefixes)
    for table_id, prefixes in per_table.items():
        table = topo.get(table_id) or {}
        by_prefix: dict[str, list[Mapping[str, Any]]] = {}
        for route in _props(table).get("routes") or []:
            by_prefix.setdefault(str(_props(route).get("addressPrefix")), []).append(route)
        differing = 0
        for prefix in prefixes:
            present = by_prefix.get(prefix, [])
            if any(_route_ok(r, ip) for r in present):
                continue
            # Missing, or an owned route gone wrong: a write. A foreign route holding the prefix and pointing
            # elsewhere is a conflict to report, not a write.
            if not present or any(str(r.get("name", "")).lower().startswith(rules.ownership_prefix)
                                  for r in present):
                differing += 1
        owned_table = (table.get("tags") or {}).get(rules.ownership_tag[0]) == rules.ownership_tag[1]
        # An owned table holds no foreign routes, so one table PUT carries every difference.
        items["routes written into existing tables"] += min(differing, 1) if owned_table else differing
    items["rule collection group"] = 0 if group_complete(topo, rules) else 1
    return items


def owned_groups(topo: Topology, rules: Rules) -> list[dict[str, Any]]:
    """The owned rule collection group and any shards named `<group>-<n>`."""
    name = rules.group_name.lower()
    found = []
    for body in topo.of_type(RCG):
        own = str(body.get("name", "")).lower()
        if own == name or (own.startswith(name + "-") and own[len(name) + 1:].isdigit()):
            found.append(body)
    return sorted(found, key=lambda b: str(b.get("name")))


def _addresses(group: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for collection in _props(group).get("ruleCollections") or []:
        for rule in collection.get("rules") or []:
            found |= set(rule.get("sourceAddresses") or []) | set(rule.get("destinationAddresses") or [])
    return found


def _needs_rules(topo: Topology, cluster: Mapping[str, Any], rules: Rules) -> bool:
    """A cluster the firewall sees traffic of: its egress passes it (userDefinedRouting: the egress rule), an
    App Gateway sends it ingress (the ingress rule) or a P2S pool reaches it (the P2S rule). A loadBalancer
    cluster with neither has no rule (docs/egress.md)."""
    outbound = str(_props(cluster).get("networkProfile", {}).get("outboundType", "")).lower()
    return (outbound == "userdefinedrouting" or rules.force_default_route or agic_gateway_id(cluster) is not None
            or bool(p2s_pools(topo)))


def group_complete(topo: Topology, rules: Rules) -> bool:
    """Every range of an in-play cluster that needs rules appears in the owned group, as a source (egress,
    ingress from the gateway) or a destination (ingress, P2S)."""
    groups = owned_groups(topo, rules)
    if not groups:
        return False
    addresses = set().union(*(_addresses(g) for g in groups))
    ranges = {r for c in topo.of_type(CLUSTER) if in_play(topo, c) and _needs_rules(topo, c, rules)
              for r in cluster_ranges(topo, c)}
    return ranges <= addresses


def group_bytes(group: Mapping[str, Any]) -> int:
    """Size of a group's rules as compact JSON, the payload the 2 MB limit is about (ARM's own `size`
    property is computed by the service; the emulator does not compute it)."""
    return len(json.dumps(_props(group).get("ruleCollections") or [], separators=(",", ":")).encode())


def _pages(count: int, page_size: int) -> int:
    return math.ceil(count / page_size) if count else 1  # an empty list still costs its one request


def _vpn_groups(topo: Topology) -> int:
    """ARM lists virtualNetworkGateways per resource group only: one list per group that holds one."""
    return len({_resource_group(b["id"]) for b in topo.of_type(VPN_GW)})


def _p2s_groups(topo: Topology, rules: Rules, vnets: Iterable[str]) -> int:
    """One virtualNetworkGateways list per resource group holding a gateway whose pools reach `vnets`
    (`p2s_pools_for`: in the VNet, the firewall's VNet, or a VNet used with gateway transit)."""
    reach = {key(v) for v in vnets} | _ipconfig_vnets(topo.get(rules.firewall_id))
    for vnet_id in list(reach):
        for peering in _props(topo.get(vnet_id)).get("virtualNetworkPeerings") or []:
            remote = (_props(peering).get("remoteVirtualNetwork") or {}).get("id")
            if _props(peering).get("useRemoteGateways") and remote and key(vnet_id) in {key(v) for v in vnets}:
                reach.add(key(remote))
    return len({_resource_group(g["id"]) for g in topo.of_type(VPN_GW) if _ipconfig_vnets(g) & reach})


def event_reads(topo: Topology, cluster_id: str, rules: Rules) -> Items:
    """GETs for one event about a cluster that is already converged: what the cluster references, the
    inputs of its routes (firewall IP, the P2S pools that reach its VNets, the hub's side of its peering)
    and the owned group to confirm its rules. Nothing here depends on the fleet's size."""
    cluster = topo.get(cluster_id)
    if cluster is None:
        raise KeyError(f"{cluster_id} is not in the topology")
    subnets = node_subnet_ids(cluster) + pod_subnet_ids(cluster)
    gateway_id = agic_gateway_id(cluster)
    if gateway_id:
        subnets += gateway_subnet_ids(topo.get(gateway_id))
    vnets = {topo.subnet_vnet[s] for s in subnets if s in topo.subnet_vnet}
    node_vnets = {topo.subnet_vnet[s] for s in node_subnet_ids(cluster) if s in topo.subnet_vnet}
    hub_vnets = _ipconfig_vnets(topo.get(rules.firewall_id))
    tables = {t for s in subnets if (t := topo.route_table_of(s))}
    return {
        "managedClusters (GET)": 1,
        # One VNet GET returns all its subnets: never more requests than reading the subnets one by one.
        "virtualNetworks holding its subnets (GET)": len(vnets),
        "routeTables on those subnets (GET)": len(tables),
        "applicationGateways (GET)": 1 if gateway_id else 0,
        "azureFirewalls (GET)": 1,
        # The path to the firewall needs the hub's side of the peering (docs/platform-notes.md 13).
        "the firewall's VNet (GET)": 0 if hub_vnets <= vnets else len(hub_vnets - vnets),
        "virtualNetworkGateways (list per resource group)": _p2s_groups(topo, rules, node_vnets),
        "owned rule collection groups (GET)": max(1, len(owned_groups(topo, rules))),
    }


def sweep_reads(topo: Topology, rules: Rules, page_size: int, writes: Items | None = None) -> Items:
    """GETs for a sweep of the whole scope through ARM (no Resource Graph): one request per list page, the
    route tables in use, the firewall and the group, and per write what a safe write costs in reads."""
    writes = writes if writes is not None else writes_needed(topo, rules)
    subscriptions = sorted({_subscription(i) for i in topo.resources})
    lists = 0
    for sub in subscriptions:
        for type_key in (CLUSTER, VNET, APP_GW):
            lists += _pages(sum(1 for b in topo.of_type(type_key) if _subscription(b["id"]) == sub), page_size)
    tables_in_use = {t for s in topo.subnets if (t := topo.route_table_of(s))}
    table_list_pages = sum(_pages(sum(1 for b in topo.of_type(ROUTE_TABLE) if _subscription(b["id"]) == sub),
                                  page_size) for sub in subscriptions)
    total_writes = sum(writes.values())
    return {
        "list pages (managedClusters, virtualNetworks, applicationGateways)": lists,
        "routeTables in use (GETs or list pages, the fewer)": min(len(tables_in_use), table_list_pages)
        if tables_in_use else 0,
        "virtualNetworkGateways (list per resource group)": _vpn_groups(topo),
        "azureFirewalls (GET)": 1,
        "owned rule collection groups (GET)": max(1, len(owned_groups(topo, rules))),
        "subnet GET right before each subnet PUT": writes.get("subnet associations", 0),
        "one status poll per write": total_writes,
    }


def total(items: Iterable[int] | Mapping[str, int]) -> int:
    values = items.values() if isinstance(items, Mapping) else items
    return int(sum(values))
