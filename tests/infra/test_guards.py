"""Every invalid parameter combination stops infra/main.bicep with its fail() message, and a valid estate
passes every guard: the guard variables are evaluated offline from the parsed template (bicep_eval)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_eval import Evaluator, GuardFailed
from tests.infra.bicep_model import INFRA_DIR, BicepFile, parse

SUB = "11111111-1111-1111-1111-111111111111"
HUB_SUB = "22222222-2222-2222-2222-222222222222"
FIREWALL = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"
POLICY = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-policies/providers/Microsoft.Network/firewallPolicies/pol"
VWAN_FIREWALL = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-vwan/providers/Microsoft.Network/azureFirewalls/fw-vhub"
SPOKE_RG = f"/subscriptions/{SUB}/resourceGroups/rg-spoke"
APP_SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/app"
PE_SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe"

VALID: dict[str, Any] = {
    "environmentName": "prod",
    "location": "westeurope",
    "remediationScope": [SPOKE_RG],
    "firewallId": FIREWALL,
    "firewallPolicyIds": [POLICY],
    "hubVnetId": f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/hub",
    "hubFirewallPrivateIp": "10.0.0.4",
    "watchedSubscriptions": [{"subscriptionId": SUB, "resourceGroupName": "rg-spoke"},
                             {"subscriptionId": HUB_SUB, "resourceGroupName": "rg-hub"}],
    "flexRuntimeCheckedLocation": "West Europe",
}


CONTEXT = {"subscription": {"subscriptionId": SUB},
           "environment": {"name": "AzureCloud", "resourceManager": "https://management.azure.com/"}}


@pytest.fixture(scope="module")
def main() -> BicepFile:
    return parse(INFRA_DIR / "main.bicep")


def _evaluate(main: BicepFile, name: str, **changes: Any) -> Any:
    return Evaluator(main, {**VALID, **changes}, CONTEXT).variable(name)


def test_a_valid_estate_passes_every_guard(main: BicepFile) -> None:
    assert _evaluate(main, "parametersChecked") is True
    assert _evaluate(main, "parametersChecked", appSubnetId=APP_SUBNET, privateEndpointSubnetId=PE_SUBNET,
                     hubVnetId="", hubFirewallPrivateIp="") is True
    assert _evaluate(main, "parametersChecked", firewallIsClassic=True, firewallPolicyIds=[]) is True
    assert _evaluate(main, "parametersChecked", appVnetEgress="external", hubVnetId="") is True


INVALID = [
    ("APP_SUBNET_ID is set but PRIVATE_ENDPOINT_SUBNET_ID is empty", {"appSubnetId": APP_SUBNET}),
    ("PRIVATE_ENDPOINT_SUBNET_ID is set but APP_SUBNET_ID is empty", {"privateEndpointSubnetId": PE_SUBNET}),
    ("must be subnets of the same VNet", {"appSubnetId": APP_SUBNET,
                                          "privateEndpointSubnetId": PE_SUBNET.replace("/vnet/", "/other/")}),
    ("has no route to ARM", {"hubVnetId": ""}),
    ("has no route to ARM", {"hubFirewallPrivateIp": ""}),
    ("FIREWALL_ID / FIREWALL_IDS", {"firewallId": f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub"}),
    ("FIREWALL_ID / FIREWALL_IDS", {"firewallIds": [POLICY]}),
    ("FIREWALL_POLICY_IDS: every entry", {"firewallPolicyIds": [FIREWALL]}),
    ("FIREWALL_POLICY_IDS is empty", {"firewallPolicyIds": []}),
    ("ADDITIONAL_ROLE_SCOPES", {"additionalRoleScopes": [
        f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/routeTables/rt"]}),
    ("REMEDIATION_SCOPE: each entry", {"remediationScope": [APP_SUBNET]}),
    ("lists a whole subscription that holds a hub scope",
     {"remediationScope": [SPOKE_RG, f"/subscriptions/{HUB_SUB}"]}),
    # case and a trailing slash do not hide the hub subscription
    ("lists a whole subscription that holds a hub scope",
     {"remediationScope": [f"/SUBSCRIPTIONS/{HUB_SUB.upper()}/"]}),
    ("WATCHED_SUBSCRIPTIONS must list every subscription", {"watchedSubscriptions": []}),
    ("WATCHED_SUBSCRIPTIONS must list every subscription", {"firewallIds": [VWAN_FIREWALL.replace(HUB_SUB, "3" * 8)]}),
    ("choose one", {"createResultTopic": True, "resultTopicEndpoint": "https://t.westeurope-1.eventgrid.azure.net"}),
    ("not confirmed in this location", {"flexRuntimeCheckedLocation": ""}),
    ("not confirmed in this location", {"flexRuntimeCheckedLocation": "northeurope"}),
]


@pytest.mark.parametrize(("message", "changes"), INVALID, ids=[f"{i}-{m[:30]}" for i, (m, _) in enumerate(INVALID)])
def test_each_invalid_combination_fails_with_its_message(main: BicepFile, message: str,
                                                         changes: dict[str, Any]) -> None:
    with pytest.raises(GuardFailed) as failed:
        _evaluate(main, "parametersChecked", **changes)
    assert message in failed.value.message


def test_every_guard_is_joined_and_gates_the_resource_group(main: BicepFile) -> None:
    guards = {name for name in main.variables if name.startswith("guard")}
    assert len(guards) >= 12
    text = (INFRA_DIR / "main.bicep").read_text(encoding="utf-8")
    joined = next(line for line in text.splitlines() if line.startswith("var parametersChecked ="))
    assert {g for g in guards if g in joined} == guards
    assert "name: parametersChecked ? appResourceGroupName : appResourceGroupName" in text
    # every guard's message is a fail() call in the real template text
    assert text.count("? fail('") == len(guards)


@pytest.mark.parametrize(("environment", "expected"), [
    ("prod", "aks-remediation-prod"),
    ("team_a.prod(eu)", "aks-remediation-team-a-prod-eu-"),
    ("x" * 64, "aks-remediation-" + "x" * 48),
])
def test_event_subscription_name_is_sanitised(main: BicepFile, environment: str, expected: str) -> None:
    name = _evaluate(main, "eventSubscriptionName", environmentName=environment)
    assert name == expected
    assert 3 <= len(name) <= 64 and all(c.isalnum() or c == "-" for c in name)


def test_hub_roles_land_on_each_firewall_and_policy(main: BicepFile) -> None:
    extra_vnet = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/hub/"
    scopes = _evaluate(main, "hubScopes", firewallIds=[VWAN_FIREWALL], additionalRoleScopes=[extra_vnet])
    assert scopes == [FIREWALL, VWAN_FIREWALL, POLICY, extra_vnet.rstrip("/")]
    assignable = _evaluate(main, "hubAssignableScopes", firewallIds=[VWAN_FIREWALL])
    groups = ("rg-hub", "rg-vwan", "rg-policies")
    assert assignable == [f"/subscriptions/{HUB_SUB}/resourceGroups/{rg}" for rg in groups]
    assert _evaluate(main, "remediationSettings", firewallIds=[VWAN_FIREWALL])["FIREWALL_IDS"] == (
        f"{FIREWALL},{VWAN_FIREWALL}")
    assert _evaluate(main, "remediationSettings")["FIREWALL_IDS"] == ""


def test_spoke_role_skips_a_hub_resource_group_whatever_its_spelling(main: BicepFile) -> None:
    containers = _evaluate(main, "hubContainerKeys")
    spelled = f"/subscriptions/{HUB_SUB}/resourcegroups/RG-HUB/"
    keys = _evaluate(main, "spokeScopeKeys", remediationScope=[spelled])
    assert keys[0] in containers


@pytest.mark.parametrize("changes", [
    {"firewallId": "fw-hub"},
    {"firewallIds": ["/subscriptions"]},
    {"firewallPolicyIds": ["pol"]},
    {"remediationScope": ["rg-spoke"]},
    {"additionalRoleScopes": ["/subscriptions/x/resourceGroups"]},
])
def test_a_malformed_id_ends_in_a_guard_message_not_an_index_error(main: BicepFile, changes: dict[str, Any]) -> None:
    """ARM may evaluate the guards in any order: each one, alone, either passes or fails with its message."""
    failed = 0
    for name in sorted(n for n in main.variables if n.startswith("guard")):
        try:
            _evaluate(main, name, **changes)
        except GuardFailed:
            failed += 1
    assert failed >= 1
