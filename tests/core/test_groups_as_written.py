"""observe.groups_as_written: the owned groups after a firewall write, from the PUT answers (no GET).

The verify of a group write reads the groups as ARM answered their PUTs when every write has an answer,
and falls back to listing them again otherwise (remediation/engine/reconciler.py _reverify_firewall).
"""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    ChangeOutcome,
    ObservedRuleCollectionGroup,
    Outcome,
    RuleCollection,
    Snapshot,
)
from remediation.engine import observe
from tests.core import factories as f

SETTINGS = f.settings()
BASE = SETTINGS.rule_collection_group
COLLECTION = RuleCollection("rmd-aks", 200, "Allow", ())


def _group(name: str, priority: int, state: str = "Succeeded") -> ObservedRuleCollectionGroup:
    return ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/{name}", name, priority, (COLLECTION,),
                                       provisioning_state=state)


def _outcome(action: Action, outcome: Outcome, name: str,
             answer: ObservedRuleCollectionGroup | None = None) -> ChangeOutcome:
    change = Change(action, ChangeKind.RULE_COLLECTION_GROUP, f"{f.POLICY}/ruleCollectionGroups/{name}", None, None,
                    "test")
    return ChangeOutcome(change, outcome, answer=answer)


def _before(*groups: ObservedRuleCollectionGroup) -> Snapshot:
    owned = [g for g in groups if g.name == BASE]
    shards = tuple(g for g in groups if g.name != BASE and g.name.startswith(BASE))
    absent = frozenset() if owned else frozenset({f"{f.POLICY}/ruleCollectionGroups/{BASE}".lower()})
    return dataclasses.replace(f.snapshot(), firewall=f.firewall(), rule_collection_group=owned[0] if owned else None,
                               rule_collection_shards=shards, absent=absent,
                               policy_group_priorities={g.name.lower(): g.priority for g in groups} | {"foreign": 100})


def test_a_created_group_is_taken_from_its_answer() -> None:
    answer = _group(BASE, 250)
    after = observe.groups_as_written(_before(), [_outcome(Action.CREATE, Outcome.CREATED, BASE, answer)],
                                      SETTINGS)
    assert after is not None
    assert after.rule_collection_group == answer and after.rule_collection_shards == ()
    assert f"{f.POLICY}/ruleCollectionGroups/{BASE}".lower() not in after.absent
    assert after.policy_group_priorities == {BASE.lower(): 250, "foreign": 100}


def test_an_updated_shard_replaces_the_one_read_and_a_deleted_shard_is_gone() -> None:
    head, second, third = _group(BASE, 250), _group(f"{BASE}-2", 251), _group(f"{BASE}-3", 252)
    new_second = dataclasses.replace(second, rule_collections=())
    after = observe.groups_as_written(_before(head, second, third), [
        _outcome(Action.NOOP, Outcome.UNCHANGED, BASE),
        _outcome(Action.UPDATE, Outcome.UPDATED, f"{BASE}-2", new_second),
        _outcome(Action.DELETE, Outcome.DELETED, f"{BASE}-3"),
    ], SETTINGS)
    assert after is not None
    assert after.rule_collection_group == head and after.rule_collection_shards == (new_second,)
    assert f"{BASE}-3".lower() not in after.policy_group_priorities
    assert f"{f.POLICY}/ruleCollectionGroups/{BASE}-3".lower() in after.absent


@pytest.mark.parametrize("outcome", [
    _outcome(Action.UPDATE, Outcome.UPDATED, BASE, None),   # the gateway gave no answer
    _outcome(Action.UPDATE, Outcome.FAILED, BASE, None),    # the write failed: the state is not known
], ids=["no answer", "failed"])
def test_without_an_answer_for_every_write_the_groups_are_read_again(outcome: ChangeOutcome) -> None:
    assert observe.groups_as_written(_before(_group(BASE, 250)), [outcome], SETTINGS) is None


def test_a_classic_firewall_is_always_read_again() -> None:
    classic = dataclasses.replace(_before(), firewall=f.firewall(policy_id=None))
    written = _outcome(Action.CREATE, Outcome.CREATED, BASE, _group(BASE, 250))
    assert observe.groups_as_written(classic, [written], SETTINGS) is None
