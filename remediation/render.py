"""Pure: a ReconcileResult -> terraform-like text and a stable JSON document (CLI and HTTP use both).

JSON schema of one result (`to_json`), stable: keys are never renamed, new keys may be added::

    {
      "target":    "cluster:/subscriptions/.../managedClusters/aks1",   # str(Target) or the id given
      "dryRun":    true,
      "changes":   [{"action": "create|update|delete|noop",
                     "kind": "routeTable|route|subnetRouteTable|ruleCollectionGroup|"
                             "firewallNetworkRuleCollection",
                     "address": "<ARM id written>",
                     "before": {...ARM property names...} | null,
                     "after":  {...} | null,
                     "reason": "<why, for humans>"}],                  # NOOPs included, plan order
      "summary":   {"create": 0, "update": 0, "delete": 0, "noop": 0},
      "conflicts": [{"kind": "<ChangeKind>", "address": "<ARM id>", "message": "..."}],
      "skipped":   [{"target": "<id>", "reason": "..."}],
      "armCalls":  {"reads": 0, "writes": 0},
      "converged": true | false | null,                                # null on a dry run
      "outcomes":  [{"address": "<ARM id>", "outcome": "unchanged|created|updated|deleted|failed",
                     "error": "<ArmCode>: <message>" | null}],         # empty on a dry run
      "error":     "<why the reconcile stopped>" | null
    }

A sweep (`to_json_many`) is ``{"results": [<one result>, ...], "summary": {"create", "update", "delete",
"noop", "conflicts", "skipped", "failed"}, "armCalls": {"reads", "writes"}, "converged": bool | null}``:
results in the given order, totals summed; `converged` is null if any result is a dry run, else true only
when every result converged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from remediation.model import (
    Action,
    ArmCalls,
    Change,
    Outcome,
    ReconcileResult,
)

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}

# --------------------------------------------------------------------------------------------- JSON


def _plain(value: Any) -> Any:
    """Mappings and sequences -> dict/list, so `json.dumps` and equality work on the result."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "kind": change.kind.value,
        "address": change.address,
        "before": _plain(change.before) if change.before is not None else None,
        "after": _plain(change.after) if change.after is not None else None,
        "reason": change.reason,
    }


def to_json(result: ReconcileResult) -> dict[str, Any]:
    """The documented schema above (module docstring)."""
    plan = result.plan
    return {
        "target": result.target,
        "dryRun": result.dry_run,
        "changes": [_change_json(c) for c in plan.changes],
        "summary": plan.summary(),
        "conflicts": [
            {"kind": c.kind.value, "address": c.address, "message": c.message} for c in plan.conflicts
        ],
        "skipped": [{"target": s.target, "reason": s.reason} for s in plan.skipped],
        "armCalls": {"reads": result.arm_calls.reads, "writes": result.arm_calls.writes},
        "converged": result.converged,
        "outcomes": [
            {"address": o.change.address, "outcome": o.outcome.value, "error": o.error}
            for o in result.outcomes
        ],
        "error": result.error,
    }


def _converged_all(results: Sequence[ReconcileResult]) -> bool | None:
    if not results or any(r.dry_run or r.converged is None for r in results):
        return None
    return all(r.converged for r in results)


def to_json_many(results: Iterable[ReconcileResult]) -> dict[str, Any]:
    """A sweep: every result plus summed totals (shape in the module docstring)."""
    items = list(results)
    summary = {a.value: 0 for a in Action} | {"conflicts": 0, "skipped": 0, "failed": 0}
    calls = ArmCalls()
    for r in items:
        for key, count in r.plan.summary().items():
            summary[key] += count
        summary["conflicts"] += len(r.plan.conflicts)
        summary["skipped"] += len(r.plan.skipped)
        summary["failed"] += sum(o.outcome is Outcome.FAILED for o in r.outcomes)
        calls = calls + r.arm_calls
    return {
        "results": [to_json(r) for r in items],
        "summary": summary,
        "armCalls": {"reads": calls.reads, "writes": calls.writes},
        "converged": _converged_all(items),
    }


# --------------------------------------------------------------------------------------------- text


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"properties": {"a": 1}} -> {"properties.a": 1}; lists of objects get [i]; scalar lists stay whole."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        if not value and prefix:
            out[prefix] = {}
        return out
    if isinstance(value, list | tuple) and value and any(isinstance(v, Mapping) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: _plain(value)}


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _attribute_lines(change: Change) -> list[str]:
    before = _flatten(change.before) if change.before is not None else {}
    after = _flatten(change.after) if change.after is not None else {}
    if change.action is Action.CREATE:
        return [f"{k}: {_show(v)}" for k, v in after.items()]
    if change.action is Action.DELETE:
        return [f"{k}: {_show(v)} -> null" for k, v in before.items()]
    keys = list(before) + [k for k in after if k not in before]
    lines = []
    for key in keys:
        old, new = before.get(key), after.get(key)
        if old != new:
            lines.append(f"{key}: {_show(old) if key in before else 'null'} -> "
                         f"{_show(new) if key in after else 'null'}")
    return lines


def _change_lines(change: Change) -> list[str]:
    lines = [f"  {_SYMBOL[change.action]} {change.action.value} {change.kind.value} {change.address}"]
    lines.extend(f"      {line}" for line in _attribute_lines(change))
    if change.reason:
        lines.append(f"      # {change.reason}")
    return lines


def render_text(result: ReconcileResult) -> str:
    """Terraform-like text: header, each write with its attributes and reason, conflicts, skips, summary.

    NOOPs are only counted. With no writes the summary is exactly "No changes.".
    """
    plan = result.plan
    mode = "dry run" if result.dry_run else "apply"
    lines = [f"{result.target} ({mode})"]
    for change in plan.writes:
        lines.extend(_change_lines(change))
    for conflict in plan.conflicts:
        lines.append(f"! conflict {conflict.kind.value} {conflict.address}: {conflict.message}")
    for skip in plan.skipped:
        lines.append(f"skipped {skip.target}: {skip.reason}")
    counts = plan.summary()
    if not plan.has_changes:
        lines.append("No changes.")
    elif result.dry_run:
        lines.append(f"Plan: {counts['create']} to create, {counts['update']} to update, "
                     f"{counts['delete']} to delete, {counts['noop']} unchanged.")
    if not result.dry_run:
        lines.extend(_outcome_lines(result))
    if result.error:
        lines.append(f"error: {result.error}")
    return "\n".join(lines)


def _outcome_lines(result: ReconcileResult) -> list[str]:
    lines = []
    for o in result.outcomes:
        if o.outcome is Outcome.UNCHANGED:
            continue
        text = f"  {o.outcome.value} {o.change.kind.value} {o.change.address}"
        lines.append(f"{text}: {o.error}" if o.error else text)
    tally = {o: 0 for o in Outcome}
    for o in result.outcomes:
        tally[o.outcome] += 1
    converged = "unknown" if result.converged is None else str(result.converged).lower()
    if result.plan.has_changes or result.outcomes:
        lines.append(f"Apply: {tally[Outcome.CREATED]} created, {tally[Outcome.UPDATED]} updated, "
                     f"{tally[Outcome.DELETED]} deleted, {tally[Outcome.UNCHANGED]} unchanged, "
                     f"{tally[Outcome.FAILED]} failed; converged: {converged}")
    else:
        lines.append(f"converged: {converged}")
    return lines


def render_many(results: Iterable[ReconcileResult]) -> str:
    """A sweep: each result's text, separated by a blank line, then one total line."""
    items = list(results)
    totals = to_json_many(items)["summary"]
    blocks = [render_text(r) for r in items]
    blocks.append(
        f"Total: {len(items)} target{'s' if len(items) != 1 else ''}, {totals['create']} to create, "
        f"{totals['update']} to update, {totals['delete']} to delete, {totals['noop']} unchanged, "
        f"{totals['conflicts']} conflicts, {totals['skipped']} skipped, {totals['failed']} failed."
    )
    return "\n\n".join(blocks)
