"""Pure: observed state + desired state -> a Plan of Changes (CREATE / UPDATE / DELETE / NOOP) and Conflicts.

The planners live by what they write: `routes` (route tables, routes, associations), `firewall` (the owned
rule collection groups or classic collections) and `rules` (what "the same rule" means). This module joins
their parts into one Plan and is the planning package's public face: the names below are the API that the
engine, the views and the tests use.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediation.core.ids import id_key
from remediation.core.model import Change, Conflict, Plan, Skip
from remediation.planning.firewall import (
    GROUP_SIZE_LIMIT_BYTES,
    firewall_size_line,
    group_size_bytes,
    plan_firewall,
    plan_firewall_checked,
)
from remediation.planning.routes import created_routes, plan_routes, route_table_id_for, route_table_name_for
from remediation.planning.rules import (
    canon_address,
    canon_rule,
    classic_collection_to_arm,
    rule_collections_to_arm,
)

__all__ = [
    "GROUP_SIZE_LIMIT_BYTES",
    "build_plan",
    "canon_address",
    "canon_rule",
    "classic_collection_to_arm",
    "created_routes",
    "firewall_size_line",
    "group_size_bytes",
    "plan_firewall",
    "plan_firewall_checked",
    "plan_routes",
    "route_table_id_for",
    "route_table_name_for",
    "rule_collections_to_arm",
]


def build_plan(
    target: str, changes: Iterable[Change], conflicts: Iterable[Conflict], skipped: Iterable[Skip]
) -> Plan:
    """A Plan from the pieces (skips de-duplicated, first reason per target wins; order kept)."""
    seen: dict[str, Skip] = {}
    for skip in skipped:
        seen.setdefault(id_key(skip.target), skip)
    return Plan(target=target, changes=tuple(changes), conflicts=tuple(conflicts),
                skipped=tuple(seen.values()))
