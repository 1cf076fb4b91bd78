"""Pure: observed topology + settings -> the desired routes and firewall rules (the runbook, made precise).

Every rule below is a line of the runbook or of docs/architecture.md section 1; the comment next to it says which,
and the platform fact that shapes it (docs/platform-notes.md 3.2, docs/arm-notes.md 2.5-2.7). No I/O: the same
snapshot and settings always give equal data, so a re-computation after an apply compares equal.

Public API (the reconciler calls exactly these):
  aks_ranges, check_cluster, check_cluster_egress, check_ingress, gateway_deleted, rule_eligibility,
  egress_routes, ingress_routes, desired_cluster_routes, merge_subnet_routes,
  desired_prepared_subnet, desired_rule_collections, canonical_prefix.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from remediation.core import net
from remediation.core.config import Settings
from remediation.core.ids import bounded_name, id_key, same_id
from remediation.core.model import (
    APPLICATION_RULE,
    Action,
    Behind,
    Change,
    ChangeKind,
    Conflict,
    DesiredSubnetRoutes,
    NetworkPlugin,
    NetworkRule,
    NextHopType,
    ObservedAppGateway,
    ObservedCluster,
    ObservedFirewall,
    ObservedSubnet,
    ObservedVpnGateway,
    OwnedGroups,
    Route,
    RoutePurpose,
    RuleCollection,
    Severity,
    Skip,
    Snapshot,
)
from remediation.core.net import DEFAULT_PREFIX, canonical_prefix, prefix_sort_key
from remediation.core.net import contains_ip as _contains_ip
from remediation.core.net import covers as _covers
from remediation.core.net import network as _network
from remediation.core.net import overlaps as _overlaps
from remediation.core.net import sorted_prefixes as _sorted_prefixes
from remediation.planning import avnm, egress, outbound, paths

EGRESS_PRIORITY = 200
EGRESS_APPLICATION_PRIORITY = 205  # application rules: network rules are evaluated first anyway
INGRESS_PRIORITY = 210
P2S_PRIORITY = 220
ALLOW = "Allow"
# AGIC only supports these two SKUs (docs/arm-notes.md 2.5/2.7: "The AGIC add-on supports only v2 SKUs";
# Basic_v2 is a v2 SKU that AGIC does not support).
SUPPORTED_GATEWAY_SKUS = ("Standard_v2", "WAF_v2")
# P2S clients reach web front-ends in the cluster (INGRESS_PORTS, 80/443): HTTP(S) is TCP. UDP is not
# opened: least privilege, and nothing in the runbook's ingress path (App Gateway, AGIC backends) uses it.
P2S_PROTOCOLS = ("TCP",)
INGRESS_PROTOCOLS = ("TCP",)  # docs/architecture.md 1: "configured ports (TCP)"



# --------------------------------------------------------------------------------------------- prefixes


def route_name(settings: Settings, role: str, prefix: str) -> str:
    """Deterministic owned name: `rmd-appgw-10-1-4-0-24`; the default route is `rmd-default`.

    Route names allow letters, digits, '_', '.', '-' (1-80 chars), so '.', '/' and ':' become '-'.
    """
    cidr = canonical_prefix(prefix)
    if cidr == DEFAULT_PREFIX:
        return f"{settings.ownership_prefix}default"
    slug = cidr.replace(".", "-").replace("/", "-").replace(":", "-")
    # Cut names end with a hash of the prefix, so two long names never collide (docs/platform-notes.md 8).
    return bounded_name(f"{settings.ownership_prefix}{role}-{slug}", 80, f"{role}:{cidr}")


# --------------------------------------------------------------------------------------------- lookups


def _cluster(snapshot: Snapshot, cluster_id: str) -> ObservedCluster | None:
    return snapshot.clusters.get(id_key(cluster_id))


def _subnet(snapshot: Snapshot, subnet_id: str | None) -> ObservedSubnet | None:
    return snapshot.subnets.get(id_key(subnet_id)) if subnet_id else None


def _gateway(snapshot: Snapshot, cluster: ObservedCluster) -> ObservedAppGateway | None:
    if not cluster.ingress_gateway_id:
        return None
    return snapshot.app_gateways.get(id_key(cluster.ingress_gateway_id))


def _unique_ids(values: Iterable[str]) -> tuple[str, ...]:
    """De-duplicate ids case-insensitively (two pools on one subnet = one subnet), keep first spelling."""
    return _unique_id_tuple(tuple(values))


# Asked about the same few subnets of a cluster several times per plan (issue 26); ids are immutable text.
@lru_cache(maxsize=65536)
def _unique_id_tuple(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        if value:
            seen.setdefault(id_key(value), value)
    return tuple(seen[k] for k in sorted(seen))


_AZURE_CNI = NetworkPlugin.AZURE.value  # once: an enum's `.value` is a slow property, asked per cluster


def _is_flat_cni(cluster: ObservedCluster) -> bool:
    # Flat Azure CNI = plugin azure without networkPluginMode overlay (docs/arm-notes.md 2.7).
    return cluster.network_plugin.lower() == _AZURE_CNI and (
        (cluster.network_plugin_mode or "").lower() != "overlay"
    )


def _range_subnet_ids(cluster: ObservedCluster) -> tuple[str, ...]:
    pods = cluster.pod_subnet_ids if _is_flat_cni(cluster) else ()
    return _unique_ids((*cluster.node_subnet_ids, *pods))


def _gateway_prefixes(snapshot: Snapshot, cluster: ObservedCluster) -> tuple[str, ...]:
    """The App Gateway subnet's IPv4 prefixes (IPv6 is never routed to the firewall nor put in a rule)."""
    gateway = _gateway(snapshot, cluster)
    subnet = _subnet(snapshot, gateway.subnet_id) if gateway else None
    return _sorted_prefixes(net.ipv4_only(subnet.address_prefixes)) if subnet else ()


def _missing(snapshot: Snapshot, resource_id: str) -> str:
    """Why a referenced resource is not in the snapshot: confirmed 404, or simply not read."""
    return "not found (deleted)" if id_key(resource_id) in snapshot.absent else "not observed"


def _firewall_ip(snapshot: Snapshot) -> str | None:
    return snapshot.firewall.private_ip if snapshot.firewall else None


def _cluster_vnets(cluster: ObservedCluster) -> list[str]:
    return [v for s in _range_subnet_ids(cluster) if (v := paths.vnet_of_subnet(s))]


def cluster_firewall(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> ObservedFirewall | None:
    """The firewall the cluster's routes point at: with several firewalls (FIREWALL_IDS) the one its VNets reach
    (none when no single one: nothing is routed), with one the pass's firewall (check_path guards the path)."""
    if not settings.several_firewalls:
        return snapshot.firewall
    return paths.reached_firewall(snapshot, _cluster_vnets(cluster), settings)


# --------------------------------------------------------------------------------------------- ranges


def aks_ranges(snapshot: Snapshot, cluster: ObservedCluster) -> tuple[str, ...]:
    """The addresses the cluster's traffic really uses on the VNet (docs/architecture.md 1, docs/arm-notes.md 2.7).

    Node subnet prefixes always; pod subnet prefixes only for flat Azure CNI with podSubnetID (pods get VNet
    IPs there). Overlay and kubenet pods are SNAT'd to the node IP, so only node prefixes. Never serviceCidr:
    it is virtual and never appears on the network. Subnets not in the snapshot contribute nothing.
    IPv4 only: Azure Firewall does not filter IPv6 (docs/platform-notes.md 7), so IPv6 ranges of a
    dual-stack subnet are neither routed to it nor put in its rules.
    """
    prefixes: list[str] = []
    for subnet_id in _range_subnet_ids(cluster):
        subnet = _subnet(snapshot, subnet_id)
        if subnet is not None:
            prefixes.extend(net.ipv4_only(subnet.address_prefixes))
    return _sorted_prefixes(prefixes)


# --------------------------------------------------------------------------------------------- checks


def check_cluster_egress(
    snapshot: Snapshot, cluster_id: str, settings: Settings, *, require_succeeded: bool = True,
    with_path: bool = True,
) -> Skip | None:
    """The prerequisites of the cluster's own (egress) part: cluster, plugin, BYO subnets, firewall, and
    (`with_path`) a path from its VNet to the firewall (`check_path`)."""
    skip = _check_cluster_egress(snapshot, cluster_id, require_succeeded=require_succeeded,
                                 several=settings.several_firewalls)
    if skip is None and with_path:
        cluster = _cluster(snapshot, cluster_id)
        assert cluster is not None  # _check_cluster_egress found it
        skip = check_path(snapshot, cluster, settings)
    return skip


NO_PATH = "no path to the firewall"


def check_path(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> Skip | None:
    """Never route where traffic cannot go (docs/platform-notes.md 13): every VNet of the cluster's node and
    pod subnets must reach the configured firewall (remediation/planning/paths.py), else a route to it would
    blackhole the cluster's traffic, reported as converged. Skipped like a kubenet cluster: nothing written."""
    path = paths.firewall_for_vnets(snapshot, _cluster_vnets(cluster), settings)
    if isinstance(path, paths.Reaches):
        if not path.firewall.private_ip:
            return Skip(cluster.id, f"firewall {path.firewall.id} has no private IP to use as the next hop")
        return None
    return Skip(cluster.id, f"{NO_PATH}: {path.reason}; nothing is routed (a route there would blackhole "
                            "the cluster's traffic)")


def _check_cluster_egress(snapshot: Snapshot, cluster_id: str, *, require_succeeded: bool,
                          several: bool = False) -> Skip | None:
    cluster = _cluster(snapshot, cluster_id)
    if cluster is None:
        if id_key(cluster_id) in snapshot.absent:
            return Skip(cluster_id, "cluster not found (deleted): nothing to configure")
        return Skip(cluster_id, "cluster was not observed in this snapshot")
    state = cluster.provisioning_state or "Unknown"
    if require_succeeded and state.lower() != "succeeded":
        # The cluster (and its subnets/pools) may still change; the event for the final state re-queues it.
        return Skip(cluster_id, f"cluster provisioningState is still {state}; will retry")
    plugin = (cluster.network_plugin or "").lower()
    if plugin == NetworkPlugin.KUBENET.value:
        return Skip(cluster_id, "network plugin kubenet: the runbook needs Azure CNI (flat or overlay)")
    if plugin == NetworkPlugin.NONE.value:
        return Skip(cluster_id, "network plugin none (bring your own CNI): the runbook needs Azure CNI "
                                "(flat or overlay)")
    if plugin != NetworkPlugin.AZURE.value:
        return Skip(cluster_id, f"network plugin {cluster.network_plugin!r}: the runbook needs Azure CNI "
                                "(flat or overlay)")
    if cluster.pools_without_subnet or not cluster.node_subnet_ids:
        pools = ", ".join(sorted(cluster.pools_without_subnet)) or "all pools"
        # No vnetSubnetID = AKS-managed VNet in the node resource group; changing it is unsupported
        # (docs/arm-notes.md 2.2) and often blocked by NRG lockdown.
        return Skip(cluster_id, f"AKS-managed VNet: agent pool(s) {pools} have no vnetSubnetID; the runbook "
                                "needs a bring-your-own VNet")
    for role, subnet_ids in (("node", cluster.node_subnet_ids),
                             ("pod", cluster.pod_subnet_ids if _is_flat_cni(cluster) else ())):
        for subnet_id in _unique_ids(subnet_ids):
            if _subnet(snapshot, subnet_id) is None:
                return Skip(cluster_id, f"{role} subnet {subnet_id} {_missing(snapshot, subnet_id)}")
    firewall = snapshot.firewall
    if several:
        return None  # which firewall is the cluster's own is the path's to say (check_path)
    if firewall is None:
        return Skip(cluster_id, "firewall not found: the runbook needs a firewall to route through")
    if not firewall.private_ip:
        return Skip(cluster_id, f"firewall {firewall.id} has no private IP to use as the next hop")
    return None


def check_cluster(
    snapshot: Snapshot, cluster_id: str, settings: Settings, *, require_succeeded: bool = True
) -> Skip | None:
    """The runbook's prerequisites, each failure a Skip with a clear reason; None = the cluster qualifies.

    `require_succeeded=False` tolerates a cluster that is still Creating/Updating: the firewall target uses it
    so an upgrade does not drop the cluster's rules from the next whole-group PUT (and a userDefinedRouting
    cluster needs its egress rules *while* it is being created). An ingress gateway confirmed deleted is
    not a failure: the cluster keeps its egress part, only what the gateway needed goes.
    """
    skip = check_cluster_egress(snapshot, cluster_id, settings, require_succeeded=require_succeeded)
    if skip is not None:
        return skip
    cluster = _cluster(snapshot, cluster_id)
    assert cluster is not None  # check_cluster_egress found it
    return check_ingress(snapshot, cluster, settings)


def gateway_deleted(snapshot: Snapshot, cluster: ObservedCluster) -> bool:
    """The cluster names an ingress gateway that was looked up and confirmed missing (404)."""
    return bool(cluster.ingress_gateway_id) and id_key(cluster.ingress_gateway_id or "") in snapshot.absent


def check_ingress(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings | None = None) -> Skip | None:
    """The ingress prerequisites (a supported v2 gateway whose subnet can be routed); None = fine or none.
    With `settings`, the gateway's VNet must also reach the configured firewall (paths.py)."""
    if not cluster.ingress_gateway_id or gateway_deleted(snapshot, cluster):
        return None
    gateway = _gateway(snapshot, cluster)
    if gateway is None:
        return Skip(cluster.id, f"ingress gateway {cluster.ingress_gateway_id} "
                                f"{_missing(snapshot, cluster.ingress_gateway_id)}")
    sku = gateway.sku_name or gateway.sku_tier
    if sku.lower() == "basic_v2":
        return Skip(cluster.id, f"App Gateway {gateway.name} is Basic_v2: not supported by AGIC (needs "
                                "Standard_v2 or WAF_v2)")
    if sku.lower() not in {s.lower() for s in SUPPORTED_GATEWAY_SKUS}:
        return Skip(cluster.id, f"App Gateway {gateway.name} is SKU {sku} (v1): the runbook needs a V2 "
                                "gateway (Standard_v2 or WAF_v2)")
    subnet = _subnet(snapshot, gateway.subnet_id)
    if subnet is None:
        return Skip(cluster.id, f"App Gateway {gateway.name} subnet {gateway.subnet_id} not observed")
    table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet.route_table_id else None
    if table is not None and not gateway.network_isolated:
        for route in table.routes:
            if (canonical_prefix(route.address_prefix) == DEFAULT_PREFIX
                    and route.next_hop_type.lower() == NextHopType.VIRTUAL_APPLIANCE.value.lower()):
                # "0.0.0.0/0 through any virtual appliance isn't supported for V2" unless the gateway is
                # network-isolated (docs/platform-notes.md 3.2.3): it breaks the gateway's control plane.
                return Skip(cluster.id, f"route {route.name} on App Gateway subnet route table {table.name} "
                                        f"sends 0.0.0.0/0 to VirtualAppliance {route.next_hop_ip_address}, "
                                        f"unsupported on a v2 gateway that is not network-isolated "
                                        "(breaks its control plane); fix that route first")
    vnet = paths.vnet_of_subnet(subnet.id)
    if settings is not None and vnet is not None:
        path = paths.firewall_for_vnet(snapshot, vnet, settings)
        if not isinstance(path, paths.Reaches):
            return Skip(cluster.id, f"App Gateway {gateway.name}: {NO_PATH} from its VNet: {path.reason}")
        own = cluster_firewall(snapshot, cluster, settings)
        if settings.several_firewalls and own is not None and not same_id(own.id, path.firewall.id):
            return Skip(cluster.id, f"App Gateway {gateway.name}: its VNet reaches firewall {path.firewall.name}, "
                                    f"the cluster's reaches {own.name}: no single firewall sees both directions")
    return None


# --------------------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class _Candidate:
    role: str
    prefix: str
    reason: str


def _to_routes(
    candidates: Iterable[_Candidate], settings: Settings, firewall_ip: str, exclude: Sequence[str],
    reports: list[Conflict] | None = None, where: str = "",
) -> list[tuple[Route, str]]:
    """Candidates -> routes to the firewall, first role wins per prefix, sorted by prefix.

    A candidate left out is reported into `reports` (about `where`, the subnet id), never dropped silently.
    """
    chosen: dict[str, tuple[Route, str]] = {}
    out = reports if reports is not None else []
    for c in candidates:
        prefix = canonical_prefix(c.prefix)
        if prefix in chosen:
            continue
        if net.is_ipv6(prefix):
            # Azure Firewall does not filter IPv6: an IPv6 range never goes to its (IPv4) address.
            out.append(_note(where, f"{c.role} prefix {prefix} left out: IPv6 is never routed to the firewall"))
            continue
        if prefix != DEFAULT_PREFIX:
            # Spoke UDRs must not include the firewall subnet (or anything holding its IP): the firewall's
            # own traffic would loop and routing becomes asymmetric (docs/platform-notes.md 3.2.3).
            if _contains_ip(prefix, firewall_ip):
                out.append(_note(where, f"{c.role} prefix {prefix} left out: it holds the firewall's own "
                                        f"address {firewall_ip}"))
                continue
            # A route for the subnet's own ranges would send intra-cluster traffic through the firewall.
            if _overlaps(prefix, exclude):
                out.append(_overlap_report(where, c, prefix, exclude))
                continue
        route = Route(route_name(settings, c.role, prefix), prefix, NextHopType.VIRTUAL_APPLIANCE.value,
                      firewall_ip)
        chosen[prefix] = (route, c.reason)
    return [chosen[p] for p in sorted(chosen, key=prefix_sort_key)]


def _note(where: str, message: str, severity: Severity = Severity.NOTE) -> Conflict:
    return Conflict(ChangeKind.ROUTE, where, message, severity)


def _overlap_report(where: str, c: _Candidate, prefix: str, local: Sequence[str]) -> Conflict:
    """A candidate overlapping a local range. A SPOKE_PREFIXES entry that covers a local range whole would
    send the subnet's own traffic through the firewall (a near-default route for it): refused as a blocking
    conflict naming the setting. A partial overlap (a spoke prefix inside a local range) is a note."""
    net = _network(prefix)
    covered = [p for p in local if _covers(net, p)]
    if c.role == "spoke" and covered:
        return _note(where, f"refused: SPOKE_PREFIXES entry {prefix} covers the local range(s) "
                            f"{', '.join(covered)}: it would send the subnet's own traffic through the "
                            "firewall; not written (list the other spokes' prefixes instead)", Severity.CONFLICT)
    ranges = ", ".join(p for p in local if _overlaps(p, [prefix]))
    return _note(where, f"{c.role} prefix {prefix} left out: it overlaps the local range(s) {ranges}")


def _shared_egress_candidates(snapshot: Snapshot, settings: Settings, firewall: ObservedFirewall,
                              vnet_ids: Sequence[str], reach: paths.Path | None,
                              reports: list[Conflict] | None, where: str) -> list[_Candidate]:
    """P2S pools and SPOKE_PREFIXES routed via `firewall` from subnets of `vnet_ids`. The P2S pools of the
    gateways whose clients reach these VNets (paths.gateways_reaching: their own VNet, the hub VNet of the
    firewall they reach, gateway-transit peers; docs/platform-notes.md 14); with several firewalls only gateways
    whose VNet is known (which hub a gateway of unknown VNet serves cannot be told). SPOKE_PREFIXES: every
    entry with one firewall, as always; per hub with several (docs/platform-notes.md 13.1, `hub_spoke_prefixes`)."""
    firewall_ip = firewall.private_ip or ""
    out: list[_Candidate] = []
    gateways = paths.gateways_reaching(snapshot, vnet_ids, settings, reach) if snapshot.vpn_gateways else ()
    spokes = _sorted_prefixes(settings.spoke_prefixes)
    if settings.several_firewalls:
        gateways = tuple(g for g in gateways if g.vnet_ids)
        kept, left_out = paths.hub_spoke_prefixes(snapshot, firewall, spokes, settings)
        spokes = tuple(kept)
        for prefix, why in left_out:
            if reports is not None:
                reports.append(_note(where, f"spoke prefix {prefix} left out: {why}"))
    # Runbook hint: the P2S source is the configured client pool, never the GatewaySubnet prefix.
    for gateway in sorted(gateways, key=lambda g: id_key(g.id)):
        for prefix in _sorted_prefixes(gateway.p2s_prefixes):
            out.append(_Candidate("p2s", prefix, f"runbook egress: P2S client pool {prefix} of VPN gateway "
                                                 f"{gateway.name} via firewall {firewall_ip}"))
    # Transitive spoke-to-spoke through the hub firewall (runbook: "transitive connection using a firewall").
    for prefix in spokes:
        out.append(_Candidate("spoke", prefix, f"runbook egress: spoke prefix {prefix} (SPOKE_PREFIXES) via "
                                               f"firewall {firewall_ip}"))
    return out


def _egress(
    snapshot: Snapshot, cluster: ObservedCluster, settings: Settings, reports: list[Conflict] | None = None
) -> list[tuple[Route, str]]:
    firewall = cluster_firewall(snapshot, cluster, settings)
    firewall_ip = firewall.private_ip if firewall else None
    if firewall is None or not firewall_ip:
        return []
    candidates: list[_Candidate] = []
    # Runbook step 1: App Gateway subnet -> firewall on the AKS subnet. Azure Firewall does not SNAT private
    # destinations for network rules, so the return path must pass the firewall too (docs/platform-notes.md 3.2.3).
    for prefix in _gateway_prefixes(snapshot, cluster):
        candidates.append(_Candidate("appgw", prefix, f"runbook egress: App Gateway subnet {prefix} via "
                                                      f"firewall {firewall_ip}"))
    node_vnets = [v for s in cluster.node_subnet_ids if (v := paths.vnet_of_subnet(s))]
    reach = paths.firewall_for_vnets(snapshot, node_vnets, settings)  # once: the P2S gateways and the hub's intent
    candidates.extend(_shared_egress_candidates(snapshot, settings, firewall, node_vnets, reach, reports, cluster.id))
    # Which outbound types get 0.0.0.0/0 -> firewall: remediation/planning/outbound.py (docs/platform-notes.md 12).
    why = outbound.default_route_reason(cluster, settings)
    if why is None and outbound.keeps_default_route(cluster) and egress.egress_path(snapshot, cluster, settings):
        why = "outboundType none: the default route in place is kept, never added nor removed"
    if why is not None:
        candidates.append(_Candidate("default", DEFAULT_PREFIX, f"runbook egress: default route via firewall "
                                                                f"{firewall_ip} ({why})"))
    unknown = outbound.note(cluster)
    if unknown is not None and reports is not None:
        reports.append(_note(cluster.id, unknown))
    udr = cluster.outbound_type.lower() == "userdefinedrouting"
    candidates = _without_provided(snapshot, cluster, settings, candidates, udr, reports, reach)
    return _to_routes(candidates, settings, firewall_ip, aks_ranges(snapshot, cluster), reports, cluster.id)


def _without_provided(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings,
                      candidates: list[_Candidate], udr: bool, reports: list[Conflict] | None,
                      reach: paths.Path) -> list[_Candidate]:
    """Leave out the routes a secured vWAN hub's routing intent already provides (paths.provided_by_hub), except
    the default route of a userDefinedRouting cluster: AKS refuses such a cluster without a UDR 0.0.0.0/0 to an
    appliance even when the hub advertises it by BGP (Azure/AKS#5000, MicrosoftDocs/azure-docs#108240)."""
    if not isinstance(reach, paths.Reaches) or reach.connection is None:
        return candidates
    tables = [snapshot.route_tables.get(id_key(s.route_table_id)) for i in cluster.node_subnet_ids
              if (s := _subnet(snapshot, i)) is not None and s.route_table_id]
    bgp_disabled = any(t is None or t.disable_bgp_route_propagation for t in tables)
    provided = paths.provided_by_hub(snapshot, reach, bgp_disabled)
    kept = [c for c in candidates if c.role not in provided or (c.role == "default" and udr)]
    for c in candidates:
        if c not in kept and reports is not None:
            reports.append(_note(cluster.id, f"{c.role} prefix {c.prefix} left out: the routing intent of virtual "
                                             f"hub {reach.hub.rsplit('/', 1)[-1]} already sends it to the firewall"))
    return kept


def egress_routes(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> tuple[Route, ...]:
    """Owned routes for the cluster's node subnet(s): App Gateway subnet, P2S pools, spokes, maybe default.

    Prefixes that hold the firewall IP or overlap the cluster's own ranges are left out (see `_to_routes`).
    """
    return tuple(route for route, _ in _egress(snapshot, cluster, settings))


def _ingress(
    snapshot: Snapshot, cluster: ObservedCluster, settings: Settings, reports: list[Conflict] | None = None
) -> list[tuple[Route, str]]:
    firewall = cluster_firewall(snapshot, cluster, settings)
    firewall_ip = firewall.private_ip if firewall else None
    if not firewall_ip or _gateway(snapshot, cluster) is None:
        return []
    # Runbook step 2: on the App Gateway subnet, the AKS ranges (AGIC backends are pod IPs) -> firewall.
    # Never 0.0.0.0/0 to the firewall here: unsupported on a non-isolated v2 gateway subnet (docs/platform-notes.md
    # 3.2.3); the one 0.0.0.0/0 written here goes to the Internet (`_gateway_internet_route`).
    candidates = [
        _Candidate("aks", prefix, f"runbook ingress: AKS range {prefix} of cluster {cluster.name} via "
                                  f"firewall {firewall_ip}")
        for prefix in aks_ranges(snapshot, cluster)
        if prefix != DEFAULT_PREFIX
    ]
    gateway = _gateway(snapshot, cluster)
    where = (gateway.subnet_id if gateway else None) or cluster.id
    routes = _to_routes(candidates, settings, firewall_ip, _gateway_prefixes(snapshot, cluster), reports, where)
    return [*_gateway_internet_route(snapshot, gateway, settings, reports), *routes]


APPGW_INTERNET_ROLE = "appgw-internet"
_SCENARIO = "Microsoft's secured-hub App Gateway scenario (virtual-wan/scenario-secured-hub-app-gateway)"


def _gateway_internet_route(snapshot: Snapshot, gateway: ObservedAppGateway | None, settings: Settings,
                            reports: list[Conflict] | None) -> list[tuple[Route, str]]:
    """`0.0.0.0/0 -> Internet` on the App Gateway subnet when its VNet gets 0.0.0.0/0 from a secured vWAN hub
    (docs/platform-notes.md 13, secured-hub App Gateway scenario): routes from the hub apply to the whole VNet,
    and a v2 gateway's management traffic needs a direct path to the Internet ("0.0.0.0/0 through a virtual
    appliance ... isn't supported"; a UDR 0.0.0.0/0 -> Internet is a supported scenario,
    application-gateway/configuration-infrastructure). Only when the hub advertises it to that connection
    (routing intent's Internet policy and enableInternetSecurity) and the subnet takes BGP routes; never for a
    network-isolated gateway, whose 0.0.0.0/0 may go to the firewall (reported instead)."""
    subnet = _subnet(snapshot, gateway.subnet_id) if gateway else None
    vnet = paths.vnet_of_subnet(subnet.id) if subnet else None
    if gateway is None or subnet is None or vnet is None:
        return []
    reach = paths.firewall_for_vnet(snapshot, vnet, settings)
    if not isinstance(reach, paths.Reaches) or reach.connection is None:
        return []
    hub = reach.hub.rsplit("/", 1)[-1]
    out = reports if reports is not None else []
    if not paths.advertises_default(snapshot, reach):
        if paths.internet_security_without_intent(snapshot, reach):
            out.append(_note(subnet.id, f"App Gateway {gateway.name}: its hub connection has enableInternetSecurity "
                                        f"but virtual hub {hub} has no Internet routing policy, so whether the hub "
                                        "sends this VNet 0.0.0.0/0 is not known (its route tables are not read); "
                                        f"if it does, {_SCENARIO} adds 0.0.0.0/0 -> Internet on subnet "
                                        f"{subnet.name}: not written"))
        return []
    table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet.route_table_id else None
    if subnet.route_table_id and (table is None or table.disable_bgp_route_propagation):
        return []  # not observed: routes.py reports it; BGP off: the hub's 0.0.0.0/0 never reaches the subnet
    if gateway.network_isolated:
        out.append(_note(subnet.id, f"App Gateway {gateway.name} is network-isolated: its 0.0.0.0/0 may go through "
                                    f"the hub firewall, so {_SCENARIO}'s 0.0.0.0/0 -> Internet is not written"))
        return []
    route = Route(f"{settings.ownership_prefix}{APPGW_INTERNET_ROLE}", DEFAULT_PREFIX, NextHopType.INTERNET.value,
                  None)
    return [(route, f"{_SCENARIO}: virtual hub {hub} sends this VNet 0.0.0.0/0 to its firewall (routing intent "
                    f"Internet policy, enableInternetSecurity); the v2 App Gateway {gateway.name} needs a direct "
                    "path to the Internet for its management traffic")]


def ingress_routes(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> tuple[Route, ...]:
    """Owned routes for the cluster's App Gateway subnet: each AKS range -> firewall."""
    return tuple(route for route, _ in _ingress(snapshot, cluster, settings))


def _desired(
    subnet_id: str, purpose: RoutePurpose, pairs: Sequence[tuple[Route, str]],
    reports: Sequence[Conflict] = (),
) -> DesiredSubnetRoutes:
    routes = tuple(r for r, _ in pairs)
    return DesiredSubnetRoutes(subnet_id, purpose, routes, {r.name: why for r, why in pairs}, tuple(reports))


def _dual_stack_notes(snapshot: Snapshot, subnet_ids: Iterable[str]) -> list[Conflict]:
    """A dual-stack subnet gets its IPv4 routes; its IPv6 ranges are reported, never routed or ruled."""
    notes = []
    for subnet_id in subnet_ids:
        subnet = _subnet(snapshot, subnet_id)
        v6 = net.ipv6_only(subnet.address_prefixes) if subnet else ()
        if subnet is not None and v6:
            notes.append(_note(subnet.id, f"dual-stack subnet {subnet.name}: IPv4 routes planned; IPv6 range(s) "
                                          f"{', '.join(v6)} get no route and no firewall rule (Azure Firewall "
                                          "does not support IPv6)"))
    return notes


def desired_cluster_routes(
    snapshot: Snapshot, cluster_id: str, settings: Settings
) -> tuple[DesiredSubnetRoutes, ...] | Skip:
    """One EGRESS entry per node subnet, and per pod subnet for flat Azure CNI (pools sharing a subnet = one
    entry), and one INGRESS entry for the App Gateway subnet when the cluster has an ingress gateway.
    Sorted by subnet id."""
    skip = check_cluster(snapshot, cluster_id, settings)
    if skip is not None:
        return skip
    cluster = _cluster(snapshot, cluster_id)
    assert cluster is not None  # check_cluster returned None, so the cluster is in the snapshot
    reports: list[Conflict] = []
    if gateway_deleted(snapshot, cluster):
        reports.append(_note(cluster.id, f"ingress gateway {cluster.ingress_gateway_id} not found (deleted): "
                                         "its routes and rules go; the cluster's egress routes and rules stay"))
    egress = _egress(snapshot, cluster, settings, reports)
    # Pod subnets (flat CNI) too: pods send from their own VNet IPs there, and AGIC reaches them directly,
    # so without the same routes the return path to the App Gateway would bypass the firewall (asymmetric).
    subnet_ids = _range_subnet_ids(cluster)
    reports.extend(_dual_stack_notes(snapshot, subnet_ids))
    items = [_desired(s, RoutePurpose.EGRESS, egress) for s in subnet_ids]
    gateway = _gateway(snapshot, cluster)
    if gateway is not None and gateway.subnet_id:
        ingress_reports: list[Conflict] = []
        ingress = _ingress(snapshot, cluster, settings, ingress_reports)
        ingress_reports.extend(_dual_stack_notes(snapshot, [gateway.subnet_id]))
        items.append(_desired(gateway.subnet_id, RoutePurpose.INGRESS, ingress, ingress_reports))
    if items and reports:  # (no copy of the first item when there is nothing to add: asked per cluster)
        items[0] = dataclasses.replace(items[0], reports=(*items[0].reports, *reports))
    return merge_subnet_routes(items)


def merge_subnet_routes(items: Iterable[DesiredSubnetRoutes]) -> tuple[DesiredSubnetRoutes, ...]:
    """Union the desired routes of several clusters per subnet (a subnet has one route table).

    Routes are unioned by name; when two names claim one prefix (one cluster sees it as a spoke, another as
    its App Gateway subnet) the first name in sorted order wins, since a table holds one route per prefix.
    Reasons for one route name are joined. The purpose is EGRESS if any item for the subnet is EGRESS.
    """
    groups: dict[str, list[DesiredSubnetRoutes]] = {}
    for item in items:
        groups.setdefault(id_key(item.subnet_id), []).append(item)
    merged: list[DesiredSubnetRoutes] = []
    for key in sorted(groups):
        group = groups[key]
        if len(group) == 1 and _already_merged(group[0]):
            merged.append(group[0])  # what merging it would build, equal field by field (issue 26: asked per
            continue  # cluster, then twice for the fleet, where most subnets hold one cluster's routes)
        routes: dict[str, Route] = {}
        reasons: dict[str, list[str]] = {}
        for item in group:
            for route in item.routes:
                routes.setdefault(route.name.lower(), route)
                why = item.reasons.get(route.name)
                bucket = reasons.setdefault(route.name.lower(), [])
                if why and why not in bucket:
                    bucket.append(why)
        by_prefix: dict[str, Route] = {}
        for name in sorted(routes):
            by_prefix.setdefault(canonical_prefix(routes[name].address_prefix), routes[name])
        kept = sorted(by_prefix.values(), key=lambda r: (prefix_sort_key(r.address_prefix), r.name.lower()))
        purposes = {i.purpose for i in group}
        purpose = RoutePurpose.EGRESS if RoutePurpose.EGRESS in purposes else RoutePurpose.INGRESS
        reports = tuple(dict.fromkeys(r for i in group for r in i.reports))  # union, first order kept
        merged.append(DesiredSubnetRoutes(
            group[0].subnet_id, purpose, tuple(kept),
            {r.name: "; ".join(reasons.get(r.name.lower(), [])) for r in kept}, reports,
        ))
    return tuple(merged)


def _already_merged(item: DesiredSubnetRoutes) -> bool:
    """Whether merging `item` alone would give it back: its routes one per lower-case name and per prefix, in
    (prefix, name) order; its reasons exactly each route's own (or ""); its reports without repeats; tuples and a
    dict, as merging builds them. Checking costs a fraction of rebuilding."""
    routes = item.routes
    if not isinstance(routes, tuple) or not isinstance(item.reports, tuple) or type(item.reasons) is not dict:
        return False
    order = [(prefix_sort_key(r.address_prefix), r.name.lower()) for r in routes]
    if any(a >= b for a, b in pairwise(order)):
        return False  # out of order, or one name twice in a row
    if len({name for _, name in order}) < len(routes) or len({canonical_prefix(r.address_prefix)
                                                               for r in routes}) < len(routes):
        return False
    purpose = RoutePurpose.EGRESS if item.purpose is RoutePurpose.EGRESS else RoutePurpose.INGRESS
    return (purpose is item.purpose and item.reasons == {r.name: item.reasons.get(r.name) or "" for r in routes}
            and len(set(item.reports)) == len(item.reports))


def desired_prepared_subnet(
    snapshot: Snapshot, subnet_id: str, settings: Settings, firewall: ObservedFirewall | None = None
) -> DesiredSubnetRoutes | Skip:
    """`prepare-subnet`: the egress table a userDefinedRouting cluster needs *before* it is created.

    AKS validates at create time that the subnet has a route table with a 0.0.0.0/0 route
    (ExistingRouteTableNotAssociatedWithSubnet, docs/arm-notes.md 2.2); no App Gateway is known yet.
    `firewall` is the one the subnet's VNet reaches (remediation/planning/prepare.py); the configured one
    when not given. Which subnets may be prepared at all is decided in prepare.py.
    """
    subnet = _subnet(snapshot, subnet_id)
    if subnet is None:
        return Skip(subnet_id, f"subnet {_missing(snapshot, subnet_id)}")
    vnet = paths.vnet_of_subnet(subnet.id)
    path = paths.firewall_for_vnet(snapshot, vnet, settings) if vnet else paths.Unreachable("no VNet")
    if firewall is None and settings.several_firewalls:
        # Several firewalls (FIREWALL_IDS): the one the subnet's VNet reaches, or none.
        if not isinstance(path, paths.Reaches):
            return Skip(subnet_id, f"{NO_PATH}: {path.reason}; nothing is routed")
        firewall = path.firewall
    firewall = firewall or snapshot.firewall
    if firewall is None or not firewall.private_ip:
        return Skip(subnet_id, "firewall not found or without a private IP: nothing to route through")
    if not isinstance(path, paths.Reaches):
        return Skip(subnet_id, f"{NO_PATH}: {path.reason}; nothing is routed")
    ip = firewall.private_ip
    candidates = [
        _Candidate("default", DEFAULT_PREFIX, f"prepared subnet: default route via firewall {ip} "
                                              "(userDefinedRouting needs it before the cluster exists)"),
    ]
    reports: list[Conflict] = []
    candidates.extend(_shared_egress_candidates(snapshot, settings, firewall, [vnet] if vnet else [], path,
                                                reports, subnet.id))
    pairs = _to_routes(candidates, settings, ip, _sorted_prefixes(subnet.address_prefixes), reports, subnet.id)
    return _desired(subnet.id, RoutePurpose.EGRESS, pairs, [*reports, *_dual_stack_notes(snapshot, [subnet.id])])


# --------------------------------------------------------------------------------------------- firewall


def rule_name_candidates(cluster: ObservedCluster) -> tuple[str, str]:
    """The two names the cluster's rules can carry: its own name, or (when another cluster in scope has the
    same name) that name with a short stable hash of its id (`_rule_names`)."""
    return _rule_names([cluster])[id_key(cluster.id)], _rule_names([cluster, cluster])[id_key(cluster.id)]


def _rule_names(clusters: Sequence[ObservedCluster]) -> dict[str, str]:
    """cluster id key -> rule name: the cluster name, plus a short stable hash of the id if names collide."""
    counts: dict[str, int] = {}
    for c in clusters:
        counts[c.name.lower()] = counts.get(c.name.lower(), 0) + 1
    names: dict[str, str] = {}
    for c in clusters:
        key = id_key(c.id)
        if counts[c.name.lower()] > 1:
            names[key] = bounded_name(f"{c.name}-{hashlib.sha256(key.encode()).hexdigest()[:6]}", 80, c.id)
        else:
            names[key] = bounded_name(c.name, 80, c.id)
    return names


def _rule(name: str, protocols: Iterable[str], sources: Iterable[str], destinations: Iterable[str],
          ports: Iterable[str]) -> NetworkRule:
    return NetworkRule(
        name=name,
        protocols=tuple(sorted(set(protocols))),
        source_addresses=_sorted_addresses(sources),
        destination_addresses=_sorted_addresses(destinations),
        destination_ports=tuple(sorted(set(ports), key=_port_key)),
    )


def _sorted_addresses(values: Iterable[str]) -> tuple[str, ...]:
    # Service tags (AzureCloud.westeurope) are kept as text; CIDRs are canonical and numerically ordered.
    return tuple(sorted({canonical_prefix(v) if _network(v) else v for v in values}, key=prefix_sort_key))


def _port_key(port: str) -> tuple[int, str]:
    head = port.split("-")[0]
    return (int(head), port) if head.isdigit() else (1 << 20, port)


def desired_rule_collections(
    snapshot: Snapshot, settings: Settings
) -> tuple[tuple[RuleCollection, ...], tuple[Skip, ...]]:
    """The owned firewall rule collections for every cluster in the snapshot (a firewall PUT replaces the
    whole group, so the last write must carry the complete set: docs/architecture.md 2).

    A cluster that is only still provisioning keeps its rules (see `check_cluster(require_succeeded=False)`);
    clusters failing a real prerequisite are returned as skips. Empty collections are omitted.
    """
    eligible, with_ingress, skips = rule_eligibility(snapshot, settings)
    names = _rule_names(eligible)
    ingress: list[NetworkRule] = []
    held = _owned_ingress_rules(snapshot, settings)
    all_ranges: list[str] = []
    ranged: list[egress.ClusterRanges] = []
    for cluster in eligible:
        ranges = aks_ranges(snapshot, cluster)
        if not ranges:
            continue
        all_ranges.extend(ranges)
        name = names[id_key(cluster.id)]
        ranged.append(egress.ClusterRanges(cluster, name, ranges))
        gateway_prefixes = _gateway_prefixes(snapshot, cluster) if id_key(cluster.id) in with_ingress else ()
        if gateway_prefixes:
            # Runbook step 2 firewall rule: source = App Gateway subnet, destination = the AKS ranges.
            ingress.append(_rule(name, INGRESS_PROTOCOLS, gateway_prefixes, ranges, settings.ingress_ports))
        elif _ingress_kept_as_is(snapshot, cluster, with_ingress) and name.lower() in held:
            # Its ingress part cannot be planned (the gateway or its subnet not observed, an unsupported
            # SKU, a default route on its subnet), yet the gateway is not known to be gone: the rule it has
            # may still carry traffic, so it stays as it is rather than leave with the group PUT.
            ingress.append(held[name.lower()])
            skips[:] = [Skip(k.target, k.reason.replace(_INGRESS_NOT_PLANNED, _INGRESS_KEPT))
                        if id_key(k.target) == id_key(cluster.id) else k for k in skips]
    p2s = _sorted_prefixes(net.ipv4_only(p for g in vpn_gateways_of_pass(snapshot, settings) for p in g.p2s_prefixes))
    prefix = settings.ownership_prefix
    collections: list[RuleCollection] = []
    # Runbook step 1 firewall rules: source = the AKS ranges, content = the egress profile
    # (remediation/planning/egress.py).
    egress_rules = egress.egress_rules(snapshot, settings, ranged)
    skips.extend(egress_rules.reports)
    if egress_rules.network:
        collections.append(RuleCollection(f"{prefix}egress", EGRESS_PRIORITY, ALLOW, egress_rules.network))
    if egress_rules.application:
        collections.append(RuleCollection(f"{prefix}egress-fqdn", EGRESS_APPLICATION_PRIORITY, ALLOW, (),
                                          egress_rules.application, APPLICATION_RULE))
    if ingress:
        collections.append(RuleCollection(f"{prefix}ingress", INGRESS_PRIORITY, ALLOW, _by_name(ingress)))
    if p2s and all_ranges:
        # Runbook hint: the P2S source is the vpnClientAddressPool, never the GatewaySubnet prefix.
        rule = _rule("p2s-to-aks", P2S_PROTOCOLS, p2s, all_ranges, settings.ingress_ports)
        collections.append(RuleCollection(f"{prefix}p2s", P2S_PRIORITY, ALLOW, (rule,)))
    return tuple(collections), tuple(skips)


_INGRESS_NOT_PLANNED = "egress rule kept, ingress rule not planned"
_INGRESS_KEPT = "egress rule kept, ingress rule kept as it is"


def _ingress_kept_as_is(snapshot: Snapshot, cluster: ObservedCluster, with_ingress: set[str]) -> bool:
    """The cluster names an ingress gateway not confirmed deleted, but its ingress part is not planned."""
    return (bool(cluster.ingress_gateway_id) and not gateway_deleted(snapshot, cluster)
            and id_key(cluster.id) not in with_ingress)


def _owned_ingress_rules(snapshot: Snapshot, settings: Settings) -> dict[str, NetworkRule]:
    """The rules of the owned ingress collection as observed (every owned group and shard, or the classic
    firewall's own collections), by lower-case rule name."""
    name = f"{settings.ownership_prefix}ingress".lower()
    firewall = snapshot.firewall
    if firewall is not None and firewall.policy_id is None:
        collections: Iterable[RuleCollection] = firewall.classic_collections
    else:
        collections = [c for g in snapshot.owned_groups for c in g.rule_collections]
    return {r.name.lower(): r for c in collections if c.name.lower() == name for r in c.rules}


def rule_eligibility(
    snapshot: Snapshot, settings: Settings
) -> tuple[list[ObservedCluster], set[str], list[Skip]]:
    """Which clusters keep which part of their firewall rules: never remove what still carries traffic.

    Returns (clusters that keep their egress rule, id keys of those that also keep the ingress rule, skips).
    A cluster whose ingress part fails (gateway v1, its subnet unreadable, a bad default route
    on it) keeps its egress rule, since its egress routes may be in place; only the ingress rule waits.
    """
    eligible: list[ObservedCluster] = []
    with_ingress: set[str] = set()
    skips: list[Skip] = []
    held = _held_rules(snapshot, settings)
    for key in sorted(snapshot.clusters):
        cluster = snapshot.clusters[key]
        skip = check_cluster_egress(snapshot, cluster.id, settings, require_succeeded=False, with_path=False)
        if skip is not None:
            skips.append(skip)
            continue
        path_skip = check_path(snapshot, cluster, settings)
        if path_skip is None and not _rules_here(snapshot, cluster, settings):
            continue  # its firewall's rules live in another policy: that policy's group holds them
        if path_skip is not None:
            if not _holds_rules_of(held, snapshot, cluster):
                skips.append(path_skip)
                continue
            # Rules in place are never pruned because a path went away (a peering Disconnected or not
            # readable): incomplete knowledge, so they stay and the next run decides (docs/platform-notes.md 13).
            skips.append(Skip(cluster.id, f"{path_skip.reason} ({_RULES_KEPT})"))
        eligible.append(cluster)
        ingress_skip = check_ingress(snapshot, cluster, settings)
        if ingress_skip is None:
            with_ingress.add(id_key(cluster.id))
        else:
            skips.append(Skip(cluster.id, f"{ingress_skip.reason} ({_INGRESS_NOT_PLANNED})"))
    return eligible, with_ingress, skips


_RULES_KEPT = "its firewall rules in place are kept; the next run decides"


def _rules_here(snapshot: Snapshot, cluster: ObservedCluster, settings: Settings) -> bool:
    """With several firewalls, whether the cluster's rules belong to the pass's firewall's policy (or classic
    firewall): its own firewall's rules live there. A policy shared by several firewalls holds all their spokes."""
    if not settings.several_firewalls:
        return True
    own = cluster_firewall(snapshot, cluster, settings)
    return (own is not None and snapshot.firewall is not None
            and paths.rules_home(own) == paths.rules_home(snapshot.firewall))


def vpn_gateways_of_pass(snapshot: Snapshot, settings: Settings) -> tuple[ObservedVpnGateway, ...]:
    """The VPN gateways whose P2S pools the pass's rules name: every one in scope with one firewall; with several,
    those in the hub VNet of a firewall whose rules live where the pass's firewall's do."""
    if not settings.several_firewalls:
        return snapshot.vpn_gateways
    home = paths.rules_home(snapshot.firewall) if snapshot.firewall else None
    hubs = {id_key(f.vnet_id) for f in paths.configured_firewalls(snapshot, settings)
            if f.vnet_id and paths.rules_home(f) == home}
    return tuple(g for g in snapshot.vpn_gateways if g.vnet_id and id_key(g.vnet_id) in hubs)


def _holds_rules_of(held: _HeldRules, snapshot: Snapshot, cluster: ObservedCluster) -> bool:
    """Whether the owned rules in place carry this cluster: a rule named for it (`<name>`, or a profile's
    `<name>-<suffix>`), or any owned rule whose addresses name one of its ranges (the shared P2S rule, the
    ingress rule). A cluster named like another's prefix may match too: then its rules are kept, the safe side."""
    names = {n.lower() for n in rule_name_candidates(cluster)}
    if any(h in names or any(h.startswith(f"{n}-") for n in names) for h in held.names):
        return True
    return bool(set(aks_ranges(snapshot, cluster)) & held.addresses)


@dataclass(frozen=True)
class _HeldRules:
    names: frozenset[str]  # lower-case rule names
    addresses: frozenset[str]  # canonical CIDRs named by any rule (sources and destinations)


def _held_rules(snapshot: Snapshot, settings: Settings) -> _HeldRules:
    """What the owned collections (every owned group and shard, or the classic firewall's owned collections)
    hold now."""
    firewall = snapshot.firewall
    if firewall is not None and firewall.policy_id is None:
        collections: Iterable[RuleCollection] = (*firewall.classic_collections,
                                                 *firewall.classic_application_collections)
        collections = [c for c in collections if settings.owns_name(c.name)]
    else:
        collections = [c for g in snapshot.owned_groups for c in g.rule_collections]
    names: set[str] = set()
    addresses: set[str] = set()
    for collection in collections:
        for rule in collection.rules:
            names.add(rule.name.lower())
            addresses.update((*rule.source_addresses, *rule.destination_addresses))
        for app_rule in collection.application_rules:
            names.add(app_rule.name.lower())
            addresses.update(app_rule.source_addresses)
    return _HeldRules(frozenset(names), frozenset(canonical_prefix(a) for a in addresses if _network(a)))


def _by_name(rules: Iterable[NetworkRule]) -> tuple[NetworkRule, ...]:
    return tuple(sorted(rules, key=lambda r: r.name.lower()))


# --------------------------------------------------------------------------------------------- a moved firewall


def subnets_behind(snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    """The node, pod and App Gateway subnets of every cluster routed via the pass's firewall (`cluster_firewall`):
    where its owned routes are, for `routes_left_behind`."""
    firewall = snapshot.firewall
    if firewall is None:
        return ()
    found: dict[str, str] = {}
    for key in sorted(snapshot.clusters):
        cluster = snapshot.clusters[key]
        own = cluster_firewall(snapshot, cluster, settings)
        if own is None or not same_id(own.id, firewall.id) or check_path(snapshot, cluster, settings) is not None:
            continue
        subnet_ids = [*_range_subnet_ids(cluster)]
        gateway = _gateway(snapshot, cluster)
        if gateway is not None and gateway.subnet_id:
            subnet_ids.append(gateway.subnet_id)
        for subnet_id in subnet_ids:
            found.setdefault(id_key(subnet_id), subnet_id)
    return tuple(found.values())


def routes_left_behind(snapshot: Snapshot, settings: Settings) -> tuple[str, ...]:
    """Owned VirtualAppliance routes on the subnets behind the pass's firewall that point at another address
    than its private IP now: the firewall's IP changed (a deallocate / allocate gives it a new one,
    docs/platform-notes.md 13.2), so the routing of its spokes must be planned again. Route ids, sorted."""
    firewall = snapshot.firewall
    if firewall is None or not firewall.private_ip:
        return ()
    appliance = NextHopType.VIRTUAL_APPLIANCE.value.lower()
    left: set[str] = set()
    for subnet_id in subnets_behind(snapshot, settings):
        subnet = _subnet(snapshot, subnet_id)
        table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet and subnet.route_table_id else None
        if table is not None and avnm.managed_table_reason(table.id, table.name) is not None:
            continue  # AVNM's table (its copies of routes named like ours): never re-planned, never written
        for route in table.routes if table is not None else ():
            if (settings.owns_name(route.name) and route.next_hop_type.lower() == appliance
                    and (route.next_hop_ip_address or "").strip() != firewall.private_ip):
                left.add(f"{table.id}/routes/{route.name}" if table is not None else route.name)
    return tuple(sorted(left))


# --------------------------------------------------------------------------------------------- views


def behind(snapshot: Snapshot, settings: Settings) -> tuple[Behind, ...]:
    """Per cluster of the snapshot (sorted by id): the hub and firewall its node and pod VNets reach, or why
    none (remediation/planning/paths.py). What plan, sweep and status show (#21)."""
    out: list[Behind] = []
    for key in sorted(snapshot.clusters):
        cluster = snapshot.clusters[key]
        vnets = _cluster_vnets(cluster)
        if not vnets:
            out.append(Behind(cluster.id, reason="no node subnet in a VNet of its own (AKS-managed VNet)"))
            continue
        path = paths.firewall_for_vnets(snapshot, vnets, settings)
        if isinstance(path, paths.Reaches):
            out.append(Behind(cluster.id, path.hub, path.firewall.id, path.via))
        else:
            out.append(Behind(cluster.id, reason=path.reason))
    return tuple(out)


def owned_groups_of(snapshot: Snapshot, changes: Iterable[Change]) -> tuple[OwnedGroups, ...]:
    """The pass's firewall's owned groups (or classic collections) as the plan leaves them: every one it
    creates, updates or keeps, none it deletes."""
    firewall = snapshot.firewall
    if firewall is None:
        return ()
    kinds = {ChangeKind.RULE_COLLECTION_GROUP, ChangeKind.CLASSIC_RULE_COLLECTION,
             ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION}
    names = [c.address.rstrip("/").rsplit("/", 1)[-1] for c in changes
             if c.kind in kinds and c.action is not Action.DELETE]
    return (OwnedGroups(firewall.policy_id or firewall.id, tuple(dict.fromkeys(names))),)
