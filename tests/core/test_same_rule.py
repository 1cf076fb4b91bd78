"""#24.15: plan, firewall_check and compliance mean the same thing by "the same rule" (remediation/planning/rules.py).

Each generated edit of a cluster's rule on the firewall is judged by all three: the firewall plan writes the group,
the follow-up check asks for the firewall target, and compliance names a gap: all three or none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from remediation.core.model import Action, NetworkRule, Snapshot
from remediation.planning import compliance, desired, firewall_check, plan
from tests.core import factories as f
from tests.core.test_compliance import SETTINGS, converged

Edit = Callable[[NetworkRule], NetworkRule]
EDITS: dict[str, Edit] = {
    # not a change: canonical forms are equal
    "name-case": lambda r: dataclasses.replace(r, name=r.name.upper()),
    "protocol-case": lambda r: dataclasses.replace(r, protocols=tuple(p.lower() for p in r.protocols)),
    "cidr-host-bits": lambda r: dataclasses.replace(r, source_addresses=tuple(
        a.replace("10.1.0.0/22", "10.1.0.1/22") for a in r.source_addresses)),
    "ports-order": lambda r: dataclasses.replace(r, destination_ports=tuple(reversed(r.destination_ports))),
    "tag-case": lambda r: dataclasses.replace(r, destination_addresses=tuple(
        a.lower() for a in r.destination_addresses)),
    # changes
    "description": lambda r: dataclasses.replace(r, description="edited by hand"),
    "fqdns": lambda r: dataclasses.replace(r, destination_fqdns=("example.com",)),
    "port-dropped": lambda r: dataclasses.replace(r, destination_ports=r.destination_ports[1:]),
    "protocol-dropped": lambda r: dataclasses.replace(r, protocols=r.protocols[:1]),
    "renamed": lambda r: dataclasses.replace(r, name=r.name + "-x"),
}


def _edited(snapshot: Snapshot, edits: list[Edit]) -> Snapshot:
    group = snapshot.rule_collection_group
    assert group is not None
    collections = []
    for collection in group.rule_collections:
        rules = []
        for rule in collection.rules:
            if collection.name == "rmd-egress" and rule.name == "aks1":
                for edit in edits:
                    rule = edit(rule)
            rules.append(rule)
        collections.append(dataclasses.replace(collection, rules=tuple(rules)))
    return dataclasses.replace(snapshot, rule_collection_group=dataclasses.replace(
        group, rule_collections=tuple(collections)))


def _verdicts(snapshot: Snapshot) -> tuple[bool, bool, bool]:
    collections, _ = desired.desired_rule_collections(snapshot, SETTINGS)
    planned = any(c.action is not Action.NOOP for c in plan.plan_firewall(snapshot, collections, SETTINGS))
    checked = firewall_check.cluster_reason(snapshot, f.CLUSTER, SETTINGS) is not None
    (cluster,) = compliance.assess(snapshot, SETTINGS, scope="s").clusters
    gap = any(line.startswith("firewall rule") for line in cluster.missing)
    return planned, checked, gap


def test_the_converged_fleet_is_the_same_rule_for_all_three() -> None:
    assert _verdicts(converged(f.hub_spoke())) == (False, False, False)


@settings(deadline=None)  # three planners per example; the shared test machine is slow at times
@given(st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=4, unique=True))
def test_plan_firewall_check_and_compliance_agree_on_generated_rules(names: list[str]) -> None:
    planned, checked, gap = _verdicts(_edited(converged(f.hub_spoke()), [EDITS[n] for n in names]))
    assert planned == checked == gap, (names, planned, checked, gap)
    changed = {"description", "fqdns", "port-dropped", "protocol-dropped", "renamed"}
    assert planned is bool(changed & set(names))


def test_a_description_edit_is_named_by_compliance() -> None:
    (cluster,) = compliance.assess(_edited(converged(f.hub_spoke()), [EDITS["description"]]), SETTINGS,
                                   scope="s").clusters
    assert any("description 'edited by hand', needs ''" in line for line in cluster.missing), cluster.missing
