"""The independent minima (bench/minimum.py): counted from a topology alone, with the runbook's own model."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import minimum, topology
from bench.minimum import Rules, Topology

RULES = Rules(firewall_id=topology.FIREWALL_ID, spoke_prefixes=(topology.SPOKE_PREFIX,))
FW_IP = "10.0.1.4"


def _fleet(n: int) -> tuple[dict[str, Any], list[str]]:
    fleet = topology.generate(n)
    return copy.deepcopy(fleet.seed), fleet.cluster_ids


def _body(seed: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return next(b for b in seed["resources"] if minimum.key(b["id"]) == minimum.key(resource_id))


def _subnet(seed: dict[str, Any], subnet_id: str) -> dict[str, Any]:
    vnet_id = subnet_id.rsplit("/subnets/", 1)[0]
    subnets = _body(seed, vnet_id)["properties"]["subnets"]
    return next(s for s in subnets if minimum.key(s["id"]) == minimum.key(subnet_id))


def _node_subnet(seed: dict[str, Any], cluster_id: str) -> str:
    return str(_body(seed, cluster_id)["properties"]["agentPoolProfiles"][0]["vnetSubnetID"])


def _add_table(seed: dict[str, Any], subnet_id: str, name: str, routes: list[tuple[str, str, str]],
               owned: bool = False) -> str:
    rg = f"/subscriptions/{topology.SUB}/resourceGroups/rg-spoke-000"
    table_id = f"{rg}/providers/Microsoft.Network/routeTables/{name}"
    seed["resources"].append({
        "id": table_id, "name": name, "type": "Microsoft.Network/routeTables", "location": "westeurope",
        "tags": {"managed-by": "aks-egress-remediation"} if owned else {},
        "properties": {"routes": [
            {"name": rname, "properties": {"addressPrefix": prefix, "nextHopType": "VirtualAppliance",
                                           "nextHopIpAddress": hop}} for rname, prefix, hop in routes]}})
    _subnet(seed, subnet_id)["properties"]["routeTable"] = {"id": table_id}
    return table_id


def test_a_fresh_fleet_needs_one_table_and_one_association_per_subnet_and_one_group() -> None:
    seed, _ = _fleet(3)  # clusters 0..2, cluster 0 behind the VNet's App Gateway
    assert minimum.writes_needed(Topology.from_dump(seed), RULES) == {
        "routeTables created with their routes": 4, "subnet associations": 4,
        "routes written into existing tables": 0, "rule collection group": 1}


def test_1000_clusters_need_2043_writes() -> None:
    seed, _ = _fleet(1000)  # 21 spoke VNets: 1000 node subnets + 21 App Gateway subnets
    assert minimum.total(minimum.writes_needed(Topology.from_dump(seed), RULES)) == 2043


@pytest.mark.parametrize(("routes", "owned", "expected"), [
    ([], False, 2),  # cluster 1: P2S pool and the spoke prefix missing
    ([("x", topology.P2S_POOL, FW_IP)], False, 1),  # one already right, whatever its name
    ([("foreign", topology.P2S_POOL, "10.9.9.9")], False, 1),  # foreign route elsewhere: a conflict, no write
    ([("rmd-p2s", topology.P2S_POOL, "10.9.9.9")], False, 2),  # an owned route gone wrong: rewritten
    ([("rmd-a", topology.P2S_POOL, "10.9.9.9")], True, 1),  # owned table: one table PUT carries both
    ([("a", topology.P2S_POOL, FW_IP), ("b", topology.SPOKE_PREFIX, FW_IP)], False, 0),
])
def test_routes_into_an_existing_table(routes: list[tuple[str, str, str]], owned: bool, expected: int) -> None:
    seed, clusters = _fleet(3)
    _add_table(seed, _node_subnet(seed, clusters[1]), "rt-existing", routes, owned)
    items = minimum.writes_needed(Topology.from_dump(seed), RULES)
    assert items["routes written into existing tables"] == expected
    assert items["routeTables created with their routes"] == 3  # the other subnets still need theirs


def test_clusters_the_runbook_does_not_apply_to_need_nothing() -> None:
    seed, clusters = _fleet(3)
    _body(seed, clusters[1])["properties"]["networkProfile"]["networkPlugin"] = "kubenet"
    _body(seed, clusters[2])["properties"]["provisioningState"] = "Updating"
    items = minimum.writes_needed(Topology.from_dump(seed), RULES)
    assert items["routeTables created with their routes"] == 2  # cluster 0 and its App Gateway subnet


def test_the_default_route_only_for_user_defined_routing() -> None:
    seed, clusters = _fleet(3)
    topo = Topology.from_dump(seed)
    wanted = minimum.desired_prefixes(topo, RULES)
    assert "0.0.0.0/0" in wanted[minimum.key(_node_subnet(seed, clusters[0]))]  # index 0: userDefinedRouting
    assert "0.0.0.0/0" not in wanted[minimum.key(_node_subnet(seed, clusters[1]))]


def test_a_complete_owned_group_needs_no_write() -> None:
    seed, clusters = _fleet(3)
    ranges = [_subnet(seed, _node_subnet(seed, c))["properties"]["addressPrefix"] for c in clusters]
    seed["resources"].append({
        "id": f"{topology.POLICY_ID}/ruleCollectionGroups/rmd-aks-runbook", "name": "rmd-aks-runbook",
        "type": "Microsoft.Network/FirewallPolicies/RuleCollectionGroups",
        "properties": {"ruleCollections": [{"name": "rmd-egress", "rules": [{"sourceAddresses": ranges[:2]}]}]}})
    assert minimum.writes_needed(Topology.from_dump(seed), RULES)["rule collection group"] == 1  # one missing
    seed["resources"][-1]["properties"]["ruleCollections"][0]["rules"][0]["sourceAddresses"] = ranges
    assert minimum.writes_needed(Topology.from_dump(seed), RULES)["rule collection group"] == 0


def test_event_reads_do_not_depend_on_fleet_size() -> None:
    small, ids_small = _fleet(10)
    large, ids_large = _fleet(1000)
    for i in range(6):
        assert minimum.event_reads(Topology.from_dump(small), ids_small[i], RULES) == \
            minimum.event_reads(Topology.from_dump(large), ids_large[i], RULES)
    items = minimum.event_reads(Topology.from_dump(small), ids_small[0], RULES)
    assert items["applicationGateways (GET)"] == 1  # cluster 0 uses AGIC
    # cluster, VNet, App Gateway, firewall, the firewall's VNet (the hub's side of the peering, #21), the VPN
    # gateway list of the hub that holds the gateway, group
    assert minimum.total(items) == 7 and items["the firewall's VNet (GET)"] == 1


def test_sweep_reads_count_list_pages_polls_and_fresh_subnet_reads() -> None:
    seed, _ = _fleet(1000)
    topo = Topology.from_dump(seed)
    writes = minimum.writes_needed(topo, RULES)
    items = minimum.sweep_reads(topo, RULES, 50, writes)
    # 1000 clusters = 20 pages, 22 VNets and 21 App Gateways = 1 page each
    assert items["list pages (managedClusters, virtualNetworks, applicationGateways)"] == 22
    assert items["one status poll per write"] == 2043
    assert items["subnet GET right before each subnet PUT"] == 1021
    assert minimum.total(items) == 22 + 1 + 1 + 1 + 1021 + 2043


def test_group_bytes_measure_the_rules() -> None:
    group = {"properties": {"ruleCollections": [{"name": "a", "rules": []}]}}
    assert minimum.group_bytes(group) == len('[{"name":"a","rules":[]}]')
