"""A routing target leaves its firewall follow-up out only when the owned rules it read are already in place
(remediation/planning/firewall_check.py), against the emulator with the real SDK clients."""

from __future__ import annotations

import copy
from typing import Any

from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import CNI, OVERLAY, OWNED_RCG, POLICY, arm_writes, props


def _converged(world: WorldFactory) -> Any:
    w = world()
    sweep = w.run_target(w.reconciler.scope_target())
    assert sweep.converged is True and w.emu.get(OWNED_RCG) is not None
    w.reset_log()
    return w


def _list_reads(w: Any) -> list[str]:
    """GETs of a collection (a list call): what makes a pass's cost grow with the fleet."""
    return [r.path for r in w.emu.request_log if r.method == "GET"
            and r.path.lower().rstrip("/").rsplit("/", 1)[-1] in {
                "managedclusters", "virtualnetworks", "applicationgateways", "routetables"}]


def _edit_owned_rule(w: Any, collection: str, rule: str, **changes: Any) -> None:
    group = copy.deepcopy(w.emu.get(OWNED_RCG))
    found = next(c for c in group["properties"]["ruleCollections"] if c["name"] == collection)
    target = next(r for r in found["rules"] if r["name"] == rule)
    target.update(changes)
    w.emu.put_foreign(OWNED_RCG, group)


def test_a_converged_cluster_event_reads_the_group_once_and_runs_no_firewall_target(world: WorldFactory) -> None:
    w = _converged(world)
    result = w.reconciler.reconcile(w.reconciler.resolve(OVERLAY), dry_run=False)
    assert result.converged is True and result.follow_ups == ()
    assert result.follow_up_note == "this cluster's firewall rules are in place: no firewall run needed"
    assert arm_writes(w.emu) == []
    # The owned groups come from one list of the policy's groups (it also finds shards).
    group_reads = [r for r in w.emu.request_log if "/rulecollectiongroups" in r.path.lower()]
    assert [r.path.lower() for r in group_reads] == [f"{POLICY}/ruleCollectionGroups".lower()]
    # Nothing here is a fleet list but the VNet list that finds the VPN gateways (per VNet, not per cluster).
    assert all(p.lower().endswith("/virtualnetworks") for p in _list_reads(w))


def test_drift_in_the_clusters_own_rule_brings_the_follow_up_back(world: WorldFactory) -> None:
    w = _converged(world)
    _edit_owned_rule(w, "rmd-egress-fqdn", "aks-overlay", protocols=[{"protocolType": "Https", "port": 443}])
    result = w.reconciler.reconcile(w.reconciler.resolve(OVERLAY), dry_run=False)
    assert result.follow_ups == (w.reconciler.firewall_target(),) and result.follow_up_note is None
    firewall = w.reconciler.reconcile(result.follow_ups[0], dry_run=False)
    assert firewall.converged is True
    egress = next(c for c in props(w.emu, OWNED_RCG)["ruleCollections"] if c["name"] == "rmd-egress-fqdn")
    assert {p["protocolType"] for p in egress["rules"][0]["protocols"]} == {"Http", "Https"}


def test_drift_in_another_clusters_rule_is_left_to_the_sweep(world: WorldFactory) -> None:
    w = _converged(world)
    _edit_owned_rule(w, "rmd-ingress", "aks-cni", destinationPorts=["*"])
    # The overlay cluster's own rules are intact: its event does not pay for the fleet...
    overlay = w.reconciler.reconcile(w.reconciler.resolve(OVERLAY), dry_run=False)
    assert overlay.follow_ups == ()
    # ...the drifted cluster's event and the sweep both see it.
    cni = w.reconciler.reconcile(w.reconciler.resolve(CNI), dry_run=True)
    assert cni.follow_ups == (w.reconciler.firewall_target(),)
    sweep = w.reconciler.reconcile(w.reconciler.scope_target(), dry_run=False)
    assert sweep.follow_ups == (w.reconciler.firewall_target(),)
    w.reconciler.reconcile(sweep.follow_ups[0], dry_run=False)
    ingress = next(c for c in props(w.emu, OWNED_RCG)["ruleCollections"] if c["name"] == "rmd-ingress")
    assert "*" not in next(r for r in ingress["rules"] if r["name"] == "aks-cni")["destinationPorts"]


def test_a_converged_sweep_reads_the_fleet_once(world: WorldFactory) -> None:
    w = _converged(world)
    sweep = w.reconciler.reconcile(w.reconciler.scope_target(), dry_run=False)
    assert sweep.converged is True and sweep.follow_ups == () and sweep.follow_up_note is not None
    assert arm_writes(w.emu) == []
    assert sorted(p.lower().rsplit("/", 1)[-1] for p in _list_reads(w)) == [
        "applicationgateways", "managedclusters", "routetables", "virtualnetworks"]


def test_a_deleted_group_is_never_in_place(world: WorldFactory) -> None:
    w = _converged(world)
    w.emu.delete_foreign(OWNED_RCG)
    result = w.reconciler.reconcile(w.reconciler.resolve(OVERLAY), dry_run=True)
    assert result.follow_ups == (w.reconciler.firewall_target(),)
    sweep = w.reconciler.reconcile(w.reconciler.scope_target(), dry_run=True)
    assert sweep.follow_ups == (w.reconciler.firewall_target(),)


def test_a_sweep_that_leaves_the_firewall_out_still_reports_its_notes(world: WorldFactory) -> None:
    w = _converged(world)
    group = copy.deepcopy(w.emu.get(OWNED_RCG))
    group["properties"]["ruleCollections"].append({
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "team-dns", "priority": 900,
        "action": {"type": "Allow"}, "rules": [{
            "ruleType": "NetworkRule", "name": "dns", "ipProtocols": ["UDP"], "sourceAddresses": ["10.1.0.0/22"],
            "sourceIpGroups": [], "destinationAddresses": ["10.0.0.53"], "destinationIpGroups": [],
            "destinationFqdns": [], "destinationPorts": ["53"]}]})
    w.emu.put_foreign(OWNED_RCG, group)
    sweep = w.reconciler.reconcile(w.reconciler.scope_target(), dry_run=False)
    assert sweep.follow_ups == () and arm_writes(w.emu) == []
    assert any("team-dns" in c.message and not c.blocking for c in sweep.plan.conflicts)


def test_an_unreadable_group_list_keeps_the_follow_up_and_the_routing_result(world: WorldFactory) -> None:
    w = _converged(world)
    w.emu.faults.add("GET", r"/ruleCollectionGroups$", kind="status", status=403, code="AuthorizationFailed",
                     count=50)
    result = w.reconciler.reconcile(w.reconciler.resolve(OVERLAY), dry_run=False)
    assert result.error is None and result.converged is True
    assert result.follow_ups == (w.reconciler.firewall_target(),) and result.follow_up_note is None
