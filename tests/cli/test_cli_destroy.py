"""`sweep --destroy` (#25 item 4) through the CLI against the emulator: after an apply it plans exactly what
`owned` lists (plus the routes inside the owned tables), removes it in a safe order, leaves every foreign object
byte-identical, and a second run plans nothing. The one route-table delete refuses a foreign or non-empty table."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.azure.errors import TableNotRemovableError
from remediation.core.config import load_settings
from tests.cli.conftest import Run
from tests.reconciler.helpers import (
    APPGW_TABLE,
    BASE_SETTINGS,
    CNI,
    CUSTOMER_TABLE,
    OWNED_RCG,
    POD_TABLE,
    arm_writes,
    canonical,
)

FOREIGN_COLLECTION = {
    "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "team-added", "priority": 4000,
    "action": {"type": "Allow"},
    "rules": [{"ruleType": "NetworkRule", "name": "ntp", "ipProtocols": ["UDP"], "sourceAddresses": ["10.1.0.0/22"],
               "destinationAddresses": ["*"], "destinationPorts": ["123"]}],
}


def _foreign(dump: dict[str, Any], owned_ids: set[str]) -> dict[str, str]:
    """Every resource of a dump but the owned objects, by id, with what the owned objects put inside the
    foreign ones cut out: the owned routes and collections, the subnets' references to owned tables, the
    policy's references to owned groups. Etags are left out (a child's etag follows its parent's writes in
    ARM); everything else of every foreign object must stay byte-identical."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "etag" and not _owned_ref(v)}
        if isinstance(value, list):
            return [strip(v) for v in value if not _owned_ref(v) and not _owned_named(v)]
        return value

    def _owned_ref(value: Any) -> bool:
        return isinstance(value, dict) and set(value) == {"id"} and str(value["id"]).lower() in owned_ids

    def _owned_named(value: Any) -> bool:
        return isinstance(value, dict) and str(value.get("name", "")).lower().startswith("rmd-")

    return {str(item["id"]).lower(): canonical(strip(item)) for item in dump["resources"]
            if str(item["id"]).lower() not in owned_ids}


def _changes(out: str) -> set[tuple[str, str, str]]:
    return {(c["action"], c["kind"], c["address"].lower()) for c in json.loads(out)["changes"]}


def test_destroy_removes_exactly_what_the_tool_owns(cli: Run, live: Emulator,
                                                     settings: Callable[..., str]) -> None:
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    code, out, err = cli("owned", "--settings", settings(), "-o", "json")
    assert code == 0, err
    owned = json.loads(out)["owned"]
    owned_ids = {item["id"].lower() for item in owned}
    before = _foreign(live.dump(), owned_ids)

    writes = len(arm_writes(live))
    code, out, err = cli("sweep", "--destroy", "--settings", settings(), "-o", "json", "--detailed-exitcode")
    assert code == 2, err
    assert len(arm_writes(live)) == writes  # dry by default
    planned = _changes(out)
    expected = {("delete", i["kind"], i["id"].lower()) for i in owned
                if i["kind"] in {"routeTable", "route", "subnetRouteTable", "ruleCollectionGroup"}}
    # The owned collections go with their group (a collection is part of the group's body).
    assert all(i["id"].lower().rsplit("/rulecollections/", 1)[0] == OWNED_RCG.lower()
               for i in owned if i["kind"] == "ruleCollection")
    inside_owned_tables = planned - expected
    assert expected <= planned
    assert inside_owned_tables and all(c[1] == "route" and c[2].rsplit("/routes/", 1)[0] in owned_ids
                                       for c in inside_owned_tables)
    kinds = [c["kind"] for c in json.loads(out)["changes"]]
    assert kinds.index("subnetRouteTable") > max(i for i, k in enumerate(kinds) if k == "route")
    assert kinds.index("routeTable") > max(i for i, k in enumerate(kinds) if k == "subnetRouteTable")

    code, out, err = cli("sweep", "--destroy", "--apply", "--auto-approve", "--settings", settings(), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["converged"] is True
    assert _changes(out) == planned
    code, out, err = cli("owned", "--settings", settings(), "-o", "json")
    assert code == 0 and json.loads(out)["owned"] == []
    assert _foreign(live.dump(), owned_ids) == before
    assert live.get(POD_TABLE) is None and live.get(OWNED_RCG) is None

    writes = len(arm_writes(live))
    code, out, err = cli("sweep", "--destroy", "--settings", settings(), "-o", "json", "--detailed-exitcode")
    assert code == 0, err
    assert json.loads(out)["changes"] == []
    assert len(arm_writes(live)) == writes


def test_a_group_holding_a_foreign_collection_is_rewritten_not_deleted(cli: Run, live: Emulator,
                                                                        settings: Callable[..., str]) -> None:
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    group = live.get(OWNED_RCG)
    assert group is not None
    group["properties"]["ruleCollections"].append(FOREIGN_COLLECTION)
    live.put_foreign(OWNED_RCG, {"properties": group["properties"]})
    foreign_as_stored = next(c for c in (live.get(OWNED_RCG) or {})["properties"]["ruleCollections"]
                             if c["name"] == "team-added")
    code, out, err = cli("sweep", "--destroy", "--apply", "--auto-approve", "--settings", settings(), "-o", "json")
    assert code == 0, err
    assert ("update", "ruleCollectionGroup", OWNED_RCG.lower()) in _changes(out)
    remaining = live.get(OWNED_RCG)
    assert remaining is not None
    (kept,) = remaining["properties"]["ruleCollections"]
    # Carried over as the reconciler carries a foreign collection (remediation/planning/firewall.py): every field
    # it had, unchanged; the SDK's PUT adds only the empty lists ARM itself answers with.
    assert {k: kept[k] for k in foreign_as_stored if k != "rules"} == {
        k: v for k, v in foreign_as_stored.items() if k != "rules"}
    for rule, stored in zip(kept["rules"], foreign_as_stored["rules"], strict=True):
        assert {k: rule[k] for k in stored} == stored and all(rule[k] == [] for k in set(rule) - set(stored))
    # `owned` still names the group (RULE_COLLECTION_GROUP), with no owned collection left in it.
    code, out, err = cli("owned", "--settings", settings(), "-o", "json")
    assert [i["kind"] for i in json.loads(out)["owned"]] == ["ruleCollectionGroup"]
    code, out, err = cli("sweep", "--destroy", "--settings", settings(), "-o", "json", "--detailed-exitcode")
    assert code == 0 and json.loads(out)["changes"] == []


def test_destroy_apply_needs_an_approval_and_report_mode_refuses_it(cli: Run, live: Emulator,
                                                                    settings: Callable[..., str]) -> None:
    code, out, err = cli("sweep", "--destroy", "--apply", "--settings", settings())
    assert code == 1 and out == "" and "--auto-approve" in err
    code, out, err = cli("sweep", "--destroy", "--apply", "--auto-approve", "--settings",
                         settings(REMEDIATION_MODE="report"))
    assert code == 1 and "REMEDIATION_MODE=report" in err
    assert live.request_log == []
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    writes = len(arm_writes(live))
    code, _, err = cli("sweep", "--destroy", "--apply", "--settings", settings(), ask=lambda prompt: "no")
    assert code == 1 and "cancelled" in err
    assert len(arm_writes(live)) == writes


def test_the_table_delete_refuses_a_foreign_or_non_empty_table(cli: Run, live: Emulator,
                                                               settings: Callable[..., str]) -> None:
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    arm = ArmClient(load_settings({**BASE_SETTINGS, "ARM_ENDPOINT": live.base_url}))
    try:
        for table in (CUSTOMER_TABLE, POD_TABLE):  # foreign; owned but holding routes and a subnet
            before = canonical(live.get(table))
            with pytest.raises(TableNotRemovableError):
                arm.delete_owned_empty_route_table(table)
            assert canonical(live.get(table)) == before
        assert not [w for w in arm_writes(live) if w.startswith("DELETE") and "/routeTables/" in w
                    and "/routes/" not in w]
    finally:
        arm.close()


def test_a_failed_route_delete_keeps_its_table_and_subnets(cli: Run, live: Emulator,
                                                           settings: Callable[..., str]) -> None:
    """Phases: a table whose route could not be deleted is neither detached nor deleted (dependency failed)."""
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    pod_table = live.get(POD_TABLE)
    assert pod_table is not None
    pod_subnets = {s["id"].lower() for s in pod_table["properties"].get("subnets") or []}
    live.faults.add("DELETE", r"/routeTables/rmd-vnet-spoke-snet-aks-pods/routes/", kind="status", status=403,
                    code="AuthorizationFailed", count=50)
    code, out, err = cli("sweep", "--destroy", "--apply", "--auto-approve", "--settings", settings(), "-o", "json")
    assert code == 1 and "not converged" in err
    document = json.loads(out)
    assert document["converged"] is False
    assert live.get(POD_TABLE) is not None
    kept = live.get(POD_TABLE) or {}
    assert {s["id"].lower() for s in kept["properties"].get("subnets") or []} == pod_subnets != set()
    # The other owned table went all the way.
    assert live.get(APPGW_TABLE) is None


def test_yes_at_the_prompt_removes_what_was_shown(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "yes"

    code, out, err = cli("sweep", "--destroy", "--apply", "--settings", settings(), ask=answer)
    assert code == 0, err
    assert len(prompts) == 1
    assert "delete ruleCollectionGroup" in out and "delete routeTable" in out
    assert live.get(OWNED_RCG) is None and live.get(POD_TABLE) is None


def test_a_plan_that_moved_after_the_review_is_not_written(cli: Run, live: Emulator,
                                                           settings: Callable[..., str]) -> None:
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0

    def answer(prompt: str) -> str:
        # Someone adds an owned-named route after the person read the plan: the fresh plan differs.
        table = live.get(CUSTOMER_TABLE) or {}
        routes = [*table["properties"]["routes"], {"name": "rmd-late", "properties": {
            "addressPrefix": "10.7.0.0/16", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.1.4"}}]
        live.put_foreign(CUSTOMER_TABLE, {"location": table["location"], "tags": table.get("tags") or {},
                                          "properties": {"routes": routes}})
        return "yes"

    writes = len(arm_writes(live))
    code, _, err = cli("sweep", "--destroy", "--apply", "--settings", settings(), ask=answer)
    assert code == 1 and "rmd-late" in err, err
    assert arm_writes(live)[writes:] == []  # put_foreign writes behind the API: nothing of ours was sent
