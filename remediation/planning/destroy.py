"""`sweep --destroy`: the removal of everything this tool owns in scope, planned from one observation (pure).

Ownership is judged exactly as `owned` and the planner judge it (remediation/core/config.py `owns_name` /
`owns_tags`): a route named with OWNERSHIP_PREFIX, a route table carrying OWNERSHIP_TAG, the association of a
subnet with such a table (only this tool associates its own tables), the owned rule collection group and its
shards, the collections named with the prefix inside them or inside a classic firewall.

The changes come in the order they must be written, one phase after the other (`phase`):
1. the owned routes, in foreign tables and in owned ones, and the firewall's owned objects: each owned group is
   deleted when it holds only owned collections, and rewritten with only its foreign collections when it holds
   one (a foreign collection inside an owned group is never deleted); each owned classic collection is deleted;
2. the associations of subnets with owned tables (ARM refuses to delete a table a subnet still uses:
   docs/cli.md section 9);
3. the owned tables, each only once it is empty (no route left after phase 1, no subnet after phase 2).
Nothing foreign is ever planned: a foreign route kept in an owned table keeps that table and its associations
(detaching the subnets would take the foreign route off them too), and says so in a note. An object out of
REMEDIATION_SCOPE is kept with a note. The firewall's objects are removed wherever it is (FIREWALL_ID names
it, as for every firewall write). A missing firewall (FIREWALL_ID names nothing) is an error: the plan writes
nothing, since a setting that looks wrong is no ground for deleting anything.
"""

from __future__ import annotations

from collections.abc import Iterator

from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    ClassicCollectionPayload,
    Conflict,
    ObservedFirewall,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    Plan,
    RouteTablePayload,
    RuleCollectionGroupPayload,
    Severity,
    Snapshot,
    SubnetAssociationPayload,
)
from remediation.planning import avnm

REASON = "sweep --destroy: remove what this tool owns"
_PHASE = {ChangeKind.SUBNET_ROUTE_TABLE: 2, ChangeKind.ROUTE_TABLE: 3}


def phase(change: Change) -> int:
    """1 routes and firewall objects, 2 associations, 3 route tables: a phase starts when the one before ends."""
    return _PHASE.get(change.kind, 1)


def _route_address(table_id: str, name: str) -> str:
    return f"{table_id}/routes/{name}"


def _note(kind: ChangeKind, address: str, message: str) -> Conflict:
    return Conflict(kind, address, message, Severity.NOTE)


def _table_blocker(table: ObservedRouteTable, settings: Settings) -> str | None:
    """Why an owned table must stay (None: it is removed with its associations)."""
    if not settings.in_scope(table.id):
        return "outside REMEDIATION_SCOPE: kept"
    foreign = sorted(r.name for r in table.routes if not settings.owns_name(r.name))
    if foreign:
        return (f"holds route(s) this tool does not own ({', '.join(foreign)}): the table and its subnet "
                "associations are kept; only the owned routes are removed")
    outside = sorted(s for s in table.subnet_ids if not settings.in_scope(s))
    if outside:
        return f"associated with subnet(s) outside REMEDIATION_SCOPE ({', '.join(outside)}): kept"
    return None


def _routing(snapshot: Snapshot, settings: Settings) -> Iterator[Change | Conflict]:
    tables = [snapshot.route_tables[k] for k in sorted(snapshot.route_tables)]
    for table in tables:
        owned = sorted((r for r in table.routes if settings.owns_name(r.name)), key=lambda r: r.name.lower())
        if owned and not settings.in_scope(table.id):
            yield _note(ChangeKind.ROUTE, table.id, f"{len(owned)} owned route(s) outside REMEDIATION_SCOPE: kept")
            continue
        managed = avnm.managed_table_reason(table.id, table.name)
        if owned and managed is not None:
            # AVNM copies the routes of a subnet's former table into the table it creates: never written here.
            yield _note(ChangeKind.ROUTE, table.id, f"{len(owned)} route(s) named like this tool's on a route table "
                                                    f"Azure Virtual Network Manager manages ({managed}): kept")
            continue
        for route in owned:
            yield Change(Action.DELETE, ChangeKind.ROUTE, _route_address(table.id, route.name), route, None, REASON)
    removable = []
    for table in tables:
        if not settings.owns_tags(table.tags):
            continue
        blocker = _table_blocker(table, settings)
        if blocker is not None:
            yield _note(ChangeKind.ROUTE_TABLE, table.id, blocker)
        else:
            removable.append(table)
    for table in removable:
        for subnet_id in sorted(table.subnet_ids, key=id_key):
            yield Change(Action.DELETE, ChangeKind.SUBNET_ROUTE_TABLE, subnet_id,
                         SubnetAssociationPayload(table.id), None, f"{REASON}: detach from {table.name}")
    for table in removable:
        # The table as it will be when deleted: no route, no subnet (the delete re-checks both first).
        payload = RouteTablePayload(table.location, dict(table.tags), table.disable_bgp_route_propagation)
        yield Change(Action.DELETE, ChangeKind.ROUTE_TABLE, table.id, payload, None, REASON, etag=None)


def _group(group: ObservedRuleCollectionGroup, settings: Settings) -> Iterator[Change | Conflict]:
    before = RuleCollectionGroupPayload(group.priority, group.rule_collections)
    foreign = tuple(c for c in group.rule_collections if not settings.owns_name(c.name))
    if not foreign:
        yield Change(Action.DELETE, ChangeKind.RULE_COLLECTION_GROUP, group.id, before, None, REASON,
                     etag=group.etag)
        return
    if len(foreign) < len(group.rule_collections):
        yield Change(Action.UPDATE, ChangeKind.RULE_COLLECTION_GROUP, group.id, before,
                     RuleCollectionGroupPayload(group.priority, foreign),
                     f"{REASON}: only the owned collections; the group holds foreign ones", etag=group.etag)
    yield _note(ChangeKind.RULE_COLLECTION_GROUP, group.id,
                f"holds collection(s) this tool does not own ({', '.join(sorted(c.name for c in foreign))}): "
                "the group is kept with them")


def _classic(firewall: ObservedFirewall, settings: Settings) -> Iterator[Change]:
    for kind, segment, collections in (
            (ChangeKind.CLASSIC_RULE_COLLECTION, "networkRuleCollections", firewall.classic_collections),
            (ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION, "applicationRuleCollections",
             firewall.classic_application_collections)):
        for collection in sorted(collections, key=lambda c: c.name.lower()):
            if settings.owns_name(collection.name):
                yield Change(Action.DELETE, kind, f"{firewall.id}/{segment}/{collection.name}",
                             ClassicCollectionPayload(collection), None, REASON)


def _firewall(snapshot: Snapshot, settings: Settings) -> Iterator[Change | Conflict]:
    firewall = snapshot.firewall
    if firewall is None:
        yield Conflict(ChangeKind.RULE_COLLECTION_GROUP, settings.firewall_id,
                       "firewall not found (FIREWALL_ID): nothing is removed on a setting that names nothing",
                       Severity.ERROR)
        return
    # The firewall is named by FIREWALL_ID, in scope or not (the hub is often in another subscription).
    for group in snapshot.owned_groups:
        yield from _group(group, settings)
    if not firewall.policy_id:
        yield from _classic(firewall, settings)


def plan_destroy(snapshot: Snapshot, settings: Settings, target: str) -> Plan:
    """Every owned object of `snapshot` removed, in phase order; foreign objects kept (notes say which)."""
    items = [*_routing(snapshot, settings), *_firewall(snapshot, settings)]
    changes = sorted((i for i in items if isinstance(i, Change)), key=phase)  # stable: plan order within a phase
    conflicts = tuple(i for i in items if isinstance(i, Conflict))
    return Plan(target, tuple(changes), conflicts)
