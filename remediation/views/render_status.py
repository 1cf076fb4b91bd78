"""Pure: a ComplianceReport -> JSON (CLI `status --output json` and `GET /api/compliance`), text, Markdown.

JSON schema, stable (keys are never renamed, new keys may be added)::

    {
      "scope":    "<REMEDIATION_SCOPE, comma-separated>",
      "compliant": true | false,          # nothing to write and nothing in the way (skips do not count)
      "summary":  {"compliant": 0, "non-compliant": 0, "skipped": 0, "conflicted": 0},
      "clusters": [{"id": "<managedClusters id>", "name": "...",
                    "state": "compliant|non-compliant|skipped|conflicted",
                    "missing": ["<what the runbook needs and is not there>"],
                    "conflicts": ["<foreign object in the way>"],
                    "reason": "<why skipped>" | null,
                    "flows": [{"subnet": "<subnet id>", "kind": "internet|appgw|p2s|spoke|aks",
                               "destination": "<prefix>", "nextHop": "<effective next hop(s)>",
                               "verdict": "firewall|bypass|unknown",
                               "routes": ["<each route that carries part of it>"],
                               "bypass": ["<each route that carries it around the firewall>"],
                               "reason": "<why unknown>" | null}],
                    "bypasses": ["<one line per flow that does not pass the firewall, the winners named>"],
                    "asymmetric": ["<a public load balancer frontend on a cluster whose default route goes to
                                    the firewall, with the fixes; or why it could not be checked>"],
                    "verification": ["<status --verify: where ARM's effective routes of a node NIC differ from
                                      the computed ones, or why a subnet was not verified>"],
                    "behind": {"hub": "<hub VNet or virtual hub id>" | null, "firewall": "<firewall id>" | null,
                               "via": "<peering or hub connection>" | null, "reason": "<why none>" | null}}],
      "firewall": {"address": "<owned group id>", "state": "compliant|non-compliant|skipped",
                   "missing": [...], "reason": null,
                   "size": "<largest owned group's estimated size against the limit>" | null},
      "firewalls": [{...as "firewall", one per FIREWALL_IDS entry...}],   # empty with FIREWALL_ID alone
      "armCalls": {"reads": 0, "writes": 0}
    }
"""

from __future__ import annotations

from typing import Any

from remediation.core.model import Behind
from remediation.planning.compliance import ClusterCompliance, ComplianceReport, ComplianceState, FirewallCompliance
from remediation.planning.flows import Flow, Verdict


def flow_json(flow: Flow) -> dict[str, Any]:
    return {"subnet": flow.subnet_id, "kind": flow.kind, "destination": flow.destination,
            "nextHop": flow.next_hop(), "verdict": flow.verdict.value,
            "routes": [r.describe() for r in flow.carriers], "bypass": [r.describe() for r in flow.bypass],
            "reason": flow.reason}


def to_json(report: ComplianceReport) -> dict[str, Any]:
    return {
        "scope": report.scope,
        "compliant": report.compliant,
        "summary": report.counts(),
        "clusters": [
            {"id": c.cluster_id, "name": c.name, "state": c.state.value, "missing": list(c.missing),
             "conflicts": list(c.conflicts), "reason": c.reason,
             "flows": [flow_json(flow) for flow in c.flows], "bypasses": list(c.bypasses),
             "asymmetric": list(c.asymmetric), "verification": list(c.verification),
             "behind": _behind_json(c.behind)}
            for c in report.clusters
        ],
        "firewall": _firewall_json(report.firewall),
        "firewalls": [_firewall_json(f) for f in report.firewalls],
        "armCalls": {"reads": report.arm_calls.reads, "writes": report.arm_calls.writes},
    }


def _firewall_json(firewall: FirewallCompliance) -> dict[str, Any]:
    return {"address": firewall.address, "state": firewall.state.value, "missing": list(firewall.missing),
            "reason": firewall.reason, "size": firewall.size}


def _behind_json(behind: Behind | None) -> dict[str, Any] | None:
    if behind is None:
        return None
    return {"hub": behind.hub, "firewall": behind.firewall, "via": behind.via, "reason": behind.reason}


def _behind_text(behind: Behind | None) -> list[str]:
    if behind is None or behind.firewall is None:
        return []  # a cluster without one is skipped, and its reason says why
    hub = (behind.hub or "?").rsplit("/", 1)[-1]
    return [f"behind firewall {behind.firewall.rsplit('/', 1)[-1]} in hub {hub} ({behind.via})"]


def _summary_line(report: ComplianceReport) -> str:
    counts = report.counts()
    return ", ".join(f"{counts[s.value]} {s.value}" for s in ComplianceState)


def _details(cluster: ClusterCompliance) -> list[str]:
    if cluster.reason:
        return [cluster.reason]
    return [*cluster.conflicts, *cluster.missing, *cluster.bypasses, *cluster.asymmetric, *cluster.verification]


def _flow_text(flow: Flow) -> str:
    return f"{flow.subnet} -> {flow.kind} {flow.destination}: {flow.next_hop()} [{flow.verdict.value}]"


def render_text(report: ComplianceReport) -> str:
    """One line per cluster (state, name, id), then what is missing or why it was skipped, indented."""
    lines = [f"scope {report.scope}: {len(report.clusters)} cluster(s): {_summary_line(report)}"]
    width = max((len(c.name) for c in report.clusters), default=0)
    for cluster in report.clusters:
        lines.append(f"  {cluster.state.value:<13} {cluster.name:<{width}}  {cluster.cluster_id}")
        lines.extend(f"      @ {line}" for line in _behind_text(cluster.behind))
        lines.extend(f"      {'!' if line in cluster.conflicts else '-'} {line}" for line in _details(cluster))
        # A flow that does not pass the firewall is already a `-` line naming its winning routes.
        lines.extend(f"      > {_flow_text(flow)}" for flow in cluster.flows if flow.verdict is Verdict.FIREWALL)
    for firewall in report.firewalls or (report.firewall,):
        lines.append(f"  firewall {firewall.state.value}: {firewall.address}")
        lines.extend(f"      - {line}" for line in (*firewall.missing, *([firewall.reason] if firewall.reason else [])))
        if firewall.size:
            lines.append(f"      size: {firewall.size}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ComplianceReport) -> str:
    """A GitHub-flavoured table, e.g. for a pull request comment or a CI job summary."""
    lines = [f"### Runbook compliance of `{report.scope}`", "", _summary_line(report), "",
             "| Cluster | State | Details |", "|---|---|---|"]
    for cluster in report.clusters:
        details = "<br>".join(_cell(d) for d in _details(cluster)) or "-"
        lines.append(f"| `{cluster.name}` | {cluster.state.value} | {details} |")
    firewall = report.firewall
    details = "<br>".join(_cell(d) for d in (*firewall.missing, *([firewall.reason] if firewall.reason else [])))
    lines.append(f"| firewall `{firewall.address.rsplit('/', 1)[-1]}` | {firewall.state.value} | {details or '-'} |")
    flows = [(cluster, flow) for cluster in report.clusters for flow in cluster.flows]
    if flows:
        lines += ["", "| Cluster | Flow | Effective next hop | Verdict |", "|---|---|---|---|"]
        lines += [f"| `{cluster.name}` | {_cell(f'{flow.subnet} -> {flow.kind} {flow.destination}')} | "
                  f"{_cell(flow.next_hop())} | {flow.verdict.value} |" for cluster, flow in flows]
    return "\n".join(lines)
