"""Pure: one view of a target and the follow-ups that ran after it (the CLI's plan and apply output).

A routing target and its firewall follow-up are separate reconciles (docs/architecture.md section 2), but
someone at a terminal asked about one target: `combine` shows both as one plan, with the follow-ups still
listed (and rendered) as such.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediation.core import ids
from remediation.core.model import ArmCalls, Behind, OwnedGroups, ReconcileResult, Skip


def combine(results: Sequence[ReconcileResult]) -> ReconcileResult:
    """The first result with the changes, conflicts, skips, outcomes and ARM calls of the rest appended;
    converged only when every part converged; the first error wins."""
    first, rest = results[0], list(results[1:])
    if not rest:
        return first
    parts = [first, *rest]
    skipped: dict[str, Skip] = {}
    for part in parts:
        for skip in part.plan.skipped:
            skipped.setdefault(ids.id_key(skip.target), skip)
    behind: dict[str, Behind] = {}
    for part in parts:
        for where in part.plan.behind:
            behind.setdefault(ids.id_key(where.cluster_id), where)
    owned: dict[str, OwnedGroups] = {}
    for part in parts:
        for groups in part.plan.owned_groups:
            owned.setdefault(ids.id_key(groups.policy), groups)
    plan = type(first.plan)(
        target=first.plan.target,
        changes=tuple(c for p in parts for c in p.plan.changes),
        conflicts=tuple(c for p in parts for c in p.plan.conflicts),
        skipped=tuple(skipped.values()),
        behind=tuple(behind.values()),
        owned_groups=tuple(owned.values()),
    )
    states = [p.converged for p in parts]
    converged = None if all(s is None for s in states) else all(s is True for s in states)
    calls = ArmCalls()
    for part in parts:
        calls = calls + part.arm_calls
    return ReconcileResult(
        target=first.target, dry_run=first.dry_run, plan=plan,
        outcomes=tuple(o for p in parts for o in p.outcomes), arm_calls=calls, converged=converged,
        error=next((p.error for p in parts if p.error), None),
        follow_ups=first.follow_ups,
        # The first may list results already (a sweep's own firewall run, or reconcile_with_follow_ups).
        follow_up_results=(*first.follow_up_results,
                           *(r for r in rest if not any(r is known for known in first.follow_up_results))))
