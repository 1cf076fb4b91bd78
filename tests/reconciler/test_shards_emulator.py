"""The owned group split into shards against the emulator: a fleet past a small threshold
(RULE_COLLECTION_GROUP_SHARD_BYTES) is written as `<group>`, `<group>-2`..., stays put when nothing
changed, and a shard no longer needed is deleted after the writes (not at all when one of them failed),
unless it holds a foreign collection."""

from __future__ import annotations

import json
from typing import Any

from bench import topology
from bench.common import harness
from remediation.core.model import ReconcileResult

THRESHOLD = 4096
GROUP = "rmd-aks-runbook"


def _sweep(h: Any) -> ReconcileResult:
    result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
    assert result.error is None and result.converged, result.error
    return result


def _groups(h: Any) -> dict[str, dict[str, Any]]:
    """Every rule collection group of the policy, by lower name."""
    found = {}
    for body in h.emu.dump()["resources"]:
        if "/rulecollectiongroups/" in str(body["id"]).lower():
            found[str(body["name"]).lower()] = body
    return found


def _owned(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: g for n, g in groups.items() if n == GROUP or n.startswith(GROUP + "-")}


def _size(group: dict[str, Any]) -> int:
    props = {k: v for k, v in group["properties"].items() if k in ("priority", "ruleCollections")}
    return len(json.dumps({"properties": props}, separators=(",", ":")))


def _rule_names(group: dict[str, Any]) -> set[str]:
    return {r["name"] for c in group["properties"]["ruleCollections"] if c["name"].startswith("rmd-")
            for r in c["rules"]}


def test_a_fleet_past_the_threshold_is_sharded_and_a_shard_no_longer_needed_goes_last() -> None:
    fleet = topology.generate(110)
    # Without the VPN gateway there is no P2S rule (one rule naming every cluster's ranges): every owned rule
    # is one cluster's, so removing clusters can empty a shard.
    fleet.seed["resources"] = [r for r in fleet.seed["resources"]
                               if "/virtualnetworkgateways/" not in str(r["id"]).lower()]
    settings = {**topology.SETTINGS, "RULE_COLLECTION_GROUP_SHARD_BYTES": str(THRESHOLD)}
    with harness(fleet.seed, settings, time_factor=0.0) as h:
        _sweep(h)
        groups = _groups(h)
        owned = _owned(groups)
        assert len(owned) >= 3, sorted(owned)
        assert sorted(owned) == [GROUP, *(f"{GROUP}-{i}" for i in range(2, len(owned) + 1))]
        assert all(_size(g) <= THRESHOLD for g in owned.values())
        priorities = [g["properties"]["priority"] for g in groups.values()]
        assert len(priorities) == len(set(priorities))  # no owned shard shares a priority with any group
        # Each rule (a cluster's egress or ingress rule) is in exactly one shard.
        placed = [(c["name"], r["name"]) for g in owned.values() for c in g["properties"]["ruleCollections"]
                  for r in c["rules"]]
        assert len(placed) == len(set(placed))

        # Converged and stable: a second sweep writes nothing.
        h.emu.clear_log()
        _sweep(h)
        assert not [r for r in h.emu.request_log if r.method != "GET"]

        # Someone adds a collection to shard 2; then every cluster whose rules are in shard 2 or in the
        # last shard goes away.
        last = f"{GROUP}-{len(owned)}"
        second = dict(owned[f"{GROUP}-2"])
        corp = {"ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "corp-allow",
                "priority": 300, "action": {"type": "Allow"},
                "rules": [{"ruleType": "NetworkRule", "name": "corp", "ipProtocols": ["TCP"],
                           "sourceAddresses": ["192.168.0.0/24"], "destinationAddresses": ["AzureCloud"],
                           "destinationPorts": ["443"]}]}
        props = {"priority": second["properties"]["priority"],
                 "ruleCollections": [*second["properties"]["ruleCollections"], corp]}
        h.emu.put_foreign(second["id"], {"properties": props})
        gone = _rule_names(owned[f"{GROUP}-2"]) | _rule_names(owned[last])
        for cluster_id in fleet.cluster_ids:
            if cluster_id.rsplit("/", 1)[-1] in gone:
                h.emu.delete_foreign(cluster_id)
        # The write that empties shard 2 fails: the emptied last shard is not deleted in that pass.
        h.emu.faults.add("PUT", rf"/ruleCollectionGroups/{GROUP}-2$", kind="status", status=400,
                         code="InvalidRequestFormat", count=1)
        h.emu.clear_log()
        failed = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not failed.converged
        assert last in _owned(_groups(h))
        assert not [r for r in h.emu.request_log if r.method == "DELETE" and "/rulecollectiongroups/" in
                    r.path.lower()]

        h.emu.clear_log()
        _sweep(h)
        after = _owned(_groups(h))
        assert last not in after  # emptied: deleted
        kept = after[f"{GROUP}-2"]  # emptied of owned rules, but it holds a foreign collection
        assert [c["name"] for c in kept["properties"]["ruleCollections"]] == ["corp-allow"]
        writes = [(r.method, r.path.lower().rsplit("/", 1)[-1]) for r in h.emu.request_log
                  if r.method in ("PUT", "DELETE") and "/rulecollectiongroups/" in r.path.lower()]
        assert writes[-1] == ("DELETE", last)
        assert ("PUT", f"{GROUP}-2") in writes
