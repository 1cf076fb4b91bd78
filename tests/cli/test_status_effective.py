"""`status` judges where the traffic goes (effective next hops): foreign routes that win make a converged cluster
non-compliant with the winning route named; nothing foreign is written; removing them gives compliant again.
Real SDK against the emulator (the example topology)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import CNI, CUSTOMER_TABLE, OVERLAY, OVERLAY_TABLE, arm_writes

SPLIT = {"half-a": "0.0.0.0/1", "half-b": "128.0.0.0/1"}


def _status(cli: Run, settings: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli("status", "--settings", settings, "--output", "json", "--detailed-exitcode")
    assert code in (0, 2), err
    document: dict[str, Any] = json.loads(out)
    return code, document


def _cluster(document: dict[str, Any], cluster_id: str) -> dict[str, Any]:
    return next(c for c in document["clusters"] if c["id"].lower() == cluster_id.lower())


def _converged(cli: Run, live: Emulator, settings: str) -> None:
    assert cli("sweep", "--apply", "--auto-approve", "--settings", settings)[0] == 0
    code, document = _status(cli, settings)
    assert code == 0 and document["compliant"] is True
    overlay = _cluster(document, OVERLAY)
    internet = [f for f in overlay["flows"] if f["kind"] == "internet"]
    assert internet and all(f["verdict"] == "firewall" and f["nextHop"] == "VirtualAppliance 10.0.1.4"
                            for f in internet)


def _writes_to(live: Emulator, names: set[str]) -> list[str]:
    return [w for w in arm_writes(live) if w.rsplit("/", 1)[-1].split("?")[0] in names]


def test_split_default_routes_bypass_the_firewall(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    path = settings()
    _converged(cli, live, path)
    for name, prefix in SPLIT.items():
        live.put_foreign(f"{OVERLAY_TABLE}/routes/{name}", {"properties": {
            "addressPrefix": prefix, "nextHopType": "Internet"}})
    code, document = _status(cli, path)
    overlay = _cluster(document, OVERLAY)
    assert code == 2 and overlay["state"] == "non-compliant" and overlay["missing"] == []
    (line,) = [b for b in overlay["bypasses"] if "-> internet 0.0.0.0/0" in b]
    assert "user route half-a on route table rmd-vnet-spoke-snet-aks-overlay: 0.0.0.0/1 -> Internet" in line
    assert "user route half-b on route table rmd-vnet-spoke-snet-aks-overlay: 128.0.0.0/1 -> Internet" in line
    (flow,) = [f for f in overlay["flows"] if f["kind"] == "internet"]
    assert flow["verdict"] == "bypass" and flow["nextHop"] == "Internet"

    # The plan reports the conflict with the fix; a sweep (even with ALLOW_TAKEOVER) never writes them.
    code, out, _ = cli("plan", "--target", OVERLAY, "--settings", path)
    assert "fix: delete route half-a or point it at the firewall (VirtualAppliance 10.0.1.4)" in out
    cli("sweep", "--apply", "--auto-approve", "--settings", settings(ALLOW_TAKEOVER="true"))
    assert _writes_to(live, set(SPLIT)) == []
    assert all(live.get(f"{OVERLAY_TABLE}/routes/{name}") is not None for name in SPLIT)

    for name in SPLIT:
        live.delete_foreign(f"{OVERLAY_TABLE}/routes/{name}")
    code, document = _status(cli, path)
    assert code == 0 and _cluster(document, OVERLAY)["state"] == "compliant"


def test_a_foreign_route_into_half_the_app_gateway_range(cli: Run, live: Emulator,
                                                         settings: Callable[..., str]) -> None:
    path = settings()
    _converged(cli, live, path)
    live.put_foreign(f"{CUSTOMER_TABLE}/routes/agw-half", {"properties": {
        "addressPrefix": "10.1.4.0/25", "nextHopType": "VnetLocal"}})
    code, document = _status(cli, path)
    cni = _cluster(document, CNI)
    assert code == 2 and cni["state"] == "non-compliant"
    assert any("-> appgw 10.1.4.0/24: does not pass the firewall 10.0.1.4: user route agw-half on route table "
               "rt-spoke-nodes: 10.1.4.0/25 -> VnetLocal" in b for b in cni["bypasses"]), cni["bypasses"]
    _, text, _ = cli("status", "--settings", path)
    assert ("      - snet-aks-nodes -> appgw 10.1.4.0/24: does not pass the firewall 10.0.1.4: user route agw-half "
            "on route table rt-spoke-nodes: 10.1.4.0/25 -> VnetLocal") in text
    assert "      > snet-appgw -> aks 10.1.0.0/22: VirtualAppliance 10.0.1.4 [firewall]" in text
    _, markdown, _ = cli("status", "--settings", path, "--output", "markdown")
    assert "| `aks-cni` | snet-aks-nodes -> appgw 10.1.4.0/24 | VnetLocal, VirtualAppliance 10.0.1.4 | bypass |" \
        in markdown
    cli("sweep", "--apply", "--auto-approve", "--settings", path)
    assert _writes_to(live, {"agw-half"}) == []
    live.delete_foreign(f"{CUSTOMER_TABLE}/routes/agw-half")
    code, document = _status(cli, path)
    assert code == 0 and _cluster(document, CNI)["state"] == "compliant"


NODE_RG = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_rg-spoke_aks-overlay_westeurope"
PUBLIC_LB = f"{NODE_RG}/providers/Microsoft.Network/loadBalancers/kubernetes"


def _lb(frontends: dict[str, str | None]) -> dict[str, Any]:
    return {"location": "westeurope", "properties": {"frontendIPConfigurations": [
        {"name": name, "properties": ({"publicIPAddress": {"id": f"{NODE_RG}/providers/Microsoft.Network/"
                                                                 f"publicIPAddresses/{ip}"}} if ip else
                                      {"privateIPAddress": "10.1.5.200"})}
        for name, ip in frontends.items()]}}


def _lb_lists(live: Emulator) -> list[str]:
    return [r.path.lower() for r in live.request_log
            if r.method == "GET" and r.path.lower().endswith("/providers/microsoft.network/loadbalancers")]


def test_a_public_load_balancer_on_a_firewalled_cluster_is_asymmetric(cli: Run, live: Emulator,
                                                                       settings: Callable[..., str]) -> None:
    path = settings()
    _converged(cli, live, path)
    live.put_foreign(PUBLIC_LB, _lb({"a1b2": "kubernetes-a1b2", "internal": None}))
    code, document = _status(cli, path)
    overlay = _cluster(document, OVERLAY)
    assert code == 2 and overlay["state"] == "non-compliant" and overlay["bypasses"] == []
    (line,) = overlay["asymmetric"]
    assert line.startswith("public load balancer kubernetes frontend a1b2 (public IP kubernetes-a1b2) on a "
                           "cluster whose default route goes to the firewall (user route rmd-default on route "
                           "table rmd-vnet-spoke-snet-aks-overlay: 0.0.0.0/0 -> VirtualAppliance 10.0.1.4)")
    assert "fix: publish the service through a DNAT rule" in line
    # Only the node resource group of a cluster whose default route goes to the firewall is listed.
    lists = _lb_lists(live)
    assert lists and all("mc_rg-spoke_aks-overlay_westeurope" in p for p in lists)
    live.delete_foreign(f"{OVERLAY_TABLE}/routes/rmd-default")  # the sweep then writes and verifies
    cli("sweep", "--apply", "--auto-approve", "--settings", path)
    assert live.get(f"{OVERLAY_TABLE}/routes/rmd-default") is not None
    assert [w for w in arm_writes(live) if "loadbalancers" in w.lower()] == []
    # The sweep's own reads (its verify pass observes routes and rules too) list no load balancer.
    assert len(_lb_lists(live)) == len(lists)
    live.put_foreign(PUBLIC_LB, _lb({"internal": None}))  # an internal load balancer only
    code, document = _status(cli, path)
    assert code == 0 and _cluster(document, OVERLAY)["state"] == "compliant"
