"""`owned`: every object this tool owns in REMEDIATION_SCOPE, read now (terraform's `state list`).

Ownership is what the planner itself judges by (remediation/core/config.py `owns_name`/`owns_tags`,
remediation/planning/routes.py `_prune`, remediation/planning/firewall.py):
- a route table carrying the ownership tag (OWNERSHIP_TAG, `managed-by=aks-egress-remediation`);
- a route named with OWNERSHIP_PREFIX in a table the tool does not own (a customer's table it added to);
- the association of a subnet with an owned route table: only this tool associates its own tables;
- the owned rule collection group (RULE_COLLECTION_GROUP) and its shards, and inside them (or inside a classic
  firewall) the rule collections named with OWNERSHIP_PREFIX.
Routes inside an owned table are counted on the table's row, not listed (they go with the table).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import RuleCollection, Snapshot


@dataclass(frozen=True)
class Owned:
    kind: str  # the plan's change kinds: routeTable, route, subnetRouteTable, ruleCollectionGroup, ...
    id: str
    detail: str

    def json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "detail": self.detail}


def _routing(snapshot: Snapshot, settings: Settings) -> Iterator[Owned]:
    tables = sorted(snapshot.route_tables.values(), key=lambda t: id_key(t.id))
    for table in tables:
        if settings.owns_tags(table.tags):
            yield Owned("routeTable", table.id, f"{len(table.routes)} route(s), {len(table.subnet_ids)} subnet(s)")
    for table in tables:
        if settings.owns_tags(table.tags):
            continue
        for route in table.routes:
            if settings.owns_name(route.name):
                hop = " ".join(filter(None, (route.next_hop_type, route.next_hop_ip_address)))
                yield Owned("route", f"{table.id}/routes/{route.name}", f"{route.address_prefix} -> {hop}")
    for table in tables:
        if settings.owns_tags(table.tags):
            for subnet_id in sorted(table.subnet_ids, key=id_key):
                yield Owned("subnetRouteTable", subnet_id, f"associated with {table.name}")


def _rules(collection: RuleCollection) -> str:
    count = len(collection.application_rules if collection.is_application else collection.rules)
    return f"{count} {'application' if collection.is_application else 'network'} rule(s)"


def _firewall(snapshot: Snapshot, settings: Settings) -> Iterator[Owned]:
    for group in snapshot.owned_groups:
        yield Owned("ruleCollectionGroup", group.id, f"priority {group.priority}, "
                                                      f"{len(group.rule_collections)} collection(s)")
        for collection in group.rule_collections:
            if settings.owns_name(collection.name):
                # A collection is part of its group's body, not an ARM resource: the path names it.
                yield Owned("ruleCollection", f"{group.id}/ruleCollections/{collection.name}", _rules(collection))
    firewall = snapshot.firewall
    if firewall is None:
        return
    for kind, collections in (("firewallNetworkRuleCollection", firewall.classic_collections),
                              ("firewallApplicationRuleCollection", firewall.classic_application_collections)):
        segment = "networkRuleCollections" if kind == "firewallNetworkRuleCollection" else \
            "applicationRuleCollections"
        for collection in collections:
            if settings.owns_name(collection.name):
                yield Owned(kind, f"{firewall.id}/{segment}/{collection.name}", _rules(collection))


def owned(snapshot: Snapshot, settings: Settings) -> tuple[Owned, ...]:
    """Pure: the owned objects of one fleet observation, routing first, then the firewall's."""
    return (*_routing(snapshot, settings), *_firewall(snapshot, settings))


def render_text(scope: str, items: tuple[Owned, ...]) -> str:
    lines = [f"{scope}: {len(items)} owned object(s)"]
    lines.extend(f"  {item.kind} {item.id}  # {item.detail}" for item in items)
    if not items:
        lines.append("  nothing: this tool owns no object in scope")
    return "\n".join(lines)
