"""Seeds: spec example bodies load unchanged, bad seeds are rejected clearly, dump/load round-trips."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient
from emu_helpers import aks_client, example_body, network_client, private_network, rid

from emulator import Emulator, SeedError


def _without_etags(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_etags(v) for k, v in value.items() if k not in ("etag", "eTag")}
    if isinstance(value, list):
        return [_without_etags(v) for v in value]
    return value


def _seed(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"resources": list(bodies)}


def test_spec_examples_round_trip(make_emu: Callable[..., Emulator]) -> None:
    vnet = {
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/subnet-test/providers/"
        "Microsoft.Network/virtualNetworks/vnetname",
        "type": "Microsoft.Network/virtualNetworks",
        "location": "westus",
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}},
    }
    policy = {
        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/firewallPolicies/"
        "firewallPolicy",
        "type": "Microsoft.Network/firewallPolicies",
        "location": "westus",
        "properties": {},
    }
    bodies = [
        example_body(n)
        for n in (
            "RouteTableGet.json",
            "AzureFirewallGet.json",
            "ApplicationGatewayGet.json",
            "VirtualNetworkGatewayGet.json",
            "FirewallPolicyRuleCollectionGroupGet.json",
        )
    ]
    emu = make_emu(_seed(policy, *bodies))
    net = network_client(emu, sub="subid")
    table = net.route_tables.get("rg1", "testrt")
    assert table.routes is not None and table.routes[0].address_prefix == "10.0.3.0/24"
    fw = net.azure_firewalls.get("rg1", "azurefirewall")
    assert fw.ip_configurations is not None and fw.ip_configurations[0].private_ip_address
    assert net.application_gateways.get("rg1", "appgw").sku.name == "Standard_Medium"
    assert net.virtual_network_gateways.get("rg1", "vpngw").gateway_type == "Vpn"
    rcg = net.firewall_policy_rule_collection_groups.get("rg1", "firewallPolicy", "ruleCollectionGroup1")
    assert rcg.priority == 110
    for body in bodies:  # loaded unchanged (the emulator only adds an etag where the example has none)
        served = emu.get(body["id"])
        assert served is not None
        assert _without_etags(served) == _without_etags(body)
    other = make_emu(_seed(vnet, example_body("SubnetGet.json"), example_body("ManagedClustersGet.json")))
    subnet = network_client(other).subnets.get("subnet-test", "vnetname", "subnet1")
    assert subnet.address_prefix == "10.0.0.0/16"
    cluster = aks_client(other).managed_clusters.get("rg1", "clustername1")
    assert cluster.e_tag == "beywbwei"
    assert cluster.type == "Microsoft.ContainerService/ManagedClusters"


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("not a dict", "resources[0]: expected a JSON object"),
        ({"type": "Microsoft.Network/routeTables"}, "resources[0]: missing 'id'"),
        (
            {
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/x",
                "location": "w",
            },
            "missing 'type'",
        ),
        ({"id": "/subscriptions/s/rg/x", "type": "Microsoft.Network/routeTables"}, "malformed id"),
        (
            {
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
                "networkSecurityGroups/n",
                "type": "Microsoft.Network/networkSecurityGroups",
                "location": "w",
            },
            "unsupported resource type",
        ),
        (
            {
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/x",
                "type": "Microsoft.Network/virtualNetworks",
                "location": "w",
            },
            "does not match the id",
        ),
    ],
)
def test_bad_seeds_are_rejected(item: Any, fragment: str) -> None:
    with pytest.raises(SeedError) as exc:
        Emulator(_seed(item))
    assert fragment in str(exc.value)
    with pytest.raises(SeedError, match=r'\{"resources"'):
        Emulator({"nothing": []})


def _resource_bodies() -> list[dict[str, Any]]:
    return [r for r in private_network()["resources"]
            if str(r.get("type", "")).lower() != "microsoft.resources/resourcegroups"]


@pytest.mark.parametrize("shape", ["bare-list", "one-object", "arm-list-page", "resource-graph"])
def test_arm_and_resource_graph_shapes_load(shape: str) -> None:
    """Seeds in the shapes ARM and Resource Graph return resources in load as they are (#24 item 19)."""
    bodies = _resource_bodies()
    vnet = next(b for b in bodies if str(b["type"]).lower() == "microsoft.network/virtualnetworks")
    graph_rows = [{**b, "resourceGroup": b["id"].split("/")[4], "subscriptionId": b["id"].split("/")[2],
                   "tenantId": "t", "type": str(b["type"]).lower()} for b in bodies]
    seed: Any = {"bare-list": bodies, "one-object": vnet, "arm-list-page": {"value": bodies, "nextLink": None},
                 "resource-graph": {"count": len(bodies), "data": graph_rows, "skip_token": None,
                                    "total_records": len(bodies)}}[shape]
    with Emulator(seed, time_factor=0.0) as emu:
        loaded = emu.get(vnet["id"])
        assert loaded is not None
        assert loaded["properties"]["addressSpace"] == vnet["properties"]["addressSpace"]
        assert "resourceGroup" not in loaded and "tenantId" not in loaded
        if shape != "one-object":
            assert all(emu.get(b["id"]) is not None for b in bodies)


def test_duplicate_ids_are_refused() -> None:
    bodies = _resource_bodies()
    again = {**bodies[0], "id": bodies[0]["id"].upper()}
    with pytest.raises(SeedError, match=r"resources\[\d+\]: duplicate id .* \(also resources\[0\]\)"):
        Emulator({"resources": [*bodies, again]})


def test_a_flattened_az_show_body_gets_the_one_line_fix() -> None:
    flattened = {"id": rid("rg", "routeTables", "rt"), "name": "rt", "location": "westeurope",
                 "type": "Microsoft.Network/routeTables", "resourceGroup": "rg", "provisioningState": "Succeeded",
                 "routes": []}
    with pytest.raises(SeedError) as raised:
        Emulator(flattened)  # one object, as `az network route-table show` prints it
    text = str(raised.value)
    assert "\n" not in text and "az resource show --ids" in text and "flattened" in text


def test_dump_load_round_trip_and_derived_state(emu: Emulator) -> None:
    seed = private_network()
    for item in seed["resources"]:  # a stale back-reference is recomputed on load
        if item["name"] == "rt-spoke-nodes":
            item["properties"].pop("subnets")
    again = Emulator(seed)
    table = again.get(rid("rg-spoke", "routeTables", "rt-spoke-nodes"))
    assert table is not None and table["properties"]["subnets"] == [
        {"id": rid("rg-spoke", "virtualNetworks", "vnet-spoke", "subnets", "snet-aks-nodes")}
    ]
    assert Emulator(emu.dump()).dump() == emu.dump()


def test_private_network_example_reads_with_sdk(emu: Emulator, net: NetworkManagementClient) -> None:
    fw = net.azure_firewalls.get("rg-hub", "fw-hub")
    assert fw.ip_configurations is not None and fw.ip_configurations[0].private_ip_address == "10.0.1.4"
    assert fw.firewall_policy is not None and fw.firewall_policy.id is not None
    assert fw.firewall_policy.id.endswith("/firewallPolicies/fwpol-hub")
    rcgs = list(net.firewall_policy_rule_collection_groups.list("rg-hub", "fwpol-hub"))
    assert [g.name for g in rcgs] == ["platform-baseline"] and rcgs[0].priority == 300
    gw = net.virtual_network_gateways.get("rg-hub", "vpngw-hub")
    assert gw.vpn_client_configuration is not None
    assert gw.vpn_client_configuration.vpn_client_address_pool.address_prefixes == ["172.16.201.0/24"]
    assert {s.name for s in net.subnets.list("rg-hub", "vnet-hub")} == {
        "AzureFirewallSubnet",
        "GatewaySubnet",
    }
    nodes = net.subnets.get("rg-spoke", "vnet-spoke", "snet-aks-nodes")
    assert nodes.route_table is not None and nodes.network_security_group is not None
    assert net.route_tables.get("rg-spoke", "rt-spoke-nodes").routes[0].name == "to-onprem"
    agw = net.application_gateways.get("rg-spoke", "agw-spoke")
    assert agw.sku is not None and agw.sku.tier == "Standard_v2"
    aks = aks_client(emu)
    clusters = {c.name: c for c in aks.managed_clusters.list_by_resource_group("rg-spoke")}
    assert set(clusters) == {"aks-cni", "aks-overlay", "aks-kubenet"}
    cni = aks.managed_clusters.get("RG-SPOKE", "aks-cni")
    assert cni.network_profile is not None and cni.network_profile.network_plugin == "azure"
    assert cni.addon_profiles is not None
    assert cni.addon_profiles["ingressApplicationGateway"].config["effectiveApplicationGatewayId"] == agw.id
    overlay = clusters["aks-overlay"]
    assert (
        overlay.network_profile is not None and overlay.network_profile.outbound_type == "userDefinedRouting"
    )
    pools = list(aks.agent_pools.list("rg-spoke", "aks-kubenet"))
    assert pools[0].vnet_subnet_id is not None and pools[0].vnet_subnet_id.endswith("/snet-aks-kubenet")


def test_cli_prints_exports(tmp_path: Path) -> None:
    seed = Path(__file__).parents[2] / "examples" / "private-network.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--seed", str(seed), "--time-factor", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    names = [line.split("=", 1)[0] for line in lines]
    assert names == [
        "export ARM_ENDPOINT",
        "export REQUESTS_CA_BUNDLE",
        "export IDENTITY_ENDPOINT",
        "export IDENTITY_HEADER",
    ]
    assert proc.returncode == 0
