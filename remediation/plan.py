"""Pure: observed state + desired state -> Changes (CREATE / UPDATE / DELETE / NOOP) and Conflicts.

Safety rules (ARCHITECTURE.md 3) enforced here, not in the writer:
- a subnet keeps the route table it has: owned routes are merged into it, the association is never swapped
  (a subnet has one table, and it may be the customer's or the AKS/AGIC one: domain-notes 3.2.2-3);
- only owned routes (name prefix) are updated or deleted; a foreign route in the way is a Conflict unless
  ALLOW_TAKEOVER=true; owned route tables (tag) are emptied, never deleted automatically;
- the firewall's owned rule collection group is written whole (a PUT replaces the group), foreign classic
  collections are never touched.

Public API: route_table_name_for, route_table_id_for, plan_routes, plan_firewall, rule_collections_to_arm,
classic_collection_to_arm, build_plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from remediation import arm_shapes, ids
from remediation.config import Settings
from remediation.desired import canonical_prefix, merge_subnet_routes, prefix_sort_key
from remediation.ids import id_key
from remediation.model import (
    Action,
    Change,
    ChangeKind,
    ClassicCollectionPayload,
    Conflict,
    DesiredSubnetRoutes,
    NetworkRule,
    ObservedRouteTable,
    ObservedSubnet,
    Plan,
    Route,
    RoutePurpose,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    Skip,
    Snapshot,
    SubnetAssociationPayload,
)

_MAX_NAME = 80  # route table names: 1-80 chars, must end with a letter, digit or '_'

# --------------------------------------------------------------------------------------------- naming


def route_table_name_for(subnet: ObservedSubnet, settings: Settings) -> str:
    """The owned table for a subnet that has none: `{prefix}{vnet}-{subnet}`, at most 80 chars."""
    rid = ids.parse_resource_id(subnet.id)
    vnet = rid.names[0] if len(rid.names) > 1 else "vnet"
    name = f"{settings.ownership_prefix}{vnet}-{subnet.name or rid.name}"[:_MAX_NAME]
    return name.rstrip("-.") or name


def route_table_id_for(subnet: ObservedSubnet, settings: Settings) -> str:
    """Same subscription and resource group as the subnet's VNet: a table can only be associated with subnets
    in the same region and subscription (arm-protocol.md 2.1)."""
    rid = ids.parse_resource_id(subnet.id)
    table = ids.ResourceId(rid.subscription, rid.resource_group, "Microsoft.Network", ("routeTables",),
                           (route_table_name_for(subnet, settings),))
    return str(table)


def _route_address(table_id: str, name: str) -> str:
    return f"{table_id}/routes/{name}"


# --------------------------------------------------------------------------------------------- routes


def _same_target(a: Route, b: Route) -> bool:
    """Equal behaviour: canonical prefixes, next-hop types case-insensitively (ARM does), same IP."""
    return (
        canonical_prefix(a.address_prefix) == canonical_prefix(b.address_prefix)
        and a.next_hop_type.lower() == b.next_hop_type.lower()
        and (a.next_hop_ip_address or "").strip() == (b.next_hop_ip_address or "").strip()
    )


def _hop(route: Route) -> str:
    if route.next_hop_ip_address:
        return f"{route.next_hop_type} {route.next_hop_ip_address}"
    return route.next_hop_type


@dataclass
class _TablePlan:
    """What one route table must hold: the desired routes of every desired subnet associated with it."""

    table_id: str
    table: ObservedRouteTable | None  # None = to be created
    location: str
    subnets: list[tuple[ObservedSubnet, RoutePurpose]] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)  # lower name -> route
    reasons: dict[str, str] = field(default_factory=dict)  # lower name -> reason


def _protected_subnets(snapshot: Snapshot) -> set[str]:
    """Subnets some observed cluster still references (node, pod, App Gateway), whatever its state.

    A cluster skipped this time (still Updating, a failed prerequisite) is not in `desired`, yet its routes
    are still needed: pruning never touches tables of these subnets beyond what `desired` says about them.
    """
    keys: set[str] = set()
    for cluster in snapshot.clusters.values():
        keys.update(id_key(s) for s in (*cluster.node_subnet_ids, *cluster.pod_subnet_ids) if s)
        if cluster.ingress_gateway_id:
            gateway = snapshot.app_gateways.get(id_key(cluster.ingress_gateway_id))
            if gateway is not None and gateway.subnet_id:
                keys.add(id_key(gateway.subnet_id))
    return keys


def plan_routes(
    snapshot: Snapshot, desired: Sequence[DesiredSubnetRoutes], settings: Settings, *, prune: bool
) -> tuple[tuple[Change, ...], tuple[Conflict, ...]]:
    """Changes that make the route tables hold the desired owned routes, and the conflicts in the way.

    Order: route table creates, route creates/updates (NOOPs kept in place for reporting), subnet
    associations, then deletes. With `prune`, owned routes that nothing desires are deleted: on desired
    tables, and on tables of subnets that no desired entry and no observed cluster references any more.
    """
    conflicts: list[Conflict] = []
    tables: dict[str, _TablePlan] = {}
    associations: list[Change] = []
    for item in merge_subnet_routes(desired):
        subnet = snapshot.subnets.get(id_key(item.subnet_id))
        if subnet is None:
            conflicts.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, item.subnet_id,
                                      "subnet was not observed: nothing planned for it"))
            continue
        if subnet.route_table_id:
            table = snapshot.route_tables.get(id_key(subnet.route_table_id))
            if table is None:
                conflicts.append(Conflict(ChangeKind.ROUTE_TABLE, subnet.route_table_id,
                                          f"route table associated with subnet {subnet.name} was not "
                                          "observed: nothing planned for it"))
                continue
            table_id = table.id
        else:
            table_id = route_table_id_for(subnet, settings)
            table = snapshot.route_tables.get(id_key(table_id))  # our table exists, the association was lost
            associations.append(Change(
                Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE, subnet.id, SubnetAssociationPayload(None),
                SubnetAssociationPayload(table_id),
                f"runbook: associate the route table with the {_subnet_role(item.purpose)} subnet "
                f"{subnet.name}",
            ))
        entry = tables.setdefault(id_key(table_id), _TablePlan(table_id, table, subnet.location))
        entry.subnets.append((subnet, item.purpose))
        for route in item.routes:
            entry.routes.setdefault(route.name.lower(), route)
            entry.reasons.setdefault(route.name.lower(), item.reasons.get(route.name, "desired"))

    creates: list[Change] = []
    writes: list[Change] = []
    deletes: list[Change] = []
    protected = _protected_subnets(snapshot)
    desired_subnets = {id_key(s.id) for t in tables.values() for s, _ in t.subnets}
    for key in sorted(tables):
        entry = tables[key]
        if entry.table is None:
            creates.append(Change(
                Action.CREATE, ChangeKind.ROUTE_TABLE, entry.table_id, None,
                RouteTablePayload(entry.location, {settings.ownership_tag[0]: settings.ownership_tag[1]}),
                "runbook: create a route table for "
                + ", ".join(f"the {_subnet_role(p)} subnet {s.name}" for s, p in entry.subnets),
            ))
        used = _plan_table_routes(entry, settings, writes, conflicts)
        if prune and entry.table is not None:
            others = {id_key(s) for s in entry.table.subnet_ids} - desired_subnets
            if others & protected:
                continue  # shared with a subnet of a cluster not planned this time: its routes stay
            deletes.extend(_prune(entry.table, used, settings, "owned route no longer desired"))
    if prune:
        for key in sorted(snapshot.route_tables):
            table = snapshot.route_tables[key]
            if key in tables:
                continue
            subnets = {id_key(s) for s in table.subnet_ids}
            if subnets & (protected | desired_subnets):
                continue
            deletes.extend(_prune(table, set(), settings, "no cluster in scope needs it"))
    return (*creates, *writes, *associations, *deletes), tuple(conflicts)


def _subnet_role(purpose: RoutePurpose) -> str:
    return "AKS" if purpose is RoutePurpose.EGRESS else "App Gateway"


def _plan_table_routes(
    entry: _TablePlan, settings: Settings, out: list[Change], conflicts: list[Conflict]
) -> set[str]:
    """Route CREATE/UPDATE/NOOP for one table; returns the lower names of existing routes that are in use."""
    existing = entry.table.routes if entry.table is not None else ()
    by_name = {r.name.lower(): r for r in existing}
    by_prefix: dict[str, Route] = {}
    for r in existing:
        by_prefix.setdefault(canonical_prefix(r.address_prefix), r)
    note = ""
    if entry.table is not None and entry.table.provisioning_state.lower() != "succeeded":
        # Planned anyway: ARM refuses writes to a table that is not Succeeded with a retryable error
        # (ReferencedResourceNotProvisioned / AnotherOperationInProgress), which the apply step retries.
        note = f" (route table is {entry.table.provisioning_state}; apply retries until it settles)"
    used: set[str] = set()
    ordered = sorted(entry.routes.values(), key=lambda r: (prefix_sort_key(r.address_prefix), r.name.lower()))
    for route in ordered:
        reason = entry.reasons.get(route.name.lower(), "desired") + note
        current = by_name.get(route.name.lower())
        if current is None:
            holder = by_prefix.get(canonical_prefix(route.address_prefix))
            # A table holds one route per prefix: whoever holds ours already decides what happens.
            if holder is not None and settings.owns_name(holder.name):
                current = holder  # our route under an older name: keep the name, fix the target
            elif holder is not None:
                used.add(holder.name.lower())
                _foreign(entry.table_id, holder, route, settings, reason, out, conflicts)
                continue
        if current is None:
            out.append(Change(Action.CREATE, ChangeKind.ROUTE, _route_address(entry.table_id, route.name),
                              None, route, reason))
            continue
        used.add(current.name.lower())
        address = _route_address(entry.table_id, current.name)
        if _same_target(current, route):
            out.append(Change(Action.NOOP, ChangeKind.ROUTE, address, current, current, reason))
        else:
            after = Route(current.name, route.address_prefix, route.next_hop_type, route.next_hop_ip_address)
            out.append(Change(Action.UPDATE, ChangeKind.ROUTE, address, current, after,
                              f"{reason}; drift: was {_hop(current)}"))
    return used


def _foreign(
    table_id: str, holder: Route, route: Route, settings: Settings, reason: str, out: list[Change],
    conflicts: list[Conflict],
) -> None:
    address = _route_address(table_id, holder.name)
    if _same_target(holder, route):
        out.append(Change(Action.NOOP, ChangeKind.ROUTE, address, holder, holder,
                          f"{reason}; satisfied by foreign route {holder.name}"))
    elif settings.allow_takeover:
        after = Route(holder.name, route.address_prefix, route.next_hop_type, route.next_hop_ip_address)
        out.append(Change(Action.UPDATE, ChangeKind.ROUTE, address, holder, after,
                          f"{reason}; takeover (ALLOW_TAKEOVER=true) of foreign route {holder.name}"))
    else:
        conflicts.append(Conflict(
            ChangeKind.ROUTE, address,
            f"foreign route {holder.name} sends {canonical_prefix(holder.address_prefix)} to {_hop(holder)}; "
            f"desired {route.name} -> {_hop(route)}; not overwritten (ALLOW_TAKEOVER=false)",
        ))


def _prune(table: ObservedRouteTable, used: set[str], settings: Settings, why: str) -> list[Change]:
    """DELETE the owned routes of `table` that are not in use. Foreign routes are never deleted."""
    stale = sorted((r for r in table.routes if settings.owns_name(r.name) and r.name.lower() not in used),
                   key=lambda r: r.name.lower())
    changes: list[Change] = []
    owned = sum(settings.owns_name(r.name) for r in table.routes)
    reason = why
    if settings.owns_tags(table.tags) and len(stale) == owned:
        reason += f"; owned route table {table.name} is only emptied, never deleted automatically"
    for route in stale:
        changes.append(Change(Action.DELETE, ChangeKind.ROUTE, _route_address(table.id, route.name),
                              route, None, reason))
    return changes


# --------------------------------------------------------------------------------------------- firewall


def rule_collections_to_arm(collections: Iterable[RuleCollection]) -> list[dict[str, Any]]:
    """Policy `ruleCollections` in ARM names (kept for callers; the serializer is remediation.arm_shapes)."""
    return [arm_shapes.policy_collection(c) for c in collections]


def classic_collection_to_arm(collection: RuleCollection) -> dict[str, Any]:
    """A classic `networkRuleCollections[].properties` body (see remediation.arm_shapes)."""
    return arm_shapes.classic_collection_properties(collection)


def _canon_address(value: str) -> str:
    # CIDRs compare canonically (10.1.0.0/22 == 10.1.0.0/22 however written); service tags case-insensitively.
    return canonical_prefix(value).lower()


def _canon_rule(rule: NetworkRule) -> tuple[Any, ...]:
    return (
        rule.name.lower(),
        tuple(sorted({p.upper() for p in rule.protocols})),
        tuple(sorted({_canon_address(a) for a in rule.source_addresses})),
        tuple(sorted({_canon_address(a) for a in rule.destination_addresses})),
        tuple(sorted({p.strip() for p in rule.destination_ports})),
    )


def _canon_collection(collection: RuleCollection) -> tuple[Any, ...]:
    return (collection.name.lower(), collection.priority, collection.action.lower(),
            tuple(sorted(_canon_rule(r) for r in collection.rules)))


def _canon_collections(collections: Iterable[RuleCollection]) -> tuple[Any, ...]:
    return tuple(sorted(_canon_collection(c) for c in collections))


def _group_body(priority: int, collections: Sequence[RuleCollection]) -> RuleCollectionGroupPayload:
    return RuleCollectionGroupPayload(priority, tuple(collections))


def _collections_reason(collections: Sequence[RuleCollection]) -> str:
    parts = [f"{c.name} ({len(c.rules)} rule{'s' if len(c.rules) != 1 else ''})" for c in collections]
    return "runbook firewall rules: " + ", ".join(parts)


def plan_firewall(
    snapshot: Snapshot, collections: Sequence[RuleCollection], settings: Settings
) -> tuple[Change, ...]:
    """The owned firewall rules: one whole rule collection group (policy), or owned classic collections."""
    firewall = snapshot.firewall
    if firewall is None:
        return ()
    if firewall.policy_id is None:
        return _plan_classic(firewall.id, firewall.classic_collections, collections, settings)
    address = f"{firewall.policy_id}/ruleCollectionGroups/{settings.rule_collection_group}"
    group = snapshot.rule_collection_group
    if group is not None and group.name.lower() != settings.rule_collection_group.lower():
        group = None  # not ours: the observer handed us another group; never compare against it
    after = _group_body(settings.rule_collection_group_priority, collections)
    if group is None:
        if not collections:
            return ()
        return (Change(Action.CREATE, ChangeKind.RULE_COLLECTION_GROUP, address, None, after,
                       _collections_reason(collections)),)
    before = _group_body(group.priority, group.rule_collections)
    if not collections:
        return (Change(Action.DELETE, ChangeKind.RULE_COLLECTION_GROUP, address, before, None,
                       "no cluster in scope needs the owned rule collection group", etag=group.etag),)
    same = (group.priority == settings.rule_collection_group_priority
            and _canon_collections(group.rule_collections) == _canon_collections(collections))
    # A PUT replaces the whole group (arm-protocol.md 2.4): `after` is always the complete owned set.
    if same and group.provisioning_state.lower() == "failed":
        # A group left Failed (a crashed or rejected write) holds what ARM may not be enforcing: PUT it again.
        same = False
    action = Action.NOOP if same else Action.UPDATE
    return (Change(action, ChangeKind.RULE_COLLECTION_GROUP, address, before, before if same else after,
                   _collections_reason(collections), etag=group.etag),)


def _plan_classic(
    firewall_id: str, observed: Sequence[RuleCollection], collections: Sequence[RuleCollection],
    settings: Settings,
) -> tuple[Change, ...]:
    existing = {c.name.lower(): c for c in observed}
    changes: list[Change] = []
    wanted: set[str] = set()
    for collection in sorted(collections, key=lambda c: c.name.lower()):
        wanted.add(collection.name.lower())
        address = f"{firewall_id}/networkRuleCollections/{collection.name}"
        reason = _collections_reason([collection])
        current = existing.get(collection.name.lower())
        after = ClassicCollectionPayload(collection)
        if current is None:
            changes.append(Change(Action.CREATE, ChangeKind.CLASSIC_RULE_COLLECTION, address, None, after,
                                  reason))
        elif _canon_collection(current) == _canon_collection(collection):
            before = ClassicCollectionPayload(current)
            changes.append(Change(Action.NOOP, ChangeKind.CLASSIC_RULE_COLLECTION, address, before, before,
                                  reason))
        else:
            changes.append(Change(Action.UPDATE, ChangeKind.CLASSIC_RULE_COLLECTION, address,
                                  ClassicCollectionPayload(current), after, reason))
    for current in sorted(observed, key=lambda c: c.name.lower()):
        # Foreign classic collections are never touched; stale owned ones go.
        if settings.owns_name(current.name) and current.name.lower() not in wanted:
            changes.append(Change(Action.DELETE, ChangeKind.CLASSIC_RULE_COLLECTION,
                                  f"{firewall_id}/networkRuleCollections/{current.name}",
                                  ClassicCollectionPayload(current), None,
                                  "owned classic collection no cluster in scope needs"))
    return tuple(changes)


# --------------------------------------------------------------------------------------------- plan


def build_plan(
    target: str, changes: Iterable[Change], conflicts: Iterable[Conflict], skipped: Iterable[Skip]
) -> Plan:
    """A Plan from the pieces (skips de-duplicated, first reason per target wins; order kept)."""
    seen: dict[str, Skip] = {}
    for skip in skipped:
        seen.setdefault(id_key(skip.target), skip)
    return Plan(target=target, changes=tuple(changes), conflicts=tuple(conflicts),
                skipped=tuple(seen.values()))
