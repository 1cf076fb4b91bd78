"""Pure: the owned firewall rules as changes: one whole rule collection group per policy, or owned classic
collections (docs/architecture.md 3).

The group is written whole (a PUT replaces it); foreign collections inside it are carried over unchanged,
foreign classic collections are never touched; above RULE_COLLECTION_GROUP_SHARD_BYTES the owned rules are
split over owned groups `<group>-2`... (remediation/planning/shards.py), written receiving shards first,
emptied shards deleted last, and a shard holding a foreign collection is never deleted. ARM limits (the group
size, groups per policy) are an ERROR in the plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediation.core.config import Settings
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    ClassicCollectionPayload,
    Conflict,
    RuleCollection,
    RuleCollectionGroupPayload,
    Severity,
    Snapshot,
)
from remediation.planning import egress, rules, shards

# --------------------------------------------------------------------------------------------- firewall


def _group_body(priority: int, collections: Sequence[RuleCollection]) -> RuleCollectionGroupPayload:
    return RuleCollectionGroupPayload(priority, tuple(collections))


def _collections_reason(collections: Sequence[RuleCollection]) -> str:
    counts = [(c.name, len(c.rules) + len(c.application_rules)) for c in collections]
    parts = [f"{name} ({n} rule{'s' if n != 1 else ''})" for name, n in counts]
    return "runbook firewall rules: " + ", ".join(parts)


def plan_firewall(
    snapshot: Snapshot, collections: Sequence[RuleCollection], settings: Settings
) -> tuple[Change, ...]:
    """The owned firewall rules: one whole rule collection group (policy), or owned classic collections.
    (`plan_firewall_checked` also returns what it reports; this is its changes alone.)"""
    return plan_firewall_checked(snapshot, collections, settings)[0]


# The owned group's size limit and its estimate live in remediation.planning.shards (kept importable from here).
GROUP_SIZE_LIMIT_BYTES = shards.GROUP_SIZE_LIMIT_BYTES
group_size_bytes = shards.group_size_bytes


def plan_firewall_checked(
    snapshot: Snapshot, collections: Sequence[RuleCollection], settings: Settings
) -> tuple[tuple[Change, ...], tuple[Conflict, ...]]:
    """plan_firewall with its report: foreign collections kept inside an owned group (NOTE), and an ERROR
    instead of any group write when a group would exceed GROUP_SIZE_LIMIT_BYTES or the policy would hold
    more than MAX_GROUPS_PER_POLICY groups.

    The owned rules are split over the owned groups `<group>`, `<group>-2`... when they exceed
    RULE_COLLECTION_GROUP_SHARD_BYTES (remediation/planning/shards.py). Order of the changes, which the policy lane
    keeps (one write at a time per policy): shards that receive rules, then shards that only lose rules,
    then the deletes of shards no longer needed, so no rule is ever absent from the policy in between.
    """
    firewall = snapshot.firewall
    if firewall is None:
        return (), ()
    if firewall.policy_id is None:
        observed = (*firewall.classic_collections, *firewall.classic_application_collections)
        return _plan_classic(firewall.id, observed, collections, settings), ()
    base = settings.rule_collection_group
    owned = [g for g in snapshot.owned_groups if shards.shard_index(base, g.name) is not None]
    if snapshot.rule_collection_group is not None and snapshot.rule_collection_group.name.lower() != base.lower():
        # not ours: the observer handed us another group; never compare against it
        owned = [g for g in owned if g is not snapshot.rule_collection_group]
    owned_names = {g.name.lower() for g in owned}
    foreign_priorities = [p for name, p in snapshot.policy_group_priorities.items()
                          if shards.shard_index(base, name) is None]
    planned = shards.assign_shards(
        collections, owned, base_name=base, base_priority=settings.rule_collection_group_priority,
        capacity_bytes=settings.rule_collection_group_shard_bytes, owns_name=settings.owns_name,
        taken_priorities=foreign_priorities)
    reports: list[Conflict] = []
    gaining: list[Change] = []
    losing: list[Change] = []
    deletes: list[Change] = []
    for shard in planned:
        change = _plan_shard(firewall.policy_id, shard, settings, reports)
        if change is None:
            continue
        if change.action is Action.DELETE:
            deletes.append(change)
        elif shard.gains or change.action is Action.CREATE:
            gaining.append(change)
        else:
            losing.append(change)
    changes = (*gaining, *losing, *deletes)
    writes = [c for c in changes if c.action is not Action.NOOP]
    wanted = [s for s in planned if s.collections]
    if writes:
        reports.extend(_limit_errors(firewall.policy_id, wanted, snapshot, owned_names, base))
        addresses = shards.unique_network_addresses(c for s in wanted for c in s.collections)
        if addresses > shards.MAX_UNIQUE_NETWORK_ADDRESSES:
            reports.append(Conflict(
                ChangeKind.RULE_COLLECTION_GROUP, firewall.policy_id,
                f"the owned groups' network rules name {addresses} unique source/destination addresses; Azure "
                f"Firewall documents at most {shards.MAX_UNIQUE_NETWORK_ADDRESSES} (docs/platform-notes.md §9): "
                "ARM may refuse the write", Severity.NOTE))
    if any(r.severity is Severity.ERROR for r in reports):
        return (), tuple(reports)
    return changes, tuple(reports)


def _plan_shard(policy_id: str, shard: shards.Shard, settings: Settings,
                reports: list[Conflict]) -> Change | None:
    address = f"{policy_id}/ruleCollectionGroups/{shard.name}"
    group = shard.observed
    owned = tuple(c for c in shard.collections if settings.owns_name(c.name))
    # Someone else's collections inside an owned group are carried over unchanged: a PUT replaces the whole
    # group, so leaving them out would delete them. A shard holding one is never deleted.
    reports.extend(Conflict(ChangeKind.RULE_COLLECTION_GROUP, address,
                            f"foreign rule collection {c.name} inside the owned group is kept unchanged",
                            Severity.NOTE)
                   for c in shard.collections if not settings.owns_name(c.name))
    after = _group_body(shard.priority, shard.collections)
    if group is None:
        if not owned:
            return None
        return Change(Action.CREATE, ChangeKind.RULE_COLLECTION_GROUP, address, None, after,
                      _collections_reason(owned) + _shard_note(shard))
    before = _group_body(group.priority, group.rule_collections)
    if not shard.collections:
        why = ("no cluster in scope needs the owned rule collection group" if shard.index == 1 else
               "owned shard no longer needed: its rules are elsewhere or no cluster needs them")
        return Change(Action.DELETE, ChangeKind.RULE_COLLECTION_GROUP, address, before, None, why,
                      etag=group.etag)
    same = (group.priority == shard.priority
            and rules.canon_collections(group.rule_collections) == rules.canon_collections(shard.collections))
    if same and group.provisioning_state.lower() == "failed":
        # A group left Failed (a crashed or rejected write) holds what ARM may not be enforcing: PUT it again.
        same = False
    action = Action.NOOP if same else Action.UPDATE
    reason = _collections_reason(owned) + _shard_note(shard) if owned else \
        "no cluster in scope needs the owned rules; the group stays for its foreign collections"
    # A PUT replaces the whole group (docs/arm-notes.md 2.4): `after` is always the complete set.
    return Change(action, ChangeKind.RULE_COLLECTION_GROUP, address, before, before if same else after,
                  reason, etag=group.etag)


def _shard_note(shard: shards.Shard) -> str:
    return f" (shard {shard.index})" if shard.index > 1 else ""


def _limit_errors(policy_id: str, wanted: Sequence[shards.Shard], snapshot: Snapshot, owned_names: set[str],
                  base: str) -> list[Conflict]:
    """ARM limits, checked before any group write so an apply never stops half-way through the shards."""
    errors: list[Conflict] = []
    for shard in wanted:
        if shard.size_bytes > GROUP_SIZE_LIMIT_BYTES:
            errors.append(Conflict(
                ChangeKind.RULE_COLLECTION_GROUP, f"{policy_id}/ruleCollectionGroups/{shard.name}",
                f"the owned rule collection group would be about {shard.size_bytes} bytes, over the "
                f"{GROUP_SIZE_LIMIT_BYTES} byte limit of a group: not written (split the scope or shorten "
                "the rules)", Severity.ERROR))
    others = [n for n in snapshot.policy_group_priorities if shards.shard_index(base, n) is None
              and n not in owned_names]
    total = len(others) + len(wanted)
    if total > shards.MAX_GROUPS_PER_POLICY:
        errors.append(Conflict(
            ChangeKind.RULE_COLLECTION_GROUP, policy_id,
            f"the policy would hold {total} rule collection groups ({len(wanted)} owned), over the "
            f"{shards.MAX_GROUPS_PER_POLICY} a policy may hold: not written", Severity.ERROR))
    return errors


def firewall_size_line(snapshot: Snapshot, collections: Sequence[RuleCollection], settings: Settings) -> str:
    """One line for plans and status: the largest owned group's estimated size against the limit."""
    firewall = snapshot.firewall
    if firewall is None or firewall.policy_id is None:
        return ""
    planned = shards.assign_shards(
        collections, snapshot.owned_groups, base_name=settings.rule_collection_group,
        base_priority=settings.rule_collection_group_priority,
        capacity_bytes=settings.rule_collection_group_shard_bytes, owns_name=settings.owns_name)
    return shards.size_line([s for s in planned if s.collections], settings.rule_collection_group_shard_bytes,
                            snapshot.owned_groups)


def _plan_classic(
    firewall_id: str, observed: Sequence[RuleCollection], collections: Sequence[RuleCollection],
    settings: Settings,
) -> tuple[Change, ...]:
    # Network and application collections are separate lists of the firewall (egress.classic_kind).
    existing = {(c.rule_type, c.name.lower()): c for c in observed}
    changes: list[Change] = []
    wanted: set[tuple[str, str]] = set()
    for collection in sorted(collections, key=lambda c: (c.rule_type, c.name.lower())):
        wanted.add((collection.rule_type, collection.name.lower()))
        kind, segment = egress.classic_kind(collection)
        address = f"{firewall_id}/{segment}/{collection.name}"
        reason = _collections_reason([collection])
        current = existing.get((collection.rule_type, collection.name.lower()))
        after = ClassicCollectionPayload(collection)
        if current is None:
            changes.append(Change(Action.CREATE, kind, address, None, after, reason))
        elif rules.canon_collection(current) == rules.canon_collection(collection):
            before = ClassicCollectionPayload(current)
            changes.append(Change(Action.NOOP, kind, address, before, before, reason))
        else:
            changes.append(Change(Action.UPDATE, kind, address, ClassicCollectionPayload(current), after, reason))
    for current in sorted(observed, key=lambda c: (c.rule_type, c.name.lower())):
        # Foreign classic collections are never touched; stale owned ones go.
        if settings.owns_name(current.name) and (current.rule_type, current.name.lower()) not in wanted:
            kind, segment = egress.classic_kind(current)
            changes.append(Change(Action.DELETE, kind, f"{firewall_id}/{segment}/{current.name}",
                                  ClassicCollectionPayload(current), None,
                                  "owned classic collection no cluster in scope needs"))
    return tuple(changes)
