"""What "the same rule" means: the one canonical form of firewall rules and collections.

The firewall planner (remediation/planning/firewall.py) writes a group only when its canonical form differs;
the follow-up check (firewall_check) and compliance compare with the same forms, so the three can never
disagree on whether a rule is in place. CIDRs compare canonically, names and service tags case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from remediation.core import arm_shapes
from remediation.core.model import (
    ApplicationRule,
    NetworkRule,
    RuleCollection,
)
from remediation.planning import egress
from remediation.planning.desired import canonical_prefix


def rule_collections_to_arm(collections: Iterable[RuleCollection]) -> list[dict[str, Any]]:
    """Policy `ruleCollections` in ARM names (kept for callers; the serializer is remediation.core.arm_shapes)."""
    return [arm_shapes.policy_collection(c) for c in collections]


def classic_collection_to_arm(collection: RuleCollection) -> dict[str, Any]:
    """A classic `networkRuleCollections[].properties` body (see remediation.core.arm_shapes)."""
    return arm_shapes.classic_collection_properties(collection)


def canon_address(value: str) -> str:
    # CIDRs compare canonically (10.1.0.0/22 == 10.1.0.0/22 however written); service tags case-insensitively.
    return canonical_prefix(value).lower()


def canon_rule(rule: NetworkRule) -> tuple[Any, ...]:
    return (
        rule.name.lower(),
        tuple(sorted({p.upper() for p in rule.protocols})),
        tuple(sorted({canon_address(a) for a in rule.source_addresses})),
        tuple(sorted({canon_address(a) for a in rule.destination_addresses})),
        tuple(sorted({p.strip() for p in rule.destination_ports})),
        tuple(sorted({f.strip().lower() for f in rule.destination_fqdns})),
        rule.description,
    )


def canon_application_rule(rule: ApplicationRule) -> tuple[Any, ...]:
    """An application rule's form: the egress planner's (remediation/planning/egress.py), which the collection
    form below uses too."""
    return egress.canon_application_rule(rule)


def canon_any(rule: NetworkRule | ApplicationRule) -> tuple[Any, ...]:
    """Either kind of rule, its kind first (a network and an application rule are never the same rule)."""
    if isinstance(rule, NetworkRule):
        return ("network", *canon_rule(rule))
    return ("application", *canon_application_rule(rule))


def same_rule(a: NetworkRule | ApplicationRule, b: NetworkRule | ApplicationRule) -> bool:
    """What plan, firewall_check and compliance all mean by "the same rule": every field the firewall keeps
    (name, protocols, addresses, ports, destinationFqdns, description), in canonical form."""
    return canon_any(a) == canon_any(b)


def canon_collection(collection: RuleCollection) -> tuple[Any, ...]:
    return (collection.name.lower(), collection.priority, collection.action.lower(),
            tuple(sorted(canon_rule(r) for r in collection.rules)), collection.rule_type.lower(),
            egress.canon_application_rules(collection))


def canon_collections(collections: Iterable[RuleCollection]) -> tuple[Any, ...]:
    return tuple(sorted(canon_collection(c) for c in collections))
