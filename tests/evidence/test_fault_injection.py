"""Property 1: random fault schedules on the write paths (docs/architecture.md sections 3 and 4).

Each example resets the module's emulator to examples/private-network.json, arms a random schedule of
faults on PUTs of route tables, routes, subnets and rule collection groups, and reconciles a cluster (or the
whole scope). Then, with no faults, it reconciles again. Checked on the emulator's state after each run:

- the faulted run converges, or every failure is a FAILED outcome whose text names an ARM code (or
  "skipped: dependency failed" behind one that does), or an ArmError with an arm_code is raised;
- the fault-free run converges and reaches exactly the state a fault-free run reaches from the seed;
- foreign routes (to-onprem), the foreign group (platform-baseline) and every other subnet property are
  never lost or altered; no prefix twice in one table; no duplicate rule collections or rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from emulator import Emulator
from remediation.core.errors import ArmError
from remediation.core.model import Target, TargetKind
from remediation.engine.apply import DEPENDENCY_FAILED
from tests.evidence import support
from tests.evidence.support import Harness

# Write paths (matched against the request path, case-insensitively).
WRITE_PATHS = {
    "route-table": r"/routeTables/[^/]+$",
    "route": r"/routeTables/[^/]+/routes/[^/]+$",
    "route-in-rt-spoke-nodes": r"/routeTables/rt-spoke-nodes/routes/[^/]+$",
    "subnet": r"/virtualNetworks/[^/]+/subnets/[^/]+$",
    "rcg": r"/ruleCollectionGroups/[^/]+$",
    "any-write": r"/providers/Microsoft\.Network/",
}
RETRYABLE_LRO_CODES = ("RetryableError", "AnotherOperationInProgress", "ReferencedResourceNotProvisioned",
                       "RetryableErrorDueToAnotherOperation")
TERMINAL_LRO_CODES = ("InternalServerError", "InvalidRequestFormat", "LinkedAuthorizationFailed",
                      "BadRequest")
# Codes a failure may carry besides the injected ones: connection errors after azure-core's retries and the
# Canceled status with its superseded detail.
GENERIC_CODES = frozenset({"ServiceResponseError", "ServiceRequestError", "Canceled",
                           "CanceledAndSupersededDueToAnotherOperation", "AnotherOperationInProgress"})

TARGETS = {
    "cluster aks-cni": Target(TargetKind.CLUSTER, support.CLUSTER_CNI),
    "cluster aks-overlay": Target(TargetKind.CLUSTER, support.CLUSTER_OVERLAY),
    "scope sweep": Target(TargetKind.SCOPE, f"/subscriptions/{support.SUB}"),
}


def _fault(kind: str, params: st.SearchStrategy[dict[str, Any]], counts: st.SearchStrategy[int]) -> Any:
    return st.fixed_dictionaries({
        "kind": st.just(kind),
        "path": st.sampled_from(sorted(WRITE_PATHS)),
        "count": counts,
        "params": params,
    })


FAULTS = st.one_of(
    # 429 with Retry-After: 0 s keeps CI fast; the 1 s case is test_throttle_with_one_second_retry_after.
    _fault("throttle", st.just({"retry_after": 0}), st.integers(1, 3)),
    _fault("status", st.fixed_dictionaries({
        "status": st.sampled_from([500, 503]),
        "code": st.sampled_from(["InternalServerError", "ServiceUnavailable"]),
    }), st.integers(1, 3)),
    _fault("drop", st.just({}), st.integers(1, 2)),
    _fault("conflict", st.just({}), st.integers(1, 3)),
    _fault("lro_failed", st.fixed_dictionaries({"code": st.sampled_from(RETRYABLE_LRO_CODES)}),
           st.integers(1, 2)),
    _fault("lro_failed", st.fixed_dictionaries({"code": st.sampled_from(TERMINAL_LRO_CODES)}), st.just(1)),
    _fault("lro_canceled", st.just({}), st.integers(1, 2)),
)
SCHEDULES = st.lists(FAULTS, min_size=1, max_size=4)


def arm(emu: Emulator, schedule: list[dict[str, Any]]) -> set[str]:
    codes: set[str] = set()
    for fault in schedule:
        params = dict(fault["params"])
        emu.faults.add("PUT", WRITE_PATHS[fault["path"]], kind=fault["kind"], count=fault["count"], **params)
        if "code" in params:
            codes.add(params["code"])
        if fault["kind"] == "throttle":
            codes.add("SubscriptionRequestsThrottled")
        if fault["kind"] == "conflict":
            codes.add("AnotherOperationInProgress")
        if fault["kind"] in {"status", "throttle"}:
            codes.add(f"Http{params.get('status', 429)}")
    return codes


def check_run(label: str, run: Any, allowed_codes: set[str]) -> None:
    """The faulted run: converged, or failures that name an ARM code."""
    if isinstance(run, ArmError):
        assert run.arm_code, f"{label}: ArmError without an ARM code: {run!r}"
        return
    if isinstance(run, Exception):
        raise AssertionError(f"{label}: reconcile raised {type(run).__name__}: {run}") from run
    note(f"{label}: {support.describe(run)}")
    if run.converged:
        assert not support.failed(run)
        return
    failures = support.failed(run)
    assert failures, f"{label}: not converged but no FAILED outcome:\n{support.describe(run)}"
    named = [o for o in failures if support.error_codes(o.error)]
    assert named, f"{label}: no failure names an ARM code:\n{support.describe(run)}"
    for outcome in failures:
        codes = support.error_codes(outcome.error)
        assert codes or outcome.error == DEPENDENCY_FAILED, f"{label}: unnamed failure {outcome}"
        if codes:
            assert set(codes) & (allowed_codes | GENERIC_CODES), (
                f"{label}: {outcome.error!r} names none of the injected codes {sorted(allowed_codes)}")


def _reconcile(harness: Harness, target: Target) -> Any:
    try:
        return harness.reconciler().reconcile_combined(target, dry_run=False)
    except Exception as exc:  # judged by check_run
        return exc


@given(target_name=st.sampled_from(sorted(TARGETS)), schedule=SCHEDULES)
def test_random_write_faults_never_lose_foreign_state_and_a_clean_run_converges(
        harness: Harness, target_name: str, schedule: list[dict[str, Any]]) -> None:
    target = TARGETS[target_name]
    baseline = harness.baseline(target)
    emu = harness.emu
    support.reset(emu)
    codes = arm(emu, schedule)
    note(f"schedule: {schedule}")

    faulted = _reconcile(harness, target)
    fired = sum(1 for r in emu.request_log if r.fault)
    event(f"faults fired: {min(fired, 5)}{'+' if fired >= 5 else ''}")
    event("faulted run: " + ("raised" if isinstance(faulted, Exception)
                             else "converged" if faulted.converged else "failed outcomes"))
    check_run("faulted run", faulted, codes)
    after_faults = support.state(emu.dump())
    assert support.safety_violations(after_faults) == []

    emu.faults.clear()
    clean = _reconcile(harness, target)
    assert not isinstance(clean, Exception), f"fault-free run raised {clean!r}"
    assert clean.converged, f"fault-free run did not converge:\n{support.describe(clean)}"
    final = support.state(emu.dump())
    assert support.safety_violations(final) == []
    assert final == baseline
    harness.close_gateways()


@pytest.mark.parametrize("kind", ["throttle", "status"])
def test_throttle_with_one_second_retry_after(harness: Harness, kind: str) -> None:
    """The realistic Retry-After: 1 s (honoured by azure-core), once per write path kind."""
    target = TARGETS["cluster aks-cni"]
    baseline = harness.baseline(target)
    support.reset(harness.emu)
    params: dict[str, Any] = {"retry_after": 1}
    if kind == "status":
        params.update(status=503, code="ServiceUnavailable")
    harness.emu.faults.add("PUT", WRITE_PATHS["route"], kind=kind, count=1, **params)
    harness.emu.faults.add("PUT", WRITE_PATHS["rcg"], kind=kind, count=1, **params)
    result = harness.reconciler().reconcile_combined(target, dry_run=False)
    assert result.converged, support.describe(result)
    assert support.state(harness.emu.dump()) == baseline
    harness.close_gateways()


def test_persistent_conflict_ends_failed_with_the_arm_code(harness: Harness) -> None:
    """A lock domain that stays busy past the retry deadline: FAILED outcomes naming the code, nothing lost,
    and the next run converges (the drift sweep as backstop)."""
    target = TARGETS["cluster aks-cni"]
    baseline = harness.baseline(target)
    support.reset(harness.emu)
    harness.emu.faults.add("PUT", WRITE_PATHS["route-in-rt-spoke-nodes"], kind="conflict", count=1000)
    result = harness.reconciler(retry_deadline_s=30).reconcile_combined(target, dry_run=False)
    assert result.converged is False
    failures = support.failed(result)
    assert failures and all(support.error_codes(o.error)[:1] == ("AnotherOperationInProgress",)
                            for o in failures), support.describe(result)
    assert support.safety_violations(support.state(harness.emu.dump())) == []
    harness.emu.faults.clear()
    assert harness.reconciler().reconcile_combined(target, dry_run=False).converged
    assert support.state(harness.emu.dump()) == baseline
    harness.close_gateways()
