"""A request queued under an older, wider REMEDIATION_SCOPE is held to today's scope (#24 item 9): the run
re-checks its target, and every routing write it would make, before writing anything."""

from __future__ import annotations

import pytest

from remediation.core.errors import OutOfScopeError
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    Route,
    RuleCollectionGroupPayload,
    Target,
    TargetKind,
)
from remediation.planning.intake import scope_refusal
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import CNI, FIREWALL, OWNED_RCG, SUB, WRITE_METHODS

HUB_ONLY = f"/subscriptions/{SUB}/resourceGroups/rg-hub"


def test_a_queued_cluster_target_outside_todays_scope_writes_nothing(world: WorldFactory) -> None:
    w = world(REMEDIATION_SCOPE=HUB_ONLY)
    w.reset_log()
    # As the queue worker builds it from the message: no resolve(), which is where the scope was checked.
    with pytest.raises(OutOfScopeError) as raised:
        w.run_target(Target(TargetKind.CLUSTER, CNI))
    assert "outside REMEDIATION_SCOPE" in str(raised.value)
    assert [r for r in w.emu.request_log if r.method in WRITE_METHODS] == []


def test_a_queued_firewall_target_for_another_firewall_writes_nothing(world: WorldFactory) -> None:
    w = world()
    other = FIREWALL.replace("fw-hub", "fw-old")
    w.reset_log()
    with pytest.raises(OutOfScopeError, match="FIREWALL_ID"):
        w.run_target(Target(TargetKind.FIREWALL, other))
    assert w.emu.request_log == []


def test_every_routing_write_is_rechecked_firewall_writes_are_bounded_by_firewall_id(
        world: WorldFactory) -> None:
    settings = world(REMEDIATION_SCOPE=f"/subscriptions/{SUB}/resourceGroups/rg-spoke").settings
    inside = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/routeTables/rt/routes/r"
    outside = inside.replace("rg-spoke", "rg-elsewhere")
    route = Route("r", "10.0.0.0/8", "VirtualAppliance", "10.0.1.4")
    group = Change(Action.UPDATE, ChangeKind.RULE_COLLECTION_GROUP, OWNED_RCG, None,
                   RuleCollectionGroupPayload(250, ()), "t")
    sweep = Target.sweep_of(settings.scope)
    ok = [Change(Action.CREATE, ChangeKind.ROUTE, inside, None, route, "t"), group]
    assert scope_refusal(settings, sweep, ok) is None
    refusal = scope_refusal(settings, sweep, [*ok, Change(Action.CREATE, ChangeKind.ROUTE, outside, None, route,
                                                          "t")])
    assert refusal is not None and outside in refusal and "nothing is written" in refusal
