"""`sweep --destroy`: read the scope, plan the removal of what this tool owns (remediation/planning/destroy.py),
and with an approval write it phase by phase, then read again to verify.

- Deletes never rest on Resource Graph, an index that may lag (docs/arm-notes.md section 7.2): the scope is
  listed through ARM.
- A write run holds the firewall lease (`firewall:<id>`, the name the reconciler's firewall target takes) for the
  whole run and reads the scope INSIDE it, so the owned groups are removed or rewritten from what the previous
  holder left, with the If-Match etag of that read.
- Phases (planning/destroy.py `phase`): routes and firewall objects through `apply_changes`; then the subnet
  associations through `apply_changes` (each detach is checked against the table the plan saw: an association
  someone changed is a conflict, never swapped); then the owned tables through the ARM client's one narrow
  table delete, `delete_owned_empty_route_table`, which re-reads the table and deletes it only when it is
  owned and empty. `apply_changes` itself still refuses every route-table delete. A phase-2 or phase-3 write
  whose table lost a write before is not sent ("skipped: dependency failed").
- Converged: nothing failed and a fresh read plans no more removal.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from functools import partial

from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.deadline import DEFAULT_RUN_BUDGET_S, Deadline
from remediation.core.errors import ArmError, RemediationError, TransientError
from remediation.core.model import (
    ArmCalls,
    Change,
    ChangeKind,
    ChangeOutcome,
    Outcome,
    Plan,
    ReconcileResult,
    SubnetAssociationPayload,
)
from remediation.engine import observe
from remediation.engine.apply import DEPENDENCY_FAILED, apply_changes
from remediation.engine.locks import Held, InProcessLocks, LockProvider, check_held
from remediation.engine.retry import run_with_retries
from remediation.planning.destroy import phase, plan_destroy

log = logging.getLogger(__name__)

Approve = Callable[[Plan], bool]


class Destroyer:
    """One `sweep --destroy` run per call; `arm_factory` builds a fresh ARM client (tests pass their own)."""

    def __init__(self, settings: Settings, *, locks: LockProvider | None = None,
                 arm_factory: Callable[[], ArmClient] | None = None, budget_s: float = DEFAULT_RUN_BUDGET_S,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._locks: LockProvider = locks or InProcessLocks()
        self._arm_factory = arm_factory or (lambda: ArmClient(settings))
        self._budget_s = budget_s
        self._sleep = sleep

    @property
    def target(self) -> str:
        return ",".join(str(s) for s in self.settings.scope)

    def run(self, *, dry_run: bool, approve: Approve | None = None) -> ReconcileResult:
        deadline = Deadline.after(self._budget_s)
        client = self._arm_factory()
        client.bind_deadline(deadline)
        arm = client.with_arm_lists()
        try:
            if dry_run:
                return ReconcileResult(self.target, True, self._plan(arm, deadline), arm_calls=client.arm_calls)
            with ExitStack() as stack:
                # Every configured firewall's lease, in one order (no two destroys wait on each other): its group
                # writes rest on the read inside them. A superset of the reconciler's keys (firewalls that share a
                # policy share the first one's lease there).
                guards = [stack.enter_context(self._locks.hold("firewall:" + key, deadline))
                          for key in sorted({ids.id_key(f) for f in self.settings.firewalls})]
                result = self._write(arm, deadline, _AllHeld(guards), approve)
            return _with_calls(result, client.arm_calls)
        finally:
            client.close()

    def _plan(self, arm: ArmClient, deadline: Deadline) -> Plan:
        """The routing part once, and the firewall part of every configured firewall (FIREWALL_IDS): one fleet
        read, then each other firewall's view of it with its own owned groups (`observe.as_seen_by`). A
        configured firewall the read did not find plans as a missing one: an error, nothing removed."""
        snapshot = run_with_retries(partial(observe.observe_fleet, arm, self.settings, with_rules=True),
                                    deadline=deadline, describe="observe", sleep=self._sleep)
        parts = [plan_destroy(snapshot, self.settings, self.target)]
        found = {ids.id_key(f.id): f for f in snapshot.firewalls}
        for firewall_id in self.settings.firewalls:
            if snapshot.firewall is not None and ids.same_id(firewall_id, snapshot.firewall.id):
                continue
            settings = self.settings.for_firewall(firewall_id)
            firewall = found.get(ids.id_key(firewall_id))
            view = dataclasses.replace(snapshot, firewall=None, rule_collection_group=None,
                                       rule_collection_shards=())
            if firewall is not None:
                view = run_with_retries(partial(observe.as_seen_by, arm, snapshot, firewall, settings),
                                        deadline=deadline, describe=f"observe (firewall {firewall_id})",
                                        sleep=self._sleep)
            parts.append(plan_destroy(view, settings, self.target))
        return _joined(parts, self.target)

    def _write(self, arm: ArmClient, deadline: Deadline, held: Held | None,
               approve: Approve | None) -> ReconcileResult:
        plan = self._plan(arm, deadline)  # read inside the lease: the group writes rest on it
        refusal = _refusal(plan, approve)
        if refusal is not None:
            return ReconcileResult(self.target, False, plan, converged=False, error=refusal)
        outcomes: dict[int, ChangeOutcome] = {}
        for number in (1, 2, 3):
            indexed = [(i, c) for i, c in enumerate(plan.changes) if phase(c) == number]
            blocked = _failed_tables(outcomes.values())
            ready = [(i, c) for i, c in indexed if _table_of(c) not in blocked]
            outcomes.update((i, ChangeOutcome(c, Outcome.FAILED, DEPENDENCY_FAILED))
                            for i, c in indexed if _table_of(c) in blocked)
            if number < 3:
                done = apply_changes(arm, [c for _, c in ready], settings=self.settings, deadline=deadline,
                                     sleep=self._sleep, locks=self._locks, held=held)
            else:
                done = tuple(self._delete_table(arm, c, deadline, held) for _, c in ready)
            outcomes.update(zip((i for i, _ in ready), done, strict=True))
        ordered = tuple(outcomes[i] for i in range(len(plan.changes)))
        if any(o.outcome is Outcome.FAILED for o in ordered):
            return ReconcileResult(self.target, False, plan, ordered, converged=False)
        again = self._plan(arm, deadline)
        return ReconcileResult(self.target, False, plan, ordered, converged=not again.has_changes)

    def _delete_table(self, arm: ArmClient, change: Change, deadline: Deadline,
                      held: Held | None) -> ChangeOutcome:
        """The narrow path: one owned, empty table, re-checked by the ARM client right before the DELETE."""
        describe = f"delete routeTable {change.address}"

        def guarded() -> None:
            deadline.check(describe)
            check_held(held, describe)
            arm.delete_owned_empty_route_table(change.address)

        try:
            # One holder per table across writers, as apply's table lanes take it.
            with self._locks.hold("route-table:" + ids.id_key(change.address), deadline):
                run_with_retries(guarded, deadline=deadline, describe=describe, sleep=self._sleep)
        except RemediationError as exc:
            code = exc.arm_code if isinstance(exc, ArmError) and exc.arm_code else type(exc).__name__
            text = str(exc) if str(exc).startswith(code) else f"{code}: {exc}"
            log.warning("%s failed: %s", describe, text)
            return ChangeOutcome(change, Outcome.FAILED, text, retryable=isinstance(exc, TransientError))
        return ChangeOutcome(change, Outcome.DELETED)


class _AllHeld:
    """Several leases checked as one: a write is sent only while every one is still held."""

    def __init__(self, guards: Sequence[Held | None]) -> None:
        self._guards = guards

    def check(self, what: str) -> None:
        for guard in self._guards:
            check_held(guard, what)


_FIREWALL_KINDS = (ChangeKind.RULE_COLLECTION_GROUP, ChangeKind.CLASSIC_RULE_COLLECTION)


def _joined(parts: Sequence[Plan], target: str) -> Plan:
    """The first part whole (routing and its firewall), then the firewall changes and reports of the others,
    each address once (a policy shared by two firewalls), in phase order as plan_destroy orders them."""
    first, *others = parts
    seen = {ids.id_key(c.address) for c in first.changes}
    changes, conflicts = list(first.changes), list(first.conflicts)
    for part in others:
        for change in part.changes:
            if change.kind in _FIREWALL_KINDS and ids.id_key(change.address) not in seen:
                seen.add(ids.id_key(change.address))
                changes.append(change)
        conflicts.extend(c for c in part.conflicts if c.kind in _FIREWALL_KINDS and c not in conflicts)
    changes.sort(key=phase)  # stable: each phase keeps its order
    return Plan(target=target, changes=tuple(changes), conflicts=tuple(conflicts), skipped=first.skipped)


def _refusal(plan: Plan, approve: Approve | None) -> str | None:
    """Why nothing is written: a plan error (a missing firewall), or no approval."""
    if plan.errors:
        return "nothing removed: " + "; ".join(plan.errors)
    if approve is None:
        return "not approved: no approval was given"
    if plan.has_changes and not approve(plan):
        return f"not approved: {len(plan.writes)} planned removal(s), none made"
    return None


def _table_of(change: Change) -> str:
    """The owned table a change depends on: a route's table, a detached subnet's table, the table itself."""
    if change.kind is ChangeKind.ROUTE:
        return ids.id_key(change.address.rsplit("/routes/", 1)[0])
    if change.kind is ChangeKind.SUBNET_ROUTE_TABLE and isinstance(change.old, SubnetAssociationPayload):
        return ids.id_key(change.old.route_table_id or "")
    if change.kind is ChangeKind.ROUTE_TABLE:
        return ids.id_key(change.address)
    return ""


def _failed_tables(outcomes: Iterable[ChangeOutcome]) -> set[str]:
    """The tables a failed write depends on: their later phases are not sent."""
    failed = {_table_of(o.change) for o in outcomes if o.outcome is Outcome.FAILED}
    failed.discard("")
    return failed


def _with_calls(result: ReconcileResult, calls: ArmCalls) -> ReconcileResult:
    return ReconcileResult(result.target, result.dry_run, result.plan, result.outcomes, calls, result.converged,
                           result.error)


__all__ = ["Destroyer"]
