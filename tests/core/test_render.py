"""render.py: terraform-like text and the stable JSON schema."""

from __future__ import annotations

import json

import pytest

from remediation.core import arm_shapes
from remediation.core.model import (
    Action,
    ArmCalls,
    Change,
    ChangeKind,
    ChangeOutcome,
    Conflict,
    NetworkRule,
    Outcome,
    Plan,
    ReconcileResult,
    Route,
    RouteTablePayload,
    RuleCollection,
    RuleCollectionGroupPayload,
    Skip,
)
from remediation.views import render

RT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt"
ROUTE = Route("rmd-appgw", "10.1.4.0/24", "VirtualAppliance", "10.0.1.4")
TABLE = RouteTablePayload("westeurope", {"managed-by": "aks-egress-remediation"})
CREATE = Change(Action.CREATE, ChangeKind.ROUTE_TABLE, RT, None, TABLE, "no table yet")
UPDATE = Change(
    Action.UPDATE,
    ChangeKind.ROUTE,
    RT + "/routes/rmd-appgw",
    ROUTE,
    Route("rmd-appgw", "10.1.4.0/24", "VirtualAppliance", "10.0.1.5"),
    "drift",
)
DELETE = Change(Action.DELETE, ChangeKind.ROUTE, RT + "/routes/rmd-old", ROUTE, None, "prune")
NOOP = Change(Action.NOOP, ChangeKind.ROUTE, RT + "/routes/rmd-ok", ROUTE, ROUTE, "converged")
CONFLICT = Conflict(ChangeKind.ROUTE, RT + "/routes/corp", "foreign route corp")
SKIP = Skip("/subscriptions/s/x", "network plugin kubenet")


def _result(*changes: Change, dry_run: bool = True, **kw) -> ReconcileResult:
    plan = Plan("cluster:c", tuple(changes), (CONFLICT,), (SKIP,))
    return ReconcileResult("cluster:c", dry_run, plan, **kw)


@pytest.mark.parametrize(
    ("changes", "expected_lines"),
    [
        pytest.param(
            (CREATE, UPDATE, DELETE, NOOP),
            [
                "cluster:c (dry run)",
                f"  + create routeTable {RT}",
                '      location: "westeurope"',
                '      tags.managed-by: "aks-egress-remediation"',
                "      properties.disableBgpRoutePropagation: false",
                "      # no table yet",
                f"  ~ update route {RT}/routes/rmd-appgw",
                '      nextHopIpAddress: "10.0.1.4" -> "10.0.1.5"',
                f"  - delete route {RT}/routes/rmd-old",
                '      addressPrefix: "10.1.4.0/24" -> null',
                f"! conflict route {RT}/routes/corp: foreign route corp",
                "skipped /subscriptions/s/x: network plugin kubenet",
                "Plan: 1 to create, 1 to update, 1 to delete, 1 unchanged. 1 blocking conflict.",
            ],
            id="each-action",
        ),
        pytest.param(
            (NOOP,),
            [
                "cluster:c (dry run)",
                f"! conflict route {RT}/routes/corp: foreign route corp",
                "skipped /subscriptions/s/x: network plugin kubenet",
                "No changes written; 1 blocking conflict.",
            ],
            id="no-changes",
        ),
    ],
)
def test_render_text(changes, expected_lines: list[str]) -> None:
    text = render.render_text(_result(*changes))
    lines = text.splitlines()
    for line in expected_lines:
        assert line in lines
    assert "rmd-ok" not in text  # NOOPs are counted, not listed
    assert text == render.render_text(_result(*changes))


def test_render_text_after_apply() -> None:
    outcomes = (
        ChangeOutcome(CREATE, Outcome.CREATED),
        ChangeOutcome(UPDATE, Outcome.FAILED, "AnotherOperationInProgress: busy"),
    )
    text = render.render_text(_result(CREATE, UPDATE, dry_run=False, outcomes=outcomes, converged=False))
    assert text.splitlines()[0] == "cluster:c (apply)"
    assert f"  failed route {RT}/routes/rmd-appgw: AnotherOperationInProgress: busy" in text
    assert (
        text.splitlines()[-1]
        == "Apply: 1 created, 0 updated, 0 deleted, 0 unchanged, 1 failed; converged: false"
    )


def test_to_json_schema() -> None:
    result = _result(CREATE, NOOP, arm_calls=ArmCalls(5, 0))
    doc = render.to_json(result)
    assert set(doc) == {
        "target",
        "dryRun",
        "changes",
        "summary",
        "conflicts",
        "skipped",
        "armCalls",
        "converged",
        "outcomes",
        "error",
        "errors",
        "followUps",
        "followUpNote",
        "behind",  # issue 21: new keys, as the schema allows
        "ownedGroups",
    }
    assert doc["changes"][0] == {
        "action": "create",
        "kind": "routeTable",
        "address": RT,
        "before": None,
        "after": {"location": "westeurope", "tags": {"managed-by": "aks-egress-remediation"},
                  "properties": {"disableBgpRoutePropagation": False}},
        "reason": "no table yet",
    }
    assert [c["action"] for c in doc["changes"]] == ["create", "noop"]
    assert doc["summary"] == {"create": 1, "update": 0, "delete": 0, "noop": 1, "conflict": 1}
    assert doc["conflicts"] == [
        {"kind": "route", "address": RT + "/routes/corp", "message": "foreign route corp", "severity": "conflict"}
    ]
    assert doc["errors"] == []
    assert doc["skipped"] == [{"target": "/subscriptions/s/x", "reason": "network plugin kubenet"}]
    assert (doc["armCalls"], doc["converged"], doc["outcomes"], doc["error"]) == (
        {"reads": 5, "writes": 0},
        None,
        [],
        None,
    )
    json.dumps(doc)


POLICY_RCG = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/firewallPolicies/p/ruleCollectionGroups/g"


def _group(body: dict | None) -> RuleCollectionGroupPayload | None:
    """The test's ARM-shaped group as the typed payload plan produces (rendered back through arm_shapes)."""
    if body is None:
        return None
    return RuleCollectionGroupPayload(body["priority"], tuple(
        RuleCollection(c["name"], c["priority"], c["action"]["type"], tuple(
            NetworkRule(r["name"], tuple(r["ipProtocols"]), tuple(r["sourceAddresses"]),
                        tuple(r["destinationAddresses"]), tuple(r["destinationPorts"])) for r in c["rules"]))
        for c in body["ruleCollections"]))


def _collection(name: str, *rules: dict[str, object]) -> dict[str, object]:
    return {"ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": name, "priority": 200,
            "action": {"type": "Allow"}, "rules": list(rules)}


def _rule(name: str, ports: list[str]) -> dict[str, object]:
    return {"ruleType": "NetworkRule", "name": name, "ipProtocols": ["TCP"], "sourceAddresses": ["10.1.0.0/22"],
            "destinationAddresses": ["AzureCloud"], "destinationPorts": ports}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            None, {"priority": 250, "ruleCollections": [_collection("rmd-egress", _rule("aks", ["443"]))]},
            ["priority: 250", "+ collection rmd-egress (priority 200, Allow)",
             "    + rule aks: TCP 10.1.0.0/22 -> AzureCloud ports 443"],
            id="create-lists-rules"),
        pytest.param(
            {"priority": 250, "ruleCollections": [_collection("rmd-egress", _rule("aks", ["443"]),
                                                              _rule("gone", ["80"]))]},
            {"priority": 250, "ruleCollections": [_collection("rmd-egress", _rule("aks", ["443", "9000"]),
                                                              _rule("new", ["22"]))]},
            ["~ collection rmd-egress (priority 200, Allow)",
             "    ~ rule aks: TCP 10.1.0.0/22 -> AzureCloud ports 443",
             "             -> TCP 10.1.0.0/22 -> AzureCloud ports 443,9000",
             "    - rule gone: TCP 10.1.0.0/22 -> AzureCloud ports 80",
             "    + rule new: TCP 10.1.0.0/22 -> AzureCloud ports 22"],
            id="update-shows-only-differing-rules"),
        pytest.param(
            {"priority": 250, "ruleCollections": [_collection("rmd-p2s", _rule("p2s", ["443"]))]}, None,
            ["- collection rmd-p2s (priority 200, Allow)", "    - rule p2s: TCP 10.1.0.0/22 -> AzureCloud ports 443"],
            id="delete-lists-rules"),
    ],
)
def test_rule_collection_group_renders_rules(before, after, expected: list[str]) -> None:
    action = Action.CREATE if before is None else Action.DELETE if after is None else Action.UPDATE
    change = Change(action, ChangeKind.RULE_COLLECTION_GROUP, POLICY_RCG, _group(before), _group(after), "why")
    result = ReconcileResult(target="firewall:x", dry_run=True, plan=Plan("firewall:x", (change,)))
    lines = render.render_text(result).splitlines()
    body = [line[6:] for line in lines[2:-2]]  # header, change line ... reason, summary
    if after is not None:
        # The estimate of docs/platform-notes.md §9: the properties as compact JSON.
        size = len(json.dumps({"properties": arm_shapes.after(change)}, separators=(",", ":")))
        expected = [*expected, f"size: about {size:,} bytes of 2,097,152 ({100 * size / 2097152:.1f} %)"]
    assert body == expected


def test_a_new_table_shows_its_routes_and_each_routes_reason() -> None:
    table = RouteTablePayload("westeurope", {"managed-by": "aks-egress-remediation"}, routes=(
        ROUTE, Route("rmd-none", "10.9.0.0/16", "None")))
    change = Change(Action.CREATE, ChangeKind.ROUTE_TABLE, RT, None, table,
                    "runbook: create a route table\nrmd-appgw: App Gateway subnet\nrmd-none: blackhole")
    lines = render.render_text(_result(change)).splitlines()
    start = lines.index(f"  + create routeTable {RT}")
    assert lines[start + 1:start + 9] == [
        '      location: "westeurope"',
        '      tags.managed-by: "aks-egress-remediation"',
        "      properties.disableBgpRoutePropagation: false",
        "      + route rmd-appgw: 10.1.4.0/24 -> VirtualAppliance 10.0.1.4",
        "      + route rmd-none: 10.9.0.0/16 -> None",
        "      # runbook: create a route table",
        "      # rmd-appgw: App Gateway subnet",
        "      # rmd-none: blackhole",
    ]
    routes = render.to_json(_result(change))["changes"][0]["after"]["properties"]["routes"]
    assert [r["name"] for r in routes] == ["rmd-appgw", "rmd-none"]
