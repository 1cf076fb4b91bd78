"""`show FILE`: a plan saved by `plan --out FILE`, as text or JSON, from the file alone (no settings, no Azure).

The text follows the plan's own (remediation/views/render.py): one line per write with its symbol, the
attributes that change (flattened ARM paths), the reason, then conflicts, skips and the summary line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from remediation.core.errors import RemediationInputError

_SYMBOL = {"create": "+", "update": "~", "delete": "-"}


def read(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RemediationInputError(f"saved plan: cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("plan"), dict):
        raise RemediationInputError(f"saved plan: {path} is not a plan saved by `plan --out`")
    return document


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _attributes(change: Mapping[str, Any]) -> list[str]:
    before = _flatten(change.get("before") or {})
    after = _flatten(change.get("after") or {})
    lines = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        was = json.dumps(old, sort_keys=True) if key in before else "null"
        now = json.dumps(new, sort_keys=True) if key in after else "null"
        lines.append(now if change.get("action") == "create" and key not in before else f"{was} -> {now}")
        lines[-1] = f"{key}: {lines[-1]}"
    return lines


def _change_lines(change: Mapping[str, Any]) -> list[str]:
    action = str(change.get("action"))
    lines = [f"  {_SYMBOL.get(action, '?')} {action} {change.get('kind')} {change.get('address')}"]
    lines.extend(f"      {line}" for line in _attributes(change))
    lines.extend(f"      # {line}" for line in str(change.get("reason") or "").splitlines())
    return lines


def render_saved(path: str, document: Mapping[str, Any]) -> str:
    plan = document["plan"]
    target = document.get("target") or {}
    lines = [f"saved plan {path}: {target.get('kind')}:{target.get('id')} (made by {document.get('createdBy')}; "
             "nothing was read from Azure)"]
    for change in plan.get("changes") or []:
        if change.get("action") != "noop":
            lines.extend(_change_lines(change))
    for conflict in plan.get("conflicts") or []:
        label = {"error": "! error", "conflict": "! conflict"}.get(conflict.get("severity"), "note")
        lines.append(f"{label} {conflict.get('kind')} {conflict.get('address')}: {conflict.get('message')}")
    for skip in plan.get("skipped") or []:
        lines.append(f"skipped {skip.get('target')}: {skip.get('reason')}")
    counts = plan.get("summary") or {}
    n = counts.get("conflict") or 0
    blocked = f" {n} blocking conflict{'s' if n != 1 else ''}." if n else ""
    if not any(counts.get(k) for k in ("create", "update", "delete")):
        lines.append(f"No changes written;{blocked}" if n else "No changes.")
    else:
        lines.append(f"Plan: {counts.get('create', 0)} to create, {counts.get('update', 0)} to update, "
                     f"{counts.get('delete', 0)} to delete, {counts.get('noop', 0)} unchanged.{blocked}")
    return "\n".join(lines)
