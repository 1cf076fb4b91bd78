"""ArmGateway: every ARM read and write of the project, returning the project's models (never SDK models).

A gateway lives for one reconcile: its read cache makes "each resource is read at most once" hold whatever
order observe.py asks in, and every write drops the cache entries it made stale. Reads return None on 404;
every other failure is raised as TransientError / TerminalError (remediation.azure.errors).

VPN gateways: `virtualNetworkGateways` has only a per-resource-group list in the SDK (no subscription list).
Listing resource groups would need another SDK package and `Microsoft.Resources/subscriptions/resourceGroups/
read`, so instead the gateway finds them through the VNets in scope: every VNet with a `GatewaySubnet` names
its resource group (a VNet gateway is deployed in its VNet's resource group), and the GatewaySubnet's
`ipConfigurations` point at gateways in other groups, which are then read with one GET each. Only
`virtualNetworks/read` and `virtualNetworkGateways/read` are needed, both already in REQUIRED_ACTIONS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.mgmt.network import models as net

from remediation import ids
from remediation.azure import convert, egress_reads
from remediation.azure.clients import CallCounter, ClientFactory
from remediation.azure.errors import classify, is_not_found
from remediation.config import Settings
from remediation.errors import ArmError, TransientError
from remediation.locks import InProcessLocks
from remediation.model import (
    ArmCalls,
    EndpointList,
    ObservedAppGateway,
    ObservedCluster,
    ObservedFirewall,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVpnGateway,
    Route,
    RuleCollection,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often one subnet/RCG write re-reads after a 412 before handing the TransientError to tenacity.
_PRECONDITION_ATTEMPTS = 3
_MISSING = object()


def _body(model: Any) -> dict[str, Any]:
    """The REST JSON of an SDK model (TypeSpec models are MutableMappings over it)."""
    as_dict = getattr(model, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(model)


def _finish(begin: Callable[[], Any]) -> Any:
    """Start an LRO and wait for its result (polling follows Retry-After, else the client's interval)."""
    return begin().result()


def _rg_name(resource_id: str, resource_type: str) -> tuple[ids.ResourceId, str, str]:
    rid = ids.parse_typed(resource_id, resource_type)
    if rid.resource_group is None:
        raise ids.InvalidResourceIdError(f"{resource_id} has no resource group")
    return rid, rid.resource_group, rid.names[0]


class ArmGateway:
    def __init__(self, settings: Settings, credential: TokenCredential | None = None, *,
                 clients: ClientFactory | None = None) -> None:
        self._settings = settings
        self._counter = CallCounter()
        self._clients = clients or ClientFactory(settings, self._counter, credential)
        self._locks = InProcessLocks()
        self._cache_lock = threading.RLock()
        # id_key -> parsed model (or None for a confirmed 404); VNets keep their raw body for subnets.
        self._cache: dict[str, Any] = {}
        self._vnets: dict[str, dict[str, Any] | None] = {}
        self._etags: dict[str, str] = {}
        self._vnet_listing: list[dict[str, Any]] | None = None  # VNets in scope, from the last list
        self._listings: dict[str, list[Any]] = {}  # other list results in scope, by what was listed

    # ----------------------------------------------------------------------------------------- plumbing

    @property
    def arm_calls(self) -> ArmCalls:
        return self._counter.snapshot()

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._vnets.clear()
            self._vnet_listing = None
            self._listings.clear()

    def forget_listings(self) -> None:
        """Drop list results (clusters, VNets, App Gateways, VPN gateways, route tables) so the next
        observation lists again: the firewall pass must see the clusters as they are once it holds the lock."""
        with self._cache_lock:
            self._vnet_listing = None
            self._listings.clear()

    def close(self) -> None:
        self._clients.close()

    def _forget(self, *resource_ids: str) -> None:
        with self._cache_lock:
            for rid in resource_ids:
                self._cache.pop(ids.id_key(rid), None)
                self._vnets.pop(ids.id_key(rid), None)
            self._vnet_listing = None
            self._listings.clear()

    def _listing(self, what: str, compute: Callable[[], list[T]]) -> list[T]:
        """A list result in scope, listed once per gateway (and again after a write of ours)."""
        with self._cache_lock:
            cached = self._listings.get(what)
        if cached is not None:
            return list(cached)
        listed = compute()
        with self._cache_lock:
            self._listings[what] = list(listed)
        return listed

    def _read(self, resource_id: str, operation: str, fn: Callable[[], Any],
              parse: Callable[[dict[str, Any]], T]) -> T | None:
        key = ids.id_key(resource_id)
        with self._cache_lock:
            cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        try:
            model = fn()
        except Exception as exc:
            if is_not_found(exc):
                value = None
            else:
                raise classify(exc, target=resource_id, operation=operation) from exc
        else:
            value = parse(_body(model))
        with self._cache_lock:
            self._cache[key] = value
        return value

    def _list(self, scope: str, operation: str, fn: Callable[[], Iterable[Any]]) -> list[dict[str, Any]]:
        try:
            return [_body(m) for m in fn()]
        except Exception as exc:
            if is_not_found(exc):  # a scope's resource group that does not exist (ResourceGroupNotFound)
                return []
            raise classify(exc, target=scope, operation=operation) from exc

    def _remember(self, bodies: Iterable[dict[str, Any]], parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """Parse listed bodies, cache them by id and keep those in scope."""
        result: list[T] = []
        for body in bodies:
            value = parse(body)
            with self._cache_lock:
                self._cache[ids.id_key(str(body["id"]))] = value
            if self._settings.in_scope(str(body["id"])):
                result.append(value)
        return result

    def _scopes(self) -> list[tuple[str, str | None]]:
        """(subscription, resource group or None) for each scope entry, without duplicates."""
        seen: dict[str, tuple[str, str | None]] = {}
        for scope in self._settings.scope:
            seen.setdefault(scope.key, (scope.subscription, scope.resource_group))
        # A subscription scope covers any resource-group scope of the same subscription.
        subs = {sub.lower() for sub, rg in seen.values() if rg is None}
        return [(sub, rg) for sub, rg in seen.values() if rg is None or sub.lower() not in subs]

    def _write(self, target: str, operation: str, fn: Callable[[], T], *, lro_path: str | None = None) -> T:
        try:
            if lro_path is None:
                return fn()
            with self._counter.long_running(lro_path):
                return fn()
        except ArmError:
            raise
        except Exception as exc:
            raise classify(exc, target=target, operation=operation) from exc

    # ----------------------------------------------------------------------------------------- clusters

    def get_cluster(self, cluster_id: str) -> ObservedCluster | None:
        rid, rg, name = _rg_name(cluster_id, ids.CLUSTER)
        aks = self._clients.aks(rid.subscription)
        return self._read(cluster_id, "get cluster", lambda: aks.managed_clusters.get(rg, name),
                          convert.cluster_from_arm)

    def list_clusters(self) -> list[ObservedCluster]:
        return self._listing("clusters", self._list_clusters)

    def _list_clusters(self) -> list[ObservedCluster]:
        result: dict[str, ObservedCluster] = {}
        for sub, rg in self._scopes():
            aks = self._clients.aks(sub)
            scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
            if rg:
                bodies = self._list(scope, "list clusters",
                                    partial(aks.managed_clusters.list_by_resource_group, rg))
            else:
                bodies = self._list(scope, "list clusters", aks.managed_clusters.list)
            for cluster in self._remember(bodies, convert.cluster_from_arm):
                result.setdefault(ids.id_key(cluster.id), cluster)
        return list(result.values())

    # ----------------------------------------------------------------------------------------- VNets

    def _vnet_body(self, vnet_id: str) -> dict[str, Any] | None:
        key = ids.id_key(vnet_id)
        with self._cache_lock:
            if key in self._vnets:
                return self._vnets[key]
        rid, rg, name = _rg_name(vnet_id, ids.VNET)
        client = self._clients.network(rid.subscription)
        try:
            body: dict[str, Any] | None = _body(client.virtual_networks.get(rg, name))
        except Exception as exc:
            if not is_not_found(exc):
                raise classify(exc, target=vnet_id, operation="get virtual network") from exc
            body = None
        with self._cache_lock:
            self._vnets[key] = body
        return body

    def get_vnet_subnets(self, vnet_id: str) -> list[ObservedSubnet] | None:
        """All subnets of a VNet from ONE GET of the VNet (which also gives the region); None on 404."""
        body = self._vnet_body(vnet_id)
        return None if body is None else convert.vnet_subnets_from_arm(body)

    def get_subnet(self, subnet_id: str) -> ObservedSubnet | None:
        rid = ids.parse_typed(subnet_id, ids.SUBNET)
        vnet_id = str(rid.parent)
        subnets = self.get_vnet_subnets(vnet_id)
        key = ids.id_key(subnet_id)
        return next((s for s in subnets or () if ids.id_key(s.id) == key), None)

    def _list_vnet_bodies(self) -> list[dict[str, Any]]:
        with self._cache_lock:
            if self._vnet_listing is not None:
                return list(self._vnet_listing)
        bodies: list[dict[str, Any]] = []
        for sub, rg in self._scopes():
            client = self._clients.network(sub)
            scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
            if rg:
                listed = self._list(scope, "list virtual networks",
                                    partial(client.virtual_networks.list, rg))
            else:
                listed = self._list(scope, "list virtual networks",
                                    client.virtual_networks.list_all)
            for body in listed:
                with self._cache_lock:
                    self._vnets[ids.id_key(str(body["id"]))] = body
                if self._settings.in_scope(str(body["id"])):
                    bodies.append(body)
        with self._cache_lock:
            self._vnet_listing = list(bodies)
        return bodies

    def list_subnets(self) -> list[ObservedSubnet]:
        """Every subnet in scope: one VNet list per scope entry, subnets inline."""
        return [s for body in self._list_vnet_bodies() for s in convert.vnet_subnets_from_arm(body)]

    # ----------------------------------------------------------------------------------------- route tables

    def get_route_table(self, route_table_id: str) -> ObservedRouteTable | None:
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        return self._read(route_table_id, "get route table", lambda: client.route_tables.get(rg, name),
                          convert.route_table_from_arm)

    def list_route_tables(self) -> list[ObservedRouteTable]:
        return self._listing("route_tables", self._list_route_tables)

    def _list_route_tables(self) -> list[ObservedRouteTable]:
        return self._list_network("route tables", lambda c: c.route_tables, convert.route_table_from_arm)

    def _list_network(self, what: str, operations: Callable[[Any], Any],
                      parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """A Microsoft.Network type in scope: `list(rg)` per resource-group scope, `list_all()` per
        subscription scope (the SDK's two list operations of every top-level network resource)."""
        result: list[T] = []
        for sub, rg in self._scopes():
            ops = operations(self._clients.network(sub))
            scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
            bodies = self._list(scope, f"list {what}", partial(ops.list, rg) if rg else ops.list_all)
            result.extend(self._remember(bodies, parse))
        return result

    # ----------------------------------------------------------------------------------------- app gateways

    def get_app_gateway(self, app_gateway_id: str) -> ObservedAppGateway | None:
        rid, rg, name = _rg_name(app_gateway_id, ids.APP_GATEWAY)
        client = self._clients.network(rid.subscription)
        return self._read(app_gateway_id, "get application gateway",
                          lambda: client.application_gateways.get(rg, name), convert.app_gateway_from_arm)

    def list_app_gateways(self) -> list[ObservedAppGateway]:
        return self._listing("app_gateways", self._list_app_gateways)

    def _list_app_gateways(self) -> list[ObservedAppGateway]:
        return self._list_network("application gateways", lambda c: c.application_gateways,
                                  convert.app_gateway_from_arm)

    # ----------------------------------------------------------------------------------------- firewall

    def get_firewall(self, firewall_id: str) -> ObservedFirewall | None:
        rid, rg, name = _rg_name(firewall_id, ids.FIREWALL)
        client = self._clients.network(rid.subscription)
        return self._read(firewall_id, "get firewall", lambda: client.azure_firewalls.get(rg, name),
                          convert.firewall_from_arm)

    def get_rule_collection_group(self, policy_id: str, name: str) -> ObservedRuleCollectionGroup | None:
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))

        def parse(body: dict[str, Any]) -> ObservedRuleCollectionGroup:
            if body.get("etag"):
                self._etags[ids.id_key(rcg_id)] = str(body["etag"])
            return convert.rule_collection_group_from_arm(body)

        return self._read(rcg_id, "get rule collection group",
                          lambda: client.firewall_policy_rule_collection_groups.get(rg, policy, name), parse)

    # ----------------------------------------------------------------------------------------- egress reads

    def get_outbound_endpoints(self, cluster_id: str) -> EndpointList:
        return self._egress_read(f"{cluster_id}/outboundNetworkDependenciesEndpoints",
                                 partial(egress_reads.outbound_endpoints, self._clients, cluster_id))

    def get_policy_dns_proxy(self, policy_id: str) -> tuple[bool | None, str | None]:
        return self._egress_read(f"{policy_id}#dnsSettings", partial(egress_reads.policy_dns_proxy, self._clients,
                                                                     policy_id))

    def _egress_read(self, key: str, read: Callable[[], T]) -> T:
        """Once per reconcile, like every other read (the sweep's fleet and firewall passes both ask)."""
        with self._cache_lock:
            cached = self._cache.get(ids.id_key(key), _MISSING)
        if cached is not _MISSING:
            return cached
        value = read()
        with self._cache_lock:
            self._cache[ids.id_key(key)] = value
        return value

    # ----------------------------------------------------------------------------------------- VPN gateways

    def get_vpn_gateway(self, gateway_id: str) -> ObservedVpnGateway | None:
        rid, rg, name = _rg_name(gateway_id, ids.VPN_GATEWAY)
        client = self._clients.network(rid.subscription)
        return self._read(gateway_id, "get virtual network gateway",
                          lambda: client.virtual_network_gateways.get(rg, name), convert.vpn_gateway_from_arm)

    def list_vpn_gateways(self) -> list[ObservedVpnGateway]:
        return self._listing("vpn_gateways", self._list_vpn_gateways)

    def _list_vpn_gateways(self) -> list[ObservedVpnGateway]:
        """Virtual network gateways in scope, found through the VNets in scope (see the module docstring)."""
        groups: dict[str, tuple[str, str]] = {}
        for sub, rg in self._scopes():
            if rg:
                groups.setdefault(f"{sub}/{rg}".lower(), (sub, rg))
        referenced: list[str] = []
        for body in self._list_vnet_bodies():
            subnet_ids, gateway_ids = convert.gateway_refs_from_vnet(body)
            if subnet_ids:
                rid = ids.parse_resource_id(str(body["id"]))
                if rid.resource_group is not None:
                    groups.setdefault(f"{rid.subscription}/{rid.resource_group}".lower(),
                                      (rid.subscription, rid.resource_group))
            referenced.extend(gateway_ids)
        result: dict[str, ObservedVpnGateway] = {}
        for sub, rg in groups.values():
            client = self._clients.network(sub)
            bodies = self._list(f"/subscriptions/{sub}/resourceGroups/{rg}", "list virtual network gateways",
                                partial(client.virtual_network_gateways.list, rg))
            for gateway in self._remember(bodies, convert.vpn_gateway_from_arm):
                result.setdefault(ids.id_key(gateway.id), gateway)
        for gateway_id in referenced:
            if ids.id_key(gateway_id) in result:
                continue
            gw = self.get_vpn_gateway(gateway_id)
            if gw is not None:
                result[ids.id_key(gw.id)] = gw
        return list(result.values())

    # ------------------------------------------------------------------------------------- writes: routes

    def create_route_table(self, route_table_id: str, location: str,
                           tags: Mapping[str, str]) -> ObservedRouteTable:
        """Create an (empty) route table. A PUT replaces the routes list (arm-protocol.md 2.1), so if the
        table appeared since we planned, it is never re-PUT empty: only missing tags are added (RMW of the
        SDK model keeps its routes)."""
        rid, rg, name = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        self._forget(route_table_id)
        try:
            existing = client.route_tables.get(rg, name)
        except Exception as exc:
            if not is_not_found(exc):
                raise classify(exc, target=route_table_id, operation="get route table") from exc
            existing = None
        if existing is not None:
            current = dict(existing.tags or {})
            if all(current.get(k) == v for k, v in tags.items()):
                return convert.route_table_from_arm(_body(existing))
            existing.tags = {**current, **tags}
            body: Any = existing
        else:
            body = net.RouteTable(location=location, tags=dict(tags))
        result = self._write(route_table_id, "create route table",
                             lambda: client.route_tables.begin_create_or_update(rg, name, body).result(),
                             lro_path=str(rid))
        self._forget(route_table_id)
        return convert.route_table_from_arm(_body(result))

    def put_route(self, route_table_id: str, route: Route) -> Route:
        """One route through the CHILD endpoint: foreign and AKS-managed routes in the table are untouched."""
        rid, rg, table = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        body = net.Route({"properties": route.to_arm()})
        path = str(rid.child("routes", route.name))
        result = self._write(path, "put route",
                             partial(_finish, partial(client.routes.begin_create_or_update, rg, table,
                                                      route.name, body)),
                             lro_path=path)
        self._forget(route_table_id)
        return convert.route_from_arm(_body(result))

    def delete_route(self, route_table_id: str, name: str) -> None:
        rid, rg, table = _rg_name(route_table_id, ids.ROUTE_TABLE)
        client = self._clients.network(rid.subscription)
        path = str(rid.child("routes", name))
        self._write(path, "delete route", lambda: client.routes.begin_delete(rg, table, name).result(),
                    lro_path=path)
        self._forget(route_table_id)

    # ------------------------------------------------------------------------------------- writes: subnets

    def set_subnet_route_table(self, subnet_id: str, route_table_id: str | None) -> None:
        """Associate (or detach, with None) a route table: GET subnet -> set route_table -> PUT the model.

        A subnet PUT replaces the whole subnet, so it is built from the SDK model just read: the SDK strips
        readonly fields and keeps NSG, serviceEndpoints, delegations... (arm-protocol.md 2.2). The read and
        the PUT happen under the VNet's lock, because subnets share the VNet's lock domain and parallel
        subnet PUTs in one VNet get 409 AnotherOperationInProgress. If-Match carries the etag just read; when
        the RP enforces it a 412 means someone wrote in between, so we re-read and try again.
        """
        rid = ids.parse_typed(subnet_id, ids.SUBNET)
        if rid.resource_group is None:
            raise ids.InvalidResourceIdError(f"{subnet_id} has no resource group")
        rg, vnet, name = rid.resource_group, rid.names[0], rid.names[1]
        client = self._clients.network(rid.subscription)
        vnet_id = str(rid.parent)
        with self._locks.hold(f"vnet:{ids.id_key(vnet_id)}"):
            for attempt in range(1, _PRECONDITION_ATTEMPTS + 1):
                subnet = self._write(subnet_id, "get subnet", lambda: client.subnets.get(rg, vnet, name))
                current = subnet.route_table.id if subnet.route_table is not None else None
                if ids.same_id(current, route_table_id):
                    return
                subnet.route_table = net.RouteTable(id=route_table_id) if route_table_id else None
                headers = {"If-Match": subnet.etag} if subnet.etag else {}
                try:
                    begin = partial(client.subnets.begin_create_or_update, rg, vnet, name, subnet,
                                    headers=headers)
                    self._write(subnet_id, "put subnet", partial(_finish, begin), lro_path=str(rid))
                except TransientError as err:
                    if err.arm_code != "PreconditionFailed" or attempt == _PRECONDITION_ATTEMPTS:
                        raise
                    log.info("subnet %s changed since it was read (412); re-reading", subnet_id)
                    continue
                finally:
                    self._forget(vnet_id, subnet_id)
                return

    # ------------------------------------------------------------------------------------- writes: firewall

    def put_rule_collection_group(self, policy_id: str, name: str, priority: int,
                                  rule_collections_arm: Sequence[Mapping[str, Any]]) -> None:
        """PUT the whole owned group (a PUT replaces the group: arm-protocol.md 2.4). If-Match carries the
        etag of our last read of the group; on 412 the etag is refreshed and the group PUT again, since the
        group is wholly ours and its content comes from the plan, not from the stale body."""
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))
        body = net.FirewallPolicyRuleCollectionGroup(
            {"properties": {"priority": priority,
                            "ruleCollections": convert.as_policy_collections_arm(
                                list(rule_collections_arm))}})
        key = ids.id_key(rcg_id)
        with self._locks.hold(f"policy:{ids.id_key(policy_id)}"):
            for attempt in range(1, _PRECONDITION_ATTEMPTS + 1):
                etag = self._etags.get(key)
                headers = {"If-Match": etag} if etag else {}
                try:
                    begin = partial(client.firewall_policy_rule_collection_groups.begin_create_or_update,
                                    rg, policy, name, body, headers=headers)
                    result = self._write(rcg_id, "put rule collection group", partial(_finish, begin),
                                         lro_path=rcg_id)
                except TransientError as err:
                    if err.arm_code != "PreconditionFailed" or attempt == _PRECONDITION_ATTEMPTS:
                        raise
                    log.info("rule collection group %s changed since it was read (412); refreshing etag",
                             rcg_id)
                    self._etags.pop(key, None)
                    self._forget(rcg_id)
                    self.get_rule_collection_group(policy_id, name)
                    continue
                self._forget(rcg_id)
                if getattr(result, "etag", None):
                    self._etags[key] = str(result.etag)
                return

    def delete_rule_collection_group(self, policy_id: str, name: str) -> None:
        rid, rg, policy = _rg_name(policy_id, ids.FIREWALL_POLICY)
        client = self._clients.network(rid.subscription)
        rcg_id = str(rid.child("ruleCollectionGroups", name))
        with self._locks.hold(f"policy:{ids.id_key(policy_id)}"):
            begin = partial(client.firewall_policy_rule_collection_groups.begin_delete, rg, policy, name)
            self._write(rcg_id, "delete rule collection group", lambda: begin().result(), lro_path=rcg_id)
        self._forget(rcg_id)
        self._etags.pop(ids.id_key(rcg_id), None)

    def put_classic_collections(self, firewall_id: str, owned: Sequence[Mapping[str, Any] | RuleCollection],
                                ownership_prefix: str) -> None:
        """Replace every owned classic networkRuleCollection (name starts with the prefix) by `owned`, keep
        the foreign ones. Classic rules live in the firewall resource, so this is GET firewall model -> edit
        -> PUT the whole firewall (an LRO of minutes, arm-protocol.md 2.3)."""
        desired = [convert.as_classic_arm(c) for c in owned]
        prefix = ownership_prefix.lower()
        self._edit_classic(firewall_id, lambda name: name.lower().startswith(prefix), desired)

    def update_classic_collections(self, firewall_id: str,
                                   upserts: Sequence[Mapping[str, Any] | RuleCollection],
                                   deletes: Sequence[str]) -> None:
        """Upsert and delete named classic collections in ONE firewall PUT, leaving every other collection
        (owned or foreign) as it is. Used by apply, whose changes name single collections."""
        desired = [convert.as_classic_arm(c) for c in upserts]
        desired, deletes, app, app_deletes = egress_reads.split_classic(desired, deletes)
        names = {str(c["name"]).lower() for c in desired} | {n.lower() for n in deletes}
        self._edit_classic(firewall_id, lambda name: name.lower() in names, desired, app=(app, app_deletes))

    def _edit_classic(self, firewall_id: str, replaced: Callable[[str], bool],
                      desired: list[dict[str, Any]],
                      app: tuple[list[dict[str, Any]], list[str]] | None = None) -> None:
        rid, rg, name = _rg_name(firewall_id, ids.FIREWALL)
        client = self._clients.network(rid.subscription)
        with self._locks.hold(f"firewall:{ids.id_key(firewall_id)}"):
            firewall = self._write(firewall_id, "get firewall", lambda: client.azure_firewalls.get(rg, name))
            kept = [c for c in firewall.network_rule_collections or [] if not replaced(str(c.name or ""))]
            firewall.network_rule_collections = [
                *kept, *(net.AzureFirewallNetworkRuleCollection(c) for c in desired)]
            if app is not None:
                egress_reads.edit_classic_application(firewall, *app)
            headers = {"If-Match": firewall.etag} if firewall.etag else {}
            try:
                self._write(firewall_id, "put firewall",
                            lambda: client.azure_firewalls.begin_create_or_update(
                                rg, name, firewall, headers=headers).result(),
                            lro_path=str(rid))
            finally:
                self._forget(firewall_id)
