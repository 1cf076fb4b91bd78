"""Generated fleets, end to end: whatever the shape, one sweep converges, an independent model agrees, nothing
foreign changes, the next sweep and any cluster event write nothing, and a deleted owned route is put back
with one write.

The fleets come from bench/topology.py with drawn sizes (clusters, subnets per VNet, how many use AGIC, one or
two subscriptions: two switch the inventory to Resource Graph). "Converged" is judged twice: by the product's
own verify and by bench/minimum.py's runbook model, which never calls the product's desired/plan code.
The real SDK clients drive the HTTPS emulator. Few examples (each seeds an emulator and runs several
reconciles); the fixed derandomized draw keeps a failure reproducible.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench import minimum, topology
from bench.common import harness
from remediation.core.model import Target, TargetKind

FOREIGN_GROUP = f"{topology.POLICY_ID}/ruleCollectionGroups/platform-baseline"
WRITES = {"PUT", "PATCH", "DELETE"}


def _writes(emu: Any) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.request_log
            if r.method in WRITES and not r.path.startswith("/_emulator")]


def _foreign(dump: dict[str, Any]) -> dict[str, Any]:
    """Everything no owned name marks: the foreign group, and every route not named rmd-*."""
    out: dict[str, Any] = {}
    for resource in dump["resources"]:
        rid = resource["id"].lower()
        if rid == FOREIGN_GROUP.lower():
            out[rid] = resource["properties"]["ruleCollections"]
        for route in (resource.get("properties") or {}).get("routes") or []:
            if not route["name"].startswith("rmd-"):
                out[f"{rid}/routes/{route['name']}".lower()] = route["properties"]
    return out


@settings(max_examples=6)
@given(clusters=st.integers(1, 14), subnets_per_vnet=st.integers(2, 6), agic_every=st.integers(1, 5),
       subscriptions=st.integers(1, 2), event=st.data())
def test_any_generated_fleet_converges_in_one_sweep_and_stays_quiet(
        clusters: int, subnets_per_vnet: int, agic_every: int, subscriptions: int, event: st.DataObject) -> None:
    fleet = topology.generate(clusters, subnets_per_vnet=subnets_per_vnet, agic_every=agic_every,
                              subscriptions=subscriptions)
    rules = minimum.Rules(firewall_id=topology.FIREWALL_ID, spoke_prefixes=(topology.SPOKE_PREFIX,))
    before = _foreign(copy.deepcopy(fleet.seed))
    with harness(fleet.seed, topology.settings_for(subscriptions)) as h:
        results = h.reconciler.reconcile_with_follow_ups(h.reconciler.scope_target(), dry_run=False)
        assert all(r.converged is True and r.error is None for r in results), [
            (r.target, r.converged, r.error) for r in results]
        after = h.emu.dump()
        left = minimum.writes_needed(minimum.Topology.from_dump(after), rules)
        assert minimum.total(left) == 0, left  # the independent model sees nothing left to write
        assert minimum.group_complete(minimum.Topology.from_dump(after), rules)
        assert _foreign(after) == before  # nothing foreign was changed or lost

        h.emu.clear_log()
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert again.converged is True and not again.plan.writes
        cluster_id = event.draw(st.sampled_from(fleet.cluster_ids), label="cluster event")
        quiet = h.reconciler.reconcile_combined(Target(TargetKind.CLUSTER, cluster_id), dry_run=False)
        assert quiet.converged is True and not quiet.plan.writes
        assert _writes(h.emu) == []

        # Drift: someone deletes one of our routes; the next sweep puts it back and touches nothing else.
        owned = sorted(f"{r['id']}/routes/{route['name']}" for r in after["resources"]
                       for route in (r.get("properties") or {}).get("routes") or []
                       if route["name"].startswith("rmd-"))
        h.emu.delete_foreign(event.draw(st.sampled_from(owned), label="route deleted"))
        repaired = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert repaired.converged is True and len(repaired.plan.writes) == 1
        healed = h.emu.dump()
        assert minimum.total(minimum.writes_needed(minimum.Topology.from_dump(healed), rules)) == 0
        assert _foreign(healed) == before
