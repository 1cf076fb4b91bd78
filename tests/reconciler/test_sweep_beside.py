"""A converging sweep writes its firewall group beside its routing (issue 26), real SDK against the emulator.

The sweep reads the fleet once inside the firewall lease, plans its routing and the owned group from that read,
and sends both at once; the order is read from the emulator's request log (records are appended as each
request ends), never from wall time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.common import harness
from bench.projection import calls_from_log
from emulator import Emulator
from remediation.core import ids
from remediation.core.deadline import Deadline
from remediation.core.model import ChangeKind, Outcome
from remediation.engine import reconciler as reconciler_module
from remediation.engine.locks import Held, InProcessLocks
from remediation.engine.reconciler import Reconciler
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import arm_writes, settings_for
from tests.reconciler.test_estate import FIREWALL_IDS, OWN, SPOKE_PREFIX, SUB, _seed

_GROUP_PUT_WAIT_S = 20.0


def _is_group_put(method: str, path: str) -> bool:
    return method == "PUT" and "/rulecollectiongroups/" in path.lower()


def _is_routing_write(method: str, path: str) -> bool:
    lowered = path.lower().split("?")[0]
    return method in ("PUT", "DELETE") and ("/routetables/" in lowered or "/subnets/" in lowered)


class _SubnetWritesAwaitTheGroupPut:
    """In-process locks whose first VNet lock (taken for each subnet association) waits, at most
    _GROUP_PUT_WAIT_S, until the emulator has answered `puts` group PUTs. A sweep that writes its groups only after
    its routing never gets them there in time: the wait ends short and the associations go ahead."""

    def __init__(self, emu: Emulator | None = None, puts: int = 1) -> None:
        self.emu = emu
        self._puts = puts
        self._inner = InProcessLocks()
        self._decided = threading.Event()
        self.group_put_seen: bool | None = None

    def _group_put_sent(self) -> bool:
        assert self.emu is not None
        return sum(_is_group_put(r.method, r.path) and r.status < 300 for r in self.emu.request_log) >= self._puts

    @contextmanager
    def hold(self, name: str, deadline: Deadline | None = None) -> Iterator[Held | None]:
        if name.startswith("vnet:") and not self._decided.is_set():
            limit = threading.Event()
            seen = False
            for _ in range(int(_GROUP_PUT_WAIT_S / 0.05)):
                if self._group_put_sent():
                    seen = True
                    break
                limit.wait(0.05)
            if not self._decided.is_set():
                self.group_put_seen = seen
                self._decided.set()
        with self._inner.hold(name, deadline) as held:
            yield held


def test_a_converging_sweep_sends_its_group_put_while_its_routing_writes_are_still_going(
        world: WorldFactory) -> None:
    w = world()
    locks = _SubnetWritesAwaitTheGroupPut(w.emu)
    reconciler = Reconciler(w.settings, locks=locks)
    w.reset_log()
    (sweep,) = reconciler.reconcile_with_follow_ups(reconciler.scope_target(), dry_run=False)
    assert sweep.converged is True and sweep.pending_follow_ups == ()
    assert [r.target for r in sweep.follow_up_results] == [str(reconciler.firewall_target())]
    assert locks.group_put_seen is True  # the associations waited for it, and it came

    log = [(r.method, r.path) for r in w.emu.request_log]
    group_puts = [i for i, (m, p) in enumerate(log) if _is_group_put(m, p)]
    routing = [i for i, (m, p) in enumerate(log) if _is_routing_write(m, p)]
    assert len(group_puts) == 1 and len(routing) > 2
    assert group_puts[0] < max(routing)  # answered before the last routing write ended
    subnets = [i for i, (m, p) in enumerate(log) if _is_routing_write(m, p) and "/subnets/" in p.lower()]
    assert subnets and group_puts[0] < min(subnets)
    # What the projection of bench/projection.py reads from such a log: the group write beside the routing.
    assert calls_from_log(w.emu.request_log).group_after_routing is False

    # One fleet read inside the lease planned both; the verify read the fleet once more; the group's own PUT
    # answer is its verify (no list of the policy's groups after it).
    gets = [p.lower().split("?")[0] for m, p in log if m == "GET"]
    assert sum(p.endswith("/managedclusters") for p in gets) == 2
    assert sum(p.endswith("/rulecollectiongroups") for p in gets) == 1
    assert not reconciler.reconcile(reconciler.scope_target(), dry_run=True).plan.has_changes


def test_a_sweep_whose_firewall_lease_another_writer_holds_routes_without_it_and_names_the_follow_up(
        world: WorldFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    monkeypatch.setattr(reconciler_module, "SWEEP_FIREWALL_LEASE_WAIT_S", 0.5)
    locks = InProcessLocks()
    reconciler = Reconciler(w.settings, locks=locks)
    taken, release = threading.Event(), threading.Event()

    def other_writer() -> None:  # e.g. a cluster event's firewall follow-up in its group write of minutes
        with locks.hold("firewall:" + ids.id_key(w.settings.firewall_id)):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=other_writer)
    holder.start()
    try:
        assert taken.wait(10)
        w.reset_log()
        sweep = reconciler.reconcile(reconciler.scope_target(), dry_run=False)
        writes = arm_writes(w.emu)
    finally:
        release.set()
        holder.join()
    # The fallback: routing read, written and verified without the lease; no group written; the follow-up named.
    assert any("/routeTables/" in p for p in writes)
    assert not any("/ruleCollectionGroups/" in p for p in writes)
    assert not any(c.kind is ChangeKind.RULE_COLLECTION_GROUP for c in sweep.plan.changes)
    assert sweep.converged is True
    assert sweep.pending_follow_ups == (reconciler.firewall_target(),) and sweep.follow_up_results == ()

    firewall = reconciler.reconcile(reconciler.firewall_target(), dry_run=False)
    assert firewall.converged is True and any(o.outcome is not Outcome.UNCHANGED for o in firewall.outcomes)
    assert not reconciler.reconcile_combined(reconciler.scope_target(), dry_run=True).plan.has_changes


def test_a_group_written_from_the_first_read_that_the_pruned_routes_outdate_leaves_the_follow_up_pending(
        world: WorldFactory) -> None:
    """FORCE_DEFAULT_ROUTE turned off: the sweep prunes the owned default routes of loadBalancer clusters. The
    group was computed from the read before that pruning, so it keeps their egress rules (rules outlive routes:
    the safe order); the check after the verify finds that and leaves the firewall follow-up pending."""
    w = world(FORCE_DEFAULT_ROUTE="true")
    forced = Reconciler(w.settings)
    (first,) = forced.reconcile_with_follow_ups(forced.scope_target(), dry_run=False)
    assert first.converged is True and first.pending_follow_ups == ()

    reconciler = Reconciler(settings_for(w.emu, FORCE_DEFAULT_ROUTE="false"))
    sweep = reconciler.reconcile(reconciler.scope_target(), dry_run=False)
    pruned = [c for c in sweep.plan.writes if c.kind is ChangeKind.ROUTE and c.action.value == "delete"]
    assert pruned, "FORCE_DEFAULT_ROUTE off must prune owned default routes"
    assert sweep.converged is True
    assert sweep.pending_follow_ups == (reconciler.firewall_target(),)
    follow_up = reconciler.reconcile(reconciler.firewall_target(), dry_run=False)
    assert follow_up.converged is True
    assert any(c.kind is ChangeKind.RULE_COLLECTION_GROUP for c in follow_up.plan.writes)
    assert not reconciler.reconcile_combined(reconciler.scope_target(), dry_run=True).plan.has_changes


def test_a_sweep_whose_read_inside_the_lease_fails_routes_without_the_lease_and_writes_no_group(
        world: WorldFactory) -> None:
    """The policy's groups cannot be read (a role removed from the policy): the read inside the lease fails, so
    no group is computed from it. The sweep falls back as when the lease is busy: it reads the fleet without the
    groups, routes, verifies and names the firewall follow-up (which will read, and fail, on its own)."""
    w = world()
    w.emu.faults.add("GET", r"/ruleCollectionGroups$", kind="status", status=403, code="AuthorizationFailed",
                     count=1000)
    reconciler = Reconciler(w.settings, sleep=lambda _s: None)
    w.reset_log()
    sweep = reconciler.reconcile(reconciler.scope_target(), dry_run=False)
    writes = arm_writes(w.emu)
    assert any("/routeTables/" in p for p in writes)
    assert not any("/ruleCollectionGroups/" in p for p in writes)
    assert sweep.error is None and sweep.converged is True
    assert sweep.pending_follow_ups == (reconciler.firewall_target(),) and sweep.follow_up_results == ()


def test_an_estate_sweep_under_firewall_ids_writes_each_policys_group_beside_the_routing() -> None:
    """FIREWALL_IDS (three hubs, three policies): every policy's group PUT is sent while the routing writes are
    still going, from the sweep's one read inside every configured firewall's lease; the firewall targets are
    listed as run, and a second sweep finds nothing to write."""
    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    locks = _SubnetWritesAwaitTheGroupPut(puts=len(OWN))
    with harness(_seed(), settings, locks=locks) as h:
        locks.emu = h.emu
        h.emu.clear_log()
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None and result.converged is True and result.pending_follow_ups == ()
        assert locks.group_put_seen is True
        log = [(r.method, r.path) for r in h.emu.request_log]
        subnets = [i for i, (m, p) in enumerate(log) if _is_routing_write(m, p) and "/subnets/" in p.lower()]
        for _, policy in OWN.values():
            puts = [i for i, (m, p) in enumerate(log) if _is_group_put(m, p) and p.lower().startswith(policy.lower())]
            assert len(puts) == 1 and puts[0] < max(subnets), policy
        ran = {r.target.lower() for r in result.follow_up_results}
        assert len(ran) == len(OWN)
        h.emu.clear_log()
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert again.error is None and not again.plan.writes and again.pending_follow_ups == ()
        # The converged sweep's follow-up check uses each policy's groups of its one read: listed once each.
        lists = [r.path.lower().split("?")[0] for r in h.emu.request_log
                 if r.method == "GET" and r.path.lower().split("?")[0].endswith("/rulecollectiongroups")]
        assert sorted(lists) == sorted(f"{policy.lower()}/rulecollectiongroups" for _, policy in OWN.values())


def test_an_estate_sweep_dry_run_plans_every_policys_group_from_its_one_fleet_read() -> None:
    """The dry run walks the sweep's path without the lease: routing and each policy's group from one read."""
    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        h.emu.clear_log()
        plan = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=True)
        assert plan.error is None and plan.pending_follow_ups == () and arm_writes(h.emu) == []
        groups = {c.address.lower().split("/rulecollectiongroups/")[0] for c in plan.plan.writes
                  if c.kind is ChangeKind.RULE_COLLECTION_GROUP}
        assert groups == {policy.lower() for _, policy in OWN.values()}
        assert len(plan.follow_up_results) == len(OWN)
        gets = [r.path.lower().split("?")[0] for r in h.emu.request_log if r.method == "GET"]
        assert sum(p.endswith("/managedclusters") for p in gets) == 1
        applied = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert {(c.action, c.address.lower()) for c in applied.plan.writes} == {
            (c.action, c.address.lower()) for c in plan.plan.writes}
