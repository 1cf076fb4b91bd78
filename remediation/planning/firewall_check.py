"""Does a routing target need its firewall follow-up? Pure: a plain function of what the pass observed.

The firewall target reads the whole fleet inside the firewall lease (docs/architecture.md section 2), so
running it after every cluster event makes each event's cost grow with the fleet. A routing pass that
already read the owned rules can tell whether they are what the firewall target would write:

- a fleet pass (sweep, App Gateway, network target) holds every cluster in scope: the whole desired set is
  computed and planned exactly as the firewall target plans it (`fleet_reason`);
- a cluster pass holds one cluster: its own rules must be in the owned collections exactly, the rules shared
  by the fleet (P2S, EGRESS_EXTRA_FQDNS) must include its ranges, and no rule under its name may be left
  over (`cluster_reason`).

Either returns None when the follow-up can be left out, else the reason it runs. The answer is only "leave it
out" when the evidence is complete: a group not read, a group not settled, a name that cannot be matched, a
cluster without firewall rules of its own, anything unusual gives a reason, and the firewall target runs as
before (it is always safe, only dearer). The caller also runs it whenever the routing pass wrote or planned
a write: new routes change which clusters' egress passes the firewall (remediation.planning.egress.egress_path).
The timer's sweep uses `fleet_reason`, so drift in anyone's rules is still corrected on schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.model import (
    Action,
    ApplicationRule,
    Conflict,
    NetworkRule,
    ObservedCluster,
    RuleCollection,
    Snapshot,
)
from remediation.planning import desired, plan, rules

_SETTLED = "succeeded"


def fleet_reason(snapshot: Snapshot, settings: Settings) -> tuple[str | None, tuple[Conflict, ...]]:
    """(None when the firewall target would plan no write from this fleet snapshot, the same planner's
    notes): the notes (foreign collections kept inside the owned group, the group size) are what the firewall
    target would have reported, so a run that leaves it out still reports them."""
    unread = _owned_rules_unread(snapshot, settings)
    if unread is not None:
        return unread, ()
    collections, _ = desired.desired_rule_collections(snapshot, settings)
    changes, reports = plan.plan_firewall_checked(snapshot, collections, settings)
    pending = [c for c in changes if c.action is not Action.NOOP]
    if pending:
        return f"the firewall target plans {len(pending)} change(s)", ()
    if any(r.blocking for r in reports):
        return "the firewall plan reports an error or a conflict", ()
    return None, tuple(reports)


def cluster_reason(snapshot: Snapshot, cluster_id: str, settings: Settings) -> str | None:
    """None when the owned rules already hold exactly what this cluster needs (see the module docstring)."""
    unread = _owned_rules_unread(snapshot, settings)
    if unread is not None:
        return unread
    cluster = snapshot.clusters.get(ids.id_key(cluster_id))
    if cluster is None:
        return "the cluster is gone: its rules must be removed"
    ranges = {rules.canon_address(r) for r in desired.aks_ranges(snapshot, cluster)}
    if not ranges:
        return "the cluster has no ranges of its own to check its rules by"
    wanted, _ = desired.desired_rule_collections(snapshot, settings)
    observed = _owned_collections(snapshot, settings)
    reasons = [_compare(cluster, ranges, wanted, observed, name) for name in desired.rule_name_candidates(cluster)]
    if any(r is None for r in reasons):
        return None
    return reasons[0]


# --------------------------------------------------------------------------------------------- reads


def _owned_rules_unread(snapshot: Snapshot, settings: Settings) -> str | None:
    firewall = snapshot.firewall
    if firewall is None:
        return "the firewall was not read"
    if firewall.policy_id is None:
        if firewall.provisioning_state.lower() != _SETTLED:
            return f"the firewall is {firewall.provisioning_state}"
        return None  # classic: the rules are part of the firewall read
    group = snapshot.rule_collection_group
    if group is None:
        rcg_id = f"{firewall.policy_id}/ruleCollectionGroups/{settings.rule_collection_group}"
        if ids.id_key(rcg_id) not in snapshot.absent:
            return "the owned rule collection group was not read"
        if snapshot.rule_collection_shards:
            return "owned shards exist without the owned group"
        return None  # confirmed missing: compared as empty (a cluster that needs rules gets a reason)
    if group.name.lower() != settings.rule_collection_group.lower():
        return "the group read is not the owned one"
    for owned in snapshot.owned_groups:  # the group and its shards (remediation/planning/shards.py)
        if owned.provisioning_state.lower() != _SETTLED:
            return f"the owned rule collection group {owned.name} is {owned.provisioning_state}"
    if group.priority != settings.rule_collection_group_priority:
        return "the owned rule collection group's priority differs"
    return None


def _owned_collections(snapshot: Snapshot, settings: Settings) -> tuple[RuleCollection, ...]:
    """The owned collections wherever they live. A sharded group holds a collection of the same name in
    several shards, each with some of its rules (remediation/planning/shards.py): they are merged here."""
    firewall = snapshot.firewall
    if firewall is not None and firewall.policy_id is None:
        found: Iterable[RuleCollection] = (*firewall.classic_collections, *firewall.classic_application_collections)
    else:
        found = [c for g in snapshot.owned_groups for c in g.rule_collections]
    merged: dict[tuple[str, str], RuleCollection] = {}
    for collection in found:
        if not settings.owns_name(collection.name):
            continue
        key = (collection.rule_type, collection.name.lower())
        seen = merged.get(key)
        merged[key] = collection if seen is None else dataclasses.replace(
            seen, rules=(*seen.rules, *collection.rules),
            application_rules=(*seen.application_rules, *collection.application_rules))
    return tuple(merged.values())


# --------------------------------------------------------------------------------------------- compare


def _compare(cluster: ObservedCluster, ranges: set[str], wanted: Sequence[RuleCollection],
             observed: Sequence[RuleCollection], name: str) -> str | None:
    """`wanted` is computed for this cluster alone, under its plain rule name; `name` is the name its rules
    may carry in the group (the plain one, or the one with a hash when cluster names collide in the fleet)."""
    plain = desired.rule_name_candidates(cluster)[0]
    by_name = {(c.rule_type, c.name.lower()): c for c in observed}
    claimed: set[tuple[str, str, str]] = set()
    for collection in wanted:
        found = by_name.get((collection.rule_type, collection.name.lower()))
        if found is None:
            return f"owned collection {collection.name} is missing"
        if (found.priority, found.action.lower()) != (collection.priority, collection.action.lower()):
            return f"owned collection {collection.name} has another priority or action"
        for rule in _rules_of(collection):
            own = _is_own(rule.name, plain)
            expected_name = _renamed(rule.name, plain, name) if own else rule.name
            current = _rule_named(found, expected_name)
            if current is None:
                return f"rule {expected_name} is missing from {collection.name}"
            if own and _canon(current) != _canon(_with_name(rule, expected_name)):
                return f"rule {expected_name} in {collection.name} differs"
            if not own and not _includes(current, rule):
                return f"shared rule {rule.name} in {collection.name} does not cover the cluster's ranges"
            claimed.add((collection.rule_type, collection.name.lower(), expected_name.lower()))
    # Left-overs: a rule under this cluster's name that it no longer needs (a removed App Gateway, egress
    # that no longer passes the firewall) would keep an allow open.
    for collection in observed:
        for rule in _rules_of(collection):
            key = (collection.rule_type, collection.name.lower(), rule.name.lower())
            if key in claimed:
                continue
            if rule.name.lower() == name.lower():
                return f"rule {rule.name} in {collection.name} is no longer needed"
            if rule.name.lower().startswith(name.lower() + "-") and _addresses(rule) & ranges:
                return f"rule {rule.name} in {collection.name} may be a left-over of this cluster"
    return None


def _is_own(rule_name: str, plain: str) -> bool:
    lowered, base = rule_name.lower(), plain.lower()
    return lowered == base or lowered.startswith(base + "-")


def _renamed(rule_name: str, plain: str, name: str) -> str:
    return name + rule_name[len(plain):]


def _rules_of(collection: RuleCollection) -> tuple[NetworkRule | ApplicationRule, ...]:
    return (*collection.rules, *collection.application_rules)


def _rule_named(collection: RuleCollection, name: str) -> NetworkRule | ApplicationRule | None:
    for rule in _rules_of(collection):
        if rule.name.lower() == name.lower():
            return rule
    return None


def _with_name(rule: NetworkRule | ApplicationRule, name: str) -> NetworkRule | ApplicationRule:
    return dataclasses.replace(rule, name=name)


def _canon(rule: NetworkRule | ApplicationRule) -> tuple[object, ...]:
    """The planner's own comparable forms (remediation/planning/rules.py), so this check, compliance and the
    firewall plan agree on "the same rule"."""
    return rules.canon_any(rule)


def _sources(rule: NetworkRule | ApplicationRule) -> set[str]:
    return {rules.canon_address(v) for v in rule.source_addresses}


def _destinations(rule: NetworkRule | ApplicationRule) -> set[str]:
    return {rules.canon_address(v) for v in rule.destination_addresses} if isinstance(rule, NetworkRule) else set()


def _addresses(rule: NetworkRule | ApplicationRule) -> set[str]:
    return _sources(rule) | _destinations(rule)


def _without_addresses(rule: NetworkRule | ApplicationRule) -> NetworkRule | ApplicationRule:
    if isinstance(rule, NetworkRule):
        return dataclasses.replace(rule, source_addresses=(), destination_addresses=())
    return dataclasses.replace(rule, source_addresses=())


def _includes(current: NetworkRule | ApplicationRule, wanted: NetworkRule | ApplicationRule) -> bool:
    """A fleet-wide rule (P2S, EGRESS_EXTRA_FQDNS): the same rule but for its addresses, which hold this
    cluster's."""
    return (type(current) is type(wanted) and _sources(wanted) <= _sources(current)
            and _destinations(wanted) <= _destinations(current)
            and _canon(_without_addresses(current)) == _canon(_without_addresses(wanted)))


def removes_anything(snapshot: Snapshot, collections: Sequence[RuleCollection], settings: Settings) -> bool:
    """Whether writing `collections` would take away anything the owned rules allow now: a rule, or an
    address of a rule. Used where the fleet came from an index that may lag (Resource Graph,
    docs/arm-notes.md section 7.2): a removal must rest on a fresh ARM read."""
    wanted: dict[tuple[str, str, str], NetworkRule | ApplicationRule] = {}
    for collection in collections:
        for rule in _rules_of(collection):
            wanted[(collection.rule_type, collection.name.lower(), rule.name.lower())] = rule
    for collection in _owned_collections(snapshot, settings):
        for rule in _rules_of(collection):
            kept = wanted.get((collection.rule_type, collection.name.lower(), rule.name.lower()))
            if kept is None or not (_sources(rule) <= _sources(kept) and _destinations(rule) <= _destinations(kept)):
                return True
    return False
