"""Pure: one observed scope -> per-cluster compliance with the runbook (what `status` and the API show).

Each cluster gets its own plan, computed from the scope's snapshot exactly as the reconciler plans a cluster
target (its desired routes against the tables in place, no pruning), plus the firewall rules that carry
its ranges. From that plan:

- skipped: the cluster fails a prerequisite (kubenet, v1 gateway, AKS-managed VNet, still provisioning ...);
  the reason is the reconciler's own;
- conflicted: a foreign object blocks a desired route (the tool never resolves that on its own);
- non-compliant: something the runbook needs is missing or different, or a flow that must pass the firewall
  does not (its effective next hop, remediation/planning/flows.py, names the route that wins); each item says what;
- compliant: nothing to write for this cluster, and every flow takes the firewall.

A foreign route that carries a flow around the firewall is reported in the plan as a conflict with its fix
(flows.bypass_conflicts); here it is the flow's verdict, so the cluster is non-compliant with the route named.

The owned rule collection group is also judged as a whole (`firewall`): a collection no cluster needs, or a
changed priority, is not any one cluster's gap but still a pending write (docs/cli.md §3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from remediation.core import arm_shapes
from remediation.core.config import Settings
from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    ApplicationRule,
    ArmCalls,
    Behind,
    Change,
    ChangeKind,
    Conflict,
    FrontendRead,
    NetworkRule,
    ObservedCluster,
    Plan,
    RuleCollection,
    Skip,
    Snapshot,
)
from remediation.planning import asymmetric, desired, flows, paths, plan, rules, shards
from remediation.planning.effective_routes import LearnedRoute
from remediation.planning.flows import Flow, Verdict


class ComplianceState(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    SKIPPED = "skipped"
    CONFLICTED = "conflicted"


@dataclass(frozen=True)
class ClusterCompliance:
    cluster_id: str
    name: str
    state: ComplianceState
    missing: tuple[str, ...] = ()  # what the runbook needs and the cluster does not have, one line each
    conflicts: tuple[str, ...] = ()  # foreign objects in the way, one line each
    reason: str | None = None  # why the cluster was skipped
    flows: tuple[Flow, ...] = ()  # each flow that must pass the firewall, with its effective next hop
    bypasses: tuple[str, ...] = ()  # the flows that do not (or cannot be judged), one line each
    # public load balancer frontends on a cluster whose default route goes to the firewall (asymmetric routing),
    # or why the check could not be made (remediation/planning/asymmetric.py)
    asymmetric: tuple[str, ...] = ()
    # `status --verify`: where ARM's effective routes of a node NIC differ from the computed ones (the flows then
    # hold ARM's verdict), or why a subnet could not be verified
    verification: tuple[str, ...] = ()
    # which hub and firewall the cluster is behind, or why none (remediation/planning/paths.py, #21)
    behind: Behind | None = None


@dataclass(frozen=True)
class FirewallCompliance:
    state: ComplianceState  # compliant / non-compliant; skipped when the firewall was not found
    address: str
    missing: tuple[str, ...] = ()
    reason: str | None = None
    size: str | None = None  # the owned groups' estimated size against the limit (policy-based rules only)


@dataclass(frozen=True)
class ComplianceReport:
    scope: str
    clusters: tuple[ClusterCompliance, ...]
    firewall: FirewallCompliance
    arm_calls: ArmCalls = field(default_factory=ArmCalls)
    # FIREWALL_IDS: every configured firewall's owned rules (the first is `firewall`); one firewall: empty
    firewalls: tuple[FirewallCompliance, ...] = ()

    def counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in ComplianceState}
        for cluster in self.clusters:
            counts[cluster.state.value] += 1
        return counts

    @property
    def compliant(self) -> bool:
        """Nothing to write and nothing in the way (skipped clusters are reported, not counted against)."""
        return all(f.state is not ComplianceState.NON_COMPLIANT for f in (self.firewall, *self.firewalls)) and not any(
            c.state in (ComplianceState.NON_COMPLIANT, ComplianceState.CONFLICTED) for c in self.clusters)


# --------------------------------------------------------------------------------------------- assess


def assess(snapshot: Snapshot, settings: Settings, *, scope: str, arm_calls: ArmCalls | None = None,
           learned: Mapping[str, Sequence[LearnedRoute]] | None = None,
           by_firewall: Mapping[str, Snapshot] | None = None) -> ComplianceReport:
    """Every cluster of the snapshot, sorted by id, and the owned firewall rules as a whole. `learned`: the
    routes gateways learned by BGP, by id_key of the gateway (remediation/planning/effective_routes.py).
    `by_firewall` (FIREWALL_IDS): each configured firewall's view of the same read, with its own owned groups,
    by id_key of the firewall: each cluster's rules are judged in its own firewall's policy."""
    collections, _ = desired.desired_rule_collections(snapshot, settings)
    observed = _observed_collections(snapshot, settings)
    rules: dict[str, tuple[Sequence[RuleCollection], Mapping[str, RuleCollection] | None]] = {}
    firewalls: list[FirewallCompliance] = []
    for key, view in (by_firewall or {}).items():
        assert view.firewall is not None  # a view is the snapshot with that firewall as the pass's
        own = settings.for_firewall(view.firewall.id)
        wanted, _ = desired.desired_rule_collections(view, own)
        rules[key] = (wanted, _observed_collections(view, own))
        firewalls.append(_firewall_compliance(view, own, wanted))
    if by_firewall is not None:
        firewalls.extend(FirewallCompliance(ComplianceState.SKIPPED, missing,
                                            reason="firewall not found (FIREWALL_IDS)")
                         for missing in paths.missing_firewalls(snapshot, settings))
    behind = {id_key(b.cluster_id): b for b in desired.behind(snapshot, settings)}
    clusters = []
    for key in sorted(snapshot.clusters):
        cluster = snapshot.clusters[key]
        mine: tuple[Sequence[RuleCollection], Mapping[str, RuleCollection] | None] = (collections, observed)
        if by_firewall is not None:
            own_firewall = desired.cluster_firewall(snapshot, cluster, settings)
            mine = rules.get(id_key(own_firewall.id), ((), None)) if own_firewall is not None else ((), None)
        clusters.append(dataclasses.replace(
            _cluster_compliance(snapshot, settings, cluster, mine[0], mine[1], learned), behind=behind.get(key)))
    return ComplianceReport(scope=scope, clusters=tuple(clusters),
                            firewall=_firewall_compliance(snapshot, settings, collections),
                            arm_calls=arm_calls or ArmCalls(), firewalls=tuple(firewalls))


def cluster_plan(snapshot: Snapshot, settings: Settings, cluster_id: str) -> Plan:
    """The routing plan of one cluster as the reconciler makes it for a cluster target (no pruning)."""
    wanted = desired.desired_cluster_routes(snapshot, cluster_id, settings)
    if isinstance(wanted, Skip):
        return Plan(target=cluster_id, skipped=(wanted,))
    changes, conflicts = plan.plan_routes(snapshot, wanted, settings, prune=False)
    return Plan(target=cluster_id, changes=changes, conflicts=conflicts)


def cluster_flows(snapshot: Snapshot, settings: Settings, cluster_id: str,
                  learned: Mapping[str, Sequence[LearnedRoute]] | None = None) -> tuple[Flow, ...]:
    """The cluster's flows that must pass the firewall, each with its verdict (none for a skipped cluster)."""
    wanted = desired.desired_cluster_routes(snapshot, cluster_id, settings)
    return () if isinstance(wanted, Skip) else flows.flows(snapshot, wanted, settings, learned)


def confirmed_flows(snapshot: Snapshot, settings: Settings, cluster_id: str,
                    learned: Mapping[str, Sequence[LearnedRoute]] | None = None
                    ) -> tuple[tuple[Flow, ...], tuple[str, ...]]:
    """`cluster_flows`, with ARM's verdict where its effective routes were read, and the differences."""
    wanted = desired.desired_cluster_routes(snapshot, cluster_id, settings)
    if isinstance(wanted, Skip):
        return (), ()
    return flows.confirmed(snapshot, wanted, settings, flows.flows(snapshot, wanted, settings, learned))


def classify(cluster: ObservedCluster, cluster_plan_: Plan, firewall_gaps: Sequence[str],
             cluster_flows_: Sequence[Flow] = (), frontends: FrontendRead | None = None,
             verification: Sequence[str] = ()) -> ClusterCompliance:
    """The state of one cluster from its plan and its flows: skipped > conflicted > non-compliant > compliant.
    A plan conflict that only says a flow bypasses the firewall (flows.bypass_conflicts) is that flow's verdict,
    shown with the flow: non-compliant, not conflicted."""
    skip = next((s for s in cluster_plan_.skipped if id_key(s.target) == id_key(cluster.id)), None)
    if skip is not None:
        return ClusterCompliance(cluster.id, cluster.name, ComplianceState.SKIPPED, reason=skip.reason)
    missing = (*(line for c in cluster_plan_.writes for line in describe_change_lines(c)), *firewall_gaps)
    bypass_texts = {c.message for c in cluster_plan_.conflicts if _is_bypass_report(c.message)}
    reported = [c for c in cluster_plan_.conflicts if c.message not in bypass_texts]
    conflicts = tuple(describe_conflict(c) for c in reported)
    # A note (a route provided by AVNM or a hub's routing intent, a dual-stack range) blocks nothing.
    blocking = any(c.blocking for c in reported)
    bypasses = tuple(f.line() for f in cluster_flows_ if f.verdict is not Verdict.FIREWALL)
    # A frontend found counts against the cluster; a node resource group that could not be read is said, not
    # counted (the identity may lack Reader there: docs/platform-notes.md, "Asymmetric routing").
    asym = asymmetric.asymmetric_lines(cluster_flows_, frontends)
    if blocking:
        state = ComplianceState.CONFLICTED
    elif missing or bypasses or (frontends is not None and frontends.error is None and asym):
        state = ComplianceState.NON_COMPLIANT
    else:
        state = ComplianceState.COMPLIANT
    return ClusterCompliance(cluster.id, cluster.name, state, tuple(missing), conflicts,
                             flows=tuple(cluster_flows_), bypasses=bypasses, asymmetric=asym,
                             verification=tuple(verification))


def _is_bypass_report(message: str) -> bool:
    return flows.BYPASS_MARK in message


def _cluster_compliance(snapshot: Snapshot, settings: Settings, cluster: ObservedCluster,
                        collections: Sequence[RuleCollection], observed: Mapping[str, RuleCollection] | None,
                        learned: Mapping[str, Sequence[LearnedRoute]] | None = None) -> ClusterCompliance:
    routing = cluster_plan(snapshot, settings, cluster.id)
    gaps: list[str] = []
    found: tuple[Flow, ...] = ()
    differences: tuple[str, ...] = ()
    if not routing.skipped:
        gaps = _rule_gaps(desired.aks_ranges(snapshot, cluster), collections, observed)
        found, differences = confirmed_flows(snapshot, settings, cluster.id, learned)
    return classify(cluster, routing, gaps, found, snapshot.public_frontends.get(id_key(cluster.id)), differences)


# --------------------------------------------------------------------------------------------- firewall


def _observed_collections(snapshot: Snapshot, settings: Settings) -> dict[str, RuleCollection] | None:
    """The owned collections now on the firewall, by lower name; None when the firewall is unknown."""
    firewall = snapshot.firewall
    if firewall is None:
        return None
    if firewall.policy_id is None:
        found: Iterable[RuleCollection] = (
            c for c in (*firewall.classic_collections, *firewall.classic_application_collections)
            if settings.owns_name(c.name))
    else:
        # The owned group and its shards (remediation/planning/shards.py): a collection split over shards is one
        # collection here, its rules gathered from every shard.
        merged: dict[str, RuleCollection] = {}
        for group in snapshot.owned_groups:
            if shards.shard_index(settings.rule_collection_group, group.name) is None:
                continue
            for c in group.rule_collections:
                have = merged.get(c.name.lower())
                merged[c.name.lower()] = c if have is None else dataclasses.replace(
                    have, rules=(*have.rules, *c.rules), application_rules=(*have.application_rules,
                                                                            *c.application_rules))
        return merged
    return {c.name.lower(): c for c in found}


def _canonical_address(value: str) -> str:
    return rules.canon_address(value)  # the planner's form (remediation/planning/rules.py)


def _carries(rule: NetworkRule, ranges: frozenset[str]) -> bool:
    """A rule is the cluster's when one of the cluster's ranges is among its sources or destinations."""
    addresses = {_canonical_address(a) for a in (*rule.source_addresses, *rule.destination_addresses)}
    return bool(addresses & ranges)


def rule_text(rule: NetworkRule) -> str:
    return (f"{','.join(rule.protocols)} {', '.join(rule.source_addresses)} -> "
            f"{', '.join(rule.destination_addresses)} ports {','.join(rule.destination_ports)}")


def _unshown_difference(found: NetworkRule | ApplicationRule, rule: NetworkRule | ApplicationRule) -> str:
    """The fields the one-line texts leave out, when they are what differs (name, destinationFqdns, description)."""
    parts = []
    if found.name != rule.name:
        parts.append(f"name {found.name!r}, needs {rule.name!r}")
    fqdns = (getattr(found, "destination_fqdns", ()), getattr(rule, "destination_fqdns", ()))
    if sorted(v.strip().lower() for v in fqdns[0]) != sorted(v.strip().lower() for v in fqdns[1]):
        parts.append(f"destinationFqdns {', '.join(fqdns[0]) or 'none'}, needs {', '.join(fqdns[1]) or 'none'}")
    if found.description != rule.description:
        parts.append(f"description {found.description!r}, needs {rule.description!r}")
    return f" ({'; '.join(parts)})" if parts else ""


def application_rule_text(rule: ApplicationRule) -> str:
    targets = (f"fqdnTags {', '.join(rule.fqdn_tags)}" if rule.fqdn_tags
               else ", ".join(rule.target_fqdns))
    return f"{','.join(rule.protocols)} {', '.join(rule.source_addresses)} -> {targets}"


def _application_gaps(mine: frozenset[str], collection: RuleCollection,
                      current: RuleCollection | None) -> list[str]:
    """Application (FQDN) rules of the egress profile (remediation/planning/egress.py): sources are the
    cluster's ranges."""
    by_name = {r.name.lower(): r for r in (current.application_rules if current is not None else ())}
    gaps: list[str] = []
    for rule in collection.application_rules:
        if not {_canonical_address(a) for a in rule.source_addresses} & mine:
            continue
        found = by_name.get(rule.name.lower())
        where = f"firewall rule {collection.name}/{rule.name}"
        if found is None:
            gaps.append(f"{where} is missing: {application_rule_text(rule)}")
        elif not rules.same_rule(found, rule):
            gaps.append(f"{where} is {application_rule_text(found)}; the runbook needs {application_rule_text(rule)}"
                        f"{_unshown_difference(found, rule)}")
    return gaps


def _rule_gaps(ranges: Sequence[str], collections: Sequence[RuleCollection],
               observed: Mapping[str, RuleCollection] | None) -> list[str]:
    """Each desired rule that carries the cluster's ranges and is missing or different on the firewall."""
    if observed is None:
        return []  # no firewall: every cluster is skipped for it already
    mine = frozenset(_canonical_address(r) for r in ranges)
    gaps: list[str] = []
    for collection in collections:
        current = observed.get(collection.name.lower())
        if collection.is_application:
            gaps.extend(_application_gaps(mine, collection, current))
            continue
        by_name = {r.name.lower(): r for r in (current.rules if current is not None else ())}
        for rule in collection.rules:
            if not _carries(rule, mine):
                continue
            found = by_name.get(rule.name.lower())
            where = f"firewall rule {collection.name}/{rule.name}"
            if current is None or found is None:
                gaps.append(f"{where} is missing: {rule_text(rule)}")
            elif not rules.same_rule(found, rule):
                gaps.append(f"{where} is {rule_text(found)}; the runbook needs {rule_text(rule)}"
                            f"{_unshown_difference(found, rule)}")
    return gaps


def _firewall_compliance(snapshot: Snapshot, settings: Settings,
                         collections: Sequence[RuleCollection]) -> FirewallCompliance:
    firewall = snapshot.firewall
    if firewall is None:
        return FirewallCompliance(ComplianceState.SKIPPED, settings.firewall_id,
                                  reason="firewall not found (FIREWALL_ID)")
    changes = plan.plan_firewall(snapshot, collections, settings)
    if firewall.policy_id:
        address = f"{firewall.policy_id}/ruleCollectionGroups/{settings.rule_collection_group}"
    else:
        address = firewall.id  # classic rules live inside the firewall resource
    missing = tuple(describe_change(c) for c in changes if c.action is not Action.NOOP)
    state = ComplianceState.NON_COMPLIANT if missing else ComplianceState.COMPLIANT
    size = plan.firewall_size_line(snapshot, collections, settings) or None
    return FirewallCompliance(state, address, missing, size=size)


# --------------------------------------------------------------------------------------------- wording


def _name(address: str) -> str:
    return address.rstrip("/").rsplit("/", 1)[-1]


def _hop(route: Mapping[str, Any] | None) -> str:
    if not route:
        return "nothing"
    hop = f"{route.get('addressPrefix')} -> {route.get('nextHopType')}"
    return f"{hop} {route['nextHopIpAddress']}" if route.get("nextHopIpAddress") else hop


def describe_change_lines(change: Change) -> tuple[str, ...]:
    """`describe_change`, plus one line per route a new route table is created with (its PUT carries
    them, remediation/planning/plan.py), so a missing table still lists each missing route."""
    lines = [describe_change(change)]
    if change.kind is ChangeKind.ROUTE_TABLE and change.action is Action.CREATE:
        table = _name(change.address)
        routes = ((arm_shapes.after(change) or {}).get("properties") or {}).get("routes") or []
        lines.extend(f"route {r.get('name')} ({_hop(r.get('properties'))}) is missing on route table {table}"
                     for r in routes)
    return tuple(lines)


def describe_change(change: Change) -> str:
    """One line saying what a pending write would fix, in the runbook's terms."""
    name = _name(change.address)
    if change.kind is ChangeKind.ROUTE:
        table = _name(change.address.rsplit("/routes/", 1)[0])
        if change.action is Action.CREATE:
            return f"route {name} ({_hop(arm_shapes.after(change))}) is missing on route table {table}"
        if change.action is Action.UPDATE:
            was, needs = _hop(arm_shapes.before(change)), _hop(arm_shapes.after(change))
            return f"route {name} on route table {table} is {was}; needs {needs}"
        return f"route {name} on route table {table} is no longer needed"
    if change.kind is ChangeKind.ROUTE_TABLE:
        return f"route table {name} does not exist"
    if change.kind is ChangeKind.SUBNET_ROUTE_TABLE:
        association = (arm_shapes.after(change) or {}).get("routeTable") or {}
        return f"subnet {name} is not associated with route table {_name(str(association.get('id', '?')))}"
    verb = {Action.CREATE: "is missing", Action.UPDATE: "differs from the runbook",
            Action.DELETE: "holds rules no cluster needs"}.get(change.action, "is unchanged")
    label = "rule collection group" if change.kind is ChangeKind.RULE_COLLECTION_GROUP else "rule collection"
    return f"{label} {name} {verb}"


def describe_conflict(conflict: Conflict) -> str:
    return f"{conflict.kind.value} {_name(conflict.address)}: {conflict.message}"
