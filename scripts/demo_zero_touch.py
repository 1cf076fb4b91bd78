"""`make demo-zero-touch`: a userDefinedRouting cluster from `az aks create` to its egress rule with no manual
step, against the embedded local ARM emulator (docs/zero-touch.md).

The estate is examples/private-network.json, converged first. Then the team's IaC adds a subnet and names it
in the VNet tag `aks-egress-prepare` (examples/zero-touch/spoke-vnet.bicep); AKS refuses the
userDefinedRouting create (the subnet has no default route yet); the VNet's Event Grid event
(examples/events/virtual-network-write.json) prepares the subnet; AKS accepts the create; the cluster's own
event brings its egress rule; a sweep keeps the subnet prepared. Exits non-zero if a step does not end as
described, so it is also a smoke test (tests/cli/test_demo_zero_touch.py).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.identity import DefaultAzureCredential  # noqa: E402
from azure.mgmt.containerservice import ContainerServiceClient  # noqa: E402
from azure.mgmt.containerservice.models import ManagedCluster  # noqa: E402

from emulator import Emulator  # noqa: E402
from remediation.core.config import load_settings  # noqa: E402
from remediation.core.model import Action, Target  # noqa: E402
from remediation.engine.reconciler import Reconciler  # noqa: E402
from remediation.planning import intake  # noqa: E402
from remediation.views import render  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers"
VNET = f"{SPOKE}/Microsoft.Network/virtualNetworks/vnet-spoke"
SUBNET = f"{VNET}/subnets/snet-aks-next"
CLUSTERS = f"{SPOKE}/Microsoft.ContainerService/managedClusters"
GROUP = f"{HUB}/Microsoft.Network/firewallPolicies/fwpol-hub/ruleCollectionGroups/rmd-aks-runbook"
SETTINGS = {
    "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
    "FIREWALL_ID": f"{HUB}/Microsoft.Network/azureFirewalls/fw-hub",
    "REMEDIATION_MODE": "enforce",
}


def banner(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}")


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"DEMO FAILED: {message}", file=sys.stderr)
        raise SystemExit(1)


def _event(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "examples" / "events" / name).read_text(encoding="utf-8")))


def _cluster_event() -> dict[str, Any]:
    event = _event("managed-cluster-write.json")
    event["subject"] = event["data"]["resourceUri"] = f"{CLUSTERS}/aks-zero"
    return event


def _udr_cluster(emu: Emulator) -> ManagedCluster:
    """aks-overlay's body (Azure CNI Overlay, userDefinedRouting) as a new cluster in the new subnet."""
    body = copy.deepcopy(emu.get(f"{CLUSTERS}/aks-overlay") or {})
    body.pop("id", None)
    props = body["properties"]
    for key in ("provisioningState", "powerState", "fqdn", "privateFQDN", "azurePortalFQDN"):
        props.pop(key, None)
    props.update(dnsPrefix="aks-zero", nodeResourceGroup="MC_rg-spoke_aks-zero_westeurope")
    for pool in props["agentPoolProfiles"]:
        for key in ("eTag", "provisioningState", "powerState"):
            pool.pop(key, None)
        pool["vnetSubnetID"] = SUBNET
    return ManagedCluster(body)


def _reconcile_event(reconciler: Reconciler, event: dict[str, Any]) -> None:
    decision = intake.decide(intake.parse_event(event), reconciler.settings, reconciler.resolve)
    check(isinstance(decision, Target), f"expected a target from the event, got {decision}")
    assert isinstance(decision, Target)
    print(f"event {event['data']['operationName']} -> {decision}")
    result = reconciler.reconcile_combined(decision, dry_run=False)
    print(render.render_text(result))
    check(result.converged is True, f"{decision} must converge")


def main() -> int:
    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    with Emulator(seed=seed) as emu:
        os.environ.update(emu.env())  # DefaultAzureCredential and TLS read these, as in production
        reconciler = Reconciler(load_settings({**SETTINGS, **emu.env()}))
        aks = ContainerServiceClient(DefaultAzureCredential(), SUB, base_url=emu.env()["ARM_ENDPOINT"])
        converged = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)
        check(converged.converged is True, "the example estate must converge first")

        banner("1. The team's IaC adds snet-aks-next and names it in the VNet tag aks-egress-prepare")
        vnet = copy.deepcopy(emu.get(VNET) or {})
        vnet["tags"] = {**(vnet.get("tags") or {}), "aks-egress-prepare": "snet-aks-next"}
        vnet["properties"]["subnets"].append({"name": "snet-aks-next",
                                              "properties": {"addressPrefix": "10.1.16.0/24"}})
        emu.put_foreign(VNET, vnet)
        print("tags:", json.dumps(vnet["tags"]))

        banner("2. az aks create --outbound-type userDefinedRouting, too early: AKS refuses")
        try:
            aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-zero", _udr_cluster(emu)).result()
            check(False, "AKS must refuse a userDefinedRouting create on a subnet without a default route")
        except HttpResponseError as exc:
            code = exc.error.code if exc.error is not None else None
            print(f"refused: {code}: {exc.error.message if exc.error is not None else exc}")
            check(code == "ExistingRouteTableNotAssociatedWithSubnet", f"unexpected refusal {code}")

        banner("3. The VNet's Event Grid event: the marked subnet is prepared")
        _reconcile_event(reconciler, _event("virtual-network-write.json"))
        table = (emu.get(SUBNET) or {}).get("properties", {}).get("routeTable")
        check(table is not None, "the marked subnet must have a route table")

        banner("4. az aks create again: AKS accepts it (a long-running operation)")
        created = aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-zero", _udr_cluster(emu)).result()
        print(f"{created.name}: provisioningState {created.provisioning_state}")
        check(created.provisioning_state == "Succeeded", "the create must succeed once the subnet is prepared")

        banner("5. The cluster's own event: its routes and its egress rule")
        _reconcile_event(reconciler, _cluster_event())
        group = emu.get(GROUP) or {}
        rules = {r["name"] for c in group.get("properties", {}).get("ruleCollections", [])
                 if c["name"] == "rmd-egress-fqdn" for r in c["rules"]}
        check("aks-zero" in rules, "the new cluster must have its egress rule")

        banner("6. A sweep keeps the subnet prepared: nothing to remove")
        swept = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=True)
        print(render.render_text(swept))
        check(not any(c.action is Action.DELETE for c in swept.plan.changes), "a sweep must not un-prepare")
    print("\nzero-touch: from `az aks create` to the egress rule with no manual step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
