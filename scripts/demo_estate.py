"""`make demo-estate`: an estate of several hubs (examples/estate.json) against the embedded ARM emulator.

Two VNet hubs (westeurope, eastus) and a secured Virtual WAN hub, five spokes with a userDefinedRouting cluster
each: one peered to each VNet hub, one with no peering, one whose peering is only Initiated, one connected to
the vWAN hub. With FIREWALL_IDS naming the three firewalls, ONE sweep routes each reachable spoke to its own
hub's firewall (the vWAN hub's AZFW_Hub firewall by its hubIPAddresses.privateIPAddress), puts its rules in
that firewall's policy, and skips the two others with the reason; a second sweep writes nothing. Exits
non-zero when any step does not end so, a smoke test too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator import Emulator  # noqa: E402
from remediation.core.config import load_settings  # noqa: E402
from remediation.engine.reconciler import Reconciler  # noqa: E402
from remediation.views import render  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"
NET = f"/subscriptions/{SUB}/resourceGroups/{{}}/providers/Microsoft.Network"
FIREWALLS = {  # each routed spoke: its hub's firewall, that firewall's private IP
    "spoke-weu": (NET.format("rg-hub-weu") + "/azureFirewalls/fw-westeurope", "10.0.1.4"),
    "spoke-eus": (NET.format("rg-hub-eus") + "/azureFirewalls/fw-eastus", "10.50.1.4"),
    "spoke-vwan": (NET.format("rg-vwan") + "/azureFirewalls/fw-vhub-weu", "10.100.0.132"),
}
SKIPPED = ("spoke-lone", "spoke-initiated")


def _default_hop(emu: Emulator, spoke: str) -> str | None:
    subnet = emu.get(NET.format(f"rg-{spoke}") + f"/virtualNetworks/vnet-{spoke}/subnets/snet-aks")
    table_ref = (subnet or {}).get("properties", {}).get("routeTable")
    table = emu.get(table_ref["id"]) if table_ref else None
    hops = [r["properties"].get("nextHopIpAddress") for r in (table or {}).get("properties", {}).get("routes", [])
            if r["properties"]["addressPrefix"] == "0.0.0.0/0"]
    return hops[0] if hops else None


def main() -> int:
    seed = json.loads((ROOT / "examples" / "estate.json").read_text(encoding="utf-8"))
    firewall_ids = ",".join(fw for fw, _ in FIREWALLS.values())
    print("=" * 100 + f"\nFIREWALL_IDS = {firewall_ids}\n" + "=" * 100)
    with Emulator(seed=seed) as emu:
        os.environ.update(emu.env())
        settings = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": firewall_ids,
                                  "REMEDIATION_MODE": "enforce", **emu.env()})
        reconciler = Reconciler(settings)
        first = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)
        print(render.render_text(first))
        hops = {spoke: _default_hop(emu, spoke) for spoke in (*FIREWALLS, *SKIPPED)}
        wrong = {s: h for s, h in hops.items() if h != (FIREWALLS[s][1] if s in FIREWALLS else None)}
        skipped = {s.target.rsplit("/", 1)[-1] for s in first.plan.skipped}
        second = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)
        if (first.error or not first.converged or wrong or skipped != {f"aks-{s}" for s in SKIPPED}
                or second.plan.writes):
            print(f"DEMO FAILED: error={first.error} converged={first.converged} wrong next hops={wrong} "
                  f"skipped={sorted(skipped)} second-sweep writes={len(second.plan.writes)}", file=sys.stderr)
            return 1
        print("\n-> one sweep: 3 spokes routed, each to its own hub's firewall, 2 skipped with their reason; "
              "a second sweep writes nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
