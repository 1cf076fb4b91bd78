"""Reads of a converged cluster event against the number of configured firewalls (issue #21 "Done when", issue
#26 goal 4 "... and in the number of hubs"): the estate of examples/estate.json (two VNet hubs in two regions, one
secured vWAN hub; five spokes with one cluster each), converged by one sweep with 1, 2 and 3 configured firewalls
(FIREWALL_ID, then FIREWALL_IDS), then the event of the cluster on the eastus hub, its follow-ups included. A
cluster event reads only the firewalls its VNets can reach (remediation/engine/observe.py `_read_on_path`), so
the figure must not grow with the firewalls configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import BenchFailure, harness
from bench.fleet_cost import gets, run_event
from remediation.core.model import Target, TargetKind

ROOT = Path(__file__).resolve().parents[1]
SUB = "00000000-0000-0000-0000-000000000000"
FIREWALL_COUNTS = (1, 2, 3)
CLUSTER = (f"/subscriptions/{SUB}/resourceGroups/rg-spoke-eus/providers/Microsoft.ContainerService/"
           "managedClusters/aks-spoke-eus")
FIREWALLS = tuple(f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/azureFirewalls/{name}"
                  for rg, name in (("rg-hub-eus", "fw-eastus"), ("rg-hub-weu", "fw-westeurope"),
                                   ("rg-vwan", "fw-vhub-weu")))


def _settings(n: int) -> dict[str, str]:
    key = "FIREWALL_ID" if n == 1 else "FIREWALL_IDS"
    return {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", key: ",".join(FIREWALLS[:n]),
            "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": "10.200.0.0/16"}


def event_gets(n: int) -> dict[str, Any]:
    """GETs (and writes) of the converged event with the first `n` firewalls configured."""
    seed = json.loads((ROOT / "examples" / "estate.json").read_text(encoding="utf-8"))
    with harness(seed, _settings(n)) as h:
        sweep = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        if sweep.error is not None:
            raise BenchFailure(f"{n} firewall(s): the estate's sweep failed: {sweep.error}")
        h.emu.clear_log()
        results = run_event(h.reconciler, Target(TargetKind.CLUSTER, CLUSTER))
        if any(r.converged is not True for r in results):
            raise BenchFailure(f"{n} firewall(s): the converged event did not converge")
        log = h.emu.request_log
        return {"gets": gets(log), "writes": sum(1 for r in log if r.method != "GET")}


def run() -> dict[str, Any]:
    return {str(n): event_gets(n) for n in FIREWALL_COUNTS}
