"""Pure: split the owned firewall rule collections across owned groups `<name>`, `<name>-2`, `<name>-3`...

A rule collection group has a size limit (docs/platform-notes.md §9: 2 MB, 1 MB for policies created before
July 2022), and the owned group grows with the fleet. Above a threshold (setting
RULE_COLLECTION_GROUP_SHARD_BYTES, default 75 % of the limit) the owned rules are spread over shards:

- The unit that moves is one rule of one collection (a cluster's egress rule, its ingress rule...). A shard
  holds, for each owned collection, a collection of the same name, priority and action with the rules placed
  there (a collection name is unique per group, not per policy), then the foreign collections it already held.
- Assignment is sticky, so adding or removing one cluster rewrites one shard, not every shard: a rule stays
  in the shard it was observed in while that shard has room; a new rule (or one that no longer fits) goes to
  the first shard, in index order, with room; a shard is added when none has room. A shard that has to let
  a rule go takes none in the same pass, so the plan can write every receiving shard before any losing
  one and no rule is ever absent from the policy between two writes. Nothing is compacted:
  moving rules only to pack shards would rewrite shards for no gain in what the firewall enforces.
- Shard 1 is `<name>` at RULE_COLLECTION_GROUP_PRIORITY (as before sharding). Shard k keeps the priority it
  was observed with unless another group of the policy uses it; a new shard takes the lowest free priority
  above the base one. Every owned collection is Allow, so the order of the shards does not change what the
  firewall lets through; free priorities only keep the policy unambiguous.
- The size of a group is estimated as the compact JSON of its properties (`group_size_bytes`); a shard is
  filled up to the threshold, the hard limit stays an ERROR of the plan (remediation/planning/plan.py).

Public API: shard_name, shard_index, Shard, assign_shards, group_size_bytes, size_text, size_line,
unique_network_addresses, GROUP_SIZE_LIMIT_BYTES, DEFAULT_SHARD_BYTES, MAX_GROUPS_PER_POLICY,
MAX_UNIQUE_NETWORK_ADDRESSES.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from remediation.core import arm_shapes
from remediation.core.model import (
    ApplicationRule,
    NetworkRule,
    ObservedRuleCollectionGroup,
    RuleCollection,
    RuleCollectionGroupPayload,
)

# The owned group's size limit (docs/platform-notes.md §9): 2 MB for policies created after July 2022, 1 MB
# before. The plan stops short of it, so ARM never refuses a group half-way through a fleet's rules.
GROUP_SIZE_LIMIT_BYTES = 2 * 1024 * 1024
DEFAULT_SHARD_BYTES = GROUP_SIZE_LIMIT_BYTES * 3 // 4  # 1,572,864: leaves 25 % for the estimate's margin
# Groups per policy: 50 for policies created before July 2022, 60 or 100 after depending on the doc revision
# (docs/platform-notes.md §9): the plan refuses more than the lowest figure.
MAX_GROUPS_PER_POLICY = 50
MAX_PRIORITY = 65000
# "Unique source/destinations in network rules": 20,000 (azure-docs includes/firewall-limits.md; an IP Group
# counts as one). Whether it is per policy or per firewall is not stated: the plan reports it as a NOTE.
MAX_UNIQUE_NETWORK_ADDRESSES = 20_000


def group_size_bytes(body: Mapping[str, Any]) -> int:
    """The estimated size of a group as ARM stores it: its properties serialized as compact JSON."""
    return _json_len({"properties": body})


def _json_len(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def shard_name(base: str, index: int) -> str:
    """Shard 1 is the configured group itself; shard k is `<base>-k`."""
    return base if index == 1 else f"{base}-{index}"


def shard_index(base: str, name: str) -> int | None:
    """The shard number of a group name, or None when the group is not one of the owned shards."""
    low, head = name.lower(), base.lower()
    if low == head:
        return 1
    tail = low[len(head) + 1:] if low.startswith(head + "-") else ""
    if tail.isdigit() and not tail.startswith("0") and int(tail) >= 2:
        return int(tail)
    return None


@dataclass(frozen=True)
class Shard:
    """One owned group as the plan wants it. `collections` is empty when the shard is no longer needed
    (then it is deleted); `observed` is the group read, None for a new shard."""

    index: int
    name: str
    priority: int
    collections: tuple[RuleCollection, ...]
    observed: ObservedRuleCollectionGroup | None
    owned_rules: int  # owned rules placed here
    gains: bool  # receives at least one owned rule it did not hold: written before shards that only lose
    size_bytes: int  # estimated size of the wanted group (0 when it is deleted)


_Rule = NetworkRule | ApplicationRule


def _rules_of(collection: RuleCollection) -> tuple[_Rule, ...]:
    return collection.application_rules if collection.is_application else collection.rules


def _with_rules(collection: RuleCollection, rules: Sequence[_Rule]) -> RuleCollection:
    if collection.is_application:
        kept = tuple(r for r in rules if isinstance(r, ApplicationRule))
        return replace(collection, rules=(), application_rules=kept)
    return replace(collection, rules=tuple(r for r in rules if isinstance(r, NetworkRule)), application_rules=())


class _Costs:
    """Bytes a collection header and each rule add to a group as compact JSON (commas added by the caller)."""

    def __init__(self) -> None:
        self._headers: dict[str, int] = {}
        self._rules: dict[tuple[str, int], int] = {}

    def header(self, collection: RuleCollection) -> int:
        key = collection.name.lower()
        if key not in self._headers:
            self._headers[key] = _json_len(arm_shapes.policy_collection(_with_rules(collection, ())))
        return self._headers[key]

    def rule(self, collection: RuleCollection, rule: _Rule) -> int:
        key = (collection.name.lower(), id(rule))  # the rules of `desired`, alive for the whole assignment
        if key not in self._rules:
            whole = _json_len(arm_shapes.policy_collection(_with_rules(collection, (rule,))))
            self._rules[key] = whole - self.header(collection)
        return self._rules[key]


def _group_properties(priority: int, collections: Sequence[RuleCollection]) -> dict[str, Any]:
    return arm_shapes.rule_collection_group_properties(RuleCollectionGroupPayload(priority, tuple(collections)))


def _empty_group(priority: int) -> int:
    return group_size_bytes(_group_properties(priority, ()))


def assign_shards(
    desired: Sequence[RuleCollection],
    observed: Sequence[ObservedRuleCollectionGroup],
    *,
    base_name: str,
    base_priority: int,
    capacity_bytes: int,
    owns_name: Callable[[str], bool],
    taken_priorities: Iterable[int] = (),
) -> tuple[Shard, ...]:
    """Place every owned rule of `desired` in a shard (see the module doc), in shard order.

    `observed`: the owned groups read (the base group and `<base>-k`; other names are ignored).
    `taken_priorities`: priorities of the policy's other (foreign) groups, which new shards avoid.
    Returns every shard that exists or is needed; a shard with no collection left is to be deleted.

    Steps: read the observed layout (each shard's foreign collections, where each owned rule is); keep each
    rule where it is while it fits; place the others first-fit; then name, prioritise and size the shards.
    """
    groups = _observed_groups(observed, base_name)
    packing = _Packing.of(desired, groups, owns_name, base_priority)
    pending, overflowed = _keep_in_place(packing, capacity_bytes)
    _place_first_fit(packing, pending, overflowed, capacity_bytes)
    return _build_shards(packing, groups, base_name, base_priority, set(taken_priorities))


def _observed_groups(observed: Sequence[ObservedRuleCollectionGroup],
                     base_name: str) -> dict[int, ObservedRuleCollectionGroup]:
    """The owned groups read, by shard index (the first of a name wins)."""
    groups: dict[int, ObservedRuleCollectionGroup] = {}
    for group in observed:
        index = shard_index(base_name, group.name)
        if index is not None:
            groups.setdefault(index, group)
    return groups


@dataclass
class _Packing:
    """The shards being filled: per shard index, its foreign collections, the bytes used, the owned
    collections opened and the rules placed (collection position, rule); `where` is each owned rule's
    observed shard, `gains` the shards receiving a rule they did not hold."""

    desired: Sequence[RuleCollection]
    base_priority: int
    foreign: dict[int, tuple[RuleCollection, ...]]
    where: dict[tuple[str, str], int]  # (collection, rule) lower names -> observed shard
    used: dict[int, int]
    opened: dict[int, set[str]]
    placed: dict[int, list[tuple[int, _Rule]]]
    gains: set[int] = field(default_factory=set)
    costs: _Costs = field(default_factory=_Costs)

    @classmethod
    def of(cls, desired: Sequence[RuleCollection], groups: dict[int, ObservedRuleCollectionGroup],
           owns_name: Callable[[str], bool], base_priority: int) -> _Packing:
        foreign = {i: tuple(c for c in g.rule_collections if not owns_name(c.name)) for i, g in groups.items()}
        where: dict[tuple[str, str], int] = {}
        for index in sorted(groups):
            for collection in groups[index].rule_collections:
                if owns_name(collection.name):
                    for rule in _rules_of(collection):
                        where.setdefault((collection.name.lower(), rule.name.lower()), index)
        used = {i: group_size_bytes(_group_properties(base_priority, foreign[i])) for i in groups}
        return cls(desired, base_priority, foreign, where, used, {i: set() for i in groups},
                   {i: [] for i in groups})

    def cost(self, index: int, position: int, rule: _Rule) -> int:
        collection = self.desired[position]
        if collection.name.lower() in self.opened[index]:
            return self.costs.rule(collection, rule) + 1  # a comma after the previous rule
        comma = 1 if self.opened[index] or self.foreign[index] else 0  # after the previous collection
        return comma + self.costs.header(collection) + self.costs.rule(collection, rule)

    def put(self, index: int, position: int, rule: _Rule, size: int) -> None:
        self.used[index] += size
        self.opened[index].add(self.desired[position].name.lower())
        self.placed[index].append((position, rule))
        if self.where.get((self.desired[position].name.lower(), rule.name.lower())) != index:
            self.gains.add(index)

    def ensure(self, index: int) -> None:
        """Shard `index` exists (a new one is empty)."""
        if index not in self.used:
            self.used[index] = _empty_group(self.base_priority)
            self.opened[index], self.placed[index] = set(), []
            self.foreign.setdefault(index, ())


def _keep_in_place(packing: _Packing, capacity_bytes: int) -> tuple[list[tuple[int, _Rule]], set[int]]:
    """Keep each owned rule in the shard that holds it while it fits; returns the rules still to place and
    the shards that had to let one go.

    Shards that must let a rule go (it no longer fits) take no rule in the next pass: every shard is then
    either receiving or losing, and writing the receiving ones first leaves no rule absent in between."""
    pending: list[tuple[int, _Rule]] = []
    overflowed: set[int] = set()
    for position, collection in enumerate(packing.desired):
        for rule in _rules_of(collection):
            index_now = packing.where.get((collection.name.lower(), rule.name.lower()))
            if index_now is not None:
                size = packing.cost(index_now, position, rule)
                if packing.used[index_now] + size <= capacity_bytes:
                    packing.put(index_now, position, rule, size)
                    continue
                overflowed.add(index_now)
            pending.append((position, rule))
    return pending, overflowed


def _place_first_fit(packing: _Packing, pending: Sequence[tuple[int, _Rule]], overflowed: set[int],
                     capacity_bytes: int) -> None:
    """Each pending rule into the first shard (from 1, new ones as needed) that is not losing and has room."""
    for position, rule in pending:
        index = 1
        while True:
            packing.ensure(index)
            if index not in overflowed:
                size = packing.cost(index, position, rule)
                # An empty shard takes the rule whatever its size: the plan's hard limit check reports it.
                if packing.used[index] + size <= capacity_bytes or (
                        not packing.placed[index] and not packing.foreign[index]):
                    packing.put(index, position, rule, size)
                    break
            index += 1


def _build_shards(packing: _Packing, groups: dict[int, ObservedRuleCollectionGroup], base_name: str,
                  base_priority: int, taken: set[int]) -> tuple[Shard, ...]:
    """The shards in index order: shard 1 at the base priority, others keep theirs unless another group
    holds it, new ones take a free one; owned collections in desired order, then the foreign ones."""
    desired = packing.desired
    shards: list[Shard] = []
    assigned: set[int] = {base_priority}
    for index in sorted(packing.used):
        held = groups.get(index)
        if index == 1:
            priority = base_priority
        elif held is not None and held.priority not in taken | assigned:
            priority = held.priority
        else:
            priority = _free_priority(base_priority, taken | assigned)
        assigned.add(priority)
        rules_by_position: dict[int, list[_Rule]] = {}
        for position, rule in packing.placed[index]:
            rules_by_position.setdefault(position, []).append(rule)
        owned = tuple(_with_rules(desired[p], _in_desired_order(desired[p], rules_by_position[p]))
                      for p in sorted(rules_by_position))
        collections = (*owned, *packing.foreign.get(index, ()))
        size = group_size_bytes(_group_properties(priority, collections)) if collections else 0
        shards.append(Shard(index, shard_name(base_name, index), priority, collections, held,
                            len(packing.placed[index]), index in packing.gains, size))
    return tuple(shards)


def _in_desired_order(collection: RuleCollection, rules: Sequence[_Rule]) -> list[_Rule]:
    order = {id(r): i for i, r in enumerate(_rules_of(collection))}
    return sorted(rules, key=lambda r: order.get(id(r), 0))


def _free_priority(base: int, taken: set[int]) -> int:
    for priority in range(base + 1, MAX_PRIORITY + 1):
        if priority not in taken:
            return priority
    for priority in range(base - 1, 99, -1):
        if priority not in taken:
            return priority
    raise ValueError("no free rule collection group priority left in the policy")


def size_text(size_bytes: int) -> str:
    """`about 12,345 bytes of 2,097,152 (0.6 %)`: a group's estimated size against the limit."""
    share = 100 * size_bytes / GROUP_SIZE_LIMIT_BYTES
    return f"about {size_bytes:,} bytes of {GROUP_SIZE_LIMIT_BYTES:,} ({share:.1f} %)"


def size_line(wanted: Sequence[Shard], threshold_bytes: int,
              observed: Iterable[ObservedRuleCollectionGroup] = ()) -> str:
    """The owned groups' size for plans and status: the largest one against the limit, how many there are,
    where sharding starts, and the largest `size` ARM itself reports for the groups read (the estimate's
    check in production: docs/platform-notes.md §9)."""
    largest = max((s.size_bytes for s in wanted), default=0)
    count = len(wanted)
    groups = f"{count} owned group{'s' if count != 1 else ''}"
    line = f"{groups}, the largest {size_text(largest)}; split above {threshold_bytes:,} bytes"
    reported = [g.size_bytes for g in observed if g.size_bytes is not None]
    if reported:
        line += f"; ARM reports {max(reported):,} bytes for the largest read"
    return line


def unique_network_addresses(collections: Iterable[RuleCollection]) -> int:
    """Distinct source and destination addresses over the network rules (what the 20,000 limit counts)."""
    found: set[str] = set()
    for collection in collections:
        for rule in collection.rules:
            found.update(a.strip().lower() for a in (*rule.source_addresses, *rule.destination_addresses))
    return len(found)
