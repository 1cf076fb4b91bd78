"""Pure: which subnets are prepared for a userDefinedRouting cluster *before* it exists, and which never are.

AKS refuses to create a userDefinedRouting cluster unless its subnet already routes 0.0.0.0/0 to an
appliance (docs/platform-notes.md 3.2.1; Azure/AKS#1842), so a reactor on the cluster's own write is too late.
Teams mark the subnets in their IaC, before any cluster exists, with a tag on the VNet (subnets carry no
tags): `PREPARE_SUBNETS_TAG` (default `aks-egress-prepare`), whose value is a comma-separated list of subnet
names. A prepared subnet gets a route table with 0.0.0.0/0 -> the firewall its VNet reaches (plus the shared
egress routes a userDefinedRouting cluster will need: P2S pools, SPOKE_PREFIXES), associated
(docs/zero-touch.md).

The rules (table-driven tests: tests/core/test_prepare.py):
- never prepared: a platform subnet (GatewaySubnet, AzureFirewallSubnet, ...), an App Gateway's subnet, a
  subnet that hosts a kubenet cluster or a cluster whose outbound type is not userDefinedRouting; each
  refusal is a blocking conflict with its reason, and nothing is written for it;
- a marked subnet stays prepared while no cluster uses it, and while a userDefinedRouting cluster does (its
  own desired routes then hold the default route, or, while it is skipped, nothing prunes its subnet);
- while the marker stands, a sweep never removes the default route it prepared: on a subnet refused
  because a cluster of another outbound type came to use it, the owned default route is kept as it is (and
  the refusal is reported) until the name leaves the tag;
- a name the tag lists that matches no subnet of the VNet is reported (a note: the subnet may simply not
  be created yet);
- removing a name from the tag un-prepares that subnet (the sweep prunes its owned routes) only when no
  cluster uses it; a VNet without the tag keeps the earlier rule: a subnet prepared by `prepare-subnet` that
  no cluster uses stays prepared.

Public API: PrepareResult, marked_names, subnet_refusal, prepared_subnets, prepare_one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import (
    ChangeKind,
    Conflict,
    DesiredSubnetRoutes,
    NetworkPlugin,
    NextHopType,
    ObservedCluster,
    ObservedFirewall,
    ObservedSubnet,
    ObservedVnet,
    Route,
    RoutePurpose,
    Severity,
    Skip,
    Snapshot,
)
from remediation.core.net import DEFAULT_PREFIX, canonical_prefix
from remediation.planning import desired, guards, outbound, paths


@dataclass(frozen=True)
class PrepareResult:
    """What the marker adds to a fleet's desired state: subnets to (keep) prepared, and what was refused or
    reported (conflicts and notes, passed into the plan)."""

    desired: tuple[DesiredSubnetRoutes, ...] = ()
    reports: tuple[Conflict, ...] = ()


# --------------------------------------------------------------------------------------------- the marker


def marked_names(vnet: ObservedVnet, settings: Settings) -> tuple[str, ...] | None:
    """The subnet names the VNet's prepare tag lists (in order, each once), or None when the VNet has no such
    tag. Tag names are matched case-insensitively, as ARM treats them; empty items are ignored."""
    value = next((v for k, v in vnet.tags.items() if k.lower() == settings.prepare_subnets_tag.lower()), None)
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def _vnet_of(snapshot: Snapshot, subnet: ObservedSubnet) -> ObservedVnet | None:
    parent = ids.parse_resource_id(subnet.id).parent
    return snapshot.vnets.get(id_key(str(parent))) if parent is not None else None


def _is_marked(vnet: ObservedVnet | None, subnet: ObservedSubnet, settings: Settings) -> bool | None:
    """True/False when the VNet carries the tag (the marker governs its subnets); None when it does not."""
    names = marked_names(vnet, settings) if vnet is not None else None
    if names is None:
        return None
    return subnet.name.lower() in {n.lower() for n in names}


# --------------------------------------------------------------------------------------------- safety


def _users(snapshot: Snapshot) -> dict[str, list[ObservedCluster]]:
    """subnet id key -> the observed clusters whose node or pod subnets it is."""
    users: dict[str, list[ObservedCluster]] = {}
    for key in sorted(snapshot.clusters):
        cluster = snapshot.clusters[key]
        for subnet_id in {id_key(s) for s in (*cluster.node_subnet_ids, *cluster.pod_subnet_ids) if s}:
            users.setdefault(subnet_id, []).append(cluster)
    return users


def _cluster_refusal(cluster: ObservedCluster) -> str | None:
    if cluster.network_plugin.lower() == NetworkPlugin.KUBENET.value:
        return (f"it hosts kubenet cluster {cluster.name}: AKS writes that cluster's pod routes into the "
                "subnet's table, and the runbook needs Azure CNI")
    if outbound.kind(cluster) != outbound.UDR:
        return (f"it hosts cluster {cluster.name} with outboundType {cluster.outbound_type or '(none)'}: a "
                "default route to the firewall would take its egress away from that outbound path "
                "(docs/platform-notes.md 12)")
    return None


def subnet_refusal(snapshot: Snapshot, subnet: ObservedSubnet,
                   users: Mapping[str, Sequence[ObservedCluster]] | None = None) -> str | None:
    """Why the subnet must never be prepared, or None. `users` defaults to the snapshot's clusters."""
    special = guards.special_subnet_reason(subnet)
    if special is not None:
        return f"platform subnet {special}"
    for gateway in sorted(snapshot.app_gateways.values(), key=lambda g: id_key(g.id)):
        if gateway.subnet_id and ids.same_id(gateway.subnet_id, subnet.id):
            return (f"it hosts App Gateway {gateway.name}: an App Gateway subnet gets only the AKS-range routes "
                    "of the clusters behind it, never a default route (docs/platform-notes.md 3.2.3)")
    for cluster in (users if users is not None else _users(snapshot)).get(id_key(subnet.id), ()):
        why = _cluster_refusal(cluster)
        if why is not None:
            return why
    return None


# --------------------------------------------------------------------------------------------- the firewall


def _firewall_for(snapshot: Snapshot, vnet_id: str, settings: Settings) -> ObservedFirewall | str:
    """The firewall the VNet's traffic reaches (the path model, remediation/planning/paths.py), or why there is
    none to route to (then nothing is written: a route there would blackhole the cluster's egress)."""
    firewall = snapshot.firewall
    if settings.several_firewalls:  # the one the VNet reaches (FIREWALL_IDS)
        reached = paths.firewall_for_vnet(snapshot, vnet_id, settings)
        if not isinstance(reached, paths.Reaches):
            return f"{desired.NO_PATH}: {reached.reason}"
        firewall = reached.firewall
    if firewall is None:
        return f"firewall {settings.firewall_id} (FIREWALL_ID) was not found"
    if not firewall.private_ip:
        return f"firewall {firewall.name} has no private IP to use as the next hop"
    path = paths.firewall_for_vnet(snapshot, vnet_id, settings)
    if not isinstance(path, paths.Reaches):
        return f"{desired.NO_PATH}: {path.reason}"
    return path.firewall


def _kept_without_path(snapshot: Snapshot, subnet: ObservedSubnet, settings: Settings,
                       why: str) -> DesiredSubnetRoutes | None:
    """A prepared subnet whose path to the firewall went away (a peering Disconnected, a VNet not readable):
    the owned routes in place stay as they are and the next run decides (incomplete knowledge never prunes;
    docs/architecture.md section 3)."""
    table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet.route_table_id else None
    if table is None or not why.startswith(desired.NO_PATH):
        return None
    kept = tuple(r for r in table.routes if settings.owns_name(r.name))
    if not kept:
        return None
    return DesiredSubnetRoutes(subnet.id, RoutePurpose.EGRESS, kept, {r.name: f"kept as it is: {why}" for r in kept})


# --------------------------------------------------------------------------------------------- planning


def prepare_one(snapshot: Snapshot, subnet_id: str, settings: Settings) -> DesiredSubnetRoutes | Skip | Conflict:
    """`prepare-subnet`: the same rules as the marker, for one subnet named by a person.

    A subnet that was not observed is a Skip. Refused with a blocking Conflict (the reason; nothing written):
    one the safety rules exclude, one with no firewall to route to, and one the next sweep would un-prepare,
    i.e. in a VNet whose prepare tag does not name it (docs/zero-touch.md: prepare-subnet never writes a
    route the next sweep removes)."""
    subnet = snapshot.subnets.get(id_key(subnet_id))
    if subnet is None:
        return desired.desired_prepared_subnet(snapshot, subnet_id, settings)  # the Skip saying why
    why = subnet_refusal(snapshot, subnet)
    vnet = _vnet_of(snapshot, subnet)
    if why is None and _is_marked(vnet, subnet, settings) is False:
        why = (f"VNet {vnet.name if vnet else '?'} has the tag {settings.prepare_subnets_tag} and it does not "
               f"name {subnet.name}, so the next sweep would un-prepare it; add the name to the tag instead (the "
               "VNet's own event then prepares it)")
    firewall = _firewall_for(snapshot, str(ids.parse_resource_id(subnet.id).parent), settings)
    if why is None and isinstance(firewall, str):
        why = firewall
    if why is not None or isinstance(firewall, str):
        return Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet.id, f"refused to prepare {subnet.name}: {why}")
    return desired.desired_prepared_subnet(snapshot, subnet.id, settings, firewall)


def prepared_subnets(snapshot: Snapshot, covered: Sequence[DesiredSubnetRoutes],
                     settings: Settings) -> PrepareResult:
    """What a fleet pass (sweep, network event) adds to the clusters' desired routes (`covered`): the marked
    subnets, the subnets kept prepared, and the refusals and notes. See the module docstring for the rules."""
    covered_keys = {id_key(d.subnet_id) for d in covered}
    users = _users(snapshot)
    entries: list[DesiredSubnetRoutes] = []
    reports: list[Conflict] = []
    for vnet_key in sorted(snapshot.vnets):
        vnet = snapshot.vnets[vnet_key]
        names = marked_names(vnet, settings)
        if names is None or not settings.in_scope(vnet.id):
            # A VNet read only because something in scope references it is not ours to prepare.
            continue
        by_name = {s.name.lower(): s for s in vnet.subnets}
        for name in names:
            subnet = by_name.get(name.lower())
            if subnet is None:
                reports.append(Conflict(
                    ChangeKind.SUBNET_ROUTE_TABLE, vnet.id,
                    f"tag {settings.prepare_subnets_tag} of VNet {vnet.name} names subnet {name}, which the VNet "
                    "does not have (yet): nothing prepared for it", Severity.NOTE))
                continue
            _marked(snapshot, snapshot.subnets.get(id_key(subnet.id), subnet), covered_keys, users, settings,
                    entries, reports)
    entries.extend(_kept_without_marker(snapshot, covered_keys, users, settings))
    return PrepareResult(tuple(entries), tuple(reports))


def _marked(snapshot: Snapshot, subnet: ObservedSubnet, covered_keys: set[str],
            users: Mapping[str, Sequence[ObservedCluster]], settings: Settings,
            entries: list[DesiredSubnetRoutes], reports: list[Conflict]) -> None:
    key = id_key(subnet.id)
    why = subnet_refusal(snapshot, subnet, users)
    if why is not None:
        reports.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet.id,
                                f"refused to prepare {subnet.name} (tag {settings.prepare_subnets_tag}): {why}"))
        kept = _kept_default(snapshot, subnet, settings) if key in covered_keys else None
        if kept is not None:
            # The marker stands: what it prepared stays until the name leaves the tag. Only on a subnet some
            # cluster's routes are planned for: elsewhere nothing prunes a used subnet's table anyway.
            entries.append(kept)
        return
    if key in covered_keys or users.get(key):
        # A userDefinedRouting cluster uses it: its own routes hold the default route, and while it is
        # skipped (still Creating) nothing prunes the table of a subnet a cluster references.
        return
    firewall = _firewall_for(snapshot, str(ids.parse_resource_id(subnet.id).parent), settings)
    if isinstance(firewall, str):
        reports.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet.id,
                                f"refused to prepare {subnet.name}: {firewall}"))
        kept_routes = _kept_without_path(snapshot, subnet, settings, firewall)
        if kept_routes is not None:
            entries.append(kept_routes)
        return
    wanted = desired.desired_prepared_subnet(snapshot, subnet.id, settings, firewall)
    if isinstance(wanted, Skip):
        reports.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet.id, wanted.reason))
    else:
        entries.append(wanted)


def _owned_default(snapshot: Snapshot, subnet: ObservedSubnet, settings: Settings) -> Route | None:
    """The owned 0.0.0.0/0 -> appliance route on the subnet's table, when there is one."""
    table = snapshot.route_tables.get(id_key(subnet.route_table_id)) if subnet.route_table_id else None
    if table is None:
        return None
    return next((r for r in table.routes if settings.owns_name(r.name)
                 and canonical_prefix(r.address_prefix) == DEFAULT_PREFIX
                 and r.next_hop_type.lower() == NextHopType.VIRTUAL_APPLIANCE.value.lower()), None)


def _kept_default(snapshot: Snapshot, subnet: ObservedSubnet, settings: Settings) -> DesiredSubnetRoutes | None:
    route = _owned_default(snapshot, subnet, settings)
    if route is None:
        return None
    return DesiredSubnetRoutes(subnet.id, RoutePurpose.EGRESS, (route,), {
        route.name: f"kept as it is: subnet {subnet.name} is still named by tag {settings.prepare_subnets_tag}"})


def _kept_without_marker(snapshot: Snapshot, covered_keys: set[str],
                         users: Mapping[str, Sequence[ObservedCluster]],
                         settings: Settings) -> list[DesiredSubnetRoutes]:
    """Subnets prepared by `prepare-subnet` in a VNet without the tag stay prepared while no cluster uses them
    (the rule before the marker; a VNet with the tag is governed by it)."""
    kept: list[DesiredSubnetRoutes] = []
    for key in sorted(snapshot.subnets):
        subnet = snapshot.subnets[key]
        if (key in covered_keys or users.get(key) or not settings.in_scope(subnet.id)
                or _owned_default(snapshot, subnet, settings) is None):
            continue
        vnet = _vnet_of(snapshot, subnet)
        if _is_marked(vnet, subnet, settings) is not None or subnet_refusal(snapshot, subnet, users) is not None:
            continue
        firewall = _firewall_for(snapshot, vnet.id if vnet else "", settings)
        if isinstance(firewall, str):
            held = _kept_without_path(snapshot, subnet, settings, firewall)
            if held is not None:
                kept.append(held)
            continue
        wanted = desired.desired_prepared_subnet(snapshot, subnet.id, settings, firewall)
        if not isinstance(wanted, Skip):
            kept.append(wanted)
    return kept
