"""Writes through the gateway and apply_changes, asserted on the emulator's resulting ARM state."""

from __future__ import annotations

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import Settings
from remediation.core.model import (
    Action,
    Change,
    ChangeKind,
    ClassicCollectionPayload,
    NetworkRule,
    Outcome,
    Payload,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    SubnetAssociationPayload,
)
from remediation.engine.apply import DEPENDENCY_FAILED, apply_changes

from .conftest import FIREWALL_ID, HUB, SPOKE, no_sleep

VNET_SPOKE = f"{SPOKE}/virtualNetworks/vnet-spoke"
NODES = f"{VNET_SPOKE}/subnets/snet-aks-nodes"
APPGW_SUBNET = f"{VNET_SPOKE}/subnets/snet-appgw"
RT_NEW = f"{SPOKE}/routeTables/rmd-rt-appgw"
POLICY = f"{HUB}/firewallPolicies/fwpol-hub"
RCG = f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook"


def _services(endpoints: list | None) -> list[tuple[str, tuple[str, ...]]]:
    # provisioningState inside serviceEndpoints is readonly: the SDK drops it from the PUT body.
    return [(e["service"], tuple(e.get("locations") or ())) for e in endpoints or []]


TAG = {"managed-by": "aks-egress-remediation"}


def _change(kind: ChangeKind, address: str, after: Payload | None, action: Action = Action.CREATE) -> Change:
    return Change(action=action, kind=kind, address=address, old=None, new=after, reason="test")


def test_create_table_routes_and_associate(emu: Emulator, arm: ArmClient, settings: Settings) -> None:
    before = emu.get(NODES)
    assert before is not None
    nsg = before["properties"]["networkSecurityGroup"]
    endpoints = before["properties"].get("serviceEndpoints")
    changes = [
        _change(ChangeKind.SUBNET_ROUTE_TABLE, NODES, SubnetAssociationPayload(RT_NEW), Action.UPDATE),
        _change(ChangeKind.ROUTE, f"{RT_NEW}/routes/rmd-aks-nodes",
                Route("rmd-aks-nodes", "10.1.0.0/22", "VirtualAppliance", "10.0.1.4")),
        _change(ChangeKind.ROUTE_TABLE, RT_NEW, RouteTablePayload("westeurope", TAG)),
        _change(ChangeKind.ROUTE, f"{SPOKE}/routeTables/rt-spoke-nodes/routes/rmd-x", None, Action.NOOP),
    ]
    outcomes = apply_changes(arm, changes, settings=settings, sleep=no_sleep)
    assert [o.outcome for o in outcomes] == [Outcome.UPDATED, Outcome.CREATED, Outcome.CREATED,
                                             Outcome.UNCHANGED]
    assert all(o.error is None for o in outcomes)
    table = emu.get(RT_NEW)
    assert table is not None and table["tags"] == {"managed-by": "aks-egress-remediation"}
    (route,) = table["properties"]["routes"]
    assert route["name"] == "rmd-aks-nodes" and route["properties"]["nextHopIpAddress"] == "10.0.1.4"
    after = emu.get(NODES)
    assert after is not None
    assert ids.same_id(after["properties"]["routeTable"]["id"], RT_NEW)
    # Full-replace PUT built from the SDK model: the NSG and service endpoints survive.
    assert after["properties"]["networkSecurityGroup"] == nsg
    assert _services(after["properties"].get("serviceEndpoints")) == _services(endpoints)
    assert _services(endpoints) == [("Microsoft.Storage", ("westeurope", "northeurope"))]
    assert arm.arm_calls.writes == 3


def test_put_route_keeps_foreign_routes_and_delete_route(emu: Emulator, arm: ArmClient) -> None:
    table_id = f"{SPOKE}/routeTables/rt-spoke-nodes"
    arm.put_route(table_id, Route("rmd-appgw", "10.1.4.0/24", "VirtualAppliance", "10.0.1.4"))
    names = {r["name"] for r in emu.get(table_id)["properties"]["routes"]}  # type: ignore[index]
    assert names == {"to-onprem", "rmd-appgw"}
    arm.delete_route(table_id, "rmd-appgw")
    names = {r["name"] for r in emu.get(table_id)["properties"]["routes"]}  # type: ignore[index]
    assert names == {"to-onprem"}
    observed = arm.get_route_table(table_id)
    assert observed is not None and [r.name for r in observed.routes] == ["to-onprem"]


def test_create_route_table_never_empties_an_existing_table(emu: Emulator, arm: ArmClient) -> None:
    table_id = f"{SPOKE}/routeTables/rt-spoke-nodes"
    arm.create_route_table(table_id, RouteTablePayload("westeurope", {"managed-by": "x"}))
    body = emu.get(table_id)
    assert body is not None and [r["name"] for r in body["properties"]["routes"]] == ["to-onprem"]
    assert body["tags"] == {"owner": "network-team", "managed-by": "x"}


def test_detach_route_table(emu: Emulator, arm: ArmClient) -> None:
    arm.set_subnet_route_table(NODES, None)
    body = emu.get(NODES)
    assert body is not None and not body["properties"].get("routeTable")
    assert body["properties"]["networkSecurityGroup"]


def test_rule_collection_group_put_and_delete(emu: Emulator, arm: ArmClient,
                                              settings: Settings) -> None:
    collection = RuleCollection("rmd-egress", 260, "Allow", (
        NetworkRule("aks-udp-1194", ("UDP",), ("10.1.0.0/22",), ("AzureCloud.westeurope",), ("1194",)),))
    outcomes = apply_changes(arm, [_change(ChangeKind.RULE_COLLECTION_GROUP, RCG,
                                               RuleCollectionGroupPayload(250, (collection,)))],
                             settings=settings, sleep=no_sleep)
    assert outcomes[0].outcome is Outcome.CREATED, outcomes[0].error
    group = arm.get_rule_collection_group(POLICY, "rmd-aks-runbook")
    assert group is not None and group.priority == 250
    (observed,) = group.rule_collections
    assert observed.rules[0].destination_ports == ("1194",)
    # An update PUTs the whole group again (If-Match with the etag just read).
    assert group.etag
    arm.put_rule_collection_group(POLICY, "rmd-aks-runbook", RuleCollectionGroupPayload(255, (collection,)),
                                      group.etag)
    assert emu.get(RCG)["properties"]["priority"] == 255  # type: ignore[index]
    outcomes = apply_changes(arm, [_change(ChangeKind.RULE_COLLECTION_GROUP, RCG, None, Action.DELETE)],
                             settings=settings, sleep=no_sleep)
    assert outcomes[0].outcome is Outcome.DELETED
    assert emu.get(RCG) is None
    assert emu.get(f"{POLICY}/ruleCollectionGroups/platform-baseline") is not None


def test_classic_collections_keep_foreign(emu: Emulator, arm: ArmClient, settings: Settings) -> None:
    firewall = emu.get(FIREWALL_ID)
    assert firewall is not None
    firewall["properties"].pop("firewallPolicy", None)
    firewall["properties"]["networkRuleCollections"] = [
        {"name": "corp-allow", "properties": {"priority": 100, "action": {"type": "Allow"}, "rules": [
            {"name": "dns", "protocols": ["UDP"], "sourceAddresses": ["10.0.0.0/8"],
             "destinationAddresses": ["168.63.129.16"], "destinationPorts": ["53"]}]}},
        {"name": "rmd-stale", "properties": {"priority": 400, "action": {"type": "Allow"}, "rules": []}},
    ]
    emu.put_foreign(FIREWALL_ID, firewall)
    wanted = RuleCollection("rmd-aks-egress", 300, "Allow", (
        NetworkRule("udp-1194", ("UDP",), ("10.1.0.0/22",), ("AzureCloud.westeurope",), ("1194",)),))
    arm.put_classic_collections(FIREWALL_ID, [wanted], "rmd-")
    names = [c["name"] for c in emu.get(FIREWALL_ID)["properties"]["networkRuleCollections"]]  # type: ignore[index]
    assert names == ["corp-allow", "rmd-aks-egress"]
    observed = arm.get_firewall(FIREWALL_ID)
    assert observed is not None and observed.policy_id is None
    assert [c.name for c in observed.classic_collections] == ["corp-allow", "rmd-aks-egress"]

    # Through apply: per-collection changes of one firewall become ONE firewall PUT.
    emu.clear_log()
    outcomes = apply_changes(arm, [
        _change(ChangeKind.CLASSIC_RULE_COLLECTION, f"{FIREWALL_ID}/networkRuleCollections/rmd-aks-egress",
                None, Action.DELETE),
        _change(ChangeKind.CLASSIC_RULE_COLLECTION, f"{FIREWALL_ID}/networkRuleCollections/rmd-aks-ingress",
                ClassicCollectionPayload(RuleCollection("rmd-aks-ingress", 310, "Allow", ()))),
    ], settings=settings, sleep=no_sleep)
    assert [o.outcome for o in outcomes] == [Outcome.DELETED, Outcome.CREATED]
    names = [c["name"] for c in emu.get(FIREWALL_ID)["properties"]["networkRuleCollections"]]  # type: ignore[index]
    assert names == ["corp-allow", "rmd-aks-ingress"]
    assert [r.method for r in emu.request_log].count("PUT") == 1


def test_a_shard_losing_rules_is_not_written_when_the_shard_gaining_them_failed(
        emu: Emulator, arm: ArmClient, settings: Settings) -> None:
    """Rule A moves from shard 1 to shard 2. The PUT of shard 2 (which receives A) fails: shard 1 (which
    loses A) must not be written, or A would be in no shard at all until a later run (#24 item 6). The
    changes are given losing-first to show apply's order does not rest on the caller's."""
    def rule(name: str) -> NetworkRule:
        return NetworkRule(name, ("UDP",), ("10.1.0.0/22",), ("AzureCloud.westeurope",), ("1194",))

    def group(priority: int, *names: str) -> RuleCollectionGroupPayload:
        return RuleCollectionGroupPayload(priority, (
            RuleCollection("rmd-egress", 260, "Allow", tuple(rule(n) for n in names)),))

    shard1, shard2 = RCG, f"{RCG}-2"
    arm.put_rule_collection_group(POLICY, "rmd-aks-runbook", group(250, "a", "b"), None)
    arm.put_rule_collection_group(POLICY, "rmd-aks-runbook-2", group(251, "c"), None)
    emu.faults.add("PUT", r"/ruleCollectionGroups/rmd-aks-runbook-2$", kind="lro_failed",
                   code="FirewallPolicyRuleCollectionGroupInvalid")
    losing = Change(Action.UPDATE, ChangeKind.RULE_COLLECTION_GROUP, shard1, group(250, "a", "b"),
                    group(250, "b"), "test")
    gaining = Change(Action.UPDATE, ChangeKind.RULE_COLLECTION_GROUP, shard2, group(251, "c"),
                     group(251, "c", "a"), "test")
    outcomes = apply_changes(arm, [losing, gaining], settings=settings, sleep=no_sleep)
    assert outcomes[1].outcome is Outcome.FAILED
    assert outcomes[0].outcome is Outcome.FAILED and outcomes[0].error == DEPENDENCY_FAILED
    kept = emu.get(shard1)
    assert kept is not None
    assert {r["name"] for c in kept["properties"]["ruleCollections"] for r in c["rules"]} == {"a", "b"}
    puts = [r.path.lower() for r in emu.request_log if r.method == "PUT"]
    assert not any(p.endswith("/rulecollectiongroups/rmd-aks-runbook") for p in puts[2:])


def test_an_association_made_after_the_plan_read_is_a_conflict_not_swapped(
        emu: Emulator, arm: ArmClient, settings: Settings) -> None:
    """The plan saw the subnet with no route table; someone associates theirs before our write. Our pre-read
    differs from the plan's `before`: a conflict, no subnet PUT, their association stays (#24 item 7)."""
    theirs = f"{SPOKE}/routeTables/rt-theirs"
    ours = f"{SPOKE}/routeTables/rmd-rt"
    arm.create_route_table(theirs, RouteTablePayload("westeurope", {}))
    arm.create_route_table(ours, RouteTablePayload("westeurope", TAG))
    body = emu.get(NODES)
    assert body is not None
    body["properties"].pop("routeTable", None)
    emu.put_foreign(NODES, body)  # the subnet as the plan read it: no table
    body["properties"]["routeTable"] = {"id": theirs}
    emu.put_foreign(NODES, body)  # after the plan's read, before our pre-read
    emu.clear_log()
    change = Change(Action.CREATE, ChangeKind.SUBNET_ROUTE_TABLE, NODES, SubnetAssociationPayload(None),
                    SubnetAssociationPayload(ours), "test")
    (outcome,) = apply_changes(arm, [change], settings=settings, sleep=no_sleep)
    assert outcome.outcome is Outcome.FAILED and not outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("AssociationChanged: ")
    assert "rt-theirs" in outcome.error
    after = emu.get(NODES)
    assert after is not None and after["properties"]["routeTable"]["id"].lower() == theirs.lower()
    assert [r for r in emu.request_log if r.method == "PUT"] == []
