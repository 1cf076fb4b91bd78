"""Pure: a target and its follow-ups as one result (remediation/views/results.py) and how followUps render."""

from __future__ import annotations

from remediation.core.model import (
    Action,
    ArmCalls,
    Change,
    ChangeKind,
    ChangeOutcome,
    Outcome,
    Plan,
    ReconcileResult,
    Route,
    Skip,
    Target,
    TargetKind,
)
from remediation.views import render
from remediation.views.results import combine

RT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt"
FIREWALL = Target(TargetKind.FIREWALL,
                  "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/azureFirewalls/fw")
ROUTE = Change(Action.CREATE, ChangeKind.ROUTE, f"{RT}/routes/rmd-a", None,
               Route("rmd-a", "10.1.4.0/24", "VirtualAppliance", "10.0.1.4"), "egress")


def _routing(**kw: object) -> ReconcileResult:
    fields: dict[str, object] = {
        "target": "cluster:c", "dry_run": False, "plan": Plan("cluster:c", (ROUTE,), (), (Skip("k", "kubenet"),)),
        "outcomes": (ChangeOutcome(ROUTE, Outcome.CREATED),), "arm_calls": ArmCalls(5, 1), "converged": True,
        "follow_ups": (FIREWALL,), **kw}
    return ReconcileResult(**fields)  # type: ignore[arg-type]


def _firewall(converged: bool | None = True, error: str | None = None) -> ReconcileResult:
    return ReconcileResult(str(FIREWALL), False, Plan(str(FIREWALL), (), (), (Skip("K", "kubenet"),)),
                           arm_calls=ArmCalls(7, 0), converged=converged, error=error)


def test_combine_sums_the_parts_and_keeps_the_first_target() -> None:
    combined = combine([_routing(), _firewall()])
    assert combined.target == "cluster:c" and combined.plan.changes == (ROUTE,)
    assert combined.arm_calls == ArmCalls(12, 1)
    assert [s.target for s in combined.plan.skipped] == ["k"]  # one skip per target, ids case-insensitive
    assert combined.converged is True and combined.error is None
    assert combined.follow_ups == (FIREWALL,) and len(combined.follow_up_results) == 1


def test_combine_is_not_converged_when_any_part_is_not() -> None:
    assert combine([_routing(), _firewall(converged=False)]).converged is False
    assert combine([_routing(), _firewall(error="firewall gone")]).error == "firewall gone"
    assert combine([_routing(converged=None, dry_run=True), _firewall(converged=None)]).converged is None


def test_follow_ups_render_pending_not_run_and_ran() -> None:
    pending = render.to_json(_routing())["followUps"]
    assert pending == [{"target": str(FIREWALL), "status": "pending"}]
    assert f"follow-up {FIREWALL}: pending (runs after this target)" in render.render_text(_routing())
    stopped = _routing(error="not approved: 1 planned write(s) were not made")
    assert render.to_json(stopped)["followUps"][0]["status"] == "not run"
    ran = render.to_json(combine([_routing(), _firewall()]))["followUps"]
    assert ran == [{"target": str(FIREWALL), "status": "succeeded", "summary": {
        "create": 0, "update": 0, "delete": 0, "noop": 0, "conflict": 0}, "converged": True, "error": None}]
    # A follow-up that ran fine is part of the combined text already; a failed one is called out.
    assert "follow-up" not in render.render_text(combine([_routing(), _firewall()]))
    failed = render.render_text(combine([_routing(), _firewall(converged=False, error="boom")]))
    assert f"follow-up {FIREWALL}: failed: boom" in failed
