"""emulator/egress_support.py with the real SDK clients: the egress endpoint list (spec example loaded
unchanged), application rules in rule collection groups and classic firewalls, the policy's dnsSettings."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from emu_helpers import DATA, SUB, aks_client, example_body, rid

from emulator import Emulator
from emulator.egress_support import set_outbound_endpoints

AKS = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
POLICY = rid("rg-hub", "firewallPolicies", "fwpol-hub")
FIREWALL = rid("rg-hub", "azureFirewalls", "fw-hub")
AUTH = {"Authorization": "Bearer t"}


def _listed(emu: Emulator, cluster: str) -> list[dict[str, Any]]:
    pages = aks_client(emu).managed_clusters.list_outbound_network_dependencies_endpoints("rg-spoke", cluster)
    return [item.as_dict() for item in pages]


def test_spec_example_is_served_unchanged(emu: Emulator) -> None:
    body = example_body("OutboundNetworkDependenciesEndpointsList.json")
    set_outbound_endpoints(emu, f"{AKS}/aks-overlay", body)
    assert _listed(emu, "aks-overlay") == body["value"]


def test_the_control_endpoint_sets_a_list(emu: Emulator) -> None:
    body = example_body("OutboundNetworkDependenciesEndpointsList.json")
    resp = requests.put(f"{emu.base_url}/_emulator/egress-endpoints", verify=emu.ca_bundle, timeout=10,
                        json={"clusterId": f"{AKS}/aks-cni", "list": body})
    assert resp.status_code == 200
    assert _listed(emu, "aks-cni") == body["value"]


def test_default_list_follows_the_cluster(emu: Emulator) -> None:
    categories = {item["category"]: item for item in _listed(emu, "aks-overlay")}
    # The example clusters are private: no tunnel entry, the API server by its private name.
    assert "tunnel-classic" not in categories and "time-sync" in categories
    public = copy.deepcopy(emu.get(f"{AKS}/aks-overlay"))
    assert public is not None
    public["properties"]["apiServerAccessProfile"] = {"enablePrivateCluster": False}
    public["properties"].pop("fqdn", None)  # readonly: the emulator keeps its own (none for this cluster)
    emu.put_foreign(f"{AKS}/aks-overlay", public)
    tunnel = {item["category"]: item for item in _listed(emu, "aks-overlay")}["tunnel-classic"]
    assert tunnel["endpoints"] == [{"domainName": "*.hcp.westeurope.azmk8s.io",
                                    "endpointDetails": [{"port": 9000, "protocol": "TCP"}]}]


def test_missing_cluster_is_404(emu: Emulator) -> None:
    with pytest.raises(ResourceNotFoundError):
        _listed(emu, "gone")


def _app_rule(**overrides: Any) -> dict[str, Any]:
    rule = {"ruleType": "ApplicationRule", "name": "aks", "sourceAddresses": ["10.1.5.0/24"],
            "protocols": [{"protocolType": "Http", "port": 80}, {"protocolType": "Https", "port": 443}],
            "fqdnTags": ["AzureKubernetesService"], "targetFqdns": []}
    rule.update(overrides)
    return rule


def _put_group(emu: Emulator, *rules: dict[str, Any]) -> requests.Response:
    body: dict[str, Any] = {"properties": {"priority": 250, "ruleCollections": [{
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "rmd-egress-fqdn", "priority": 205,
        "action": {"type": "Allow"}, "rules": list(rules)}]}}
    return requests.put(f"{emu.base_url}{POLICY}/ruleCollectionGroups/rmd-aks-runbook?api-version=2025-03-01",
                        json=body, headers=AUTH, verify=emu.ca_bundle, timeout=10)


def test_application_rule_collection_round_trips_through_the_sdk(emu: Emulator,
                                                                 net: NetworkManagementClient) -> None:
    assert _put_group(emu, _app_rule()).status_code == 201
    group = net.firewall_policy_rule_collection_groups.get("rg-hub", "fwpol-hub", "rmd-aks-runbook")
    assert group.properties is not None
    (collection,) = group.properties.rule_collections or []
    (rule,) = collection.as_dict()["rules"]
    assert rule["ruleType"] == "ApplicationRule" and rule["fqdnTags"] == ["AzureKubernetesService"]
    assert [(p["protocolType"], p["port"]) for p in rule["protocols"]] == [("Http", 80), ("Https", 443)]


INVALID = [
    ("tags-and-fqdns", _app_rule(targetFqdns=["mcr.microsoft.com"]),
     "FirewallApplicationRuleFqdnTagsAndTargetFqdnsNotAllowedTogether"),
    ("no-target", _app_rule(fqdnTags=[]), "FirewallApplicationRuleMissingTargets"),
    ("bad-protocol", _app_rule(protocols=[{"protocolType": "Tcp", "port": 443}]),
     "FirewallApplicationRuleInvalidProtocol"),
    ("bad-port", _app_rule(protocols=[{"protocolType": "Https", "port": 70000}]),
     "FirewallApplicationRuleInvalidProtocol"),
]


# What the recorded traffic shows ARM accepting (tests/replay: test_azure_firewall_policy interactions 34, 50):
# tags next to targetUrls, a tag outside the published list, an empty protocols list.
ACCEPTED = [
    ("tags-and-urls", _app_rule(targetUrls=["www.bing.com"])),
    ("unlisted-tag", _app_rule(fqdnTags=["HDInsight"])),
    ("no-protocol", _app_rule(protocols=[])),
]


@pytest.mark.parametrize("rule", [i[1] for i in ACCEPTED], ids=[i[0] for i in ACCEPTED])
def test_application_rules_real_arm_accepts_are_accepted(emu: Emulator, rule: dict[str, Any]) -> None:
    resp = _put_group(emu, rule)
    assert resp.status_code in (200, 201), resp.text


@pytest.mark.parametrize(("rule", "code"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_application_rules_are_refused(emu: Emulator, rule: dict[str, Any], code: str) -> None:
    resp = _put_group(emu, rule)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code
    assert emu.get(f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook") is None


def test_one_rule_type_per_collection(emu: Emulator) -> None:
    network = {"ruleType": "NetworkRule", "name": "n", "ipProtocols": ["TCP"], "sourceAddresses": ["10.1.0.0/22"],
               "destinationAddresses": ["AzureCloud.westeurope"], "destinationPorts": ["9000"]}
    resp = _put_group(emu, _app_rule(), network)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "FirewallPolicyRuleCollectionHasMultipleRuleTypes"


def test_network_rule_fqdns_need_the_policys_dns_proxy(emu: Emulator, net: NetworkManagementClient) -> None:
    fqdn_rule = {"ruleType": "NetworkRule", "name": "ntp", "ipProtocols": ["UDP"], "sourceAddresses": ["10.1.0.0/22"],
                 "destinationFqdns": ["ntp.ubuntu.com"], "destinationPorts": ["123"]}
    assert _put_group(emu, fqdn_rule).status_code == 201  # the example policy has the DNS proxy on
    policy = net.firewall_policies.get("rg-hub", "fwpol-hub")
    assert policy.dns_settings is not None and policy.dns_settings.enable_proxy is True
    # The policy's dnsSettings round-trip through the SDK; with the proxy off the same rule is refused.
    policy.dns_settings.enable_proxy = False
    net.firewall_policies.begin_create_or_update("rg-hub", "fwpol-hub", policy).result()
    assert net.firewall_policies.get("rg-hub", "fwpol-hub").dns_settings.enable_proxy is False
    resp = _put_group(emu, fqdn_rule)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "FirewallNetworkRuleWithFqdnsRequiresDnsProxy"


def test_policy_dns_settings_must_be_a_boolean(emu: Emulator) -> None:
    policy = copy.deepcopy(emu.get(POLICY))
    assert policy is not None
    policy["properties"]["dnsSettings"] = {"enableProxy": "yes"}
    resp = requests.put(f"{emu.base_url}{POLICY}?api-version=2025-03-01", json=policy, headers=AUTH,
                        verify=emu.ca_bundle, timeout=10)
    assert resp.status_code == 400


def _classic_app_collection(rule: dict[str, Any]) -> dict[str, Any]:
    return {"name": "rmd-egress-fqdn", "properties": {"priority": 205, "action": {"type": "Allow"},
                                                      "rules": [rule]}}


def test_classic_application_rule_collections(emu: Emulator, net: NetworkManagementClient) -> None:
    classic_rule = {k: v for k, v in _app_rule().items() if k != "ruleType"}
    firewall = copy.deepcopy(emu.get(FIREWALL))
    assert firewall is not None
    firewall["properties"].pop("firewallPolicy", None)
    firewall["properties"]["applicationRuleCollections"] = [_classic_app_collection(classic_rule)]
    url = f"{emu.base_url}{FIREWALL}?api-version=2025-03-01"
    assert requests.put(url, json=firewall, headers=AUTH, verify=emu.ca_bundle, timeout=10).status_code == 200
    read = net.azure_firewalls.get("rg-hub", "fw-hub")
    (collection,) = read.application_rule_collections
    assert collection.rules[0].fqdn_tags == ["AzureKubernetesService"]
    firewall["properties"]["applicationRuleCollections"] = [
        _classic_app_collection({**classic_rule, "targetFqdns": ["mcr.microsoft.com"]})]
    resp = requests.put(url, json=firewall, headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "FirewallApplicationRuleFqdnTagsAndTargetFqdnsNotAllowedTogether"


def test_spec_example_file_is_a_byte_copy_with_its_source() -> None:
    text = (DATA / "OutboundNetworkDependenciesEndpointsList.json").read_text()
    assert json.loads(text)["parameters"]["api-version"] == "2025-05-01"
    assert "OutboundNetworkDependenciesEndpointsList.json" in (DATA / "SOURCES.md").read_text()


def test_sdk_error_for_an_invalid_group_names_the_code(emu: Emulator, net: NetworkManagementClient) -> None:
    from azure.mgmt.network.models import FirewallPolicyRuleCollectionGroup

    body = FirewallPolicyRuleCollectionGroup({"properties": {"priority": 250, "ruleCollections": [{
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "x", "priority": 205,
        "action": {"type": "Allow"}, "rules": [_app_rule(fqdnTags=[])]}]}})
    with pytest.raises(HttpResponseError) as caught:
        net.firewall_policy_rule_collection_groups.begin_create_or_update(
            "rg-hub", "fwpol-hub", "rmd-aks-runbook", body).result()
    assert caught.value.error is not None and caught.value.error.code == "FirewallApplicationRuleMissingTargets"
