"""ARM limits (400 routes per table, RCGs per policy, RCG size) and seeds in the flattened `az` form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from emu_helpers import SUB, rid

from emulator import Emulator, SeedError

AUTH = {"Authorization": "Bearer t"}
RT = rid("rg-spoke", "routeTables", "rt-spoke-nodes")
POLICY = rid("rg-hub", "firewallPolicies", "fwpol-hub")


def put(emu: Emulator, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.put(f"{emu.base_url}{path}?api-version=2024-05-01", json=body, headers=AUTH,
                        verify=emu.ca_bundle, timeout=30)


def route(i: int) -> dict[str, Any]:
    return {"name": f"r{i}", "properties": {"addressPrefix": f"10.{i // 250}.{i % 250}.0/24",
                                           "nextHopType": "VnetLocal"}}


def test_route_table_holds_at_most_the_route_limit(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(limits={"routes_per_table": 5})
    table = emu.get(RT)
    assert table is not None
    table["properties"]["routes"] = [route(i) for i in range(6)]
    refused = put(emu, RT, table)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "RouteTableRoutesLimitExceeded"
    table["properties"]["routes"] = [route(i) for i in range(5)]
    assert put(emu, RT, table).status_code == 200
    one_more = put(emu, f"{RT}/routes/r5", route(5))
    assert one_more.status_code == 400 and one_more.json()["error"]["code"] == "RouteTableRoutesLimitExceeded"
    assert put(emu, f"{RT}/routes/r0", route(0)).status_code == 200  # replacing one is fine


def test_default_route_limit_is_400(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    table = emu.get(RT)
    assert table is not None
    table["properties"]["routes"] = [route(i) for i in range(401)]
    assert put(emu, RT, table).json()["error"]["code"] == "RouteTableRoutesLimitExceeded"
    table["properties"]["routes"] = [route(i) for i in range(400)]
    assert put(emu, RT, table).status_code == 200


def test_rule_collection_groups_per_policy_and_size(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(limits={"rcgs_per_policy": 2, "rcg_size_bytes": 4096})
    existing = [r for r in emu.dump()["resources"] if r["id"].lower().startswith(POLICY.lower() + "/")]
    assert len(existing) == 1
    assert put(emu, f"{POLICY}/ruleCollectionGroups/second", {"properties": {"priority": 400}}).status_code == 201
    emu.store.tick()
    third = put(emu, f"{POLICY}/ruleCollectionGroups/third", {"properties": {"priority": 500}})
    assert third.status_code == 400
    assert third.json()["error"]["code"] == "FirewallPolicyRuleCollectionGroupsLimitExceeded"
    big = {"properties": {"priority": 400, "ruleCollections": [{
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "c", "priority": 100,
        "action": {"type": "Allow"},
        "rules": [{"ruleType": "NetworkRule", "name": f"n{i}", "ipProtocols": ["TCP"],
                   "sourceAddresses": [f"10.0.{i}.0/24"], "destinationAddresses": ["*"],
                   "destinationPorts": ["443"]} for i in range(40)]}]}}
    too_big = put(emu, f"{POLICY}/ruleCollectionGroups/second", big)
    assert too_big.status_code == 400
    assert too_big.json()["error"]["code"] == "FirewallPolicyRuleCollectionGroupSizeExceeded"
    stored = emu.get(f"{POLICY}/ruleCollectionGroups/second")
    assert stored is not None and stored["properties"]["size"].endswith(" MB")


def test_unknown_limit_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown limits"):
        Emulator(limits={"routes": 1})


FLAT_TABLE: dict[str, Any] = {  # `az network route-table show -o json` (AAZ CLI): no properties object
    "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt",
    "name": "rt", "type": "Microsoft.Network/routeTables", "location": "westeurope", "resourceGroup": "rg",
    "provisioningState": "Succeeded", "disableBgpRoutePropagation": False,
    "routes": [{"name": "r", "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance",
                "nextHopIpAddress": "10.0.0.4"}],
}
FLAT_SUBNETS: dict[str, Any] = {
    "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
    "name": "v", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
    "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                   "subnets": [{"name": "s", "addressPrefix": "10.0.0.0/24"}]},
}


@pytest.mark.parametrize("item", [FLAT_TABLE, FLAT_SUBNETS], ids=["flat-resource", "flat-subnet"])
def test_flattened_az_output_is_refused_with_the_export_command(item: dict[str, Any]) -> None:
    with pytest.raises(SeedError) as raised:
        Emulator({"resources": [item]})
    message = str(raised.value)
    assert "\n" not in message and message.startswith("seed resources[0]: looks like flattened 'az ... show'")
    assert f"az resource show --ids {item['id']}" in message and "az graph query" in message


def test_a_minimal_arm_item_without_properties_still_loads() -> None:
    emu = Emulator({"resources": [{"id": FLAT_TABLE["id"], "type": "Microsoft.Network/routeTables",
                                   "location": "westeurope", "name": "rt"}]})
    assert emu.get(FLAT_TABLE["id"]) is not None
