"""Benchmark 1: one cluster target reconciled when everything is already converged.

Goal: 0 ARM writes, and reads equal to the distinct reads that must happen (ratio 1.0).

"Must be read" for a cluster event (docs/architecture.md section 2: a cluster target runs the cluster's routing
pass and the firewall pass, whose rule collection group is computed from *all* clusters in scope):
  routing side  - the cluster; the VNet(s) holding its node/pod subnets and its App Gateway's subnet (found in
                  the VNet list, which is also how the VPN gateways are discovered: ARM has no subscription-wide
                  list of virtualNetworkGateways); each route table associated with those subnets; the App
                  Gateway; the firewall (its private IP); the VPN gateways (one list per resource group holding
                  a GatewaySubnet, for the P2S pools);
  firewall side - the owned rule collection group, and the fleet it is computed from: the cluster list, the
                  VNet list (subnet prefixes) and the App Gateway list, one request per page.
A list read subsumes GETs of its members (the cluster list holds the cluster, the VNet list its VNets, the App
Gateway list its App Gateway), so the minimum number of GETs is
  pages(clusters) + pages(VNets) + pages(App Gateways) + VPN-gateway lists + route tables + firewall + RCG.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from bench.common import ROOT, BenchFailure, count_requests, harness, is_graph_query, resource_type
from remediation.azure.arm import ArmClient
from remediation.core.model import Target, TargetKind

SUB = "00000000-0000-0000-0000-000000000000"
SETTINGS = {
    "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
    "FIREWALL_ID": f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub",
    "REMEDIATION_MODE": "enforce",
    "SPOKE_PREFIXES": "10.2.0.0/16",
}
CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters/aks-cni"
PHASES = {
    3: ("cluster pass", "firewall pass", "verify (both steps, one gateway)"),
    4: ("cluster pass", "firewall pass", "verify: cluster step", "verify: firewall step"),
}


def must_read(emu: Any, cluster_id: str, page_size: int) -> dict[str, int]:
    """The minimum GETs for a converged cluster target, itemised (see the module docstring)."""
    state = emu.dump()["resources"]

    def of_type(suffix: str) -> list[dict[str, Any]]:
        return [r for r in state if str(r["type"]).lower().endswith(suffix)]

    cluster = emu.get(cluster_id)
    if cluster is None:
        raise BenchFailure(f"{cluster_id} is not in the seed")
    subnet_ids = []
    for pool in cluster["properties"].get("agentPoolProfiles", []):
        subnet_ids += [pool[k] for k in ("vnetSubnetID", "podSubnetID") if pool.get(k)]
    agic = cluster["properties"].get("addonProfiles", {}).get("ingressApplicationGateway", {})
    agw_id = (agic.get("config") or {}).get("effectiveApplicationGatewayId") if agic.get("enabled") else None
    if agw_id:
        agw = emu.get(agw_id) or {}
        for ipc in agw.get("properties", {}).get("gatewayIPConfigurations", []):
            subnet_ids.append(ipc["properties"]["subnet"]["id"])
    tables = set()
    for subnet_id in subnet_ids:
        table = (emu.get(subnet_id) or {}).get("properties", {}).get("routeTable")
        if table:
            tables.add(table["id"].lower())
    gateway_groups = {r["id"].lower().split("/providers/")[0] for r in of_type("/virtualnetworks")
                      if any(s["name"] == "GatewaySubnet" for s in r["properties"].get("subnets", []))}
    return {
        "managedClusters (list pages)": math.ceil(len(of_type("/managedclusters")) / page_size),
        "virtualNetworks (list pages)": math.ceil(len(of_type("/virtualnetworks")) / page_size),
        "applicationGateways (list pages)": math.ceil(len(of_type("/applicationgateways")) / page_size),
        "virtualNetworkGateways (lists)": len(gateway_groups),
        "routeTables (GET)": len(tables),
        "azureFirewalls (GET)": 1,
        "firewallPolicies/ruleCollectionGroups (GET)": 1,
    }


def run(quick: bool = False) -> dict[str, Any]:
    seed = json.loads((ROOT / "examples" / "private-network.json").read_text(encoding="utf-8"))
    marks: list[int] = []
    guard = threading.Lock()
    holder: dict[str, Any] = {}

    def factory() -> ArmClient:
        with guard:
            marks.append(len(holder["emu"].request_log))
        return ArmClient(holder["settings"])

    with harness(seed, SETTINGS) as h:
        holder.update(emu=h.emu, settings=h.settings)
        from remediation.engine.reconciler import Reconciler

        reconciler = Reconciler(h.settings, arm_factory=factory)
        first = reconciler.reconcile(reconciler.scope_target(), dry_run=False)
        if first.converged is not True:
            raise BenchFailure("the initial sweep of examples/private-network.json did not converge")
        h.emu.clear_log()
        marks.clear()
        result = reconciler.reconcile(Target(TargetKind.CLUSTER, CLUSTER), dry_run=False)
        log = h.emu.request_log
        if result.converged is not True:
            raise BenchFailure("the converged cluster target did not report converged")
        gets = count_requests(log)
        writes = sum(1 for r in log if r.method in ("PUT", "PATCH", "DELETE", "POST") and not is_graph_query(r))
        minimum = must_read(h.emu, CLUSTER, h.emu.page_size)
        by_type: dict[str, int] = {}
        for r in log:
            if r.method == "GET":
                key = resource_type(r.path)
                by_type[key] = by_type.get(key, 0) + 1
        bounds = [*marks, len(log)]
        by_phase = {}
        names = PHASES.get(len(marks), tuple(f"gateway #{i + 1}" for i in range(len(marks))))
        for i, name in enumerate(names):
            by_phase[name] = sum(1 for r in log[bounds[i]:bounds[i + 1]] if r.method == "GET")
        duplicates = {p.split("/providers/")[-1]: c for p, c in gets.items() if c > 1}
    must = sum(minimum.values())
    total_gets = sum(gets.values())
    return {
        "name": "converged single cluster",
        "topology": "examples/private-network.json (3 clusters, 1 spoke VNet, hub firewall, P2S VPN)",
        "cluster": CLUSTER.rsplit("/", 1)[1],
        "arm_calls_reads": result.arm_calls.reads,
        "arm_calls_writes": result.arm_calls.writes,
        "log_writes": writes,
        "log_gets_total": total_gets,
        "log_gets_unique_paths": len(gets),
        "must_read": must,
        "must_read_items": minimum,
        "ratio_reads_to_must": round(result.arm_calls.reads / must, 2),
        "ratio_unique_to_must": round(len(gets) / must, 2),
        "gets_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "gets_by_phase": by_phase,
        "paths_read_more_than_once": duplicates,
        "goal_writes_0": writes == 0 and result.arm_calls.writes == 0,
        "goal_ratio_1": result.arm_calls.reads <= must,
    }
