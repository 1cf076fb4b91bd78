"""Pure: the route tables, routes and subnet associations a desired state needs (docs/architecture.md 3).

- a subnet keeps the route table it has: owned routes are merged into it, the association is never swapped
  (a subnet has one table, and it may be the customer's or the AKS/AGIC one: docs/platform-notes.md 3.2.2-3);
- only owned routes (name prefix) are updated or deleted; a foreign route in the way is a Conflict unless
  ALLOW_TAKEOVER=true; owned route tables (tag) are emptied, never deleted automatically;
- the route safety rules of `remediation.planning.guards` (platform subnets, per-table own ranges, v2 App
  Gateway default route, IPv6) refuse writes with a blocking Conflict; the 400 routes per table limit is an
  ERROR in the plan, and a plan part with an error keeps no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    Conflict,
    DesiredSubnetRoutes,
    ObservedAppGateway,
    ObservedRouteTable,
    ObservedSubnet,
    Route,
    RoutePurpose,
    RouteTablePayload,
    Severity,
    Snapshot,
    SubnetAssociationPayload,
)
from remediation.planning import avnm, flows, guards
from remediation.planning.desired import canonical_prefix, merge_subnet_routes, prefix_sort_key

_MAX_NAME = 80  # route table names: 1-80 chars, must end with a letter, digit or '_'

# --------------------------------------------------------------------------------------------- naming


def route_table_name_for(subnet: ObservedSubnet, settings: Settings) -> str:
    """The owned table for a subnet that has none: `{prefix}{vnet}-{subnet}`, at most 80 chars."""
    rid = ids.parse_resource_id(subnet.id)
    vnet = rid.names[0] if len(rid.names) > 1 else "vnet"
    full = f"{settings.ownership_prefix}{vnet}-{subnet.name or rid.name}"
    if len(full) <= _MAX_NAME:
        return full.rstrip("-.") or full
    # Cut names end with a hash of the subnet id: two long subnet names never share one owned table.
    return ids.bounded_name(full, _MAX_NAME, subnet.id)


def route_table_id_for(subnet: ObservedSubnet, settings: Settings) -> str:
    """Same subscription and resource group as the subnet's VNet: a table can only be associated with subnets
    in the same region and subscription (docs/arm-notes.md 2.1)."""
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

    The route safety rules (`remediation.planning.guards`) are applied per table, over every subnet that uses it:
    a refused table gets no write at all, a refused route is left out, each with a blocking Conflict. When
    a table would exceed the ARM route limit the plan carries an ERROR and no write of this plan is kept.

    Steps: gather each table's desired routes and the associations to make; guard every table; plan each
    kept table (its routes, its stale owned routes, a create with its routes); prune the tables nobody needs.
    """
    conflicts: list[Conflict] = []
    tables, associations = _gather_tables(snapshot, desired, settings, conflicts)
    doubtful = _guard_tables(snapshot, tables, conflicts)
    protected = _protected_subnets(snapshot)
    desired_subnets = {id_key(s.id) for t in tables.values() for s, _ in t.subnets}
    creates, writes, deletes = _plan_tables(tables, settings, conflicts, prune=prune,
                                            keep=protected, desired_subnets=desired_subnets)
    if prune:
        deletes.extend(_prune_unused_tables(snapshot, settings, skip=set(tables) | doubtful,
                                            needed=protected | desired_subnets))
    # Foreign routes (and BGP routes) that carry a desired flow around the firewall: reported, never edited.
    conflicts.extend(flows.bypass_conflicts(snapshot, desired, settings))
    changes = (*creates, *writes, *[a for k, a in associations if k in tables], *deletes)
    if any(c.severity is Severity.ERROR for c in conflicts):
        # A limit would be hit part-way through: write nothing, keep the NOOPs for the report.
        changes = tuple(c for c in changes if c.action is Action.NOOP)
    return changes, tuple(conflicts)


def _gather_tables(
    snapshot: Snapshot, desired: Sequence[DesiredSubnetRoutes], settings: Settings, conflicts: list[Conflict]
) -> tuple[dict[str, _TablePlan], list[tuple[str, Change]]]:
    """Each route table's desired routes (over every desired subnet using it), and the associations to make
    as (table key, change) in desired order. A subnet not observed, a platform subnet or a table not
    observed is a Conflict and plans nothing."""
    tables: dict[str, _TablePlan] = {}
    associations: list[tuple[str, Change]] = []
    for item in merge_subnet_routes(desired):
        conflicts.extend(item.reports)
        subnet = snapshot.subnets.get(id_key(item.subnet_id))
        if subnet is None:
            conflicts.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, item.subnet_id,
                                      "subnet was not observed: nothing planned for it"))
            continue
        special = guards.special_subnet_reason(subnet)
        if special is not None:
            conflicts.append(Conflict(ChangeKind.SUBNET_ROUTE_TABLE, subnet.id,
                                      f"refused: platform subnet {special}; no route table or route is written"))
            continue
        if subnet.route_table_id:
            table = snapshot.route_tables.get(id_key(subnet.route_table_id))
            if table is None:
                conflicts.append(Conflict(ChangeKind.ROUTE_TABLE, subnet.route_table_id,
                                          f"route table associated with subnet {subnet.name} was not "
                                          "observed: nothing planned for it"))
                continue
            managed = avnm.managed_table_reason(table.id, table.name)
            if managed is not None:
                # AVNM owns this table and its association (docs/platform-notes.md 13): never written, never
                # swapped for an owned table; each needed route is reported as provided or as a conflict.
                conflicts.extend(avnm.route_reports(subnet.id, subnet.name, table, managed, item.routes))
                continue
            table_id = table.id
        else:
            table_id = route_table_id_for(subnet, settings)
            table = snapshot.route_tables.get(id_key(table_id))  # our table exists, the association was lost
            associations.append((id_key(table_id), Change(
                Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE, subnet.id, SubnetAssociationPayload(None),
                SubnetAssociationPayload(table_id),
                f"runbook: associate the route table with the {_subnet_role(item.purpose)} subnet "
                f"{subnet.name}",
            )))
        entry = tables.setdefault(id_key(table_id), _TablePlan(table_id, table, subnet.location))
        entry.subnets.append((subnet, item.purpose))
        for route in item.routes:
            entry.routes.setdefault(route.name.lower(), route)
            entry.reasons.setdefault(route.name.lower(), item.reasons.get(route.name, "desired"))
    return tables, associations


def _guard_tables(snapshot: Snapshot, tables: dict[str, _TablePlan], conflicts: list[Conflict]) -> set[str]:
    """Drop the tables the safety rules refuse (no table, no route, no association); returns the keys of
    those refused for lack of knowledge, which get no delete either."""
    doubtful: set[str] = set()
    by_subnet = guards.gateways_by_subnet(snapshot.app_gateways.values())
    for key in sorted(tables):
        refused = _guard_table(snapshot, tables[key], conflicts, by_subnet)
        if refused is not None:
            del tables[key]
            if refused == "doubt":
                doubtful.add(key)
    return doubtful


def _plan_tables(
    tables: dict[str, _TablePlan], settings: Settings, conflicts: list[Conflict], *, prune: bool,
    keep: set[str], desired_subnets: set[str],
) -> tuple[list[Change], list[Change], list[Change]]:
    """(creates, writes, deletes) of the kept tables, in key order. `keep`: subnets an observed cluster still
    references; a table shared with one of them that is not planned this time is not pruned."""
    creates: list[Change] = []
    writes: list[Change] = []
    deletes: list[Change] = []
    for key in sorted(tables):
        entry = tables[key]
        before = len(writes)
        used = _plan_table_routes(entry, settings, writes, conflicts)
        stale: list[Change] = []
        if prune and entry.table is not None:
            others = {id_key(s) for s in entry.table.subnet_ids} - desired_subnets
            if not others & keep:  # else shared with a subnet of a cluster not planned this time
                stale = _prune(entry.table, used, settings, "owned route no longer desired")
        deletes.extend(stale)
        conflicts.extend(_route_limit(entry, writes[before:], stale))
        if entry.table is None:
            # A table that does not exist holds no foreign routes: it is created WITH its routes in one
            # PUT (docs/arm-notes.md 2.1), so its routes are no changes of their own. Existing tables keep
            # child-route writes: a table PUT would replace their foreign and AKS-managed routes.
            creates.append(_new_table(entry, writes[before:], settings))
            del writes[before:]
    return creates, writes, deletes


def _prune_unused_tables(snapshot: Snapshot, settings: Settings, *, skip: set[str],
                         needed: set[str]) -> list[Change]:
    """Deletes of the owned routes on observed tables not planned (`skip`: planned or doubtful) whose subnets
    no desired entry and no observed cluster (`needed`) references."""
    deletes: list[Change] = []
    for key in sorted(snapshot.route_tables):
        table = snapshot.route_tables[key]
        if key in skip:
            continue
        if {id_key(s) for s in table.subnet_ids} & needed:
            continue
        deletes.extend(_prune(table, set(), settings, "no cluster in scope needs it"))
    return deletes


def _new_table(entry: _TablePlan, routes: Sequence[Change], settings: Settings) -> Change:
    """The CREATE of a table that does not exist, carrying its routes (all CREATEs: nothing is there).

    The reason keeps one line per route ("<route>: <why>") under the table's own, so the plan still says
    why each route is there."""
    payload = RouteTablePayload(entry.location, {settings.ownership_tag[0]: settings.ownership_tag[1]},
                                routes=tuple(c.new for c in routes if isinstance(c.new, Route)))
    reason = "runbook: create a route table for " + ", ".join(
        f"the {_subnet_role(p)} subnet {s.name}" for s, p in entry.subnets)
    lines = [f"{_route_name(c.address)}: {c.reason}" for c in routes]
    return Change(Action.CREATE, ChangeKind.ROUTE_TABLE, entry.table_id, None, payload,
                  "\n".join([reason, *lines]))


def created_routes(changes: Iterable[Change]) -> list[tuple[str, Route]]:
    """(route address, route) of every route the changes create: route CREATEs, and the routes a new
    table is created with (inside its PUT)."""
    out: list[tuple[str, Route]] = []
    for change in changes:
        if change.action is not Action.CREATE:
            continue
        if change.kind is ChangeKind.ROUTE and isinstance(change.new, Route):
            out.append((change.address, change.new))
        elif change.kind is ChangeKind.ROUTE_TABLE and isinstance(change.new, RouteTablePayload):
            out.extend((_route_address(change.address, r.name), r) for r in change.new.routes)
    return out


def _route_name(address: str) -> str:
    return address.rsplit("/routes/", 1)[-1]


def _guard_table(snapshot: Snapshot, entry: _TablePlan, conflicts: list[Conflict],
                 by_subnet: Mapping[str, Sequence[ObservedAppGateway]]) -> str | None:
    """Apply the route safety rules to one table over every subnet that uses it (observed association and
    the desired ones); drop refused routes. Returns None, or why the whole table is refused: "platform"
    (owned routes found there are pruned by a sweep: they can only be harmful) or "doubt" (a subnet on it
    was not observed: nothing is written or deleted)."""
    subnet_ids = [s.id for s, _ in entry.subnets]
    if entry.table is not None:
        subnet_ids.extend(entry.table.subnet_ids)
    use = guards.TableUse.of_indexed(entry.table_id, subnet_ids, snapshot.subnets, by_subnet)
    refusal = guards.table_refusal(use)
    if refusal is not None:
        conflicts.append(Conflict(ChangeKind.ROUTE_TABLE, entry.table_id, f"refused: {refusal}"))
        platform = any(guards.special_subnet_reason(s) for s in use.subnets) or any(
            guards.special_subnet_reason(i) for i in use.unobserved_subnet_ids)
        return "platform" if platform else "doubt"
    for name in sorted(entry.routes):
        route = entry.routes[name]
        why = guards.route_refusal(route, use)
        if why is not None:
            conflicts.append(Conflict(ChangeKind.ROUTE, _route_address(entry.table_id, route.name),
                                      f"refused: {why}; not written"))
            del entry.routes[name]
    return None


def _route_limit(entry: _TablePlan, writes: Sequence[Change], stale: Sequence[Change]) -> list[Conflict]:
    """ARM refuses a table's 401st route; say so in the plan instead of failing half-way through an apply."""
    existing = len(entry.table.routes) if entry.table is not None else 0
    added = sum(1 for c in writes if c.action is Action.CREATE)
    total = existing + added - len(stale)
    if total <= guards.MAX_ROUTES_PER_TABLE:
        return []
    return [Conflict(ChangeKind.ROUTE_TABLE, entry.table_id,
                     f"route table would hold {total} routes ({existing} now, {added} to add); the ARM limit is "
                     f"{guards.MAX_ROUTES_PER_TABLE} per table: nothing of this plan is written",
                     Severity.ERROR)]


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
    """DELETE the owned routes of `table` that are not in use. Foreign routes are never deleted, and nothing
    on a table Azure Virtual Network Manager manages (remediation/planning/avnm.py)."""
    if avnm.managed_table_reason(table.id, table.name) is not None:
        return []
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
