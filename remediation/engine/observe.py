"""Observe: read what one pass needs through the ARM client, into a Snapshot. No azure imports here.

This module owns the ONE read cache of the project: a `_Collector` lives for one observation (one pass,
one thread) and reads each resource at most once; ids are de-duplicated by `ids.id_key`, and a VNet that
a list already returned answers its subnets without a GET. Nothing survives the pass: the verify after an
apply, and the firewall target inside its lease, observe afresh. Looked-up resources that do not exist
(404) are recorded in `Snapshot.absent`; a failed list raises (never "nothing there").

VPN gateways: `virtualNetworkGateways` has only a per-resource-group list in the SDK (no subscription list).
Listing resource groups would need another SDK package and `Microsoft.Resources/subscriptions/resourceGroups/
read`, so instead they are found through the VNets in scope: every VNet with a `GatewaySubnet` names its
resource group (a VNet gateway is deployed in its VNet's resource group), and the GatewaySubnet's
`ipConfigurations` point at gateways in other groups, which are then read with one GET each. Only
`virtualNetworks/read` and `virtualNetworkGateways/read` are needed, both already in REQUIRED_ACTIONS.
That is what a sweep and the firewall target do (they list every VNet anyway). A cluster event reads only
the gateways whose P2S clients reach the cluster's VNets (`read_vpn_gateways_on_path`,
remediation/planning/paths.py `p2s_vnets`): the same discovery, on its own VNets, the firewall's hub VNet
and the VNets it uses with gateway transit, all read by the pass anyway, so its reads do not grow with the
VNets or hubs in scope. Routes are planned from `paths.gateways_reaching` in both, so they agree.

Firewalls: a fleet pass reads every configured firewall and where it sits. A cluster event under FIREWALL_IDS
reads only those its VNets can reach, found through its VNets' peers (`_Collector._read_on_path`,
docs/platform-notes.md 13.3), so its reads do not grow with the hubs configured; when it cannot show which those
are, it reads every one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Protocol

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.errors import TerminalError
from remediation.core.model import (
    ChangeKind,
    ChangeOutcome,
    EndpointList,
    ObservedAppGateway,
    ObservedCluster,
    ObservedFirewall,
    ObservedHubConnection,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    Outcome,
    Snapshot,
)
from remediation.engine import effective_observe, egress_observe
from remediation.planning import paths, shards


class ReadArm(Protocol):
    """The reads observe needs (implemented by remediation.azure.arm.ArmClient): one request each."""

    def get_cluster(self, cluster_id: str) -> ObservedCluster | None: ...
    def list_clusters(self) -> list[ObservedCluster]: ...
    def get_vnet(self, vnet_id: str) -> ObservedVnet | None: ...
    def list_vnets(self) -> list[ObservedVnet]: ...
    def get_route_table(self, route_table_id: str) -> ObservedRouteTable | None: ...
    def list_route_tables(self) -> list[ObservedRouteTable]: ...
    def get_app_gateway(self, app_gateway_id: str) -> ObservedAppGateway | None: ...
    def list_app_gateways(self) -> list[ObservedAppGateway]: ...
    def get_firewall(self, firewall_id: str) -> ObservedFirewall | None: ...
    def get_rule_collection_group(self, policy_id: str, name: str) -> ObservedRuleCollectionGroup | None: ...
    def list_rule_collection_groups(self, policy_id: str) -> list[ObservedRuleCollectionGroup]: ...
    def get_vpn_gateway(self, gateway_id: str) -> ObservedVpnGateway | None: ...
    def list_vpn_gateways_in(self, subscription: str, resource_group: str) -> list[ObservedVpnGateway]: ...
    def list_vpn_gateways_in_scope(self) -> list[ObservedVpnGateway] | None: ...
    def get_outbound_endpoints(self, cluster_id: str) -> EndpointList: ...
    def get_policy_dns_proxy(self, policy_id: str) -> tuple[bool | None, str | None]: ...
    def list_hub_connections(self, hub_id: str) -> list[ObservedHubConnection]: ...
    def list_routing_intent(self, hub_id: str) -> frozenset[str]: ...


class _Collector:
    """Accumulates one Snapshot; every lookup goes through here so nothing is read twice in a pass."""

    def __init__(self, arm: ReadArm, settings: Settings) -> None:
        self.arm = arm
        self.settings = settings
        self.clusters: dict[str, ObservedCluster] = {}
        self.subnets: dict[str, ObservedSubnet] = {}
        self.route_tables: dict[str, ObservedRouteTable] = {}
        self.app_gateways: dict[str, ObservedAppGateway] = {}
        self.vpn_gateways: tuple[ObservedVpnGateway, ...] = ()
        self.firewall: ObservedFirewall | None = None
        self.firewalls: tuple[ObservedFirewall, ...] = ()
        self.rule_collection_group: ObservedRuleCollectionGroup | None = None
        self.rule_collection_shards: tuple[ObservedRuleCollectionGroup, ...] = ()
        self.policy_group_priorities: dict[str, int] = {}
        self.absent: set[str] = set()
        self._vnets: dict[str, ObservedVnet | None] = {}
        self.hub_connections: tuple[ObservedHubConnection, ...] = ()
        self.routing_intents: dict[str, frozenset[str]] = {}
        self._vnet_listing: list[ObservedVnet] | None = None
        self._firewall_reads: dict[str, ObservedFirewall | None] = {}
        self.off_path: frozenset[str] = frozenset()

    def snapshot(self) -> Snapshot:
        return Snapshot(
            clusters=dict(self.clusters), subnets=dict(self.subnets), route_tables=dict(self.route_tables),
            app_gateways=dict(self.app_gateways), vpn_gateways=self.vpn_gateways, firewall=self.firewall,
            firewalls=self.firewalls,
            rule_collection_group=self.rule_collection_group, absent=frozenset(self.absent),
            rule_collection_shards=self.rule_collection_shards,
            policy_group_priorities=dict(self.policy_group_priorities),
            vnets={key: vnet for key, vnet in self._vnets.items() if vnet is not None},
            hub_connections=self.hub_connections, routing_intents=dict(self.routing_intents),
            off_path_firewalls=self.off_path,
        )

    # -------------------------------------------------------------------------------------- lists

    def vnets_in_scope(self) -> list[ObservedVnet]:
        if self._vnet_listing is None:
            self._vnet_listing = self.arm.list_vnets()
            for vnet in self._vnet_listing:
                self._vnets[ids.id_key(vnet.id)] = vnet
        return self._vnet_listing

    def add_subnets_listed(self) -> None:
        for vnet in self.vnets_in_scope():
            for subnet in vnet.subnets:
                self.subnets[ids.id_key(subnet.id)] = subnet

    def add_clusters(self, clusters: Iterable[ObservedCluster]) -> None:
        for cluster in clusters:
            self.clusters[ids.id_key(cluster.id)] = cluster

    def add_route_tables(self, tables: Iterable[ObservedRouteTable]) -> None:
        for table in tables:
            self.route_tables[ids.id_key(table.id)] = table

    def add_app_gateways(self, gateways: Iterable[ObservedAppGateway]) -> None:
        for gateway in gateways:
            self.app_gateways[ids.id_key(gateway.id)] = gateway

    def read_vpn_gateways(self) -> None:
        """Virtual network gateways in scope, found through the VNets in scope (see the module docstring)."""
        groups: dict[str, tuple[str, str]] = {}
        for scope in self.settings.scope:
            if scope.resource_group:
                groups.setdefault(f"{scope.subscription}/{scope.resource_group}".lower(),
                                  (scope.subscription, scope.resource_group))
        referenced: list[str] = []
        for vnet in self.vnets_in_scope():
            _add_gateway_group(groups, vnet)
            referenced.extend(vnet.gateway_ids)
        found: dict[str, ObservedVpnGateway] = {}
        # With Resource Graph inventory one scope-wide list replaces the per-group lists (None on ARM).
        in_scope = self.arm.list_vpn_gateways_in_scope()
        for gateway in in_scope or ():
            found.setdefault(ids.id_key(gateway.id), gateway)
        self._read_gateways(found, groups if in_scope is None else {}, referenced)

    def read_vpn_gateways_on_path(self, vnet_ids: Iterable[str]) -> None:
        """A cluster event's VPN gateways: those of the VNets whose P2S clients may reach `vnet_ids` (read
        already: call after the subnets and the firewall's paths), found as `read_vpn_gateways` finds them in
        a VNet in scope (its resource group's list, then the GatewaySubnet's references). A VNet outside
        REMEDIATION_SCOPE gives only its referenced gateways that are in scope, as a sweep would find them
        through a resource-group scope. Always ARM, never Resource Graph: the routes pruned from this read
        must rest on a fresh one (docs/arm-notes.md 7.2)."""
        wanted = list(vnet_ids)
        on_path = {ids.id_key(v): v for v in wanted}
        # The hub VNet of the firewall the cluster reaches. With FIREWALL_IDS, each configured firewall's VNet
        # that one of these VNets is peered with (the path model picks among them; a hub not peered is no path).
        firewalls = self.firewalls or ((self.firewall,) if self.firewall is not None else ())
        peered = {ids.id_key(p.remote_vnet_id) for v in wanted if (vnet := self.vnet(v)) is not None
                  for p in vnet.peerings if p.remote_vnet_id}
        for firewall in firewalls:
            if firewall.vnet_id and (len(firewalls) == 1 or ids.id_key(firewall.vnet_id) in peered):
                on_path.setdefault(ids.id_key(firewall.vnet_id), firewall.vnet_id)
        for vnet_id in wanted:
            vnet = self.vnet(vnet_id)
            for peering in vnet.peerings if vnet else ():
                # Not a vWAN hub's managed VNet: the customer cannot read it, and a hub's P2S gateway is a
                # p2sVpnGateway, never read (docs/platform-notes.md 13.1, 13.3); a sweep never reads it either.
                if (peering.use_remote_gateways and peering.remote_vnet_id
                        and not paths.is_hub_connection_peering(peering)):
                    on_path.setdefault(ids.id_key(peering.remote_vnet_id), peering.remote_vnet_id)
        groups: dict[str, tuple[str, str]] = {}
        referenced: list[str] = []
        for _, vnet_id in sorted(on_path.items()):
            vnet = self.vnet(vnet_id)
            if vnet is None:
                continue
            if self.settings.in_scope(vnet.id):
                _add_gateway_group(groups, vnet)
                referenced.extend(vnet.gateway_ids)
            else:
                referenced.extend(g for g in vnet.gateway_ids if self.settings.in_scope(g))
        self._read_gateways({}, groups, referenced)

    def _read_gateways(self, found: dict[str, ObservedVpnGateway], groups: dict[str, tuple[str, str]],
                       referenced: Iterable[str]) -> None:
        """The gateways in scope of each resource group's list, then each referenced gateway not listed
        (one GET; a 404 is simply not there)."""
        for sub, rg in groups.values():
            for gateway in self.arm.list_vpn_gateways_in(sub, rg):
                if self.settings.in_scope(gateway.id):
                    found.setdefault(ids.id_key(gateway.id), gateway)
        for gateway_id in referenced:
            if ids.id_key(gateway_id) in found:
                continue
            referenced_gateway = self.arm.get_vpn_gateway(gateway_id)
            if referenced_gateway is not None:
                found[ids.id_key(referenced_gateway.id)] = referenced_gateway
        self.vpn_gateways = tuple(found.values())

    # -------------------------------------------------------------------------------------- lookups

    def subnets_by_id(self, subnet_ids: Iterable[str]) -> None:
        """Each subnet through ONE read of its VNet (which also gives all sibling subnets and the region)."""
        for subnet_id in subnet_ids:
            key = ids.id_key(subnet_id)
            if key in self.subnets or key in self.absent:
                continue
            try:
                vnet_id = str(ids.parse_typed(subnet_id, ids.SUBNET).parent)
            except ValueError:
                self.absent.add(key)
                continue
            vnet_key = ids.id_key(vnet_id)
            if vnet_key not in self._vnets:
                self._vnets[vnet_key] = self.arm.get_vnet(vnet_id)
            vnet = self._vnets[vnet_key]
            if vnet is None:
                self.absent.add(vnet_key)
            found = next((s for s in vnet.subnets if ids.id_key(s.id) == key), None) if vnet else None
            if found is None:
                self.absent.add(key)
            else:
                self.subnets[key] = found

    def route_tables_of(self, subnet_ids: Iterable[str]) -> None:
        for subnet_id in subnet_ids:
            subnet = self.subnets.get(ids.id_key(subnet_id))
            if subnet is not None and subnet.route_table_id:
                self.route_table(subnet.route_table_id)

    def route_table(self, route_table_id: str) -> None:
        key = ids.id_key(route_table_id)
        if key in self.route_tables or key in self.absent:
            return
        table = self.arm.get_route_table(route_table_id)
        if table is None:
            self.absent.add(key)
        else:
            self.route_tables[key] = table

    def app_gateway(self, app_gateway_id: str) -> ObservedAppGateway | None:
        key = ids.id_key(app_gateway_id)
        if key in self.app_gateways or key in self.absent:
            return self.app_gateways.get(key)
        gateway = self.arm.get_app_gateway(app_gateway_id)
        if gateway is None:
            self.absent.add(key)
        else:
            self.app_gateways[key] = gateway
        return gateway

    def read_firewall(self, *, with_group: bool, with_paths: bool = True, on_path_only: bool = False) -> None:
        """Every configured firewall (FIREWALL_IDS: the path model chooses among them, and a VNet that reaches
        two is ambiguous) with where it sits; the owned groups of the pass's firewall (settings.firewall_id).
        `on_path_only` (a cluster event under FIREWALL_IDS): only the firewalls the pass's VNets can reach, when
        `_read_on_path` can show which those are, else every one as above."""
        settings = self.settings
        if not (on_path_only and with_paths and settings.several_firewalls and self._read_on_path()):
            self.off_path = frozenset()
            found: list[ObservedFirewall] = []
            for firewall_id in settings.firewalls:
                firewall = self._get_firewall(firewall_id)
                if firewall is not None:
                    found.append(firewall)
                    if with_paths:
                        self.read_paths_of(firewall)
            self.firewalls = tuple(found)
        if with_group and self.firewall is not None and self.firewall.policy_id:
            self.read_owned_groups(self.firewall.policy_id)

    def _get_firewall(self, firewall_id: str) -> ObservedFirewall | None:
        """One GET per configured firewall and pass (a 404 is recorded in `absent`); the pass's firewall is kept."""
        key = ids.id_key(firewall_id)
        if key not in self._firewall_reads:
            self._firewall_reads[key] = self.arm.get_firewall(firewall_id)
        firewall = self._firewall_reads[key]
        if ids.same_id(firewall_id, self.settings.firewall_id):
            self.firewall = firewall
        if firewall is None:
            self.absent.add(key)
        return firewall

    def _read_on_path(self) -> bool:
        """A cluster event's firewalls under FIREWALL_IDS, read flat in the number of hubs
        (docs/platform-notes.md 13.3): the VNets the pass's VNets peer with (one GET each, at most one per
        configured firewall), and only the configured firewalls their AzureFirewallSubnet back-references name
        (one GET each, checked against where the firewall says it sits). Every other configured firewall sits
        in no VNet of the pass or its peers and, with no peering left unexplained (a Virtual WAN hub connection
        shows on the spoke as a peering to a hub VNet that cannot be read), in no virtual hub a VNet of the
        pass connects to: none of its VNets can reach it, so it is not read (`Snapshot.off_path_firewalls`).

        False when that cannot be shown; the caller then reads every configured firewall, as a sweep does:
        too many peers, a peer that cannot be read (404 or 403: a vWAN hub's, or foreign), an AzureFirewallSubnet
        whose firewall is not named, a named firewall that is gone or sits elsewhere, a SPOKE_PREFIXES entry
        held by a spoke of a hub read (`paths.hub_spoke_prefixes` then needs every hub), or a default route to
        an appliance that is none of the firewalls read (egress.egress_path weighs every configured firewall)."""
        settings = self.settings
        peers: dict[str, str] = {}
        for vnet in [v for v in self._vnets.values() if v is not None]:
            for peering in vnet.peerings:
                if peering.remote_vnet_id and paths.is_hub_connection_peering(peering):
                    return False  # a vWAN hub connection: its hub's firewall may be configured (no GET of HV_)
                if peering.remote_vnet_id:
                    peers.setdefault(ids.id_key(peering.remote_vnet_id), peering.remote_vnet_id)
        unread = [vnet_id for key, vnet_id in sorted(peers.items()) if key not in self._vnets]
        if len(unread) > len(settings.firewalls):
            return False
        if any(self._readable_vnet(v) is None for v in unread) or any(self._vnets.get(k) is None for k in peers):
            return False
        located: dict[str, str] = {}
        for vnet in [v for v in self._vnets.values() if v is not None]:
            if vnet.has_firewall_subnet and not vnet.firewall_ids:
                return False
            located.update({ids.id_key(f): vnet.id for f in vnet.firewall_ids})
        found: list[ObservedFirewall] = []
        for firewall_id in settings.firewalls:
            where = located.get(ids.id_key(firewall_id))
            if where is None:
                continue
            firewall = self._get_firewall(firewall_id)
            if firewall is None or not firewall.vnet_id or not ids.same_id(firewall.vnet_id, where):
                return False
            found.append(firewall)
        self.firewalls = tuple(found)
        self.off_path = frozenset(ids.id_key(f) for f in settings.firewalls if ids.id_key(f) not in located)
        ips = {f.private_ip for f in found if f.private_ip}
        held = paths.spoke_prefixes_held(self.snapshot(), settings)
        return not (held or _default_route_elsewhere(self.route_tables, ips))

    def _readable_vnet(self, vnet_id: str) -> ObservedVnet | None:
        """A peer VNet, or None when it is not there (404) or this identity may not read it (403: a Virtual WAN
        hub's managed VNet lives in a subscription of Microsoft's); any other failure raises, as every read."""
        try:
            return self.vnet(vnet_id)
        except TerminalError as exc:
            if exc.status == 403:
                return None
            raise

    def read_paths_of(self, firewall: ObservedFirewall) -> None:
        """What the path model (remediation/planning/paths.py) needs about where the firewall sits: its hub
        VNet with the hub's side of every peering (already listed when in scope, else one GET), or the VNet
        connections of its virtual hub (one list). Flat in the number of spokes: peerings come inside the
        VNet bodies the pass reads anyway."""
        if firewall.hub_id and firewall.sku_name.lower() == "azfw_hub":
            self.hub_connections = (*self.hub_connections, *self.arm.list_hub_connections(firewall.hub_id))
            self.routing_intents[ids.id_key(firewall.hub_id)] = self.arm.list_routing_intent(firewall.hub_id)
        elif firewall.vnet_id:
            self.vnet(firewall.vnet_id)

    def vnet(self, vnet_id: str) -> ObservedVnet | None:
        """A VNet from this pass's reads, else one GET (a 404 is recorded in `absent`)."""
        key = ids.id_key(vnet_id)
        if key not in self._vnets:
            self._vnets[key] = self.arm.get_vnet(vnet_id)
            if self._vnets[key] is None:
                self.absent.add(key)
        return self._vnets[key]

    def read_owned_groups(self, policy_id: str) -> None:
        """One list of the policy's groups (one request per page) finds the owned group, every owned shard
        `<group>-k` (remediation/planning/shards.py) and the priorities foreign groups use, where GETs of `<group>-2`,
        `-3`... until a 404 would cost a request per shard and miss the priorities. A failed list raises:
        nothing is planned on a partial picture of the policy."""
        base = self.settings.rule_collection_group
        groups = self.arm.list_rule_collection_groups(policy_id)
        self.policy_group_priorities = {g.name.lower(): g.priority for g in groups}
        self.rule_collection_group, self.rule_collection_shards = _owned_of(base, groups)
        rcg_key = ids.id_key(f"{policy_id}/ruleCollectionGroups/{base}")
        if self.rule_collection_group is None:
            self.absent.add(rcg_key)
        else:
            self.absent.discard(rcg_key)


def _default_route_elsewhere(tables: dict[str, ObservedRouteTable], ips: set[str]) -> bool:
    """A 0.0.0.0/0 route to a virtual appliance whose address is none of `ips`: it may be an unread configured
    firewall's (egress.egress_path counts any configured firewall's address)."""
    return any(r.address_prefix.strip() == "0.0.0.0/0" and r.next_hop_type.lower() == "virtualappliance"
               and (r.next_hop_ip_address or "").strip() not in ips
               for table in tables.values() for r in table.routes)


def _add_gateway_group(groups: dict[str, tuple[str, str]], vnet: ObservedVnet) -> None:
    """A VNet with a GatewaySubnet names the resource group its VNet gateway is deployed in."""
    if vnet.has_gateway_subnet:
        rid = ids.parse_resource_id(vnet.id)
        if rid.resource_group is not None:
            groups.setdefault(f"{rid.subscription}/{rid.resource_group}".lower(),
                              (rid.subscription, rid.resource_group))


def _owned_of(base: str, groups: Iterable[ObservedRuleCollectionGroup]
              ) -> tuple[ObservedRuleCollectionGroup | None, tuple[ObservedRuleCollectionGroup, ...]]:
    """The owned group `<base>` and its shards `<base>-k` in shard order (remediation/planning/shards.py)."""
    indexed = sorted(((i, g) for g in groups if (i := shards.shard_index(base, g.name)) is not None),
                     key=lambda pair: pair[0])
    return next((g for i, g in indexed if i == 1), None), tuple(g for i, g in indexed if i > 1)


def _complete_tables(c: _Collector, own_subnet_ids: Iterable[str]) -> None:
    """A route table's routes land on every subnet that uses it, so the route safety rules
    (remediation.planning.guards) need all of those subnets: read the other subnets of the observed tables (from a
    VNet already read, else one GET per other VNet) and, only when there are any, the App Gateways in scope
    (a v2 gateway's subnet must never get 0.0.0.0/0). A subnet that stays unknown makes the plan refuse
    the table."""
    own = {ids.id_key(s) for s in own_subnet_ids}
    others = [s for t in c.route_tables.values() for s in t.subnet_ids if ids.id_key(s) not in own]
    if not others:
        return
    c.subnets_by_id(others)
    for gateway in c.arm.list_app_gateways():
        c.app_gateways.setdefault(ids.id_key(gateway.id), gateway)


def _cluster_subnets(cluster: ObservedCluster) -> list[str]:
    return [*cluster.node_subnet_ids, *cluster.pod_subnet_ids]


def observe_cluster(arm: ReadArm, cluster_id: str, settings: Settings) -> Snapshot:
    """A cluster target: the cluster, its node/pod subnets (one GET per VNet), their route tables, its
    ingress gateway with that gateway's subnet and route table, the firewall and the VPN gateways whose P2S
    clients reach the cluster's node VNets (`read_vpn_gateways_on_path`).
    Not the rule collection group: the firewall target owns it."""
    c = _Collector(arm, settings)
    cluster = arm.get_cluster(cluster_id)
    if cluster is None:
        c.absent.add(ids.id_key(cluster_id))
        return c.snapshot()
    c.add_clusters([cluster])
    subnet_ids = _cluster_subnets(cluster)
    app_gateway = c.app_gateway(cluster.ingress_gateway_id) if cluster.ingress_gateway_id else None
    if app_gateway is not None and app_gateway.subnet_id:
        subnet_ids.append(app_gateway.subnet_id)
    c.subnets_by_id(subnet_ids)
    c.route_tables_of(subnet_ids)
    _complete_tables(c, subnet_ids)
    c.read_firewall(with_group=False, on_path_only=True)
    # After the firewall's paths: its hub VNet is read by then (the usual home of the P2S gateway).
    c.read_vpn_gateways_on_path(v for s in cluster.node_subnet_ids if (v := paths.vnet_of_subnet(s)) is not None)
    return c.snapshot()


def observe_firewall(arm: ReadArm, settings: Settings) -> Snapshot:
    """A firewall target: the firewall, the owned rule collection group, and every cluster, subnet, App
    Gateway and VPN gateway in scope, all from list calls, so the reads do not grow with the cluster count.
    Resources that clusters reference outside the scope are read one by one."""
    return _with_egress(_observe_firewall(_Collector(arm, settings)))


def _observe_firewall(c: _Collector, *, with_group: bool = True) -> _Collector:
    # The VNet listing before the firewall: a hub VNet in scope is then found in it, where reading the firewall
    # first spent a GET on the hub VNet that the listing replaced anyway (two per converging sweep, issue 26).
    c.add_subnets_listed()
    c.read_firewall(with_group=with_group)
    c.add_clusters(c.arm.list_clusters())
    c.add_app_gateways(c.arm.list_app_gateways())
    c.read_vpn_gateways()
    referenced: list[str] = []
    for cluster in c.clusters.values():
        referenced.extend(_cluster_subnets(cluster))
        if cluster.ingress_gateway_id:
            app_gateway = c.app_gateway(cluster.ingress_gateway_id)
            if app_gateway is not None and app_gateway.subnet_id:
                referenced.append(app_gateway.subnet_id)
    for app_gateway in c.app_gateways.values():
        if app_gateway.subnet_id:
            referenced.append(app_gateway.subnet_id)
    c.subnets_by_id(referenced)
    return c


def observe_fleet(arm: ReadArm, settings: Settings, *, with_rules: bool = False) -> Snapshot:
    """A sweep: every cluster, subnet, App Gateway and VPN gateway in scope, the firewall, and every route
    table in scope (one list per scope). The routing of a sweep needs neither the owned group nor what the
    egress profiles read (they are the firewall target's); `with_rules` adds both, for a view of routes and
    rules together (`status`)."""
    c = _observe_firewall(_Collector(arm, settings), with_group=with_rules)
    c.add_route_tables(arm.list_route_tables())
    # Tables in another scope that subnets in scope point at.
    c.route_tables_of(list(c.subnets))
    return _with_egress(c) if with_rules else c.snapshot()


def _with_egress(c: _Collector) -> Snapshot:
    """What the egress profiles need on top (remediation/engine/egress_observe.py): node subnet tables not yet read,
    and with EGRESS_PROFILE=aks-endpoints the clusters' endpoint lists and the policy's DNS proxy setting."""
    return effective_observe.observe_effective(c.arm, egress_observe.observe_egress(c.arm, c.snapshot(), c.settings),
                                               c.settings)


def observe_subnet(arm: ReadArm, subnet_id: str, settings: Settings) -> Snapshot:
    """Prepare-subnet: the subnet (through its VNet), its route table, the firewall, the VPN gateways and the
    App Gateways in scope (a v2 gateway's subnet must never get 0.0.0.0/0 to an appliance:
    remediation.planning.guards)."""
    c = _Collector(arm, settings)
    c.read_vpn_gateways()
    c.add_app_gateways(arm.list_app_gateways())
    c.subnets_by_id([subnet_id])
    c.route_tables_of([subnet_id])
    _complete_tables(c, [subnet_id])
    c.read_firewall(with_group=False)
    return c.snapshot()


def with_cluster_list(arm: ReadArm, snapshot: Snapshot) -> Snapshot:
    """A snapshot plus every cluster in scope (one list per scope): `prepare-subnet` refuses a subnet a
    cluster of another outbound type, or a kubenet cluster, uses (remediation/planning/prepare.py)."""
    clusters = dict(snapshot.clusters)
    for cluster in arm.list_clusters():
        clusters.setdefault(ids.id_key(cluster.id), cluster)
    return dataclasses.replace(snapshot, clusters=clusters)


def with_owned_rules(arm: ReadArm, snapshot: Snapshot, settings: Settings) -> Snapshot:
    """A routing pass's snapshot plus what the owned firewall rules are computed from and compared with:
    the owned groups (policy-based firewall: one list of the policy's groups; a classic firewall's rules
    came with the firewall read) and the egress inputs (remediation/engine/egress_observe.py; the route tables they
    need are usually read already). Used to decide whether the firewall follow-up must run
    (remediation/planning/firewall_check.py)."""
    firewall = snapshot.firewall
    if firewall is not None and firewall.policy_id:
        snapshot = _groups_read_again(arm, snapshot, settings, firewall.policy_id)
    return egress_observe.observe_egress(arm, snapshot, settings)


def as_seen_by(arm: ReadArm, snapshot: Snapshot, firewall: ObservedFirewall, settings: Settings) -> Snapshot:
    """One fleet read as another configured firewall's pass sees it (FIREWALL_IDS): that firewall and its own
    owned groups (one list of its policy's groups), nothing of the fleet read again. `settings` are the
    settings for that firewall (`Settings.for_firewall`)."""
    bare = dataclasses.replace(snapshot, firewall=firewall, rule_collection_group=None,
                               rule_collection_shards=(), policy_group_priorities={})
    return with_owned_rules(arm, bare, settings)


def observe_owned_rules_again(arm: ReadArm, snapshot: Snapshot, settings: Settings) -> Snapshot:
    """The verify after a firewall write: where the rules live, read again. A policy-based firewall's rules
    are in the owned groups, which are all that is read (the firewall itself is not written by a group
    PUT); a classic firewall's rules are the firewall."""
    firewall = snapshot.firewall
    if firewall is None or firewall.policy_id is None:
        c = _Collector(arm, settings)
        c.read_firewall(with_group=True, with_paths=False)  # the rules' verify: paths were read already
        return dataclasses.replace(snapshot, firewall=c.firewall, firewalls=c.firewalls,
                                   absent=frozenset({*snapshot.absent, *c.absent}))
    return _groups_read_again(arm, snapshot, settings, firewall.policy_id)


def groups_as_written(snapshot: Snapshot, outcomes: Sequence[ChangeOutcome],
                      settings: Settings) -> Snapshot | None:
    """The verify of group writes without a GET: the owned groups of the read made inside the firewall
    lease, each written one as ARM answered its PUT (`ChangeOutcome.answer`, whose operation ended
    Succeeded) and each deleted one gone. The lease keeps every other writer of this app out meanwhile.

    None when that is not the whole picture: a classic firewall (its rules are the firewall), a group write
    with no answer, or one that did not succeed. Then the groups are read again
    (`observe_owned_rules_again`)."""
    firewall = snapshot.firewall
    if firewall is None or firewall.policy_id is None:
        return None
    groups = {ids.id_key(g.id): g for g in snapshot.owned_groups}
    priorities = dict(snapshot.policy_group_priorities)
    absent = set(snapshot.absent)
    for outcome in outcomes:
        if outcome.change.kind is not ChangeKind.RULE_COLLECTION_GROUP or outcome.outcome is Outcome.UNCHANGED:
            continue
        key = ids.id_key(outcome.change.address)
        name = ids.parse_resource_id(outcome.change.address).name.lower()
        if outcome.outcome is Outcome.DELETED:
            groups.pop(key, None)
            priorities.pop(name, None)
            absent.add(key)
        elif outcome.outcome is Outcome.FAILED or outcome.answer is None:
            return None
        else:
            groups[key] = outcome.answer
            priorities[name] = outcome.answer.priority
            absent.discard(key)
    owned, owned_shards = _owned_of(settings.rule_collection_group, groups.values())
    return dataclasses.replace(snapshot, rule_collection_group=owned, rule_collection_shards=owned_shards,
                               policy_group_priorities=priorities, absent=frozenset(absent))


def _groups_read_again(arm: ReadArm, snapshot: Snapshot, settings: Settings, policy_id: str) -> Snapshot:
    c = _Collector(arm, settings)
    c.absent.update(snapshot.absent)
    c.read_owned_groups(policy_id)
    return dataclasses.replace(snapshot, rule_collection_group=c.rule_collection_group,
                               rule_collection_shards=c.rule_collection_shards,
                               policy_group_priorities=dict(c.policy_group_priorities), absent=frozenset(c.absent))


def with_route_tables_of(arm: ReadArm, snapshot: Snapshot, subnet_ids: Iterable[str], settings: Settings) -> Snapshot:
    """`snapshot` plus the route tables of these subnets it lacks (a moved firewall's check, reconciler
    `_with_routing_behind`): nothing read when it holds them all, else the scope's one listing (plus a GET for a
    table outside the scope)."""
    wanted = {ids.id_key(s.route_table_id): s.route_table_id for i in subnet_ids
              if (s := snapshot.subnets.get(ids.id_key(i))) is not None and s.route_table_id
              and ids.id_key(s.route_table_id) not in snapshot.route_tables}
    if not wanted:
        return snapshot
    c = _Collector(arm, settings)
    c.route_tables = dict(snapshot.route_tables)
    c.absent = set(snapshot.absent)
    c.add_route_tables(arm.list_route_tables())
    for table_id in wanted.values():
        c.route_table(table_id)
    return dataclasses.replace(snapshot, route_tables=c.route_tables, absent=frozenset(c.absent))


def network_resource_exists(arm: ReadArm, resource_id: str) -> bool:
    """Whether a VNet, subnet, route table or route named by a caller exists (one GET: the resource, or
    the VNet / route table it lives in)."""
    rid = ids.parse_resource_id(resource_id)
    if rid.is_type(ids.VNET):
        return arm.get_vnet(str(rid)) is not None
    if rid.is_type(ids.SUBNET):
        vnet = arm.get_vnet(str(rid.parent))
        return vnet is not None and any(ids.same_id(s.id, str(rid)) for s in vnet.subnets)
    if rid.is_type(ids.ROUTE_TABLE):
        return arm.get_route_table(str(rid)) is not None
    if rid.is_type(ids.ROUTE):
        table = arm.get_route_table(str(rid.parent))
        return table is not None and any(r.name.lower() == rid.name.lower() for r in table.routes)
    return False
