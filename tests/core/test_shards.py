"""shards.py and the sharded firewall plan: stable assignment, threshold, priorities, write/delete order."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.azure import convert
from remediation.core import arm_shapes
from remediation.core.model import (
    Action,
    ChangeKind,
    NetworkRule,
    ObservedRuleCollectionGroup,
    RuleCollection,
    Severity,
)
from remediation.planning import plan, shards
from tests.core import factories as f

BASE = "rmd-aks-runbook"
OWNS = f.settings().owns_name


def _rule(i: int) -> NetworkRule:
    # Every rule has the same size, so "10 rules per shard" is exact.
    return NetworkRule(f"cluster-{i:04d}", ("TCP",), (f"10.1{i // 100:02d}.1{i % 100:02d}.0/24",), ("AzureCloud",),
                       ("443",))


def _egress(indexes) -> RuleCollection:
    return RuleCollection("rmd-egress", 200, "Allow", tuple(_rule(i) for i in indexes))


def _capacity(rules: int) -> int:
    """A threshold that holds exactly `rules` of the test rules in one group."""
    one = shards.assign_shards((_egress(range(rules)),), (), base_name=BASE, base_priority=250,
                               capacity_bytes=10**9, owns_name=OWNS)
    return one[0].size_bytes


def _observed(planned) -> list[ObservedRuleCollectionGroup]:
    """What ARM holds after the planned shards were written."""
    return [ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/{s.name}", s.name, s.priority,
                                        s.collections, etag=f"e{s.index}") for s in planned if s.collections]


def _placement(planned) -> dict[str, int]:
    return {r.name: s.index for s in planned for c in s.collections for r in c.rules}


@pytest.mark.parametrize(("name", "index"), [
    (BASE, 1), (BASE.upper(), 1), (f"{BASE}-2", 2), (f"{BASE}-17", 17),
    (f"{BASE}-1", None), (f"{BASE}-02", None), (f"{BASE}-x", None), (f"{BASE}x-2", None), ("other", None),
])
def test_shard_names(name: str, index: int | None) -> None:
    assert shards.shard_index(BASE, name) == index
    if index is not None:
        assert shards.shard_index(BASE, shards.shard_name(BASE, index)) == index


@pytest.mark.parametrize(("rules", "per_shard", "expected"), [
    (5, 10, [5]),            # below the threshold: one group, as before sharding
    (10, 10, [10]),          # exactly at the threshold
    (11, 10, [10, 1]),
    (25, 10, [10, 10, 5]),
])
def test_threshold_splits_in_order(rules: int, per_shard: int, expected: list[int]) -> None:
    planned = shards.assign_shards((_egress(range(rules)),), (), base_name=BASE, base_priority=250,
                                   capacity_bytes=_capacity(per_shard), owns_name=OWNS)
    assert [s.owned_rules for s in planned] == expected
    assert [s.name for s in planned] == [shards.shard_name(BASE, i + 1) for i in range(len(expected))]


@pytest.mark.parametrize(("change", "touched"), [
    ("add", {2}),            # a new cluster fills the shard with room: one shard written
    ("remove-first", {1}),   # removing a cluster rewrites only the shard that held it
    ("remove-last", {3}),
])
def test_assignment_is_sticky(change: str, touched: set[int]) -> None:
    capacity = _capacity(10)
    start = [*range(10), *range(100, 110), *range(200, 205)]  # 25 rules, shards of 10, 10, 5
    first = shards.assign_shards((_egress(start),), (), base_name=BASE, base_priority=250,
                                 capacity_bytes=capacity, owns_name=OWNS)
    assert [s.owned_rules for s in first] == [10, 10, 5]
    # Free one slot in shard 2 so an added cluster has somewhere to go besides the last shard.
    now = [i for i in start if i != 105]
    settled = shards.assign_shards((_egress(now),), _observed(first), base_name=BASE, base_priority=250,
                                   capacity_bytes=capacity, owns_name=OWNS)
    wanted = {"add": [*now, 50], "remove-first": [i for i in now if i != 3],
              "remove-last": [i for i in now if i != 204]}[change]
    after = shards.assign_shards((_egress(sorted(wanted)),), _observed(settled), base_name=BASE,
                                 base_priority=250, capacity_bytes=capacity, owns_name=OWNS)
    before = {s.index: s.collections for s in settled}
    assert {s.index for s in after if s.collections != before.get(s.index)} == touched
    moved = {n for n, i in _placement(after).items() if _placement(settled).get(n, i) != i}
    assert moved == set()


def test_priorities_avoid_every_other_group_of_the_policy() -> None:
    planned = shards.assign_shards((_egress(range(30)),), (), base_name=BASE, base_priority=250,
                                   capacity_bytes=_capacity(10), owns_name=OWNS, taken_priorities=(251, 253))
    assert [s.priority for s in planned] == [250, 252, 254]
    # An observed shard keeps its priority, unless a foreign group took it since.
    kept = shards.assign_shards((_egress(range(30)),), _observed(planned), base_name=BASE, base_priority=250,
                                capacity_bytes=_capacity(10), owns_name=OWNS, taken_priorities=(254,))
    assert [s.priority for s in kept] == [250, 252, 251]


def _snapshot(groups):
    groups = list(groups)
    base = next((g for g in groups if g.name == BASE), None)
    return dataclasses.replace(
        f.hub_spoke(), rule_collection_group=base,
        rule_collection_shards=tuple(g for g in groups if g.name != BASE),
        policy_group_priorities={g.name.lower(): g.priority for g in groups})


def test_writes_that_receive_rules_come_first_and_deletes_last() -> None:
    settings = f.settings(rule_collection_group_shard_bytes=_capacity(10))
    first = shards.assign_shards((_egress(range(25)),), (), base_name=BASE, base_priority=250,
                                 capacity_bytes=_capacity(10), owns_name=OWNS)
    snap = _snapshot(_observed(first))
    # Shard 3's clusters are gone, one cluster leaves shard 1, two new ones arrive (they fill shard 1, then 2).
    wanted = (_egress([*range(1, 20), 500]),)
    changes, reports = plan.plan_firewall_checked(snap, wanted, settings)
    rows = [(c.action, c.address.rsplit("/", 1)[-1]) for c in changes]
    assert rows == [(Action.UPDATE, BASE), (Action.NOOP, f"{BASE}-2"), (Action.DELETE, f"{BASE}-3")]
    assert not reports
    # A rule moving from shard 1 to shard 2 (shard 1 overfull after a threshold change): shard 2 first.
    smaller = f.settings(rule_collection_group_shard_bytes=_capacity(9))
    moved, _ = plan.plan_firewall_checked(_snapshot(_observed(first)), (_egress(range(20)),), smaller)
    order = [c.address.rsplit("/", 1)[-1] for c in moved if c.action is not Action.NOOP]
    assert order.index(f"{BASE}-3") < order.index(BASE)


def test_a_shard_holding_a_foreign_collection_is_never_deleted() -> None:
    settings = f.settings(rule_collection_group_shard_bytes=_capacity(10))
    first = shards.assign_shards((_egress(range(15)),), (), base_name=BASE, base_priority=250,
                                 capacity_bytes=_capacity(10), owns_name=OWNS)
    groups = _observed(first)
    theirs = RuleCollection("corp-allow", 300, "Allow", (_rule(900),))
    groups[1] = dataclasses.replace(groups[1], rule_collections=(*groups[1].rule_collections, theirs))
    changes, reports = plan.plan_firewall_checked(_snapshot(groups), (_egress(range(10)),), settings)
    shard2 = next(c for c in changes if c.address.endswith(f"{BASE}-2"))
    assert shard2.action is Action.UPDATE
    assert [c["name"] for c in (arm_shapes.after(shard2) or {})["ruleCollections"]] == ["corp-allow"]
    assert not [c for c in changes if c.action is Action.DELETE]
    assert [r.severity for r in reports] == [Severity.NOTE]


def test_too_many_groups_for_the_policy_is_an_error() -> None:
    settings = f.settings(rule_collection_group_shard_bytes=4096)
    changes, reports = plan.plan_firewall_checked(f.hub_spoke(), (_egress(range(2000)),), settings)
    errors = [r for r in reports if r.severity is Severity.ERROR]
    assert changes == () and errors and "rule collection groups" in errors[0].message
    assert errors[0].kind is ChangeKind.RULE_COLLECTION_GROUP


def test_size_line_reports_the_largest_group_against_the_limit() -> None:
    planned = shards.assign_shards((_egress(range(25)),), (), base_name=BASE, base_priority=250,
                                   capacity_bytes=_capacity(10), owns_name=OWNS)
    line = shards.size_line(planned, _capacity(10))
    assert line.startswith(f"3 owned groups, the largest about {planned[0].size_bytes:,} bytes of 2,097,152 (")


def _rules_in(body) -> set[tuple[str, str]]:
    return {(c["name"], r["name"]) for c in (body or {}).get("ruleCollections") or [] for r in c["rules"]}


@pytest.mark.parametrize(("now", "per_shard"), [
    ([*range(25), 70, 71], 10),         # clusters added
    ([i for i in range(25) if i % 3], 10),  # clusters removed everywhere
    (list(range(25)), 7),               # the threshold lowered: every shard overflows
    ([*range(3, 25), *range(60, 75)], 8),  # all at once
])
def test_no_rule_is_ever_absent_between_two_shard_writes(now: list[int], per_shard: int) -> None:
    first = shards.assign_shards((_egress(range(25)),), (), base_name=BASE, base_priority=250,
                                 capacity_bytes=_capacity(10), owns_name=OWNS)
    groups = _observed(first)
    settings = f.settings(rule_collection_group_shard_bytes=_capacity(per_shard))
    changes, reports = plan.plan_firewall_checked(_snapshot(groups), (_egress(now),), settings)
    assert not [r for r in reports if r.severity is Severity.ERROR]
    state = {g.name: {(c.name, r.name) for c in g.rule_collections for r in c.rules} for g in groups}
    kept = {("rmd-egress", _rule(i).name) for i in now} & set().union(*state.values())
    for change in changes:  # the policy lane writes them one at a time, in this order
        name = change.address.rsplit("/", 1)[-1]
        if change.action is Action.DELETE:
            state.pop(name)
        elif change.action is not Action.NOOP:
            state[name] = _rules_in(arm_shapes.after(change))
        assert kept <= set().union(*state.values()), f"a rule went missing after {change.action} {name}"
    present = set().union(*state.values())
    assert present == {("rmd-egress", _rule(i).name) for i in now}
    written = [body for body in map(arm_shapes.after, changes) if body]
    assert all(plan.group_size_bytes(body) <= _capacity(per_shard) for body in written)


def _wide(i: int, sources: int) -> NetworkRule:
    return dataclasses.replace(_rule(i), source_addresses=tuple(f"10.2{k:02d}.0.0/24" for k in range(sources)))


def test_a_shard_that_lets_a_rule_go_takes_none_so_no_write_order_loses_one() -> None:
    # Shard 1 ends with a 3-source rule, shard 2 (one rule fuller) with a 2-source one. At a threshold where
    # shard 1 could take the 2-source rule but not keep its own, a plain first-fit would move the 2-source
    # rule into shard 1 and the 3-source one to shard 3: shard 1 both receives and loses, and whichever of
    # shard 1 and shard 3 is written first, a rule is absent in between.
    one = [*(_rule(i) for i in range(9)), _wide(9, 3)]
    two = [*(_rule(i) for i in range(10, 20)), _wide(20, 2)]
    collection = RuleCollection("rmd-egress", 200, "Allow", tuple(sorted([*one, *two], key=lambda r: r.name)))
    groups = [ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/{name}", name, prio,
                                          (dataclasses.replace(collection, rules=tuple(rules)),))
              for name, prio, rules in ((BASE, 250, one), (f"{BASE}-2", 251, two))]
    swapped = (dataclasses.replace(collection, rules=(*one[:-1], two[-1])),)
    cap = shards.assign_shards(swapped, (), base_name=BASE, base_priority=250, capacity_bytes=10**9,
                               owns_name=OWNS)[0].size_bytes
    planned = shards.assign_shards((collection,), groups, base_name=BASE, base_priority=250, capacity_bytes=cap,
                                   owns_name=OWNS)
    placement = _placement(planned)
    assert placement[_wide(9, 3).name] == 3 and placement[_wide(20, 2).name] == 3
    assert [s.gains for s in planned] == [False, False, True]


@pytest.mark.parametrize(("rules", "noted"), [(100, False), (20_001, True)])
def test_many_unique_network_addresses_are_noted_not_refused(rules: int, noted: bool) -> None:
    # One source per rule plus the shared AzureCloud destination.
    big = RuleCollection("rmd-egress", 200, "Allow", tuple(
        NetworkRule(f"c{i}", ("TCP",), (f"10.{i // 65536}.{i // 256 % 256}.{i % 256}/32",), ("AzureCloud",),
                    ("443",)) for i in range(rules - 1)))
    assert shards.unique_network_addresses([big]) == rules
    changes, reports = plan.plan_firewall_checked(f.hub_spoke(), (big,), f.settings())
    notes = [r for r in reports if "unique source/destination" in r.message]
    assert bool(notes) is noted and all(r.severity is Severity.NOTE for r in notes)
    assert changes and all(c.action is Action.CREATE for c in changes)


def test_size_line_shows_what_arm_reports_for_the_groups_read() -> None:
    planned = shards.assign_shards((_egress(range(5)),), (), base_name=BASE, base_priority=250,
                                   capacity_bytes=_capacity(10), owns_name=OWNS)
    read = [dataclasses.replace(g, size_bytes=n) for g, n in zip(_observed(planned), [5411], strict=True)]
    assert shards.size_line(planned, 4096, read).endswith("; ARM reports 5,411 bytes for the largest read")
    assert "ARM reports" not in shards.size_line(planned, 4096, _observed(planned))


@pytest.mark.parametrize(("size", "expected"), [
    ("0.001414299 MB", 1483), ("1.5 MB", 1_572_864), (None, None), ("", None), ("12 KB", None), ("x MB", None),
])
def test_arm_size_is_read_as_mebibytes(size: str | None, expected: int | None) -> None:
    body = {"id": f"{f.POLICY}/ruleCollectionGroups/{BASE}", "name": BASE,
            "properties": {"priority": 250, "ruleCollections": [], "size": size}}
    assert convert.rule_collection_group_from_arm(body).size_bytes == expected
