"""`make demo-estate`: an estate of several hubs (examples/estate.json) against the embedded ARM emulator.

Two VNet hubs (westeurope, eastus) and a secured Virtual WAN hub, five spokes with a userDefinedRouting cluster
each: one peered to each VNet hub, one with no peering, one whose peering is only Initiated, one connected to
the vWAN hub. For each hub's firewall as FIREWALL_ID, one sweep routes exactly the spokes that reach it (the
vWAN hub's AZFW_Hub firewall by its hubIPAddresses.privateIPAddress) and skips every other spoke with the
reason; a second sweep writes nothing. Exits non-zero when any step does not end so, a smoke test too.
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
FIREWALLS = {
    "hub westeurope": f"/subscriptions/{SUB}/resourceGroups/rg-hub-weu/providers/Microsoft.Network/azureFirewalls/"
                      "fw-westeurope",
    "hub eastus": f"/subscriptions/{SUB}/resourceGroups/rg-hub-eus/providers/Microsoft.Network/azureFirewalls/"
                  "fw-eastus",
    "vWAN hub": f"/subscriptions/{SUB}/resourceGroups/rg-vwan/providers/Microsoft.Network/azureFirewalls/fw-vhub-weu",
}


def main() -> int:
    seed = json.loads((ROOT / "examples" / "estate.json").read_text(encoding="utf-8"))
    for label, firewall in FIREWALLS.items():
        print("\n" + "=" * 100 + f"\nFIREWALL_ID = the {label}'s firewall\n" + "=" * 100)
        with Emulator(seed=seed) as emu:
            os.environ.update(emu.env())
            settings = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": firewall,
                                      "REMEDIATION_MODE": "enforce", **emu.env()})
            reconciler = Reconciler(settings)
            first = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)
            print(render.render_text(first))
            routed = 5 - len({s.target.lower() for s in first.plan.skipped})
            second = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)
            if first.error or not first.converged or routed != 1 or second.plan.writes:
                print(f"DEMO FAILED for the {label}: error={first.error} converged={first.converged} "
                      f"routed={routed} second-sweep writes={len(second.plan.writes)}", file=sys.stderr)
                return 1
            print(f"\n-> the {label}: 1 spoke routed, 4 skipped with their reason; a second sweep writes nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
