"""Pure: a ReconcileResult -> terraform-like text and a stable JSON document (CLI and HTTP use both).

JSON schema of one result (`to_json`), stable: keys are never renamed, new keys may be added::

    {
      "target":    "cluster:/subscriptions/.../managedClusters/aks1",   # str(Target) or the id given
      "dryRun":    true,
      "changes":   [{"action": "create|update|delete|noop",
                     "kind": "routeTable|route|subnetRouteTable|ruleCollectionGroup|"
                             "firewallNetworkRuleCollection|firewallApplicationRuleCollection",
                     "address": "<ARM id written>",
                     "before": {...ARM property names...} | null,
                     "after":  {...} | null,                          # rules: see "Rules" below
                     "reason": "<why, for humans>"}],                  # NOOPs included, plan order
      "summary":   {"create": 0, "update": 0, "delete": 0, "noop": 0,
                    "conflict": 0},                                    # blocking conflicts + errors
      "conflicts": [{"kind": "<ChangeKind>", "address": "<ARM id>", "message": "...",
                     "severity": "conflict|error|note"}],             # note = reported, not blocking
      "errors":    ["<address>: <plan error, e.g. an ARM limit>"],   # any -> nothing of the plan is written
      "skipped":   [{"target": "<id>", "reason": "..."}],
      "behind":    [{"cluster": "<managedClusters id>", "hub": "<hub VNet or virtual hub id>" | null,
                     "firewall": "<firewall id>" | null, "via": "<peering or hub connection>" | null,
                     "reason": "<why no firewall>" | null}],           # each cluster the target read
      "ownedGroups": [{"policy": "<policy id, or a classic firewall's id>",
                       "groups": ["<owned group or collection name>"]}],  # a firewall target's plan
      "armCalls":  {"reads": 0, "writes": 0},
      "converged": true | false | null,                                # null on a dry run
      "outcomes":  [{"address": "<ARM id>", "outcome": "unchanged|created|updated|deleted|failed",
                     "error": "<ArmCode>: <message>" | null,
                     "retryable": false}],                              # empty on a dry run
      "error":     "<why the reconcile stopped>" | null,
      "followUps": [{"target": "firewall:<id>", "status": "pending|not run|succeeded|failed",
                     "summary": {...}, "converged": ..., "error": ...}]  # what must run after this target
    }

A follow-up that already ran (the CLI runs them right away; a sweep that wrote routing runs its firewall part
itself, inside the lease) is `succeeded` or `failed`, with its changes and outcomes in this document's own
lists; a `pending` one is queued, and the queue worker adds the `requestId` it runs under.

Rules inside `before`/`after` of a firewall change (`ruleCollections[].rules[]` of a group,
`rules[]` of a classic collection) are in ARM names; `ruleType` says which kind (classic rules have none):

    {"ruleType": "NetworkRule", "name": "...", "ipProtocols": ["TCP"|"UDP"|...],  # classic: "protocols"
     "sourceAddresses": [...], "destinationAddresses": [...], "destinationFqdns": [...],
     "destinationPorts": ["443", ...], "description": "..."}                        # description optional
    {"ruleType": "ApplicationRule", "name": "...", "sourceAddresses": [...],
     "protocols": [{"protocolType": "Http"|"Https", "port": 443}],
     "fqdnTags": ["AzureKubernetesService"] | [], "targetFqdns": [...] | [],       # one of the two is set
     "description": "..."}

Egress warnings (EGRESS_PROFILE=custom with ALLOW_BROAD_EGRESS=true) are `skipped` entries whose reason
starts with "warning: "; the text output prints them as `warning <setting>: ...`.

A sweep is one result too: its target is `scope:<REMEDIATION_SCOPE>` and its changes cover every cluster.
`converged` says whether a re-read after apply found nothing left to write; conflicts are reported beside
it, since a conflict is something this tool must not resolve on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from remediation.core import arm_shapes, ids
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    Outcome,
    Plan,
    ReconcileResult,
    Severity,
)
from remediation.planning import shards

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
        "before": _plain(arm_shapes.before(change)) if arm_shapes.before(change) is not None else None,
        "after": _plain(arm_shapes.after(change)) if arm_shapes.after(change) is not None else None,
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
            {"kind": c.kind.value, "address": c.address, "message": c.message, "severity": c.severity.value}
            for c in plan.conflicts
        ],
        "errors": list(plan.errors),
        "skipped": [{"target": s.target, "reason": s.reason} for s in plan.skipped],
        "behind": [{"cluster": b.cluster_id, "hub": b.hub, "firewall": b.firewall, "via": b.via, "reason": b.reason}
                   for b in plan.behind],
        "ownedGroups": [{"policy": g.policy, "groups": list(g.groups)} for g in plan.owned_groups],
        "armCalls": {"reads": result.arm_calls.reads, "writes": result.arm_calls.writes},
        "converged": result.converged,
        "outcomes": [
            {"address": o.change.address, "outcome": o.outcome.value, "error": o.error, "retryable": o.retryable,
             "warning": o.warning}
            for o in result.outcomes
        ],
        "error": result.error,
        "followUps": _follow_ups_json(result),
        "followUpNote": result.follow_up_note,
    }


def _follow_ups_json(result: ReconcileResult) -> list[dict[str, Any]]:
    """Each follow-up target; with its status and outcome when it ran in the same call (the CLI)."""
    ran = {r.target.lower(): r for r in result.follow_up_results}
    items: list[dict[str, Any]] = []
    for target in result.follow_ups:
        item: dict[str, Any] = {"target": str(target)}
        done = ran.get(str(target).lower())
        if done is None:
            item["status"] = "not run" if result.error else "pending"
        else:
            item["status"] = "failed" if _failed(done) else "succeeded"
            item["summary"] = done.plan.summary()
            item["converged"] = done.converged
            item["error"] = done.error
        items.append(item)
    return items


def _failed(result: ReconcileResult) -> bool:
    return result.error is not None or any(o.outcome is Outcome.FAILED for o in result.outcomes)


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
    before = _flatten(arm_shapes.before(change)) if arm_shapes.before(change) is not None else {}
    after = _flatten(arm_shapes.after(change)) if arm_shapes.after(change) is not None else {}
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


def _is_application_rule(rule: Mapping[str, Any]) -> bool:
    if rule.get("ruleType") == "ApplicationRule":
        return True
    return "fqdnTags" in rule or "targetFqdns" in rule  # classic application rules carry no ruleType


def _application_rule_text(rule: Mapping[str, Any]) -> str:
    """`Http:80,Https:443 10.1.5.0/24 -> fqdnTags AzureKubernetesService` (or `-> mcr.microsoft.com, ...`)."""
    protocols = ",".join(_protocol(p) for p in rule.get("protocols") or [])
    sources = [*(rule.get("sourceAddresses") or []), *(rule.get("sourceIpGroups") or [])]
    tags = list(rule.get("fqdnTags") or [])
    targets = f"fqdnTags {', '.join(tags)}" if tags else ", ".join(rule.get("targetFqdns") or [])
    return f"{protocols} {', '.join(sources)} -> {targets}"


def _protocol(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"{value.get('protocolType')}:{value.get('port')}"
    return str(value)


def _rule_text(rule: Mapping[str, Any]) -> str:
    """One rule on one line. Network: protocols, sources -> destinations, ports (policy or classic shape);
    application: protocol:port list, sources -> fqdnTags or target FQDNs."""
    if _is_application_rule(rule):
        return _application_rule_text(rule)
    protocols = rule.get("ipProtocols") or rule.get("protocols") or []
    sources = [*(rule.get("sourceAddresses") or []), *(rule.get("sourceIpGroups") or [])]
    targets = [*(rule.get("destinationAddresses") or []), *(rule.get("destinationIpGroups") or []),
               *(rule.get("destinationFqdns") or [])]
    ports = rule.get("destinationPorts") or []
    return (f"{','.join(protocols)} {', '.join(sources)} -> {', '.join(targets)} "
            f"ports {','.join(str(p) for p in ports)}")


def _collection_head(collection: Mapping[str, Any]) -> str:
    action = (collection.get("action") or {}).get("type", "")
    return f"priority {collection.get('priority')}, {action}"


def _rules_by_name(collection: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("name")): r for r in (collection or {}).get("rules") or []}


def _collection_lines(name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """A rule collection as a small table of rules; an update shows only the rules that differ."""
    if before == after:
        return []
    if before is None or after is None:
        symbol, shown = ("+", after) if before is None else ("-", before)
        assert shown is not None
        lines = [f"{symbol} collection {name} ({_collection_head(shown)})"]
        lines.extend(f"    {symbol} rule {rule_name}: {_rule_text(rule)}"
                     for rule_name, rule in _rules_by_name(shown).items())
        return lines
    head_before, head_after = _collection_head(before), _collection_head(after)
    head = head_after if head_before == head_after else f"{head_before} -> {head_after}"
    lines = [f"~ collection {name} ({head})"]
    old_rules, new_rules = _rules_by_name(before), _rules_by_name(after)
    for rule_name in [*old_rules, *(n for n in new_rules if n not in old_rules)]:
        old, new = old_rules.get(rule_name), new_rules.get(rule_name)
        if old == new:
            continue
        if old is None and new is not None:
            lines.append(f"    + rule {rule_name}: {_rule_text(new)}")
        elif new is None and old is not None:
            lines.append(f"    - rule {rule_name}: {_rule_text(old)}")
        elif old is not None and new is not None:
            lines.append(f"    ~ rule {rule_name}: {_rule_text(old)}")
            # The new rule text starts under the old one: "    ~ rule <name>: " is the indent.
            lines.append(" " * (len(f"    ~ rule {rule_name}: ") - 3) + "-> " + _rule_text(new))
    return lines


def _firewall_lines(change: Change) -> list[str]:
    """Rule collection groups and classic collections read as rules, not as flattened JSON paths."""
    before, after = arm_shapes.before(change), arm_shapes.after(change)
    if change.kind in {ChangeKind.CLASSIC_RULE_COLLECTION, ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION}:
        name = change.address.rsplit("/", 1)[-1]
        return _collection_lines(name, before, after)
    lines = []
    old_priority = (before or {}).get("priority")
    new_priority = (after or {}).get("priority")
    if after is not None and old_priority != new_priority:
        lines.append(f"priority: {_show(old_priority)} -> {_show(new_priority)}" if before is not None
                     else f"priority: {_show(new_priority)}")
    old = {str(c.get("name")): c for c in (before or {}).get("ruleCollections") or []}
    new = {str(c.get("name")): c for c in (after or {}).get("ruleCollections") or []}
    for name in [*old, *(n for n in new if n not in old)]:
        lines.extend(_collection_lines(name, old.get(name), new.get(name)))
    if after is not None:
        lines.append(f"size: {shards.size_text(shards.group_size_bytes(after))}")  # docs/platform-notes.md §9
    return lines


def _route_text(route: Mapping[str, Any]) -> str:
    props = route.get("properties") or {}
    hop = str(props.get("nextHopType"))
    if props.get("nextHopIpAddress"):
        hop += f" {props['nextHopIpAddress']}"
    return f"{route.get('name')}: {props.get('addressPrefix')} -> {hop}"


def _route_table_lines(change: Change) -> list[str]:
    """A new table's routes (sent inside its PUT) read as routes, one per line, after its attributes."""
    after = arm_shapes.after(change) or {}
    routes = (after.get("properties") or {}).get("routes") or []
    lines = [line for line in _attribute_lines(change) if not line.startswith("properties.routes[")]
    lines.extend(f"+ route {_route_text(route)}" for route in routes)
    return lines


def _change_lines(change: Change) -> list[str]:
    lines = [f"  {_SYMBOL[change.action]} {change.action.value} {change.kind.value} {change.address}"]
    firewall = change.kind in {ChangeKind.RULE_COLLECTION_GROUP, ChangeKind.CLASSIC_RULE_COLLECTION,
                               ChangeKind.CLASSIC_APPLICATION_RULE_COLLECTION}
    if firewall:
        details = _firewall_lines(change)
    elif change.kind is ChangeKind.ROUTE_TABLE and change.action is Action.CREATE:
        details = _route_table_lines(change)
    else:
        details = _attribute_lines(change)
    lines.extend(f"      {line}" for line in details)
    # A new table's reason has one line per route under its own (remediation/planning/plan.py `_new_table`).
    lines.extend(f"      # {line}" for line in change.reason.splitlines())
    return lines


def render_text(result: ReconcileResult) -> str:
    """Terraform-like text: header, each write with its attributes and reason, conflicts, skips, summary.

    NOOPs are only counted. With no writes and no blocking conflict the summary is exactly "No changes.".
    """
    plan = result.plan
    mode = "dry run" if result.dry_run else "apply"
    lines = [f"{result.target} ({mode})"]
    for change in plan.writes:
        lines.extend(_change_lines(change))
    for conflict in plan.conflicts:
        label = {Severity.ERROR: "! error", Severity.CONFLICT: "! conflict", Severity.NOTE: "note"}[
            conflict.severity]
        lines.append(f"{label} {conflict.kind.value} {conflict.address}: {conflict.message}")
    for skip in plan.skipped:
        # Egress warnings (remediation/planning/egress.py) are reported beside the skips, under their own word.
        word = "warning" if skip.reason.startswith("warning: ") else "skipped"
        reason = skip.reason.removeprefix("warning: ")
        lines.append(f"{word} {skip.target}: {reason}")
    lines.extend(_behind_lines(plan))
    counts = plan.summary()
    # A plan that refuses or cannot do something is never "No changes.": that line means nothing is left.
    n = counts["conflict"]
    blocked = f" {n} blocking conflict{'s' if n != 1 else ''}." if n else ""
    if not plan.has_changes:
        lines.append(f"No changes written;{blocked}" if n else "No changes.")
    elif result.dry_run:
        lines.append(f"Plan: {counts['create']} to create, {counts['update']} to update, "
                     f"{counts['delete']} to delete, {counts['noop']} unchanged.{blocked}")
    if not result.dry_run:
        lines.extend(_outcome_lines(result))
    if result.error:
        lines.append(f"error: {result.error}")
    lines.extend(_follow_up_lines(result))
    return "\n".join(lines)


def _behind_lines(plan: Plan) -> list[str]:
    """Per cluster, the hub and firewall it is behind (a skipped cluster's reason is its `skipped` line); per
    policy, its owned groups."""
    skipped = {ids.id_key(s.target) for s in plan.skipped}
    lines = []
    for where in plan.behind:
        name = _last(where.cluster_id)
        if where.firewall is not None:
            lines.append(f"behind {name}: firewall {_last(where.firewall)} in hub {_last(where.hub)} ({where.via})")
        elif ids.id_key(where.cluster_id) not in skipped:
            lines.append(f"behind {name}: no firewall: {where.reason}")
    for groups in plan.owned_groups:
        lines.append(f"owned groups of {_last(groups.policy)}: {', '.join(groups.groups) or 'none'}")
    return lines


def _last(resource_id: str | None) -> str:
    return (resource_id or "?").rstrip("/").rsplit("/", 1)[-1]


def _follow_up_lines(result: ReconcileResult) -> list[str]:
    """Follow-ups that still have to run (queued, or skipped after an error) and those that failed; one
    that ran fine is already part of the text above (remediation.views.results.combine)."""
    ran = {r.target.lower(): r for r in result.follow_up_results}
    lines = [f"firewall: {result.follow_up_note}"] if result.follow_up_note else []
    for target in result.follow_ups:
        done = ran.get(str(target).lower())
        if done is None and result.error:
            lines.append(f"follow-up {target}: not run (this target ended with an error)")
        elif done is None:
            lines.append(f"follow-up {target}: pending (runs after this target)")
        elif _failed(done):
            lines.append(f"follow-up {target}: failed" + (f": {done.error}" if done.error else ""))
    return lines


def _outcome_lines(result: ReconcileResult) -> list[str]:
    lines = []
    for o in result.outcomes:
        if o.outcome is Outcome.UNCHANGED:
            continue
        text = f"  {o.outcome.value} {o.change.kind.value} {o.change.address}"
        lines.append(f"{text}: {o.error}" if o.error else text)
        if o.warning:
            lines.append(f"    warning: {o.warning}")
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
