"""The one orchestrator: reconcile(target) = observe -> desire -> plan -> [approve] -> apply -> verify.

Level-triggered (docs/architecture.md section 2): a trigger only names a target; the state is always
re-read from ARM. Dry run walks the same path and skips only the writes.

Two kinds of target, each its own key:
- routing targets (cluster, App Gateway, network, prepared subnet, and the scope: below) plan and write
  route tables, routes and subnet associations, and name the firewall target as a *follow-up*;
- the firewall target takes the firewall lease, reads the fleet and the owned group ONCE inside it,
  computes the whole group, writes and verifies. Follow-ups of a burst of routing events are coalesced
  by the queue's dedupe window, so the fleet is read once per burst, not once per event;
- a sweep (the scope target) runs its firewall part itself: one fleet read inside the firewall lease(s) plans
  its routing and the group(s), and the group writes start beside the routing writes (`_sweep_beside`).

One `Deadline` per reconcile bounds every wait (tenacity, Retry-After, LRO polls, lease waits). No cache
outlives one observation and no thread shares one: each pass owns its reads.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import Mode, Settings
from remediation.core.deadline import DEFAULT_RUN_BUDGET_S, Clock, Deadline, RunEnds
from remediation.core.errors import (
    OutOfScopeError,
    RemediationError,
    TargetNotFoundError,
    TransientError,
    UnsupportedTargetError,
)
from remediation.core.model import (
    Action,
    ArmCalls,
    Change,
    ChangeKind,
    ChangeOutcome,
    Conflict,
    DesiredSubnetRoutes,
    ObservedFirewall,
    Outcome,
    Plan,
    ReconcileResult,
    RuleCollection,
    Skip,
    Snapshot,
    Target,
    TargetKind,
)
from remediation.engine import egress_observe, observe
from remediation.engine.apply import apply_changes
from remediation.engine.locks import Held, InProcessLocks, LockProvider
from remediation.engine.retry import run_with_retries
from remediation.planning import desired, firewall_check, intake, paths, plan, prepare
from remediation.views.results import combine

log = logging.getLogger(__name__)

_TARGET_KINDS: tuple[tuple[str, TargetKind], ...] = (
    (ids.CLUSTER, TargetKind.CLUSTER),
    (ids.AGENT_POOL, TargetKind.CLUSTER),
    (ids.APP_GATEWAY, TargetKind.GATEWAY),
    (ids.FIREWALL, TargetKind.FIREWALL),
    (ids.FIREWALL_POLICY, TargetKind.FIREWALL),
    (ids.RULE_COLLECTION_GROUP, TargetKind.FIREWALL),
    (ids.VNET, TargetKind.NETWORK),
    (ids.SUBNET, TargetKind.NETWORK),
    (ids.ROUTE_TABLE, TargetKind.NETWORK),
    (ids.ROUTE, TargetKind.NETWORK),
    (ids.VPN_GATEWAY, TargetKind.SCOPE),
)

# How long a sweep waits for the firewall lease, to read the fleet inside it and write its routing and the group
# side by side from that read (`_sweep_beside`). The holder may be a group write of minutes (docs/arm-notes.md
# 2.3); past this wait the sweep reads and routes without the lease and queues the firewall follow-up, as an
# event does.
SWEEP_FIREWALL_LEASE_WAIT_S = 30.0
# ...and only with this much of its run budget left: a group write behind a firewall takes "three to five
# minutes on average" (docs/arm-notes.md 2.3). With less, the follow-up is queued and runs with its own budget.
SWEEP_FIREWALL_BUDGET_S = 300.0

# provisioningState values of an owned object that mean "not (yet) what ARM enforces".
_UNSETTLED_STATES = frozenset({"failed", "updating", "deleting", "canceled"})
_GROUP_KEY = "/rulecollectiongroups/"  # in an id_key: a rule collection group

Approve = Callable[[Plan], bool]
# Called with a cluster target's follow-ups once its plan has routing writes, before the first of them: the
# result names them whatever the writes do (`_reconcile_routing`), so the queue worker enqueues them there
# and the firewall's group write runs beside the routing instead of after it (docs/architecture.md 2).
EarlyFollowUps = Callable[[tuple[Target, ...]], None]


@dataclass(frozen=True)
class _Pass:
    """One observe-desire-plan pass: the changes to make, what was reported alongside, what was read."""

    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    skipped: tuple[Skip, ...] = ()
    snapshot: Snapshot = field(default_factory=Snapshot)
    error: str | None = None  # a prerequisite of the whole target is missing: nothing is written
    collections: tuple[RuleCollection, ...] = ()  # the firewall pass: the desired owned collections


@dataclass(frozen=True)
class _Part:
    """One group part of a sweep: the firewall pass of one place rules live (a policy, or a classic firewall)."""

    owner: Reconciler  # the reconciler whose firewall's pass this is (FIREWALL_IDS: `for_firewall`)
    target: Target  # its firewall target
    pass_: _Pass
    lease: str  # the lease its firewall target takes
    view: Snapshot  # the sweep's read as this firewall's pass sees it (its own owned groups)


@dataclass(frozen=True)
class _Beside:
    """A sweep's routing and group writes, made side by side from one read inside the firewall lease(s)."""

    routing: _Pass
    plan: Plan  # the routing plan
    parts: tuple[_Part, ...]
    results: tuple[ReconcileResult, ...]  # each part, written and verified inside its lease
    routing_outcomes: tuple[ChangeOutcome, ...]


_Step = Callable[[ArmClient], _Pass]
# A sweep's one read with the owned rules, as each configured firewall's pass sees it (by id_key of the firewall).
_RulesRead = dict[str, Snapshot]
# (follow-ups, why they were left out, the firewall plan's notes a left-out run still reports)
_FollowUps = tuple[tuple[Target, ...], str | None, tuple[Conflict, ...]]


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        arm_factory: Callable[[], ArmClient] | None = None,
        locks: LockProvider | None = None,
        retry_deadline_s: float = DEFAULT_RUN_BUDGET_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        """arm_factory builds a fresh ARM client per reconcile (its call counters start at zero);
        locks is the process's one lock provider (in-process by default; the Function app and the CLI
        with storage pass blob leases shared by every writer); retry_deadline_s is the budget of the ONE
        deadline of each reconcile; sleep and clock are how retries wait and how the deadline tells time."""
        self.settings = settings
        self._arm_factory = arm_factory or (lambda: ArmClient(settings))
        self._locks: LockProvider = locks or InProcessLocks()
        self._budget_s = retry_deadline_s
        self._sleep = sleep
        self._clock = clock
        # A reconciler of one firewall of FIREWALL_IDS (`for_firewall`): its follow-up is that firewall's target.
        self._one_firewall = False
        # FIREWALL_IDS: the firewall whose lease this one's writes take (the first sharing its policy).
        self._lease_firewall: str | None = None

    # ------------------------------------------------------------------------------------ targets

    def resolve(self, resource_id: str) -> Target:
        """Map a caller's id to a target without any ARM call; bad ids raise RemediationInputError."""
        rid = ids.parse_resource_id(resource_id)
        if rid.namespace is None:
            raise UnsupportedTargetError(
                f"{resource_id} is a subscription or resource group; name a cluster, App Gateway, firewall, "
                "VNet, subnet or route table (use 'sweep' for a whole scope)")
        kind = next((k for t, k in _TARGET_KINDS if rid.is_type(t)), None)
        if kind is None:
            raise UnsupportedTargetError(f"{rid.resource_type} is not a resource type this tool reconciles")
        if not self.settings.in_scope(str(rid)):
            raise OutOfScopeError(f"{resource_id} is outside REMEDIATION_SCOPE")
        if rid.is_type(ids.AGENT_POOL):
            parent = rid.parent
            assert parent is not None  # an agent pool id always has its cluster as parent
            return Target(TargetKind.CLUSTER, str(parent))
        if kind is TargetKind.SCOPE:
            # A VPN gateway's P2S pool feeds egress routes and the P2S rule of every cluster in scope.
            return self.scope_target()
        if kind is TargetKind.FIREWALL:
            if rid.is_type(ids.FIREWALL):
                if not self.settings.configures_firewall(str(rid)):
                    # Targets mean what they say: another firewall is not one this app manages.
                    raise UnsupportedTargetError(f"{resource_id} is not a configured firewall "
                                                 f"({_setting(self.settings)} {', '.join(self.settings.firewalls)})")
                return self.firewall_target(str(rid))
            if not self.settings.several_firewalls:
                # Every firewall-side id maps to the one configured firewall: its group is computed whole.
                return self.firewall_target()
            # Several firewalls: a policy (or one of its groups) names its own firewall target, found by a read
            # (`_firewall_owner`): resolve makes no ARM call. The target names the policy.
            return Target(TargetKind.FIREWALL, str(_policy_of(rid)))
        return Target(kind, str(rid))

    def subnet_target(self, subnet_id: str) -> Target:
        rid = ids.parse_typed(subnet_id, ids.SUBNET)
        if not self.settings.in_scope(str(rid)):
            raise OutOfScopeError(f"{subnet_id} is outside REMEDIATION_SCOPE")
        return Target(TargetKind.SUBNET, str(rid))

    def scope_target(self) -> Target:
        return Target.sweep_of(self.settings.scope)

    def firewall_target(self, firewall_id: str | None = None) -> Target:
        """The firewall target of `firewall_id` (a configured one), by default the pass's firewall."""
        if firewall_id is None:
            return Target(TargetKind.FIREWALL, self.settings.firewall_id)
        return Target(TargetKind.FIREWALL, self.settings.for_firewall(firewall_id).firewall_id)

    def firewall_targets(self) -> tuple[Target, ...]:
        """One firewall target per configured firewall (FIREWALL_IDS), each its own lease and dedupe key."""
        return tuple(Target(TargetKind.FIREWALL, f) for f in self.settings.firewalls)

    def sweep_targets(self) -> list[Target]:
        """One fleet target (its follow-up is the firewall target): list calls per scope cost the same for
        1 or 1000 clusters (bench/)."""
        return [self.scope_target()]

    def follow_ups_of(self, target: Target) -> tuple[Target, ...]:
        """What may have to run after `target`: every routing target but prepare-subnet changes the inputs
        of the firewall group (clusters, their ranges, P2S pools), so the firewall target can follow it. A
        run leaves it out when its reads show the owned rules already hold what it would write
        (`_follow_ups`)."""
        if target.kind in {TargetKind.FIREWALL, TargetKind.SUBNET}:
            return ()
        return (self.firewall_target(),) if self._one_firewall else self.firewall_targets()

    # ------------------------------------------------------------------------------------ reconcile

    def reconcile(self, target: Target, *, dry_run: bool, require_exists: bool = False,
                  approve: Approve | None = None, early_follow_ups: EarlyFollowUps | None = None) -> ReconcileResult:
        """Plan and, unless dry run or REMEDIATION_MODE=report, apply, then verify. One target only: the
        result names its follow-ups (`follow_ups`), which the caller runs or enqueues.

        Failed writes are outcomes, not exceptions. A missing cluster or gateway triggers the clean-up
        pass (owned routes that no cluster needs any more), unless require_exists is set, when
        TargetNotFoundError is raised (the HTTP re-run answers 404, the CLI exits 1) for every target kind.
        `approve(plan)` is called with the writes about to be made, after planning and before any write;
        False means zero writes and `error="not approved: ..."`.
        """
        dry_run = dry_run or self.settings.mode is Mode.REPORT
        self._check_scope(target)
        started = time.monotonic()
        deadline, arm = self._start_run()
        try:
            if target.kind is TargetKind.FIREWALL and self.settings.several_firewalls:
                result = self._reconcile_one_of_several(arm, target, deadline, dry_run, require_exists, approve)
            elif target.kind is TargetKind.FIREWALL:
                result = self._reconcile_firewall(arm, target, deadline, dry_run, require_exists, approve)
            else:
                step = self._routing_step(target, require_exists)
                result = self._reconcile_routing(arm, target, step, deadline, dry_run, approve,
                                                 early_follow_ups=early_follow_ups)
        except RunEnds as exc:
            exc.writes_sent = arm.arm_calls.writes  # whether the run got anywhere (triggers/continuation.py)
            raise
        finally:
            calls = arm.arm_calls
            arm.close()
        result = dataclasses.replace(result, arm_calls=calls)
        log.info(
            "reconciled %s: %s, %d writes planned, %d conflicts, %d skipped, converged=%s, %d reads, "
            "%d writes in %.2fs%s", target, "dry run" if dry_run else "applied", len(result.plan.writes),
            len(result.plan.conflicts), len(result.plan.skipped), result.converged, calls.reads, calls.writes,
            time.monotonic() - started, f", error: {result.error}" if result.error else "",
            extra={"target": target.id, "action": "reconcile", "dryRun": dry_run})
        return result

    def reconcile_with_follow_ups(self, target: Target, *, dry_run: bool, require_exists: bool = False,
                                  approve: Approve | None = None) -> list[ReconcileResult]:
        """The target, then its follow-ups right away (the CLI: one process, no queue). The first result
        carries the follow-ups' results in `follow_up_results`; the list holds all of them in run order.
        A target that was not approved or ended in an error runs no follow-up."""
        first = self.reconcile(target, dry_run=dry_run, require_exists=require_exists, approve=approve)
        if first.error is not None:
            return [first]
        # A sweep may have run its firewall follow-up already (inside the lease): only the others run here.
        later = [self.reconcile(t, dry_run=dry_run, approve=approve) for t in first.pending_follow_ups]
        if not later:
            return [first]
        return [dataclasses.replace(first, follow_up_results=(*first.follow_up_results, *later)), *later]

    def reconcile_combined(self, target: Target, *, dry_run: bool, require_exists: bool = False,
                           approve: Approve | None = None) -> ReconcileResult:
        """`reconcile_with_follow_ups` as one result (remediation.views.results.combine): what a terminal shows."""
        return combine(self.reconcile_with_follow_ups(target, dry_run=dry_run, require_exists=require_exists,
                                                      approve=approve))

    def _start_run(self) -> tuple[Deadline, ArmClient]:
        """The run's one deadline, and a fresh ARM client whose SDK waits it bounds."""
        deadline = Deadline.after(self._budget_s, self._clock)
        arm = self._arm_factory()
        bind = getattr(arm, "bind_deadline", None)
        if callable(bind):
            bind(deadline)
        return deadline, arm

    def observe_scope(self) -> tuple[Snapshot, ArmCalls]:
        """Read-only: every cluster in scope with its network, the firewall and its owned group (status)."""
        deadline, arm = self._start_run()
        try:
            snapshot = run_with_retries(lambda: observe.observe_fleet(arm, self.settings, with_rules=True),
                                        deadline=deadline, describe="observe", sleep=self._sleep)
        finally:
            calls = arm.arm_calls
            arm.close()
        return snapshot, calls

    def observe_scope_by_firewall(self) -> tuple[Snapshot, dict[str, Snapshot], ArmCalls]:
        """`observe_scope`, plus with FIREWALL_IDS each other configured firewall's view of the same fleet read:
        the snapshot with that firewall as the pass's and its own owned groups (one list of its policy's groups
        each). Keyed by id_key of the firewall (status: each cluster's rules are judged in its own policy)."""
        deadline, arm = self._start_run()
        try:
            snapshot = run_with_retries(lambda: observe.observe_fleet(arm, self.settings, with_rules=True),
                                        deadline=deadline, describe="observe", sleep=self._sleep)
            views = {ids.id_key(snapshot.firewall.id): snapshot} if snapshot.firewall is not None else {}
            for firewall in snapshot.firewalls if self.settings.several_firewalls else ():
                if ids.id_key(firewall.id) in views:
                    continue
                views[ids.id_key(firewall.id)] = run_with_retries(
                    functools.partial(observe.as_seen_by, arm, snapshot, firewall,
                                      self.settings.for_firewall(firewall.id)),
                    deadline=deadline, describe="observe", sleep=self._sleep)
        finally:
            calls = arm.arm_calls
            arm.close()
        return snapshot, views, calls

    # ------------------------------------------------------------------------------------ routing targets

    def _reconcile_routing(self, arm: ArmClient, target: Target, step: _Step, deadline: Deadline,
                           dry_run: bool, approve: Approve | None, *,
                           with_follow_ups: bool = True,
                           early_follow_ups: EarlyFollowUps | None = None) -> ReconcileResult:
        if target.kind is TargetKind.SCOPE and with_follow_ups:
            return self._reconcile_sweep(arm, target, step, deadline, dry_run, approve)
        first = self._observe(step, arm, deadline)
        return self._routing_from(arm, target, step, first, deadline, dry_run, approve,
                                  with_follow_ups=with_follow_ups, early_follow_ups=early_follow_ups)

    def _routing_from(self, arm: ArmClient, target: Target, step: _Step, first: _Pass, deadline: Deadline,
                      dry_run: bool, approve: Approve | None, *, with_follow_ups: bool = True,
                      early_follow_ups: EarlyFollowUps | None = None,
                      rules_read: _RulesRead | None = None) -> ReconcileResult:
        """Plan, apply and verify the routing of `first`, and name the follow-ups. `rules_read`: the same read as
        `first` with each firewall's owned rules (a sweep's read), so a follow-up check on `first` reads no group
        again."""
        plan_ = self._plan_of(target, first)
        if first.error is not None:
            return ReconcileResult(str(target), dry_run, plan_, error=first.error,
                                   converged=None if dry_run else False)
        if not with_follow_ups:
            return self._routing_alone(arm, target, step, first, plan_, deadline, dry_run, approve)
        if dry_run:
            follow_ups, note, notes = self._follow_ups(arm, target, None if plan_.has_changes else first,
                                                       deadline, first, rules_read)
            return ReconcileResult(str(target), dry_run, _with_notes(plan_, notes), follow_ups=follow_ups,
                                   follow_up_note=note)
        refused = _refused(plan_, approve)
        if refused is not None:
            return ReconcileResult(str(target), dry_run, plan_, error=refused, converged=False,
                                   follow_ups=self.follow_ups_of(target))
        if early_follow_ups is not None and target.kind is TargetKind.CLUSTER and plan_.writes:
            early_follow_ups(self.follow_ups_of(target))  # may raise (a queue refused): nothing written yet
        outcomes = self._apply(arm, first.changes, deadline, target=target)
        converged, after = self._verified(outcomes, first, plan_,
                                          lambda: self._observe(step, arm, deadline))
        # A cluster whose routing was just written is new or changed: its rules nearly always are too, so
        # reading the group only to learn that would cost a GET for nothing. A fleet target's check after
        # its writes saves the firewall target's whole fleet read whenever the rules are in place.
        wrote = any(o.outcome is not Outcome.UNCHANGED for o in outcomes)
        settled = after if converged and not (wrote and target.kind is TargetKind.CLUSTER) else None
        read = rules_read if settled is first else None
        follow_ups, note, notes = self._follow_ups(arm, target, settled, deadline, first, read)
        return ReconcileResult(str(target), dry_run, _with_notes(plan_, notes), outcomes=outcomes,
                               converged=converged, follow_ups=follow_ups, follow_up_note=note)

    def _follow_ups(self, arm: ArmClient, target: Target, settled: _Pass | None,
                    deadline: Deadline, first: _Pass | None = None,
                    rules_read: _RulesRead | None = None) -> _FollowUps:
        """The firewall follow-up, unless the routing's final state shows it would write nothing.

        `settled` is the pass that read the routing as it now is (the first read when nothing was to be
        written, the verify read after the writes), or None when that state is not known (a plan with
        writes, a write that failed, a verify that found more to do): then the follow-up always runs, since
        new routes change whose egress passes the firewall. Otherwise the owned rules are read on top (one
        list of the policy's groups, plus the egress inputs not read yet) and compared by
        remediation/planning/firewall_check.py; `rules_read`, when given, is `settled`'s own read with those
        rules already in it, by firewall (nothing is read again for a firewall found there).
        Returns (follow-ups, why they were left out, the firewall plan's notes a left-out run still reports)."""
        candidates = self.follow_ups_of(target)
        if self.settings.several_firewalls and not self._one_firewall and candidates:
            return self._follow_ups_of_several(arm, target, settled, deadline, first, rules_read)
        if not candidates or settled is None:
            return candidates, None, ()
        snapshot = ((rules_read or {}).get(ids.id_key(self.settings.firewall_id))
                    or self._with_owned_rules(arm, target, settled.snapshot, deadline))
        if snapshot is None:
            return candidates, None, ()
        notes: tuple[Conflict, ...] = ()
        if target.kind is TargetKind.CLUSTER:
            reason = firewall_check.cluster_reason(snapshot, target.id, self.settings)
            in_place = "this cluster's firewall rules are in place"
        else:
            reason, notes = firewall_check.fleet_reason(snapshot, self.settings)
            in_place = "the owned firewall rules are what the firewall target would write"
        if reason is not None:
            log.info("%s: firewall follow-up runs: %s", target, reason,
                     extra={"target": target.id, "action": "follow-up-needed"})
            return candidates, None, ()
        note = f"{in_place}: no firewall run needed"
        log.info("%s: %s", target, note, extra={"target": target.id, "action": "follow-up-left-out"})
        return (), note, notes

    def _routing_alone(self, arm: ArmClient, target: Target, step: _Step, first: _Pass, plan_: Plan,
                       deadline: Deadline, dry_run: bool, approve: Approve | None) -> ReconcileResult:
        """Plan, apply and verify routing with no follow-up (a firewall run re-planning its spokes)."""
        if dry_run:
            return ReconcileResult(str(target), True, plan_)
        refused = _refused(plan_, approve)
        if refused is not None:
            return ReconcileResult(str(target), False, plan_, error=refused, converged=False)
        outcomes = self._apply(arm, first.changes, deadline, target=target)
        converged, _ = self._verified(outcomes, first, plan_, lambda: self._observe(step, arm, deadline))
        return ReconcileResult(str(target), False, plan_, outcomes=outcomes, converged=converged)

    def _follow_ups_of_several(self, arm: ArmClient, target: Target, settled: _Pass | None,
                               deadline: Deadline, first: _Pass | None,
                               rules_read: _RulesRead | None = None) -> _FollowUps:
        """FIREWALL_IDS: a cluster's follow-up is its own firewall's target (the one its VNets reach in this
        run's read), left out as with one firewall when that firewall's rules hold it; any other target, or a
        cluster with no single firewall, names every firewall target (the rules of a cluster that moved or lost
        its path are each policy's to keep or drop)."""
        every = self.firewall_targets()
        known = settled or first
        if target.kind is not TargetKind.CLUSTER:
            return (self._fleet_follow_ups_of_several(arm, target, settled, deadline, rules_read) if settled
                    else (every, None, ()))
        if known is None:
            return every, None, ()
        cluster = known.snapshot.clusters.get(ids.id_key(target.id))
        own = desired.cluster_firewall(known.snapshot, cluster, self.settings) if cluster else None
        if own is None:
            return every, None, ()
        child = self.for_firewall(own.id)
        if settled is None:
            return (child.firewall_target(),), None, ()
        return child._follow_ups(arm, target, _as_pass_of(settled, own), deadline)

    def _fleet_follow_ups_of_several(self, arm: ArmClient, target: Target, settled: _Pass,
                                     deadline: Deadline, rules_read: _RulesRead | None = None) -> _FollowUps:
        """A fleet target's settled read under FIREWALL_IDS: each firewall's target is left out, as with one
        firewall, when its policy's owned rules are what it would write (one list of that policy's groups)."""
        needed: list[Target] = []
        notes: list[Conflict] = []
        for firewall_target in self.firewall_targets():
            own = next((f for f in settled.snapshot.firewalls if ids.same_id(f.id, firewall_target.id)), None)
            if own is None:
                needed.append(firewall_target)
                continue
            ups, _, more = self.for_firewall(own.id)._follow_ups(arm, target, _as_pass_of(settled, own), deadline,
                                                                 rules_read=rules_read)
            needed.extend(ups)
            notes.extend(more)
        if needed:
            return tuple(needed), None, ()
        return (), "the owned firewall rules of every firewall are what their targets would write: no firewall run " \
                   "needed", tuple(notes)

    def for_firewall(self, firewall_id: str) -> Reconciler:
        """This reconciler with `firewall_id` as the firewall of its passes (same ARM factory, locks, budget)."""
        child = Reconciler(self.settings.for_firewall(firewall_id), arm_factory=self._arm_factory, locks=self._locks,
                           retry_deadline_s=self._budget_s, sleep=self._sleep, clock=self._clock)
        child._one_firewall = True
        return child

    def _reconcile_one_of_several(self, arm: ArmClient, target: Target, deadline: Deadline, dry_run: bool,
                                  require_exists: bool, approve: Approve | None) -> ReconcileResult:
        """A firewall target under FIREWALL_IDS: the pass of its own firewall (a policy target: the first
        configured firewall that uses the policy), under the lease of the first configured firewall whose rules
        live where its do: firewalls sharing a policy share one lease, so their group writes never overlap
        (If-Match alone holds only where the RP enforces it, docs/architecture.md 3)."""
        owner, lease, error = self._firewall_owner(arm, target)
        if owner is None or lease is None:
            plan_ = plan.build_plan(str(target), (), (), ())
            return ReconcileResult(str(target), dry_run, plan_, error=error, converged=None if dry_run else False)
        child = self.for_firewall(owner)
        child._lease_firewall = lease
        return child._reconcile_firewall(arm, target, deadline, dry_run, require_exists, approve)

    def _firewall_owner(self, arm: ArmClient, target: Target) -> tuple[str | None, str | None, str | None]:
        """(the configured firewall whose pass a firewall target runs, the firewall whose lease it takes), or
        Nones and why. One GET per configured firewall (their policies decide both)."""
        found = {f: arm.get_firewall(f) for f in self.settings.firewalls}
        owner = (self.settings.for_firewall(target.id).firewall_id if self.settings.configures_firewall(target.id)
                 else next((f for f, fw in found.items()
                            if fw is not None and fw.policy_id and ids.same_id(fw.policy_id, target.id)), None))
        if owner is None:
            return None, None, (f"{target.id} is the policy of no configured firewall "
                                f"({_setting(self.settings)}): nothing written")
        mine = found[owner]
        if mine is None:
            return None, None, f"firewall {owner} (FIREWALL_IDS) was not found: nothing written"
        lease = next(f for f, fw in found.items() if fw is not None and paths.rules_home(fw) == paths.rules_home(mine))
        return owner, lease, None

    def _with_owned_rules(self, arm: ArmClient, target: Target, snapshot: Snapshot,
                          deadline: Deadline) -> Snapshot | None:
        """`snapshot` plus the owned groups and egress inputs (observe.with_owned_rules), or None when that read
        failed: the routing result stands, and the firewall follow-up then reads, decides and reports itself."""
        return self._read_or_none(target, "owned rules", lambda: observe.with_owned_rules(arm, snapshot, self.settings),
                                  deadline)

    def _read_or_none(self, target: Target, what: str, read: Callable[[], Snapshot],
                      deadline: Deadline) -> Snapshot | None:
        """`read` with the run's retries, or None when it failed (said in the log): nothing is decided on it."""
        try:
            return run_with_retries(read, deadline=deadline, describe="observe", sleep=self._sleep)
        except RemediationError as exc:
            log.warning("%s: %s not read (%s): the firewall follow-up runs on its own read", target, what, exc,
                        extra={"target": target.id, "action": "follow-up-needed"})
            return None

    def _reconcile_sweep(self, arm: ArmClient, target: Target, step: _Step, deadline: Deadline, dry_run: bool,
                         approve: Approve | None) -> ReconcileResult:
        """A sweep writes its routing and the owned groups side by side (`_sweep_beside`), from one fleet read made
        inside the firewall lease(s); its dry run plans both from that read, without the lease. With less than
        SWEEP_FIREWALL_BUDGET_S of the run left, or a lease not taken within SWEEP_FIREWALL_LEASE_WAIT_S (its
        holder may be in a group write of minutes: the queued follow-up runs after it), the sweep reads, routes
        and verifies without the lease and names the firewall follow-up(s), as any routing target does."""
        if not dry_run and not deadline.allows(SWEEP_FIREWALL_BUDGET_S):
            log.info("%s: %.0f s of the run budget left, less than a group write may take: the sweep routes "
                     "without the firewall lease and the firewall follow-up is queued", target, deadline.remaining(),
                     extra={"target": target.id, "action": "follow-up-queued"})
            return self._routing_from(arm, target, step, self._observe(step, arm, deadline), deadline, False, approve)
        ended = self._sweep_beside(arm, target, deadline, dry_run, approve)
        if ended is None:
            return self._routing_from(arm, target, step, self._observe(step, arm, deadline), deadline, dry_run,
                                      approve)
        if isinstance(ended, ReconcileResult):
            return ended
        if isinstance(ended, _Beside):
            return self._sweep_verified(arm, target, ended, deadline)
        routing, rules_read = ended
        return self._routing_from(arm, target, step, routing, deadline, dry_run, approve, rules_read=rules_read)

    def _sweep_lease_names(self) -> list[str]:
        """The firewall leases a sweep's group writes rest on, in one order (no two sweeps or destroys wait on
        each other): with FIREWALL_IDS every configured firewall's (a superset of the firewall targets' leases,
        as `sweep --destroy` takes them: firewalls sharing a policy take the first one's)."""
        if not self.settings.several_firewalls:
            return [self._firewall_lock()]
        return ["firewall:" + key for key in sorted({ids.id_key(f) for f in self.settings.firewalls})]

    def _sweep_beside(self, arm: ArmClient, target: Target, deadline: Deadline, dry_run: bool,
                      approve: Approve | None) -> ReconcileResult | _Beside | tuple[_Pass, _RulesRead] | None:
        """Inside the firewall lease(s): ONE fleet read with the owned groups, the routing plan and each policy's
        group plan from it (`_sweep_parts`), then the routing writes and the group writes at the same time, each
        on its own thread (a group part holding its lease). The leases are released when every group part has
        ended; the routing goes on.

        The groups are computed from the read made before the routing writes. That is the safe order: rules come
        before routes, so no traffic is sent to a firewall that drops it. The product's own route writes do not
        change what the rules need (a default route is only written where the egress rule is wanted whatever the
        routes say: outbound type userDefinedRouting or FORCE_DEFAULT_ROUTE, remediation/planning/outbound.py);
        a pruned route can leave a rule the fleet no longer needs, which the check after the verify finds
        (`_sweep_verified`: the follow-up is then queued).

        Returns the started writes (`_Beside`); or a result (a dry run's plan, or the routing not approved:
        nothing written); or the read (the routing pass, the same read with the owned rules) when nothing is to be
        written beside the groups: no routing write, an error, a blocking conflict: the caller goes on from that
        read as for any routing target. None when a lease was not taken in time or the reads inside them failed:
        nothing written, the caller reads and routes without the leases."""
        names = [] if dry_run else self._sweep_lease_names()  # a plan writes nothing: it needs no lease
        acquired = False
        try:
            with ThreadPoolExecutor(max_workers=1 + len(names), thread_name_prefix="sweep") as pool, \
                    ExitStack() as leases:
                wait_until = deadline.within(SWEEP_FIREWALL_LEASE_WAIT_S)
                held = {name: leases.enter_context(self._locks.hold(name, wait_until)) for name in names}
                acquired = True
                read = self._sweep_read_in_lease(arm, target, deadline)
                if read is None:
                    return None
                routing, snapshot, parts = read
                plan_ = self._plan_of(target, routing)
                if dry_run:
                    return self._sweep_planned(target, routing, plan_, snapshot, parts)
                if (routing.error is not None or any(p.pass_.error is not None for p in parts) or not parts
                        or plan_.blocking_conflicts or not any(c.action is not Action.NOOP for c in routing.changes)):
                    return routing, _views(snapshot, parts)
                refused = _refused(plan_, approve)
                if refused is not None:
                    return ReconcileResult(str(target), False, plan_, error=refused, converged=False,
                                           follow_ups=self.follow_ups_of(target))
                # Every plan is asked for before anything is written; a refused group leaves the rest alone.
                refusals = [_refused(p.owner._plan_of(p.target, p.pass_), approve) for p in parts]
                self._check_scope(target, routing.changes)
                for part in parts:
                    part.owner._check_scope(part.target, part.pass_.changes)
                routing_writes = pool.submit(self._apply, arm, routing.changes, deadline, None, target)
                ending = [_start_part(pool, arm, p, why, held[p.lease], deadline)
                          for p, why in zip(parts, refusals, strict=True)]
                results = tuple(end() for end in ending)
        except TransientError as exc:
            # Not acquired in time (DeadlineExceeded, a blob lease still held past its acquire timeout) or the
            # lease store failing: nothing was read or written under it; the caller routes without the lease.
            if acquired or deadline.expired():
                raise
            log.info("%s: firewall lease not taken (%s): the sweep routes without it and the firewall follow-up "
                     "is queued", target, exc, extra={"target": target.id, "action": "follow-up-queued"})
            return None
        # The pool has waited for the routing writes (after the leases were released, at the end of the groups).
        return _Beside(routing, plan_, tuple(parts), results, routing_writes.result())

    def _sweep_read_in_lease(self, arm: ArmClient, target: Target,
                             deadline: Deadline) -> tuple[_Pass, Snapshot, list[_Part]] | None:
        """`_sweep_read` and the group parts planned from it, or None when a read failed (a list refused, the owned
        groups not readable): no group is written on a read in doubt, and the sweep falls back to reading and
        routing without the lease, whose own read then decides (a routing read that fails there ends the run in
        its error, nothing written)."""
        try:
            routing, snapshot = run_with_retries(lambda: self._sweep_read(arm), deadline=deadline,
                                                 describe="observe", sleep=self._sleep)
            return routing, snapshot, self._sweep_parts(arm, snapshot, deadline)
        except RemediationError as exc:
            if deadline.expired():
                raise
            log.warning("%s: the sweep's fleet read with the owned groups failed (%s): the sweep reads and routes "
                        "without them (and without the firewall lease) and names the firewall follow-up", target, exc,
                        extra={"target": target.id, "action": "follow-up-queued"})
            return None

    def _sweep_parts(self, arm: ArmClient, snapshot: Snapshot, deadline: Deadline) -> list[_Part]:
        """The group part of each place rules live, planned from the sweep's one read: the firewall's, or with
        FIREWALL_IDS each policy's (or classic firewall's) once, as the pass of the first configured firewall using
        it (the one whose lease its firewall target takes), that firewall's view of the same read
        (`observe.as_seen_by`: one list of its policy's groups). A configured firewall not found has no part (the
        routing pass then ends in its error, and nothing is written beside it)."""
        if not self.settings.several_firewalls:
            return [_Part(self, self.firewall_target(), self._firewall_confirmed(arm, self._firewall_plan_of(snapshot)),
                          self._firewall_lock(), snapshot)]
        parts: list[_Part] = []
        homes: set[str] = set()
        found = {ids.id_key(f.id): f for f in snapshot.firewalls}
        for firewall_id in self.settings.firewalls:
            firewall = found.get(ids.id_key(firewall_id))
            if firewall is None or paths.rules_home(firewall) in homes:
                continue
            homes.add(paths.rules_home(firewall))
            child = self.for_firewall(firewall_id)
            child._lease_firewall = firewall_id
            view = snapshot if snapshot.firewall is not None and ids.same_id(snapshot.firewall.id, firewall.id) else \
                run_with_retries(functools.partial(observe.as_seen_by, arm, snapshot, firewall, child.settings),
                                 deadline=deadline, describe="observe", sleep=self._sleep)
            pass_ = child._firewall_confirmed(arm, child._firewall_plan_of(view))
            parts.append(_Part(child, child.firewall_target(), pass_, child._firewall_lock(), view))
        return parts

    def _sweep_verified(self, arm: ArmClient, target: Target, beside: _Beside, deadline: Deadline) -> ReconcileResult:
        """The routing written beside the groups, verified by a fresh fleet read (outside the lease: it writes
        nothing), and one result as the CLI shows a target and its follow-ups: the group parts are listed as run.
        A part that converged is left pending (queued) all the same if the group written from the first read is
        not what the fleet now needs, or the routing's final state is not known (a write failed, a verify found
        more to do), as a sweep names its follow-ups then; with FIREWALL_IDS so is a firewall target without a
        part (it shares a policy) whose policy does not hold what it would write."""
        outcomes = beside.routing_outcomes
        converged, after = self._verified(outcomes, beside.routing, beside.plan,
                                          lambda: self._observe(self._fleet_pass, arm, deadline))
        settled = after if converged else None
        if self.settings.several_firewalls:
            needed = self._follow_ups(arm, target, settled, deadline)[0]
        else:
            reason = self._group_still_needed(arm, target, settled, beside, deadline)
            needed = (self.firewall_target(),) if reason is not None else ()
            if reason is not None:
                log.info("%s: firewall follow-up queued: %s", target, reason,
                         extra={"target": target.id, "action": "follow-up-needed"})
        again = {str(t).lower() for t in needed}
        # A part that ended in its own error or not converged is reported as run, as the firewall target would be.
        ran = tuple(r for r in beside.results
                    if r.error is not None or r.converged is not True or r.target.lower() not in again)
        follow_ups = tuple(dict.fromkeys((*(p.target for p in beside.parts), *needed)))
        routing_result = ReconcileResult(str(target), False, beside.plan, outcomes=outcomes, converged=converged,
                                         follow_ups=follow_ups)
        return dataclasses.replace(combine([routing_result, *beside.results]), follow_up_results=ran)

    def _group_still_needed(self, arm: ArmClient, target: Target, after: _Pass | None, beside: _Beside,
                            deadline: Deadline) -> str | None:
        """Why the firewall target must run again after a sweep wrote its group beside the routing, or None: the
        verify read's fleet with the owned groups as their PUTs answered (no GET; else the groups are listed)."""
        if after is None:
            return "the routing's final state is not known"
        (part,), (result,) = beside.parts, beside.results
        if result.error is not None or result.converged is not True:
            return None  # the part's own ending stands (reported as run)
        written = observe.groups_as_written(part.pass_.snapshot, result.outcomes, self.settings)
        snapshot: Snapshot | None
        if written is None:
            snapshot = self._with_owned_rules(arm, target, after.snapshot, deadline)
        else:
            # A group confirmed missing (or deleted by this run) is compared as empty: its key stays absent.
            with_groups = dataclasses.replace(
                after.snapshot, rule_collection_group=written.rule_collection_group,
                rule_collection_shards=written.rule_collection_shards,
                policy_group_priorities=written.policy_group_priorities,
                absent=frozenset({*after.snapshot.absent, *(k for k in written.absent if _GROUP_KEY in k)}))
            snapshot = self._with_egress_inputs(arm, target, with_groups, deadline)
        if snapshot is None:
            return "the owned rules were not read"
        reason, _ = firewall_check.fleet_reason(snapshot, self.settings)
        return reason

    def _with_egress_inputs(self, arm: ArmClient, target: Target, snapshot: Snapshot,
                            deadline: Deadline) -> Snapshot | None:
        """`snapshot` plus the egress inputs (route tables a sweep has listed already: usually no read), or None
        when that read failed."""
        return self._read_or_none(target, "egress inputs",
                                  lambda: egress_observe.observe_egress(arm, snapshot, self.settings), deadline)

    def _sweep_planned(self, target: Target, routing: _Pass, plan_: Plan, snapshot: Snapshot,
                       parts: Sequence[_Part]) -> ReconcileResult | tuple[_Pass, _RulesRead]:
        """A sweep's dry run with routing to write: the group parts' plans from the same fleet read, instead of a
        second read of the fleet by each firewall target (what its own dry run would plan: `observe_fleet` with
        the owned groups reads all `observe_firewall` does), listed as run. Nothing to route, or an error: the
        read, for the caller's dry run as for any routing target (the follow-up check on the groups read)."""
        if routing.error is not None or not plan_.has_changes or not parts:
            return routing, _views(snapshot, parts)
        results = [ReconcileResult(str(p.target), True, p.owner._plan_of(p.target, p.pass_), error=p.pass_.error)
                   for p in parts]
        routing_result = ReconcileResult(str(target), True, plan_, follow_ups=tuple(p.target for p in parts))
        return combine([routing_result, *results])

    def _sweep_read(self, arm: ArmClient) -> tuple[_Pass, Snapshot]:
        """One fleet read with the owned groups: the routing plan, and the read itself (the firewall plan's)."""
        snapshot = observe.observe_fleet(arm, self.settings, with_rules=True)
        # The routing is judged without the groups: their state before this run's group write is the
        # firewall part's to judge (a Failed group it repairs must not make the routing "not converged").
        routing_view = dataclasses.replace(snapshot, rule_collection_group=None, rule_collection_shards=())
        return self._deletes_confirmed(arm, self._fleet_plan(routing_view)), snapshot

    # ------------------------------------------------------------------------------------ firewall target

    def _reconcile_firewall(self, arm: ArmClient, target: Target, deadline: Deadline, dry_run: bool,
                            require_exists: bool, approve: Approve | None) -> ReconcileResult:
        if dry_run:
            # A plan writes nothing, so it needs no lease: it is computed from a fresh read all the same.
            first = self._observe(self._firewall_pass, arm, deadline)
            result = ReconcileResult(str(target), True, self._plan_of(target, first), error=first.error)
            return self._with_routing_behind(arm, first, result, deadline, True, approve)
        # One writer per firewall across every writer (app instances and the CLI). The fleet and the owned
        # group are read here, once, INSIDE the lease, so the write is computed from what the previous
        # holder left and from every cluster that exists now.
        with self._locks.hold(self._firewall_lock(), deadline) as held:
            first = self._observe(self._firewall_pass, arm, deadline)
            result = self._firewall_from(arm, target, first, deadline, approve, held)
        return self._with_routing_behind(arm, first, result, deadline, False, approve)

    def _with_routing_behind(self, arm: ArmClient, first: _Pass, result: ReconcileResult, deadline: Deadline,
                             dry_run: bool, approve: Approve | None) -> ReconcileResult:
        """A firewall's private IP can change (deallocate / allocate, docs/platform-notes.md 13.2): the firewall
        target also checks the owned routes of the spokes behind it (their tables, from the firewall read plus at
        most the scope's one route table listing) and, when one points at another address, plans their routing
        again in this run: one fleet routing pass (with pruning), after the lease, without follow-ups (this run
        is the firewall's). No route is left at the old IP."""
        if first.error is not None or result.error is not None:
            return result
        subnets = desired.subnets_behind(first.snapshot, self.settings)
        if not subnets:
            return result
        snapshot = run_with_retries(
            lambda: observe.with_route_tables_of(arm, first.snapshot, subnets, self.settings),
            deadline=deadline, describe="observe", sleep=self._sleep)
        left = desired.routes_left_behind(snapshot, self.settings)
        if not left:
            return result
        log.info("%d owned route(s) behind firewall %s point at another address than %s: routing planned again",
                 len(left), self.settings.firewall_id, snapshot.firewall.private_ip if snapshot.firewall else None,
                 extra={"target": self.settings.firewall_id, "action": "firewall-moved"})
        scope = self.scope_target()
        routing = self._reconcile_routing(arm, scope, self._fleet_pass, deadline, dry_run, approve,
                                          with_follow_ups=False)
        return combine([result, routing])

    def _firewall_lock(self) -> str:
        return "firewall:" + ids.id_key(self._lease_firewall or self.settings.firewall_id)

    def _firewall_from(self, arm: ArmClient, target: Target, first: _Pass, deadline: Deadline,
                       approve: Approve | None, held: Held | None) -> ReconcileResult:
        """Plan, approve, write and verify the owned groups from `first`, a read made inside the lease."""
        plan_ = self._plan_of(target, first)
        if first.error is not None:
            return ReconcileResult(str(target), False, plan_, error=first.error, converged=False)
        refused = _refused(plan_, approve)
        if refused is not None:
            return ReconcileResult(str(target), False, plan_, error=refused, converged=False)
        outcomes = self._apply(arm, first.changes, deadline, held, target)
        converged, _ = self._verified(outcomes, first, plan_,
                                      lambda: self._observe(lambda gw: self._reverify_firewall(gw, first, outcomes),
                                                            arm, deadline))
        return ReconcileResult(str(target), False, plan_, outcomes=outcomes, converged=converged)

    def _firewall_pass(self, arm: ArmClient) -> _Pass:
        return self._firewall_confirmed(arm, self._firewall_plan(arm))

    def _firewall_confirmed(self, arm: ArmClient, first: _Pass) -> _Pass:
        if (arm.lists_from_resource_graph and first.error is None
                and firewall_check.removes_anything(first.snapshot, first.collections, self.settings)):
            # A cluster Resource Graph has not indexed yet would lose its rules: a removal rests on ARM's
            # own lists (docs/arm-notes.md section 7.2).
            log.info("the firewall plan from Resource Graph removes rules: planned again from ARM's lists",
                     extra={"action": "confirm-deletes"})
            return self._firewall_plan(arm.with_arm_lists())
        return first

    def _firewall_plan(self, arm: ArmClient) -> _Pass:
        return self._firewall_plan_of(observe.observe_firewall(arm, self.settings))

    def _firewall_plan_of(self, snapshot: Snapshot) -> _Pass:
        error = _firewall_error(snapshot, self.settings)
        if error is not None:
            return _Pass(snapshot=snapshot, error=error)
        collections, skipped = desired.desired_rule_collections(snapshot, self.settings)
        # The checked form also reports foreign collections kept in the group and the group size limit.
        changes, conflicts = plan.plan_firewall_checked(snapshot, collections, self.settings)
        return _Pass(tuple(changes), tuple(conflicts), tuple(skipped), snapshot, collections=tuple(collections))

    def _reverify_firewall(self, arm: ArmClient, first: _Pass, outcomes: Sequence[ChangeOutcome]) -> _Pass:
        """The verify of a firewall write, still inside the lease: the owned groups as ARM answered their
        PUTs (observe.groups_as_written: no GET), else read again, compared with the collections computed
        from the fleet read once before the write."""
        snapshot = (observe.groups_as_written(first.snapshot, outcomes, self.settings)
                    or observe.observe_owned_rules_again(arm, first.snapshot, self.settings))
        return _Pass(tuple(plan.plan_firewall(snapshot, first.collections, self.settings)), snapshot=snapshot,
                     collections=first.collections)

    # ------------------------------------------------------------------------------------ shared steps

    def _plan_of(self, target: Target, pass_: _Pass) -> Plan:
        """The pass's plan, with where each cluster it read is routed (hub and firewall, or why none) and, for a
        firewall pass, the policy's owned groups (the views, #21)."""
        built = plan.build_plan(str(target), pass_.changes, pass_.conflicts, pass_.skipped)
        snapshot = pass_.snapshot
        if snapshot is None:
            return built
        owned = desired.owned_groups_of(snapshot, pass_.changes) if target.kind is TargetKind.FIREWALL else ()
        return dataclasses.replace(built, behind=desired.behind(snapshot, self.settings), owned_groups=owned)

    def _verified(self, outcomes: Sequence[ChangeOutcome], first: _Pass, plan_: Plan,
                  reobserve: Callable[[], _Pass]) -> tuple[bool, _Pass | None]:
        """Converged = nothing failed, no blocking conflict, and a fresh read plans no more writes and finds
        every owned object the plan touches settled (provisioningState Succeeded). When nothing was
        written, the state just read is the state, so no second read is needed. Also returns the pass that
        read the final state (None when none did)."""
        if any(o.outcome is Outcome.FAILED for o in outcomes) or plan_.blocking_conflicts:
            return False, None
        if all(o.outcome is Outcome.UNCHANGED for o in outcomes):
            return not _unsettled(first.snapshot, first.changes), first
        again = reobserve()
        return _converged(again), again

    def _observe(self, step: _Step, arm: ArmClient, deadline: Deadline) -> _Pass:
        """A pass only reads, so a read that is still throttled or busy after azure-core's own retries
        (docs/arm-notes.md 1.1) can simply be tried again (docs/architecture.md section 4)."""
        return run_with_retries(lambda: step(arm), deadline=deadline, describe="observe", sleep=self._sleep)

    def _check_scope(self, target: Target, writes: Sequence[Change] = ()) -> None:
        """A request queued under older settings is held to today's scope (planning/intake.scope_refusal)."""
        refusal = intake.scope_refusal(self.settings, target, [c for c in writes if c.action is not Action.NOOP])
        if refusal is not None:
            raise OutOfScopeError(refusal)

    def _apply(self, arm: ArmClient, changes: Sequence[Change], deadline: Deadline,
               held: Held | None = None, target: Target | None = None) -> tuple[ChangeOutcome, ...]:
        if target is not None:
            self._check_scope(target, changes)
        return apply_changes(arm, changes, settings=self.settings, deadline=deadline, sleep=self._sleep,
                             locks=self._locks, held=held)

    # ------------------------------------------------------------------------------------ routing passes

    def _routing_step(self, target: Target, require_exists: bool) -> _Step:
        if target.kind is TargetKind.CLUSTER:
            return lambda gw: self._cluster_pass(gw, target.id, require_exists)
        if target.kind is TargetKind.GATEWAY:
            return lambda gw: self._app_gateway_pass(gw, target.id, require_exists)
        if target.kind is TargetKind.SUBNET:
            return lambda gw: self._subnet_pass(gw, target.id)
        if target.kind is TargetKind.NETWORK:
            return lambda gw: self._network_pass(gw, target.id, require_exists)
        # SCOPE: the sweep, with pruning: deletes are only safe with the whole picture.
        return self._fleet_pass

    def _cluster_pass(self, arm: ArmClient, cluster_id: str, require_exists: bool) -> _Pass:
        snapshot = observe.observe_cluster(arm, cluster_id, self.settings)
        if ids.id_key(cluster_id) in snapshot.absent:
            if require_exists:
                raise TargetNotFoundError(f"cluster {cluster_id} was not found")
            cleanup = self._fleet_pass(arm)
            note = Skip(cluster_id, "cluster not found: removing owned routes that no cluster in scope needs")
            return dataclasses.replace(cleanup, skipped=(note, *cleanup.skipped))
        error = _firewall_error(snapshot, self.settings)
        wanted = desired.desired_cluster_routes(snapshot, cluster_id, self.settings)
        if isinstance(wanted, Skip):
            return _Pass(skipped=(wanted,), snapshot=snapshot, error=error)
        if error is not None:
            return _Pass(snapshot=snapshot, error=error)
        changes, conflicts = plan.plan_routes(snapshot, wanted, self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts), snapshot=snapshot)

    def _app_gateway_pass(self, arm: ArmClient, gateway_id: str, require_exists: bool) -> _Pass:
        """The clusters behind an App Gateway, planned from ONE fleet observation: list calls cost the same
        for any number of clusters, and no VPN gateway list or VNet is read once per cluster. A named
        gateway that does not exist is an error before anything else is read."""
        if require_exists and arm.get_app_gateway(gateway_id) is None:
            raise TargetNotFoundError(f"application gateway {gateway_id} was not found")
        snapshot = observe.observe_fleet(arm, self.settings)
        users = sorted((c for c in snapshot.clusters.values() if ids.same_id(c.ingress_gateway_id, gateway_id)),
                       key=lambda c: ids.id_key(c.id))
        if not users:
            # A gateway no cluster uses (or a deleted one): the fleet plan prunes its subnet's routes.
            return self._deletes_confirmed(arm, self._fleet_plan(snapshot))
        error = _firewall_error(snapshot, self.settings)
        if error is not None:
            return _Pass(snapshot=snapshot, error=error)
        wanted: list[DesiredSubnetRoutes] = []
        skipped: list[Skip] = []
        for cluster in users:
            result = desired.desired_cluster_routes(snapshot, cluster.id, self.settings)
            if isinstance(result, Skip):
                skipped.append(result)
            else:
                wanted.extend(result)
        changes, conflicts = plan.plan_routes(
            snapshot, desired.merge_subnet_routes(wanted), self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts), tuple(skipped), snapshot)

    def _network_pass(self, arm: ArmClient, resource_id: str, require_exists: bool) -> _Pass:
        """A VNet, subnet, route table or route: which clusters it affects is only known from the whole
        picture, so the fleet pass runs, but only for a resource that exists when the caller named it
        (a mistyped id must never start a sweep with pruning)."""
        if require_exists and not observe.network_resource_exists(arm, resource_id):
            raise TargetNotFoundError(f"{resource_id} was not found")
        return self._fleet_pass(arm)

    def _subnet_pass(self, arm: ArmClient, subnet_id: str) -> _Pass:
        # The clusters in scope too: a subnet one of them uses may be refused (prepare.subnet_refusal).
        snapshot = observe.with_cluster_list(arm, observe.observe_subnet(arm, subnet_id, self.settings))
        if ids.id_key(subnet_id) in snapshot.absent:
            raise TargetNotFoundError(f"subnet {subnet_id} was not found")
        error = _firewall_error(snapshot, self.settings)
        if error is not None:
            return _Pass(snapshot=snapshot, error=error)
        wanted = prepare.prepare_one(snapshot, subnet_id, self.settings)
        if isinstance(wanted, Skip):
            return _Pass(skipped=(wanted,), snapshot=snapshot)
        if isinstance(wanted, Conflict):
            return _Pass(conflicts=(wanted,), snapshot=snapshot)
        changes, conflicts = plan.plan_routes(snapshot, (wanted,), self.settings, prune=False)
        return _Pass(tuple(changes), tuple(conflicts), snapshot=snapshot)

    def _fleet_pass(self, arm: ArmClient) -> _Pass:
        return self._deletes_confirmed(arm, self._fleet_plan(observe.observe_fleet(arm, self.settings)))

    def _deletes_confirmed(self, arm: ArmClient, pass_: _Pass) -> _Pass:
        """Resource Graph is an index that may lag behind ARM (docs/arm-notes.md section 7.2): a cluster it
        has not indexed yet looks gone, and pruning would delete the routes it needs. So a fleet plan built
        from Resource Graph lists that deletes anything is planned again from ARM's own lists, and that
        fresh plan is the one applied. (Nothing to delete: nothing rests on the index's freshness.)"""
        if not arm.lists_from_resource_graph:
            return pass_
        if not any(c.action is Action.DELETE for c in pass_.changes):
            return pass_
        log.info("the plan from Resource Graph deletes %d owned object(s): planned again from ARM's lists",
                 sum(1 for c in pass_.changes if c.action is Action.DELETE), extra={"action": "confirm-deletes"})
        arm = arm.with_arm_lists()
        return self._fleet_plan(observe.observe_fleet(arm, self.settings))

    def _fleet_plan(self, snapshot: Snapshot) -> _Pass:
        error = _firewall_error(snapshot, self.settings)
        if error is not None:
            # Without the next hop nothing can be desired, and pruning on "nothing desired" would delete
            # every owned route: no writes at all.
            return _Pass(snapshot=snapshot, error=error)
        wanted: list[DesiredSubnetRoutes] = []
        skipped: list[Skip] = []
        for cluster_key in sorted(snapshot.clusters):
            cluster = snapshot.clusters[cluster_key]
            result = desired.desired_cluster_routes(snapshot, cluster.id, self.settings)
            if isinstance(result, Skip):
                skipped.append(result)
            else:
                wanted.extend(result)
        prepared = self._prepared_subnets(snapshot, wanted)
        wanted.extend(prepared.desired)
        changes, conflicts = plan.plan_routes(
            snapshot, desired.merge_subnet_routes(wanted), self.settings, prune=True)
        return _Pass(tuple(changes), (*prepared.reports, *conflicts), tuple(skipped), snapshot)

    def _prepared_subnets(self, snapshot: Snapshot,
                          covered: Sequence[DesiredSubnetRoutes]) -> prepare.PrepareResult:
        """The subnets the VNet tag PREPARE_SUBNETS_TAG marks, and those `prepare-subnet` prepared, stay
        prepared for a userDefinedRouting cluster; refusals are reported (remediation/planning/prepare.py).

        AKS refuses to create such a cluster unless the subnet already routes 0.0.0.0/0 to the appliance
        (docs/platform-notes.md 3.2.1), so an owned default route with no cluster behind it is kept, not pruned.
        """
        return prepare.prepared_subnets(snapshot, covered, self.settings)




def _views(snapshot: Snapshot, parts: Sequence[_Part]) -> _RulesRead:
    """The sweep's read as each configured firewall found in it sees it, for the follow-up check: a part's own view,
    and a firewall sharing a part's policy (or classic firewall: never) that view with itself as the firewall."""
    views = {ids.id_key(p.owner.settings.firewall_id): p.view for p in parts}
    homes = {paths.rules_home(p.view.firewall): p.view for p in parts if p.view.firewall is not None}
    for firewall in snapshot.firewalls:
        key = ids.id_key(firewall.id)
        if key not in views and paths.rules_home(firewall) in homes:
            views[key] = dataclasses.replace(homes[paths.rules_home(firewall)], firewall=firewall)
    return views


def _start_part(pool: ThreadPoolExecutor, arm: ArmClient, part: _Part, refusal: str | None, held: Held | None,
                deadline: Deadline) -> Callable[[], ReconcileResult]:
    """Start one group part of a sweep on `pool` (written and verified under its lease, `held`); returns how to
    wait for its result. A part not approved writes nothing and ends in that error."""
    if refusal is not None:
        result = ReconcileResult(str(part.target), False, part.owner._plan_of(part.target, part.pass_),
                                 error=refusal, converged=False)
        return lambda: result
    return pool.submit(part.owner._firewall_from, arm, part.target, part.pass_, deadline, None, held).result


def _with_notes(plan_: Plan, notes: Sequence[Conflict]) -> Plan:
    return dataclasses.replace(plan_, conflicts=(*plan_.conflicts, *notes)) if notes else plan_


def _refused(plan_: Plan, approve: Approve | None) -> str | None:
    """None when the writes may go ahead; else the result's error (zero writes)."""
    if approve is None or not plan_.has_changes:
        return None
    if approve(plan_):
        return None
    return f"not approved: {len(plan_.writes)} planned write(s) were not made"


def _as_pass_of(settled: _Pass, firewall: ObservedFirewall) -> _Pass:
    """A routing pass's read as `firewall`'s pass sees it (its owned groups are read on top, by that pass)."""
    snapshot = dataclasses.replace(settled.snapshot, firewall=firewall, rule_collection_group=None,
                                   rule_collection_shards=(), policy_group_priorities={})
    return dataclasses.replace(settled, snapshot=snapshot)


def _setting(settings: Settings) -> str:
    return "FIREWALL_IDS" if settings.several_firewalls else "FIREWALL_ID"


def _policy_of(rid: ids.ResourceId) -> ids.ResourceId:
    """A firewall policy id, from itself or one of its rule collection groups."""
    while rid.parent is not None and not rid.is_type(ids.FIREWALL_POLICY):
        rid = rid.parent
    return rid


def _firewall_error(snapshot: Snapshot, settings: Settings) -> str | None:
    """A missing firewall, or one without a private IP, is an error for the run, not a skip: every route
    and rule needs it, and a typo in FIREWALL_ID must not look like "No changes". With FIREWALL_IDS, any
    configured firewall not found is that error (a VNet may reach it: no path is known to be the only one)."""
    if settings.several_firewalls:
        # Not the pass firewall's private IP: a deallocated hub firewall skips its own spokes (check_path), not
        # every hub's; its rules do not need the address.
        missing = paths.missing_firewalls(snapshot, settings)
        return f"firewall {', '.join(missing)} (FIREWALL_IDS) was not found: nothing written" if missing else None
    firewall = snapshot.firewall
    if firewall is None:
        return f"firewall {settings.firewall_id} (FIREWALL_ID) was not found: nothing written"
    if not firewall.private_ip:
        return f"firewall {firewall.id} has no private IP to use as the next hop: nothing written"
    return None


def _converged(again: _Pass) -> bool:
    """What a verify read says: no error, no blocking conflict, no write left, every touched object settled."""
    if again.error is not None or any(c.blocking for c in again.conflicts):
        return False
    return not any(c.action is not Action.NOOP for c in again.changes) and not _unsettled(again.snapshot,
                                                                                       again.changes)


def _unsettled(snapshot: Snapshot, changes: Sequence[Change]) -> list[str]:
    """Owned objects the plan touches whose provisioningState is Failed, Updating, Deleting or Canceled:
    ARM may not enforce what they hold, so the target is not converged (a re-run repairs a Failed one)."""
    found: list[str] = []
    for group in snapshot.owned_groups:  # the owned group and every owned shard (remediation/planning/shards.py)
        if group.provisioning_state.lower() in _UNSETTLED_STATES:
            found.append(f"{group.id}: {group.provisioning_state}")
    firewall = snapshot.firewall
    if (firewall is not None and firewall.policy_id is None
            and firewall.provisioning_state.lower() in _UNSETTLED_STATES and changes):
        found.append(f"{firewall.id}: {firewall.provisioning_state}")
    # A table is touched by a change to it or to one of its routes: the tables of the route addresses, found
    # once (scanning every address for each table was quadratic in a fleet's tables, issue 26). A route's own
    # id is no table's or subnet's, so only its table's is keyed (a route id is new text: parsing each cost more
    # than the rest of this check).
    addresses: set[str] = set()
    touched_tables: set[str] = set()
    for change in changes:
        cut = change.address.lower().rfind("/routes/") if change.kind is ChangeKind.ROUTE else -1
        if cut >= 0:
            touched_tables.add(ids.id_key(change.address[:cut]))
        else:
            addresses.add(ids.id_key(change.address))
    touched_tables |= addresses
    for key, table in snapshot.route_tables.items():
        touched = key in touched_tables
        if touched and table.provisioning_state.lower() in _UNSETTLED_STATES:
            found.append(f"{table.id}: {table.provisioning_state}")
    for key, subnet in snapshot.subnets.items():
        if key in addresses and subnet.provisioning_state.lower() in _UNSETTLED_STATES:
            found.append(f"{subnet.id}: {subnet.provisioning_state}")
    if found:
        log.warning("not converged, owned objects not settled: %s", "; ".join(found))
    return found
