"""ArmClient: the one thin, typed ARM client. Every SDK call of the project is made here, except the Resource
Graph queries that its list methods delegate to with INVENTORY=resource-graph (azure/resource_graph.py).

Each method is one logical ARM request (a GET, one list with all its pages, or one write with its LRO) and
returns the project's models, never SDK models. The client keeps NO read cache: observation owns the one
cache of a pass (remediation/engine/observe.py), so nothing read here can be served stale to another thread or a
later pass. Reads return None on 404 of a resource; a failed or 404 *list* raises (invariant 1 in
docs/architecture.md: a failed list is never "nothing there"). Every other failure is raised as
TransientError / TerminalError (remediation.azure.errors).

Writes that replace a whole resource go through `conditional_put` (If-Match, re-read on 412). Locks are not
taken here: apply and the reconciler hold the process's one lock provider.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.mgmt.network import models as net

from remediation.azure import convert, egress_reads
from remediation.azure.clients import CallCounter, ClientFactory, shared_credential
from remediation.azure.conditional import conditional_put
from remediation.azure.egress_reads import APPLICATION_PREFIX
from remediation.azure.errors import (
    AssociationChangedError,
    StalePlanError,
    TableNotRemovableError,
    classify,
    is_not_found,
)
from remediation.azure.inflight import Slot, Tracker
from remediation.azure.polling import Handoff, LroKind, TerminalStatusPolling
from remediation.azure.resource_graph import IncompleteListError, ResourceGraphInventory
from remediation.core import arm_shapes, ids
from remediation.core.config import Settings
from remediation.core.deadline import Deadline
from remediation.core.errors import ArmError, TransientError
from remediation.core.model import (
    ArmCalls,
    EndpointList,
    ObservedAppGateway,
    ObservedCluster,
    ObservedEffectiveRoute,
    ObservedFirewall,
    ObservedHubConnection,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    PublicFrontend,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    SubnetAssociationPayload,
)
from remediation.planning.desired import canonical_prefix

log = logging.getLogger(__name__)

T = TypeVar("T")

# Subnet fields ARM maintains itself: a difference there after our PUT says nothing about other writers.
_VOLATILE_SUBNET_FIELDS = frozenset({"provisioningState", "routeTable", "etag", "resourceGuid",
                                     "ipConfigurations", "ipConfigurationProfiles", "purpose"})


__all__ = ["ArmClient", "IncompleteListError"]

NIC = "Microsoft.Network/networkInterfaces"


# The SDK operation groups of the Microsoft.Network types `export` reads (`list(rg)`, `list_all()`, `get(rg, name)`).
_RAW_NETWORK_OPERATIONS = {
    ids.VNET: "virtual_networks", ids.ROUTE_TABLE: "route_tables", ids.APP_GATEWAY: "application_gateways",
    ids.FIREWALL: "azure_firewalls", ids.FIREWALL_POLICY: "firewall_policies",
}
# Read by reference only (export): no subscription-wide list in ARM (VPN gateways), or reached through a firewall.
_RAW_GET_ONLY = {ids.VPN_GATEWAY: "virtual_network_gateways", ids.VIRTUAL_HUB: "virtual_hubs",
                 ids.VIRTUAL_WAN: "virtual_wans"}
# A virtual hub's child lists that export reads (the hub's VNet connections and its routing intent).
_RAW_HUB_CHILDREN = {"hubVirtualNetworkConnections": "hub_virtual_network_connections",
                     "routingIntent": "routing_intent"}


def _body(model: Any) -> dict[str, Any]:
    """The REST JSON of an SDK model (TypeSpec models are MutableMappings over it)."""
    as_dict = getattr(model, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(model)


def _rg_name(resource_id: str, resource_type: str) -> tuple[ids.ResourceId, str, str]:
    rid = ids.parse_typed(resource_id, resource_type)
    if rid.resource_group is None:
        raise ids.InvalidResourceIdError(f"{resource_id} has no resource group")
    return rid, rid.resource_group, rid.names[0]


def _scope_path(sub: str, rg: str | None) -> str:
    return f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")


class ArmClient:
    def __init__(self, settings: Settings, credential: TokenCredential | None = None, *,
                 clients: ClientFactory | None = None) -> None:
        self._settings = settings
        self._counter = CallCounter()
        self._clients = clients or ClientFactory(settings, self._counter, credential)
        # INVENTORY=resource-graph: the fleet's lists come from Resource Graph (built on first list).
        self._credential = credential
        self._inventory: ResourceGraphInventory | None = None
        self._inventory_lock = threading.Lock()
        self._arm_lists_only = False  # a view made by with_arm_lists()
        # The operations of this client's writes, followed without a thread each (its threads start with the
        # first operation); shared with the views of `with_arm_lists`, closed with the client.
        self._tracker = Tracker(limit=settings.operations_in_flight, pollers=settings.write_lanes,
                                box=self._clients.deadline_box)

    # ----------------------------------------------------------------------------------------- plumbing

    @property
    def arm_calls(self) -> ArmCalls:
        return self._counter.snapshot()

    def bind_deadline(self, deadline: Deadline) -> None:
        """Bound every SDK-side wait (Retry-After, LRO polls) by the reconcile's deadline."""
        self._clients.deadline_box.deadline = deadline

    def close(self) -> None:
        self._tracker.close()
        if self._inventory is not None:
            self._inventory.close()
        self._clients.close()

    @property
    def lists_from_resource_graph(self) -> bool:
        return self._settings.uses_resource_graph and not self._arm_lists_only

    def with_arm_lists(self) -> ArmClient:
        """This client (its connections, counters and deadline), listing through ARM instead of Resource
        Graph: a delete must never rest on an index that may lag (docs/arm-notes.md section 7.2)."""
        view = copy.copy(self)
        view._arm_lists_only = True
        return view

    def _graph(self) -> ResourceGraphInventory | None:
        """The Resource Graph inventory when the settings choose it (docs/arm-notes.md section 7), else None."""
        if not self.lists_from_resource_graph:
            return None
        with self._inventory_lock:
            if self._inventory is None:
                self._inventory = ResourceGraphInventory(
                    self._settings, self._credential or shared_credential(), self._counter,
                    self._clients.deadline_box, self._scopes())
            return self._inventory

    def _graph_list(self, arm_type: str, what: str, parse: Callable[[dict[str, Any]], T]) -> list[T] | None:
        graph = self._graph()
        return None if graph is None else [parse(row) for row in graph.list_type(arm_type, what)]

    def _get(self, resource_id: str, operation: str, fn: Callable[[], Any],
             parse: Callable[[dict[str, Any]], T]) -> T | None:
        try:
            model = fn()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, target=resource_id, operation=operation) from exc
        return parse(_body(model))

    def _scopes(self) -> list[tuple[str, str | None]]:
        """(subscription, resource group or None) for each scope entry, without duplicates."""
        seen: dict[str, tuple[str, str | None]] = {}
        for scope in self._settings.scope:
            seen.setdefault(scope.key, (scope.subscription, scope.resource_group))
        # A subscription scope covers any resource-group scope of the same subscription.
        subs = {sub.lower() for sub, rg in seen.values() if rg is None}
        return [(sub, rg) for sub, rg in seen.values() if rg is None or sub.lower() not in subs]

    def _list(self, scope: str, operation: str, fn: Callable[[], Iterable[Any]]) -> list[dict[str, Any]]:
        """Every page of one list, or an error: a 404 (SubscriptionNotFound, ResourceGroupNotFound) or a
        failed page means the run does not know what is there, so nothing may be pruned on it."""
        try:
            return [_body(m) for m in fn()]
        except Exception as exc:
            error = classify(exc, target=scope, operation=operation)
            if is_not_found(exc):
                raise IncompleteListError(
                    f"{error.arm_code}: {operation} in {scope}: the scope was not found; nothing is planned "
                    "or deleted on an incomplete picture (check REMEDIATION_SCOPE)",
                    arm_code=error.arm_code, status=404, target=scope) from exc
            raise error from exc

    def _in_scopes(self, what: str, list_rg: Callable[[str, str], Iterable[Any]],
                   list_sub: Callable[[str], Iterable[Any]],
                   parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """One list per scope entry (per resource group, or the subscription-wide list), parsed, in scope,
        de-duplicated by id: the one copy of the scope/list branching."""
        result: dict[str, T] = {}
        for sub, rg in self._scopes():
            fn = partial(list_rg, sub, rg) if rg else partial(list_sub, sub)
            for body in self._list(_scope_path(sub, rg), f"list {what}", fn):
                rid = str(body["id"])
                if self._settings.in_scope(rid):
                    result.setdefault(ids.id_key(rid), parse(body))
        return list(result.values())

    def _network_type_in_scopes(self, what: str, operations: Callable[[Any], Any],
                                parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """A top-level Microsoft.Network type: `list(rg)` per resource group, `list_all()` per subscription."""
        return self._in_scopes(what, lambda sub, rg: operations(self._clients.network(sub)).list(rg),
                               lambda sub: operations(self._clients.network(sub)).list_all(), parse)

    def _write(self, target: str, operation: str, fn: Callable[[], T]) -> T:
        """A request of a write that is not itself followed (the read before a PUT)."""
        try:
            return fn()
        except ArmError:
            raise
        except Exception as exc:
            raise classify(exc, target=target, operation=operation) from exc

    @property
    def operations(self) -> Tracker:
        """What follows this client's operations (remediation/azure/inflight.py); its `peak` is the most in
        flight at once so far."""
        return self._tracker

    def _begin(self, target: str, operation: str, kind: LroKind, lro_path: str,
               begin: Callable[[Handoff], Any], *, finish: Callable[[Any], T], slot: Slot | None = None) -> Future[T]:
        """Send one write's request (`begin(polling)`, an SDK `begin_*` call) in this thread and return the future
        of its operation's end: `finish` of the operation's resource, or the classified error. A slot of the
        operations in flight is taken first (waiting while all are taken), unless the caller took `slot`
        before its read; while the operation runs, GETs of `lro_path` are its polling, not reads
        (clients.CallCounter)."""
        if slot is None:
            with self.operations.slot() as own:
                return self._begin(target, operation, kind, lro_path, begin, finish=finish, slot=own)
        self._counter.lro_started(lro_path)
        try:
            poller = begin(Handoff(self._clients.polling(kind)))
            polling: TerminalStatusPolling = poller.result()
        except BaseException as exc:
            self._counter.lro_ended(lro_path)
            if isinstance(exc, Exception) and not isinstance(exc, ArmError):
                raise classify(exc, target=target, operation=operation) from exc
            raise
        slot.taken = True
        return self.operations.follow(polling, finish=finish,
                                      fail=lambda exc: classify(exc, target=target, operation=operation),
                                      ended=partial(self._counter.lro_ended, lro_path))

    # ----------------------------------------------------------------------------------------- reads

    def get_cluster(self, cluster_id: str) -> ObservedCluster | None:
        rid, rg, name = _rg_name(cluster_id, ids.CLUSTER)
        aks = self._clients.aks(rid.subscription)
        return self._get(cluster_id, "get cluster", lambda: aks.managed_clusters.get(rg, name),
                         convert.cluster_from_arm)

    def list_clusters(self) -> list[ObservedCluster]:
        listed = self._graph_list(ids.CLUSTER, "clusters", convert.cluster_from_arm)
        if listed is not None:
            return listed
        return self._in_scopes("clusters",
                               lambda sub, rg: self._clients.aks(sub).managed_clusters.list_by_resource_group(rg),
                               lambda sub: self._clients.aks(sub).managed_clusters.list(),
                               convert.cluster_from_arm)

    def get_vnet(self, vnet_id: str) -> ObservedVnet | None:
        """A VNet with all its subnets from ONE GET (which also gives the region); None on 404."""
        rid, rg, name = _rg_name(vnet_id, ids.VNET)
        client = self._clients.network(rid.subscription)
        return self._get(vnet_id, "get virtual network", lambda: client.virtual_networks.get(rg, name),
                         convert.vnet_from_arm)

    def list_vnets(self) -> list[ObservedVnet]:
        listed = self._graph_list(ids.VNET, "virtual networks", convert.vnet_from_arm)
        if listed is not None:
            return listed
        return self._network_type_in_scopes("virtual networks", lambda c: c.virtual_networks,
                                            convert.vnet_from_arm)

    def get_subnet(self, subnet_id: str) -> ObservedSubnet | None:
        vnet = self.get_vnet(str(ids.parse_typed(subnet_id, ids.SUBNET).parent))
        key = ids.id_key(subnet_id)
        return next((s for s in vnet.subnets if ids.id_key(s.id) == key), None) if vnet else None

    def list_subnets(self) -> list[ObservedSubnet]:
        return [s for vnet in self.list_vnets() for s in vnet.subnets]

    def get_route_table(self, route_table_id: str) -> ObservedRouteTable | None:
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        return self._get(route_table_id, "get route table", lambda: client.route_tables.get(rg, name),
                         convert.route_table_from_arm)

    def list_route_tables(self) -> list[ObservedRouteTable]:
        listed = self._graph_list(ids.ROUTE_TABLE, "route tables", convert.route_table_from_arm)
        if listed is not None:
            return listed
        return self._network_type_in_scopes("route tables", lambda c: c.route_tables,
                                            convert.route_table_from_arm)

    def get_app_gateway(self, app_gateway_id: str) -> ObservedAppGateway | None:
        rid, rg, name = _rg_name(app_gateway_id, ids.APP_GATEWAY)
        client = self._clients.network(rid.subscription)
        return self._get(app_gateway_id, "get application gateway",
                         lambda: client.application_gateways.get(rg, name), convert.app_gateway_from_arm)

    def list_app_gateways(self) -> list[ObservedAppGateway]:
        listed = self._graph_list(ids.APP_GATEWAY, "application gateways", convert.app_gateway_from_arm)
        if listed is not None:
            return listed
        return self._network_type_in_scopes("application gateways", lambda c: c.application_gateways,
                                            convert.app_gateway_from_arm)

    def get_firewall(self, firewall_id: str) -> ObservedFirewall | None:
        rid, rg, name = _rg_name(firewall_id, ids.FIREWALL)
        client = self._clients.network(rid.subscription)
        return self._get(firewall_id, "get firewall", lambda: client.azure_firewalls.get(rg, name),
                         convert.firewall_from_arm)

    def get_rule_collection_group(self, policy_id: str, name: str) -> ObservedRuleCollectionGroup | None:
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))
        return self._get(rcg_id, "get rule collection group",
                         lambda: client.firewall_policy_rule_collection_groups.get(rg, policy, name),
                         convert.rule_collection_group_from_arm)

    def list_rule_collection_groups(self, policy_id: str) -> list[ObservedRuleCollectionGroup]:
        """Every group of the policy (owned, shards and foreign), every page."""
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        bodies = self._list(policy_id, "list rule collection groups",
                            partial(client.firewall_policy_rule_collection_groups.list, rg, policy))
        return [convert.rule_collection_group_from_arm(b) for b in bodies]

    def list_hub_connections(self, hub_id: str) -> list[ObservedHubConnection]:
        """Every VNet connection of one Virtual WAN hub (`virtualHubs/{hub}/hubVirtualNetworkConnections`),
        every page: one list per configured AZFW_Hub firewall, however many VNets the hub connects."""
        rid, rg, hub = _rg_name(hub_id, ids.VIRTUAL_HUB)
        client = self._clients.network(rid.subscription)
        bodies = self._list(hub_id, "list hub virtual network connections",
                            partial(client.hub_virtual_network_connections.list, rg, hub))
        return [convert.hub_connection_from_arm(b) for b in bodies]

    def list_routing_intent(self, hub_id: str) -> frozenset[str]:
        """What the hub's routing intent sends to its firewall: the union of its policies' destinations
        ("Internet", "PrivateTraffic"); empty = no routing intent (docs/platform-notes.md 13)."""
        rid, rg, hub = _rg_name(hub_id, ids.VIRTUAL_HUB)
        client = self._clients.network(rid.subscription)
        bodies = self._list(hub_id, "list routing intent", partial(client.routing_intent.list, rg, hub))
        return frozenset(d for b in bodies for d in convert.routing_intent_destinations(b))

    # ----------------------------------------------------------------------------------------- egress reads

    def get_outbound_endpoints(self, cluster_id: str) -> EndpointList:
        """EGRESS_PROFILE=aks-endpoints: the cluster's own egress endpoint list (docs/egress.md)."""
        return egress_reads.outbound_endpoints(self._clients, cluster_id)

    def get_policy_dns_proxy(self, policy_id: str) -> tuple[bool | None, str | None]:
        """The policy's dnsSettings.enableProxy (FQDNs in network rules need it), or the reason it is unknown."""
        return egress_reads.policy_dns_proxy(self._clients, policy_id)

    def get_vpn_gateway(self, gateway_id: str) -> ObservedVpnGateway | None:
        rid, rg, name = _rg_name(gateway_id, ids.VPN_GATEWAY)
        client = self._clients.network(rid.subscription)
        return self._get(gateway_id, "get virtual network gateway",
                         lambda: client.virtual_network_gateways.get(rg, name), convert.vpn_gateway_from_arm)

    def list_vpn_gateways_in_scope(self) -> list[ObservedVpnGateway] | None:
        """Every VPN gateway in scope from Resource Graph; None on ARM, which has no subscription-wide list of
        `virtualNetworkGateways` (observe.py then lists the resource groups that can hold one)."""
        return self._graph_list(ids.VPN_GATEWAY, "virtual network gateways", convert.vpn_gateway_from_arm)

    def list_vpn_gateways_in(self, subscription: str, resource_group: str) -> list[ObservedVpnGateway]:
        """`virtualNetworkGateways` has only a per-resource-group list (observe.py finds the groups)."""
        client = self._clients.network(subscription)
        bodies = self._list(_scope_path(subscription, resource_group), "list virtual network gateways",
                            partial(client.virtual_network_gateways.list, resource_group))
        return [convert.vpn_gateway_from_arm(b) for b in bodies]

    def list_public_frontends(self, subscription: str, resource_group: str) -> tuple[PublicFrontend, ...]:
        """The public frontends of every load balancer in a resource group (a cluster's node resource group);
        a group that does not exist holds none."""
        client = self._clients.network(subscription)
        try:
            bodies = self._list(_scope_path(subscription, resource_group), "list load balancers",
                                partial(client.load_balancers.list, resource_group))
        except IncompleteListError:
            return ()  # ResourceGroupNotFound: no node resource group, so no load balancer in it
        return tuple(fe for body in bodies for fe in convert.public_frontends_from_lb(body))

    def list_nics(self, subscription: str, resource_group: str) -> list[tuple[str, tuple[str, ...]]]:
        """Standalone NICs of a resource group (a node resource group) with the subnets of their IP configurations.
        VMSS instance NICs are not in this list (they live under Microsoft.Compute; docs/platform-notes.md 11.2)."""
        client = self._clients.network(subscription)
        try:
            bodies = self._list(_scope_path(subscription, resource_group), "list network interfaces",
                                partial(client.network_interfaces.list, resource_group))
        except IncompleteListError:
            return []  # ResourceGroupNotFound: no node resource group, so no NIC in it
        return [convert.nic_subnets_from_arm(b) for b in bodies]

    def get_effective_routes(self, nic_id: str) -> tuple[ObservedEffectiveRoute, ...]:
        """ARM's effective route table of a NIC (POST .../effectiveRouteTable, a long-running action that only
        reads; docs/platform-notes.md 11.2): the Active routes, one per prefix."""
        rid, rg, name = _rg_name(nic_id, NIC)
        client = self._clients.network(rid.subscription)
        try:
            result = client.network_interfaces.begin_get_effective_route_table(rg, name).result()
        except Exception as exc:
            raise classify(exc, target=nic_id, operation="get effective route table") from exc
        return convert.effective_routes_from_arm(_body(result))

    # ------------------------------------------------------------------------------------- raw reads (export)

    def raw_list(self, arm_type: str) -> list[dict[str, Any]]:
        """Every resource of a top-level type in scope, as ARM's list returns it (Resource Graph's rows where this
        client lists from it: `id, name, type, location, tags, properties`), for `export`. Reads only."""
        what = arm_type.rsplit("/", 1)[-1]
        listed = self._graph_list(arm_type, what, dict)
        if listed is not None:
            return listed
        if arm_type == ids.CLUSTER:
            return self._in_scopes(
                what, lambda sub, rg: self._clients.aks(sub).managed_clusters.list_by_resource_group(rg),
                lambda sub: self._clients.aks(sub).managed_clusters.list(), dict)
        operations = _RAW_NETWORK_OPERATIONS.get(arm_type)
        if operations is None:
            raise ValueError(f"raw_list: {arm_type} is not a listed type (virtualNetworkGateways: raw_get)")
        return self._network_type_in_scopes(what, lambda c: getattr(c, operations), dict)

    def raw_get(self, arm_type: str, resource_id: str) -> dict[str, Any] | None:
        """One resource's ARM GET body, None on 404: what a list does not reach (the firewall named by FIREWALL_ID
        and its policy in another scope, a VPN gateway: ARM has no subscription-wide list of those)."""
        rid, rg, name = _rg_name(resource_id, arm_type)
        if arm_type == ids.CLUSTER:
            aks = self._clients.aks(rid.subscription)
            return self._get(resource_id, f"get {arm_type}", lambda: aks.managed_clusters.get(rg, name), dict)
        operations = _RAW_NETWORK_OPERATIONS.get(arm_type) or _RAW_GET_ONLY.get(arm_type)
        if operations is None:
            raise ValueError(f"raw_get: {arm_type} is not a type export reads")
        client = self._clients.network(rid.subscription)
        return self._get(resource_id, f"get {arm_type}", lambda: getattr(client, operations).get(rg, name), dict)

    def raw_hub_children(self, hub_id: str, child: str) -> list[dict[str, Any]]:
        """A virtual hub's `hubVirtualNetworkConnections` or `routingIntent`, as ARM lists them, every page."""
        rid, rg, hub = _rg_name(hub_id, ids.VIRTUAL_HUB)
        client = self._clients.network(rid.subscription)
        operations = getattr(client, _RAW_HUB_CHILDREN[child])
        return self._list(hub_id, f"list {child}", partial(operations.list, rg, hub))

    def raw_rule_collection_groups(self, policy_id: str) -> list[dict[str, Any]]:
        """Every rule collection group of a policy as ARM returns it (owned and foreign), every page."""
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        return self._list(policy_id, "list rule collection groups",
                          partial(client.firewall_policy_rule_collection_groups.list, rg, policy))

    # ------------------------------------------------------------------------------------- writes: routes
    # Each write has two faces: `begin_<write>` sends the request in the caller's thread and returns a future
    # of the operation's end, followed by the client's Tracker (remediation/azure/inflight.py: no thread per
    # operation; apply's lanes use these); `<write>` waits for that future (every other caller).

    def create_route_table(self, route_table_id: str, table: RouteTablePayload) -> None:
        self.begin_create_route_table(route_table_id, table).result()

    def begin_create_route_table(self, route_table_id: str, table: RouteTablePayload) -> Future[None]:
        """Create an owned route table WITH its routes in one create-only PUT (`If-None-Match: *`).

        A table PUT replaces the routes list (docs/arm-notes.md 2.1), so it is only ever sent where no table
        exists: a new table holds no foreign routes. The plan's read said "no table"; the condition makes
        ARM refuse (412) if one appeared since, instead of this PUT wiping its routes, and costs no GET. On
        412 the safe path runs: read the table, merge the missing tags, write the missing routes one by one
        through the child endpoint (that rare path runs to its end in the caller's thread). The caller holds
        `route-table:<id>` so our own creators never race.
        """
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        body = net.RouteTable(arm_shapes.route_table_body(table))
        try:
            return self._begin(route_table_id, "create route table", "routeTables", str(rid),
                               lambda polling: client.route_tables.begin_create_or_update(
                                   rg, name, body, headers={"If-None-Match": "*"}, polling=polling),
                               finish=_nothing)
        except ArmError as err:
            if err.status != 412 and err.arm_code != "PreconditionFailed":
                raise
            log.info("route table %s exists already (412 on a create-only PUT): adding to it instead",
                     route_table_id)
        self._complete_existing_table(route_table_id, table)
        return _ended(None)

    def _complete_existing_table(self, route_table_id: str, table: RouteTablePayload) -> None:
        """The table exists: add missing tags (RMW of the model just read keeps its routes) and PUT each
        missing route through the child endpoint. A prefix some other route holds is left alone: the next
        plan reports it as a conflict (remediation/planning/plan.py), nothing here overwrites it."""
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        with self.operations.slot() as slot:  # before the read: no wait between it and the tags PUT
            existing = self._write(route_table_id, "get route table", lambda: client.route_tables.get(rg, name))
            current = dict(existing.tags or {})
            tagged = None
            if not all(current.get(k) == v for k, v in table.tags.items()):
                existing.tags = {**current, **table.tags}
                headers = {"If-Match": existing.etag} if existing.etag else {}
                tagged = self._begin(route_table_id, "update route table tags", "routeTables", str(rid),
                                     lambda polling: client.route_tables.begin_create_or_update(
                                         rg, name, existing, headers=headers, polling=polling), finish=_nothing,
                                     slot=slot)
        if tagged is not None:
            tagged.result()
        held = convert.route_table_from_arm(_body(existing)).routes
        names = {r.name.lower() for r in held}
        prefixes = {canonical_prefix(r.address_prefix) for r in held}
        for route in table.routes:
            if route.name.lower() in names or canonical_prefix(route.address_prefix) in prefixes:
                continue
            self.put_route(route_table_id, route)

    def put_route(self, route_table_id: str, route: Route) -> None:
        self.begin_put_route(route_table_id, route).result()

    def begin_put_route(self, route_table_id: str, route: Route) -> Future[None]:
        """One route through the CHILD endpoint: foreign and AKS-managed routes in the table are untouched."""
        rid, rg, table = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        body = net.Route({"properties": arm_shapes.route_properties(route)})
        path = str(rid.child("routes", route.name))
        return self._begin(path, "put route", "routes", path,
                           lambda polling: client.routes.begin_create_or_update(
                               rg, table, route.name, body, polling=polling), finish=_nothing)

    def delete_route(self, route_table_id: str, name: str) -> None:
        self.begin_delete_route(route_table_id, name).result()

    def begin_delete_route(self, route_table_id: str, name: str) -> Future[None]:
        rid, rg, table = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        path = str(rid.child("routes", name))
        return self._begin(path, "delete route", "routes", path,
                           lambda polling: client.routes.begin_delete(rg, table, name, polling=polling),
                           finish=_nothing)

    def delete_owned_empty_route_table(self, route_table_id: str) -> None:
        """The one route-table delete of the project, for `sweep --destroy` only (apply refuses table deletes).

        The table is read right before the DELETE and deleted only when it carries the ownership tag and holds
        no route and no subnet: a foreign table, or an owned one someone added a route or a subnet to since the
        plan, raises TableNotRemovableError and nothing is deleted. If-Match carries the etag of that read, so
        where the RP enforces it a write in between makes ARM refuse (412) instead of deleting what changed. A
        table already gone (404) is done. ARM itself refuses to delete a table a subnet still uses (docs/cli.md
        section 9), a second guard behind the subnet check."""
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        current = self.get_route_table(route_table_id)
        if current is None:
            return
        why = ("it does not carry the ownership tag" if not self._settings.owns_tags(current.tags) else
               f"it holds {len(current.routes)} route(s)" if current.routes else
               f"{len(current.subnet_ids)} subnet(s) use it" if current.subnet_ids else None)
        if why is not None:
            raise TableNotRemovableError(f"TableNotRemovable: route table {route_table_id} is not deleted: {why}",
                                         arm_code="TableNotRemovable", status=None, target=route_table_id)
        headers = {"If-Match": current.etag} if current.etag else {}
        self._begin(route_table_id, "delete route table", "routeTables", str(rid),
                    lambda polling: client.route_tables.begin_delete(rg, name, headers=headers, polling=polling),
                    finish=_nothing).result()

    # ------------------------------------------------------------------------------------- writes: subnets

    def set_subnet_route_table(self, subnet_id: str, route_table_id: str | None,
                               before: SubnetAssociationPayload | None = None) -> str | None:
        return self.begin_set_subnet_route_table(subnet_id, route_table_id, before).result()

    def begin_set_subnet_route_table(self, subnet_id: str, route_table_id: str | None,
                                     before: SubnetAssociationPayload | None = None) -> Future[str | None]:
        """Associate (or detach, with None) a route table: GET subnet -> set route_table -> PUT the model.

        `before`: what the plan saw on the subnet (None: not known). When the pre-read shows another table,
        someone associated the subnet after our plan: that is a conflict (`AssociationChangedError`) and
        nothing is written; an association is never swapped.

        A subnet PUT replaces the whole subnet, so it is built from the SDK model read IMMEDIATELY before
        it, nothing in between: the SDK strips readonly fields and keeps NSG, serviceEndpoints,
        delegations... (docs/arm-notes.md 2.2). The caller holds the VNet's lock (subnets share it) until the
        operation has ended. If-Match carries the etag just read; where the RP enforces it a 412 means someone
        wrote in between, so we re-read and try again. After the PUT, the fields we did not mean to change are
        compared with the pre-read: a difference is the future's value, a warning (a possible concurrent
        writer). The RP's default of ignoring If-Match leaves a window this cannot close (docs/architecture.md
        section 3).
        """
        rid = ids.parse_typed(subnet_id, ids.SUBNET)
        if rid.resource_group is None:
            raise ids.InvalidResourceIdError(f"{subnet_id} has no resource group")
        rg, vnet, name = rid.resource_group, rid.names[0], rid.names[1]
        client = self._clients.network(rid.subscription)

        def read() -> tuple[Any, str | None]:
            subnet = self._write(subnet_id, "get subnet", lambda: client.subnets.get(rg, vnet, name))
            return subnet, subnet.etag

        def write(subnet: Any, etag: str | None) -> Future[str | None]:
            current = subnet.route_table.id if subnet.route_table is not None else None
            if ids.same_id(current, route_table_id):
                return _ended(None)
            if before is not None and not ids.same_id(current, before.route_table_id):
                raise AssociationChangedError(
                    f"AssociationChanged: subnet {subnet_id} is now associated with {current or 'no route table'}"
                    f" (the plan saw {before.route_table_id or 'none'}): not replaced; the next run plans from "
                    "what is there", arm_code="AssociationChanged", status=None, target=subnet_id)
            pre_read = _body(subnet).get("properties") or {}
            subnet.route_table = net.RouteTable(id=route_table_id) if route_table_id else None
            headers = {"If-Match": etag} if etag else {}

            # The value is the PUT's own answer (TerminalStatusPolling: no final GET): the subnet as ARM
            # accepted it from our body. A field we did not mean to change that differs there was dropped
            # or altered between our read and the PUT's acceptance. A writer AFTER our PUT is not seen here:
            # the verify re-read and the next sweep observe it (level-triggered), at no extra GET per write.
            def compared(result: Any) -> str | None:
                after = _body(result).get("properties") or {} if result is not None else {}
                return _unintended_difference(subnet_id, pre_read, after)

            return self._begin(subnet_id, "put subnet", "subnets", str(rid),
                               lambda polling: client.subnets.begin_create_or_update(
                                   rg, vnet, name, subnet, headers=headers, polling=polling), finish=compared,
                               slot=slot)

        # The slot first: no wait for one falls between the read and the PUT built from it.
        with self.operations.slot() as slot:
            return conditional_put(what=f"subnet {subnet_id}", read=read, write=write)

    # ------------------------------------------------------------------------------------- writes: firewall

    def put_rule_collection_group(self, policy_id: str, name: str, group: RuleCollectionGroupPayload,
                                  etag: str | None = None) -> ObservedRuleCollectionGroup | None:
        return self.begin_put_rule_collection_group(policy_id, name, group, etag).result()

    def begin_put_rule_collection_group(self, policy_id: str, name: str, group: RuleCollectionGroupPayload,
                                        etag: str | None = None) -> Future[ObservedRuleCollectionGroup | None]:
        """PUT the whole owned group (a PUT replaces the group: docs/arm-notes.md 2.4). If-Match carries the
        etag of the read made inside the firewall lease (`etag`); on 412 the etag is read again and the
        group PUT again, since the group is wholly ours and its content comes from the plan.

        The value is the group as ARM answered the PUT, which the verify uses instead of a GET. That answer is
        the target state with `provisioningState: Updating` (docs/arm-notes.md 1.2); the operation has ended
        Succeeded when the future has a value (a Failed or Canceled one is its error), so that is the state
        recorded."""
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))
        body = net.FirewallPolicyRuleCollectionGroup(
            {"properties": arm_shapes.rule_collection_group_properties(group)})

        def read() -> tuple[None, str | None]:
            current = self.get_rule_collection_group(policy_id, name)
            return None, current.etag if current is not None else None

        def answered(answer: Any) -> ObservedRuleCollectionGroup | None:
            body = _body(answer) if answer is not None else {}
            if not body.get("id"):
                return None
            return dataclasses.replace(convert.rule_collection_group_from_arm(body), provisioning_state="Succeeded")

        def write(_: None, tag: str | None) -> Future[ObservedRuleCollectionGroup | None]:
            headers = {"If-Match": tag} if tag else {}
            return self._begin(rcg_id, "put rule collection group", "ruleCollectionGroups", rcg_id,
                               lambda polling: client.firewall_policy_rule_collection_groups.begin_create_or_update(
                                   rg, policy, name, body, headers=headers, polling=polling), finish=answered)

        # The plan's read inside the lease already gave the etag (None: the group did not exist): no GET here.
        # The body comes from the plan, not from a read here: on 412 (someone wrote the group since the plan
        # read it, where If-Match is enforced) re-sending it with a fresh etag would overwrite their change.
        # The run ends instead (StalePlanError, retryable) and the next one plans from a fresh read.
        try:
            return conditional_put(what=f"rule collection group {rcg_id}", read=read, write=write,
                                   known=(None, etag), attempts=1)
        except TransientError as err:
            if err.arm_code != "PreconditionFailed":
                raise
            raise StalePlanError(
                f"PreconditionFailed: rule collection group {rcg_id} changed since the plan read it (412): not "
                "re-sent; the run is retried and re-plans from a fresh read",
                arm_code="PreconditionFailed", status=412, target=rcg_id) from err

    def delete_rule_collection_group(self, policy_id: str, name: str) -> None:
        self.begin_delete_rule_collection_group(policy_id, name).result()

    def begin_delete_rule_collection_group(self, policy_id: str, name: str) -> Future[None]:
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))
        return self._begin(rcg_id, "delete rule collection group", "ruleCollectionGroups", rcg_id,
                           lambda polling: client.firewall_policy_rule_collection_groups.begin_delete(
                               rg, policy, name, polling=polling), finish=_nothing)

    def put_classic_collections(self, firewall_id: str, owned: Sequence[RuleCollection],
                                ownership_prefix: str) -> None:
        """Replace every owned classic networkRuleCollection (name starts with the prefix) by `owned`, keep
        the foreign ones."""
        prefix = ownership_prefix.lower()
        self._edit_classic(firewall_id, lambda name: name.lower().startswith(prefix), owned,
                           lambda name: name.lower().startswith(prefix)).result()

    def update_classic_collections(self, firewall_id: str, upserts: Sequence[RuleCollection],
                                   deletes: Sequence[str]) -> None:
        self.begin_update_classic_collections(firewall_id, upserts, deletes).result()

    def begin_update_classic_collections(self, firewall_id: str, upserts: Sequence[RuleCollection],
                                         deletes: Sequence[str]) -> Future[None]:
        """Upsert and delete named classic collections in ONE firewall PUT, leaving every other collection
        (owned or foreign) as it is. Used by apply, whose changes name single collections."""
        app_names = {n[len(APPLICATION_PREFIX):].lower() for n in deletes if n.startswith(APPLICATION_PREFIX)}
        app_names |= {c.name.lower() for c in upserts if c.is_application}
        names = {c.name.lower() for c in upserts if not c.is_application}
        names |= {n.lower() for n in deletes if not n.startswith(APPLICATION_PREFIX)}
        return self._edit_classic(firewall_id, lambda name: name.lower() in names, upserts,
                                  lambda name: name.lower() in app_names)

    def _edit_classic(self, firewall_id: str, replaced: Callable[[str], bool], desired: Sequence[RuleCollection],
                      replaced_app: Callable[[str], bool] | None = None) -> Future[None]:
        """Classic rules live in the firewall resource: GET firewall model -> edit -> PUT the whole firewall
        (an LRO of minutes, docs/arm-notes.md 2.3), conditional on the etag just read. Network and application
        collections are separate lists of the firewall; `replaced`/`replaced_app` name what `desired` replaces
        in each (the application list is left alone when `replaced_app` is None)."""
        rid, rg, name = _rg_name(firewall_id, ids.FIREWALL)
        client = self._clients.network(rid.subscription)

        def read() -> tuple[Any, str | None]:
            firewall = self._write(firewall_id, "get firewall", lambda: client.azure_firewalls.get(rg, name))
            return firewall, firewall.etag

        def write(firewall: Any, etag: str | None) -> Future[None]:
            kept = [c for c in firewall.network_rule_collections or [] if not replaced(str(c.name or ""))]
            firewall.network_rule_collections = [
                *kept, *(net.AzureFirewallNetworkRuleCollection(convert.classic_collection_body(c))
                         for c in desired if not c.is_application)]
            if replaced_app is not None:
                kept_app = [c for c in firewall.application_rule_collections or []
                            if not replaced_app(str(c.name or ""))]
                firewall.application_rule_collections = [
                    *kept_app, *(net.AzureFirewallApplicationRuleCollection(convert.classic_collection_body(c))
                                 for c in desired if c.is_application)]
            headers = {"If-Match": etag} if etag else {}
            return self._begin(firewall_id, "put firewall", "azureFirewalls", str(rid),
                               lambda polling: client.azure_firewalls.begin_create_or_update(
                                   rg, name, firewall, headers=headers, polling=polling), finish=_nothing,
                               slot=slot)

        with self.operations.slot() as slot:  # before the read, as for a subnet
            return conditional_put(what=f"firewall {firewall_id}", read=read, write=write)


def _nothing(_: Any) -> None:
    return None


def _ended(value: T) -> Future[T]:
    """The future of a write that needed no operation (nothing to change)."""
    done: Future[T] = Future()
    done.set_result(value)
    return done


def _unintended_difference(subnet_id: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """The subnet fields other than the route table that differ between our pre-read and ARM's answer."""
    keys = (set(before) | set(after)) - _VOLATILE_SUBNET_FIELDS
    changed = sorted(k for k in keys if _canonical(before.get(k)) != _canonical(after.get(k)))
    if not changed:
        return None
    text = (f"subnet {subnet_id}: {', '.join(changed)} changed while we wrote the route table association: "
            "possibly a concurrent writer; check the subnet")
    log.warning("%s", text)
    return text


def _canonical(value: Any) -> Any:
    """Compare bodies without the readonly noise ARM adds (provisioningState, etag) inside nested objects."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items() if k not in {"provisioningState", "etag"}}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
