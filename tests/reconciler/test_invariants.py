"""The safety invariants of the runtime path (docs/architecture.md section 3), against the emulator with
the real SDK: no deletes on incomplete knowledge (1), converged means converged (7), one deadline (8),
targets mean what they say (10), the subnet write window (14), and the approve callback.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from remediation.azure.arm import IncompleteListError, _unintended_difference
from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.errors import TargetNotFoundError, UnsupportedTargetError
from remediation.core.model import Action, ChangeKind, Outcome, Plan, TargetKind
from remediation.engine.locks import InProcessLocks
from remediation.engine.reconciler import Reconciler
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import (
    AKS,
    APP_GATEWAY,
    CNI,
    CUSTOMER_TABLE,
    FIREWALL,
    HUB,
    NODE_SUBNET,
    OWNED_RCG,
    POD_SUBNET,
    POLICY,
    SPOKE,
    VNET,
    arm_writes,
    props,
    route_names,
)

SUB = "00000000-0000-0000-0000-000000000000"

# --------------------------------------------------------------------------------------------- invariant 1

FLEET_LISTS = [
    ("clusters", r"/providers/Microsoft\.ContainerService/managedClusters$"),
    ("virtual networks", r"/providers/Microsoft\.Network/virtualNetworks$"),
    ("route tables", r"/providers/Microsoft\.Network/routeTables$"),
    ("application gateways", r"/providers/Microsoft\.Network/applicationGateways$"),
]
LIST_FAILURES = [(404, "SubscriptionNotFound"), (404, "ResourceGroupNotFound"), (403, "AuthorizationFailed")]


@pytest.mark.parametrize(("status", "code"), LIST_FAILURES, ids=[c for _, c in LIST_FAILURES])
@pytest.mark.parametrize(("what", "path"), FLEET_LISTS, ids=[w for w, _ in FLEET_LISTS])
def test_a_failed_fleet_list_is_an_error_for_the_run_and_nothing_is_deleted(
        world: WorldFactory, what: str, path: str, status: int, code: str) -> None:
    w = world()
    assert w.sweep().converged is True
    owned_routes = route_names(w.emu, CUSTOMER_TABLE)
    group = props(w.emu, OWNED_RCG)
    w.reset_log()
    # Twice: the sweep's routing pass and the firewall target would each read it.
    w.emu.faults.add("GET", path, kind="status", status=status, code=code, count=50)
    with pytest.raises(IncompleteListError if status == 404 else Exception) as raised:
        w.sweep()
    assert code in str(raised.value)
    assert arm_writes(w.emu) == []
    assert route_names(w.emu, CUSTOMER_TABLE) == owned_routes
    assert props(w.emu, OWNED_RCG)["ruleCollections"] == group["ruleCollections"]
    if what == "route tables":
        return  # the firewall target does not read route tables
    # The firewall target alone decides nothing on it either.
    with pytest.raises(Exception, match=code):
        w.reconciler.reconcile(w.reconciler.firewall_target(), dry_run=False)
    assert arm_writes(w.emu) == []


# --------------------------------------------------------------------------------------------- invariant 7


def _set_group_state(w: Any, state: str) -> None:
    """The owned group as a crashed or rejected write leaves it (a seed keeps provisioningState)."""
    document = w.emu.dump()
    (group,) = [r for r in document["resources"] if r["id"].lower() == OWNED_RCG.lower()]
    group["properties"]["provisioningState"] = state
    w.emu.load_seed(document, replace=True)
    assert w.emu.get(OWNED_RCG)["properties"]["provisioningState"] == state


def test_a_failed_owned_group_is_not_converged_and_a_rerun_repairs_it(world: WorldFactory) -> None:
    w = world()
    assert w.sweep().converged is True
    _set_group_state(w, "Failed")
    firewall = w.reconciler.firewall_target()
    planned = w.reconciler.reconcile(firewall, dry_run=True)
    (change,) = planned.plan.writes
    assert (change.kind, change.action) == (ChangeKind.RULE_COLLECTION_GROUP, Action.UPDATE)
    # The repair itself fails: still not converged, whatever the group holds.
    w.emu.faults.add("PUT", r"/ruleCollectionGroups/rmd-aks-runbook$", kind="lro_failed", code="InternalError")
    failed = w.reconciler.reconcile(firewall, dry_run=False)
    assert failed.converged is False
    # The next run repairs it.
    repaired = w.reconciler.reconcile(firewall, dry_run=False)
    assert repaired.converged is True
    assert [o.outcome for o in repaired.outcomes] == [Outcome.UPDATED]
    assert props(w.emu, OWNED_RCG)["provisioningState"] == "Succeeded"


def test_a_sweep_that_repairs_routing_and_a_failed_group_in_one_run_is_converged(world: WorldFactory) -> None:
    """The sweep's verify read inside the firewall lease sees the group as it was BEFORE its own repair: the
    routing's convergence must not rest on the group's state, which the firewall part's verify decides."""
    w = world()
    assert w.sweep().converged is True
    _set_group_state(w, "Failed")
    (owned_route,) = [r for r in route_names(w.emu, CUSTOMER_TABLE) if r.startswith("rmd-")][:1]
    w.emu.delete_foreign(f"{CUSTOMER_TABLE}/routes/{owned_route}")
    (result,) = w.reconciler.reconcile_with_follow_ups(w.reconciler.scope_target(), dry_run=False)
    assert {(o.change.kind, o.outcome) for o in result.outcomes} >= {
        (ChangeKind.ROUTE, Outcome.CREATED), (ChangeKind.RULE_COLLECTION_GROUP, Outcome.UPDATED)}
    assert result.converged is True
    assert props(w.emu, OWNED_RCG)["provisioningState"] == "Succeeded"


@pytest.mark.parametrize("state", ["Updating", "Deleting"])
def test_an_owned_group_that_is_still_changing_is_not_converged(world: WorldFactory, state: str) -> None:
    w = world()
    assert w.sweep().converged is True
    _set_group_state(w, state)
    w.reset_log()
    result = w.reconciler.reconcile(w.reconciler.firewall_target(), dry_run=False)
    assert not result.plan.writes and arm_writes(w.emu) == []
    assert result.converged is False


def test_a_blocking_conflict_is_not_converged(world: WorldFactory) -> None:
    w = world()
    table = copy.deepcopy(w.emu.get(CUSTOMER_TABLE))
    assert table is not None
    table["properties"]["routes"].append({"name": "corp-appgw", "properties": {
        "addressPrefix": "10.1.4.0/24", "nextHopType": "VnetLocal"}})
    w.emu.put_foreign(CUSTOMER_TABLE, table)
    result = w.reconciler.reconcile(w.reconciler.resolve(CNI), dry_run=False)
    assert result.plan.conflicts and result.converged is False


# --------------------------------------------------------------------------------------------- invariant 8


class FakeClock:
    """A monotonic clock the test moves: nothing in these tests really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_retry_after_longer_than_the_deadline_ends_the_run_as_retryable_without_waiting(
        world: WorldFactory) -> None:
    w = world()
    clock = FakeClock()
    reconciler = Reconciler(w.settings, sleep=clock.sleep, clock=clock, retry_deadline_s=240)
    w.emu.faults.add("GET", r"/managedClusters/aks-cni$", kind="throttle", retry_after=1800, count=1)
    w.reset_log()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as raised:
        reconciler.reconcile(reconciler.resolve(CNI), dry_run=False)
    assert time.monotonic() - started < 10  # no stall: the 1800 s were never slept
    assert "1800" in str(raised.value) and raised.value.arm_code == "DeadlineExceeded"
    assert clock.slept == [] and arm_writes(w.emu) == []


def test_tenacity_backoff_stops_at_the_one_deadline(world: WorldFactory) -> None:
    """A write that keeps meeting a busy resource is retried until the run's deadline, then reported as a
    retryable failure (the queue message comes back), never past it."""
    w = world()
    clock = FakeClock()
    reconciler = Reconciler(w.settings, sleep=clock.sleep, clock=clock, retry_deadline_s=120)
    w.emu.faults.add("PUT", r"/routes/rmd-appgw-10-1-4-0-24$", kind="conflict", count=1000)
    result = reconciler.reconcile(reconciler.resolve(CNI), dry_run=False)
    busy = [o for o in result.outcomes if o.outcome is Outcome.FAILED]
    assert busy and all(o.retryable for o in busy)
    assert result.converged is False
    assert 0 < sum(clock.slept) <= 120


def test_a_lock_wait_counts_against_the_deadline() -> None:
    clock = FakeClock()
    locks = InProcessLocks()
    deadline = Deadline.after(0.0, clock)
    with locks.hold("firewall:x"), pytest.raises(DeadlineExceeded):  # noqa: SIM117
        with locks.hold("firewall:x", deadline):
            pass


# --------------------------------------------------------------------------------------------- invariant 10

MISSING = [
    ("cluster", f"{AKS}/aks-typo"),
    ("agent pool", f"{AKS}/aks-typo/agentPools/nodes"),
    ("app gateway", f"{SPOKE}/applicationGateways/agw-typo"),
    ("vnet", f"{SPOKE}/virtualNetworks/vnet-typo"),
    ("subnet", f"{VNET}/subnets/snet-typo"),
    ("subnet of a missing vnet", f"{SPOKE}/virtualNetworks/vnet-typo/subnets/snet-x"),
    ("route table", f"{SPOKE}/routeTables/rt-typo"),
    ("route", f"{CUSTOMER_TABLE}/routes/route-typo"),
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["plan", "apply"])
@pytest.mark.parametrize(("kind", "resource_id"), MISSING, ids=[k for k, _ in MISSING])
def test_a_named_target_that_does_not_exist_is_an_error_with_zero_writes(
        world: WorldFactory, kind: str, resource_id: str, dry_run: bool) -> None:
    w = world()
    w.reset_log()
    with pytest.raises(TargetNotFoundError):
        w.reconciler.reconcile_with_follow_ups(w.reconciler.resolve(resource_id), dry_run=dry_run,
                                               require_exists=True)
    assert arm_writes(w.emu) == []
    # Never a sweep: a mistyped id reads what it names, not the fleet.
    assert not any(r.path.lower().endswith(("/managedclusters", "/routetables")) for r in w.emu.request_log)


def test_a_firewall_id_other_than_firewall_id_is_refused(world: WorldFactory) -> None:
    w = world()
    with pytest.raises(UnsupportedTargetError, match="FIREWALL_ID"):
        w.reconciler.resolve(f"{HUB}/azureFirewalls/fw-typo")
    assert w.reconciler.resolve(POLICY).kind is TargetKind.FIREWALL
    assert w.reconciler.resolve(FIREWALL).id == w.settings.firewall_id


def test_an_existing_network_target_still_reconciles(world: WorldFactory) -> None:
    w = world()
    result = w.reconciler.reconcile(w.reconciler.resolve(NODE_SUBNET), dry_run=True, require_exists=True)
    assert result.plan.has_changes and result.error is None


def test_the_cli_exits_1_for_a_mistyped_route_table(capsys: pytest.CaptureFixture[str]) -> None:
    from remediation.cli.main import main
    from tests.reconciler.helpers import SEED_PATH, SETTINGS_PATH

    code = main(["apply", "--target", f"{SPOKE}/routeTables/rt-typo", "--settings", str(SETTINGS_PATH),
                 "--emulator-seed", str(SEED_PATH), "--auto-approve"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "rt-typo was not found" in captured.err


# --------------------------------------------------------------------------------------------- follow-ups


def test_a_cluster_target_writes_only_routing_and_names_the_firewall_follow_up(world: WorldFactory) -> None:
    w = world()
    w.reset_log()
    result = w.reconciler.reconcile(w.reconciler.resolve(CNI), dry_run=False)
    assert result.converged is True
    assert result.follow_ups == (w.reconciler.firewall_target(),)
    assert {c.kind for c in result.plan.changes} <= {ChangeKind.ROUTE_TABLE, ChangeKind.ROUTE,
                                                     ChangeKind.SUBNET_ROUTE_TABLE}
    assert w.emu.get(OWNED_RCG) is None
    assert not any("/firewallpolicies/" in r.path.lower() for r in w.emu.request_log)
    firewall = w.reconciler.reconcile(result.follow_ups[0], dry_run=False)
    assert firewall.converged is True and firewall.follow_ups == ()
    assert {c["name"] for c in props(w.emu, OWNED_RCG)["ruleCollections"]} == {
        "rmd-egress-fqdn", "rmd-ingress", "rmd-p2s"}


def test_a_burst_of_cluster_targets_then_one_firewall_run_reads_the_fleet_once(world: WorldFactory) -> None:
    w = world()
    w.reset_log()
    for cluster in (CNI, f"{AKS}/aks-overlay", CNI, APP_GATEWAY):
        w.reconciler.reconcile(w.reconciler.resolve(cluster), dry_run=False)
    cluster_lists = [r for r in w.emu.request_log
                     if r.method == "GET" and r.path.lower().endswith("/managedclusters")]
    assert len(cluster_lists) == 1  # only the App Gateway target lists the fleet; cluster targets never
    w.reset_log()
    assert w.reconciler.reconcile(w.reconciler.firewall_target(), dry_run=False).converged is True
    cluster_lists = [r for r in w.emu.request_log
                     if r.method == "GET" and r.path.lower().endswith("/managedclusters")]
    assert len(cluster_lists) == 1
    group_puts = [r for r in w.emu.request_log if r.method == "PUT" and "/rulecollectiongroups/" in r.path.lower()]
    assert len(group_puts) == 1


# --------------------------------------------------------------------------------------------- approve


def test_approve_false_means_zero_writes_and_a_not_approved_error(world: WorldFactory) -> None:
    w = world()
    seen: list[Plan] = []

    def refuse(plan: Plan) -> bool:
        seen.append(plan)
        return False

    w.reset_log()
    results = w.reconciler.reconcile_with_follow_ups(w.reconciler.resolve(CNI), dry_run=False, approve=refuse)
    (result,) = results  # nothing runs after a refusal
    assert result.error is not None and result.error.startswith("not approved: ")
    assert result.converged is False and result.outcomes == ()
    assert arm_writes(w.emu) == []
    (plan,) = seen
    assert plan.writes and plan.writes == result.plan.writes


def test_approve_true_writes_the_plan_it_was_shown(world: WorldFactory) -> None:
    w = world()
    shown: list[int] = []

    def accept(plan: Plan) -> bool:
        shown.append(len(plan.writes))
        return True

    w.reset_log()
    results = w.reconciler.reconcile_with_follow_ups(w.reconciler.resolve(CNI), dry_run=False, approve=accept)
    assert all(r.converged for r in results) and len(results) == 2
    assert sum(shown) == len(arm_writes(w.emu))


# --------------------------------------------------------------------------------------------- invariant 14


def test_a_subnet_field_changed_after_our_put_is_kept_and_costs_no_read(world: WorldFactory) -> None:
    """Invariant 14 without the final GET: the PUT's own answer is compared with the pre-read (nothing we
    did not mean to change differs: no warning). Another writer that sets an NSG once our PUT is accepted
    is not undone, and apply reads nothing more of the subnet to learn the outcome."""
    w = world()
    nsg = f"{SPOKE}/networkSecurityGroups/nsg-foreign"

    def set_nsg(e: Any) -> None:
        body = copy.deepcopy(e.get(POD_SUBNET))
        body["properties"]["networkSecurityGroup"] = {"id": nsg}
        e.put_foreign(POD_SUBNET, body)

    def foreign_after_our_put(emu: Any) -> None:
        emu.faults.before("GET", r"/operations/", set_nsg)  # our PUT is accepted; then the other writer

    w.emu.faults.before("PUT", r"/subnets/snet-aks-pods$", foreign_after_our_put)
    w.reset_log()
    result = w.reconciler.reconcile(w.reconciler.resolve(CNI), dry_run=False)
    (outcome,) = [o for o in result.outcomes if o.change.address.lower() == POD_SUBNET.lower()]
    assert outcome.outcome is Outcome.CREATED and outcome.warning is None
    after = w.emu.get(POD_SUBNET)
    assert after is not None and after["properties"]["networkSecurityGroup"]["id"] == nsg
    assert after["properties"]["routeTable"]["id"].lower().endswith("/rmd-vnet-spoke-snet-aks-pods")
    subnet_gets = [r for r in w.emu.request_log if r.method == "GET" and r.path.lower() == POD_SUBNET.lower()]
    assert len(subnet_gets) == 1  # the fresh read right before the PUT; no final GET after it
    assert result.converged


def test_a_put_answer_that_differs_from_the_pre_read_is_reported() -> None:
    """What `_unintended_difference` compares: the pre-read against ARM's answer to our PUT."""
    before = {"addressPrefix": "10.1.0.0/22", "networkSecurityGroup": {"id": "nsg-a"}, "provisioningState": "x"}
    assert _unintended_difference("s", before, {**before, "provisioningState": "Updating",
                                                "routeTable": {"id": "rt"}}) is None
    text = _unintended_difference("s", before, {**before, "networkSecurityGroup": None})
    assert text is not None and "networkSecurityGroup" in text and "concurrent writer" in text


def test_the_subnet_is_read_immediately_before_its_put(world: WorldFactory) -> None:
    w = world()
    w.reset_log()
    w.reconciler.reconcile(w.reconciler.resolve(CNI), dry_run=False)
    log = [(r.method, r.path.lower()) for r in w.emu.request_log]
    puts = 0
    for index, (method, path) in enumerate(log):
        if method == "PUT" and "/subnets/" in path:
            # Lanes of other lock domains (route tables, other VNets) run alongside and share the log; in
            # this VNet's domain nothing comes between the subnet's fresh read and its PUT.
            vnet = path.split("/subnets/")[0]
            same_domain = [entry for entry in log[:index] if entry[1].startswith(vnet)]
            assert same_domain[-1] == ("GET", path), same_domain[-2:]
            puts += 1
    assert puts >= 2
