"""Firewall policy / RCG protocol as recorded (test_azure_firewall_policy.yaml, 2025): nfvOperations, bare-GUID
etags, an RCG's etag independent of its policy's, the failed-operation body, and two writes on one policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.models import FirewallPolicyRuleCollectionGroup, FirewallPolicyRuleCollectionGroupProperties
from emu_helpers import network_client, rid

from emulator import Emulator

AUTH = {"Authorization": "Bearer t"}
POLICY = rid("rg-hub", "firewallPolicies", "fwpol-hub")
RCG = f"{POLICY}/ruleCollectionGroups/platform-baseline"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def put(emu: Emulator, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.put(f"{emu.base_url}{path}?api-version=2024-05-01", json=body, headers=AUTH,
                        verify=emu.ca_bundle, timeout=10)


def get(emu: Emulator, url: str) -> requests.Response:
    if url.startswith("/"):
        url = f"{emu.base_url}{url}?api-version=2024-05-01"
    return requests.get(url, headers=AUTH, verify=emu.ca_bundle, timeout=10)


def test_rcg_write_protocol(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(time_factor=1.0, lro_seconds={"Microsoft.Network/FirewallPolicies/RuleCollectionGroups": 0.2})
    policy_before = get(emu, POLICY).json()  # the seed's etag is kept as it was written
    group = get(emu, RCG).json()
    written = put(emu, RCG, {"properties": {"priority": group["properties"]["priority"], "ruleCollections": []}})
    assert written.status_code == 200
    assert "/nfvOperations/" in written.headers["Azure-AsyncOperation"]
    assert "Azure-AsyncNotification" not in written.headers
    body = written.json()
    assert GUID.match(body["etag"]) and body["etag"] != group["etag"]
    assert body["location"] == policy_before["location"]
    assert body["properties"]["size"].endswith(" MB")
    poll = get(emu, written.headers["Azure-AsyncOperation"])
    assert poll.json() == {"status": "InProgress"}
    # The policy's etag does not follow its group's.
    assert get(emu, POLICY).json()["etag"] == policy_before["etag"]
    emu.store.tick()
    while get(emu, written.headers["Azure-AsyncOperation"]).json()["status"] == "InProgress":
        pass
    done = get(emu, RCG).json()
    assert done["properties"]["provisioningState"] == "Succeeded"
    assert done["etag"] != body["etag"]  # a new etag again on completion [REC 12 -> 15]


def test_policy_etag_unchanged_on_completion(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    policy = get(emu, POLICY).json()
    written = put(emu, POLICY, {"location": policy["location"], "properties": {"threatIntelMode": "Deny"}})
    assert get(emu, written.headers["Azure-AsyncOperation"]).json() == {"status": "Succeeded"}
    assert get(emu, POLICY).json()["etag"] == written.json()["etag"] != policy["etag"]
    assert GUID.match(written.json()["etag"])


def test_failed_rcg_operation_body_and_what_the_sdk_makes_of_it(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    emu.faults.add("PUT", r"/ruleCollectionGroups/platform-baseline$", kind="lro_failed",
                   code="FirewallPolicyRuleCollectionGroupValidationFailed", message="bad rule")
    group = get(emu, RCG).json()
    written = put(emu, RCG, {"properties": group["properties"]})
    failed = get(emu, written.headers["Azure-AsyncOperation"]).json()
    assert failed == {"Status": "Failed",
                      "Error": {"Code": "FirewallPolicyRuleCollectionGroupValidationFailed", "Message": "bad rule"}}
    emu.faults.add("PUT", r"/ruleCollectionGroups/platform-baseline$", kind="lro_failed", code="X")
    net = network_client(emu)
    sdk_group = net.firewall_policy_rule_collection_groups.get("rg-hub", "fwpol-hub", "platform-baseline")
    with pytest.raises(HttpResponseError, match="No status found in body"):
        net.firewall_policy_rule_collection_groups.begin_create_or_update(
            "rg-hub", "fwpol-hub", "platform-baseline",
            FirewallPolicyRuleCollectionGroup(properties=FirewallPolicyRuleCollectionGroupProperties(
                priority=sdk_group.properties.priority,
                rule_collections=sdk_group.properties.rule_collections))).result()


def test_two_writes_on_one_policy(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(time_factor=1.0)
    group = get(emu, RCG).json()
    assert put(emu, RCG, {"properties": group["properties"]}).status_code == 200
    second = put(emu, f"{POLICY}/ruleCollectionGroups/other", {"properties": {"priority": 300}})
    assert second.status_code == 409 and second.json()["error"]["code"] == "AnotherOperationInProgress"
    policy = get(emu, POLICY).json()
    refused = put(emu, POLICY, {"location": policy["location"], "properties": {}})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "FirewallPolicyUpdateNotAllowedWhenUpdatingOrDeleting"
    deleting = requests.delete(f"{emu.base_url}{POLICY}/ruleCollectionGroups/platform-baseline?api-version=1",
                               headers=AUTH, verify=emu.ca_bundle, timeout=10)
    assert deleting.json()["error"]["code"] == "FirewallPolicyRuleCollectionGroupDeleteNotAllowedWhenUpdatingOrDeleting"


def test_policy_delete_answers_200_at_once(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    gone = requests.delete(f"{emu.base_url}{POLICY}?api-version=2022-01-01", headers=AUTH, verify=emu.ca_bundle,
                           timeout=10)
    assert gone.status_code == 200 and "Location" not in gone.headers and gone.content == b""
    assert emu.get(POLICY) is None and emu.get(RCG) is None
