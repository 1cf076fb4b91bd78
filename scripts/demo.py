"""`make demo`: the product's main job, end to end, against the embedded local ARM emulator.

The topology is examples/private-network.json (hub firewall, P2S VPN, a spoke with three clusters). The
walk-through is what a deployment does: an Event Grid event for a new cluster, the plan, apply, verify;
then drift (a route deleted, an association removed, a rule collection edited) repaired by a drift sweep,
and a last sweep that finds nothing to change and writes nothing. It exits non-zero if any step does not
end as described, so the demo is also a smoke test.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator import Emulator  # noqa: E402
from remediation.core import arm_shapes  # noqa: E402
from remediation.core.config import load_settings  # noqa: E402
from remediation.core.model import ReconcileResult, Target  # noqa: E402
from remediation.engine.reconciler import Reconciler  # noqa: E402
from remediation.planning import intake  # noqa: E402
from remediation.views import render  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers"
CLUSTER = f"{SPOKE}/Microsoft.ContainerService/managedClusters/aks-cni"
NODE_SUBNET = f"{SPOKE}/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-aks-nodes"
APPGW_SUBNET = f"{SPOKE}/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-appgw"
CUSTOMER_TABLE = f"{SPOKE}/Microsoft.Network/routeTables/rt-spoke-nodes"
FIREWALL = f"{HUB}/Microsoft.Network/azureFirewalls/fw-hub"
POLICY = f"{HUB}/Microsoft.Network/firewallPolicies/fwpol-hub"

SETTINGS = {
    "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
    "FIREWALL_ID": FIREWALL,
    "REMEDIATION_MODE": "enforce",
    "SPOKE_PREFIXES": "10.2.0.0/16",
}


def banner(text: str) -> None:
    print()
    print("=" * 100)
    print(text)
    print("=" * 100)


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"DEMO FAILED: {message}", file=sys.stderr)
        raise SystemExit(1)


def new_cluster_event() -> dict[str, Any]:
    """What the subscription system topic delivers when the cluster is written (docs/arm-notes.md 4.1)."""
    return dict(json.loads((ROOT / "examples" / "events" / "managed-cluster-write.json").read_text(encoding="utf-8")))


def main() -> int:
    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    rows: list[tuple[str, ReconcileResult, float]] = []

    def record(step: str, result: ReconcileResult, started: float) -> ReconcileResult:
        rows.append((step, result, time.monotonic() - started))
        print(render.render_text(result))
        return result

    with Emulator(seed=seed) as emu:
        os.environ.update(emu.env())  # DefaultAzureCredential and TLS read these, as in production
        settings = load_settings({**SETTINGS, **emu.env()})
        reconciler = Reconciler(settings)

        banner("1. Event Grid delivers ResourceWriteSuccess for a new cluster")
        event = new_cluster_event()
        print(json.dumps({k: event[k] for k in ("subject", "eventType")} | {
            "data.operationName": event["data"]["operationName"]}, indent=2))
        decision = intake.decide(intake.parse_event(event), settings, reconciler.resolve)
        check(isinstance(decision, Target), f"expected a target from the event, got {decision}")
        assert isinstance(decision, Target)
        target = decision
        print(f"-> the intake maps it to {target}; the worker reconciles it")

        banner("2. The plan (dry run: the same path as apply, without the writes)")
        started = time.monotonic()
        planned = record("plan new cluster", reconciler.reconcile_combined(target, dry_run=True), started)
        check(planned.plan.has_changes and planned.arm_calls.writes == 0, "the plan must change things, write nothing")
        check(_plans_fqdn_tag_rule(planned, "aks-overlay"),
              "the userDefinedRouting cluster must get the AzureKubernetesService application rule")

        banner("3. Apply, then verify by reading ARM again")
        started = time.monotonic()
        applied = record("apply new cluster", reconciler.reconcile_combined(target, dry_run=False), started)
        check(applied.converged is True, "apply must converge")
        check(any(r["name"] == "to-onprem" for r in _routes(emu, CUSTOMER_TABLE)), "the foreign route must survive")
        check(emu.get(POLICY + "/ruleCollectionGroups/platform-baseline") is not None,
              "the foreign rule collection group must survive")

        banner("4. A full sweep brings the other clusters in (the kubenet one is skipped with its reason)")
        started = time.monotonic()
        swept = record("first sweep", reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False), started)
        check(swept.converged is True, "the sweep must converge")

        banner("5. Drift: a route deleted, an association removed, a rule collection edited")
        _drift(emu, settings.rule_collection_group)
        started = time.monotonic()
        sweep = reconciler.scope_target()
        repaired = record("drift sweep", reconciler.reconcile_combined(sweep, dry_run=False), started)
        check(repaired.converged is True and repaired.arm_calls.writes >= 3, "the drift sweep must repair all three")

        banner("6. Another sweep: nothing to do, nothing written")
        started = time.monotonic()
        quiet = record("second sweep", reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False), started)
        check(not quiet.plan.has_changes and quiet.arm_calls.writes == 0, "a converged sweep must write nothing")

    banner("Summary")
    print(f"{'step':<20} {'target':<10} {'changes':>8} {'reads':>6} {'writes':>7} {'converged':>10} {'time':>8}")
    for step, result, seconds in rows:
        kind = result.target.split(":", 1)[0]
        converged = "-" if result.converged is None else str(result.converged).lower()
        print(f"{step:<20} {kind:<10} {len(result.plan.writes):>8} {result.arm_calls.reads:>6} "
              f"{result.arm_calls.writes:>7} {converged:>10} {seconds:>7.2f}s")
    return 0


def _plans_fqdn_tag_rule(result: ReconcileResult, rule_name: str) -> bool:
    """The owned group's application collection holds the FQDN-tag rule for `rule_name` (docs/egress.md)."""
    for change in result.plan.writes:
        for collection in (arm_shapes.after(change) or {}).get("ruleCollections") or []:
            for rule in collection.get("rules") or []:
                if rule.get("name") == rule_name and "AzureKubernetesService" in (rule.get("fqdnTags") or []):
                    return True
    return False


def _routes(emu: Emulator, table_id: str) -> list[dict[str, Any]]:
    table = emu.get(table_id) or {}
    return list(table.get("properties", {}).get("routes", []))


def _drift(emu: Emulator, group_name: str) -> None:
    # Someone deletes one of our routes on the customer's table...
    owned = [r for r in _routes(emu, CUSTOMER_TABLE) if r["name"].startswith("rmd-")]
    check(bool(owned), "expected owned routes on the customer's route table")
    emu.delete_foreign(f"{CUSTOMER_TABLE}/routes/{owned[0]['name']}")
    print(f"deleted route {owned[0]['name']} from rt-spoke-nodes")
    # ...someone re-deploys the App Gateway subnet without its route table (full-replace PUT)...
    subnet = copy.deepcopy(emu.get(APPGW_SUBNET))
    check(subnet is not None, "the App Gateway subnet must exist")
    assert subnet is not None
    subnet["properties"].pop("routeTable", None)
    emu.put_foreign(APPGW_SUBNET, subnet)
    print("removed the route table association of snet-appgw")
    # ...and someone narrows our egress application rule to HTTPS by hand in the portal.
    group = copy.deepcopy(emu.get(f"{POLICY}/ruleCollectionGroups/{group_name}"))
    check(group is not None, "the owned rule collection group must exist")
    assert group is not None
    egress = next(c for c in group["properties"]["ruleCollections"] if c["name"] == "rmd-egress-fqdn")
    egress["rules"][0]["protocols"] = [{"protocolType": "Https", "port": 443}]
    emu.put_foreign(f"{POLICY}/ruleCollectionGroups/{group_name}", group)
    print(f"edited rule collection {egress['name']} by hand")


if __name__ == "__main__":
    raise SystemExit(main())
