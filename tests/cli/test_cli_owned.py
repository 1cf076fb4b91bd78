"""`owned` (#25.3): every object the tool owns in scope, read now, as text, JSON, table and tsv; nothing foreign."""

from __future__ import annotations

import json
from collections.abc import Callable

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import (
    APPGW_SUBNET,
    APPGW_TABLE,
    CNI,
    CUSTOMER_TABLE,
    FOREIGN_RCG,
    FOREIGN_ROUTE,
    OWNED_RCG,
    POD_SUBNET,
    POD_TABLE,
    arm_writes,
)


def test_owned_lists_what_the_tool_wrote_and_nothing_else(cli: Run, live: Emulator,
                                                          settings: Callable[..., str]) -> None:
    code, out, err = cli("owned", "--settings", settings(), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["owned"] == []
    assert cli("apply", "--target", CNI, "--settings", settings(), "--auto-approve")[0] == 0
    writes = len(arm_writes(live))
    code, out, err = cli("owned", "--settings", settings(), "-o", "json")
    assert code == 0, err
    found = {(item["kind"], item["id"].lower()) for item in json.loads(out)["owned"]}
    expected = {
        ("routeTable", POD_TABLE), ("routeTable", APPGW_TABLE),
        ("route", f"{CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16"),
        ("route", f"{CUSTOMER_TABLE}/routes/rmd-appgw-10-1-4-0-24"),
        ("route", f"{CUSTOMER_TABLE}/routes/rmd-p2s-172-16-201-0-24"),
        ("subnetRouteTable", POD_SUBNET), ("subnetRouteTable", APPGW_SUBNET),
        ("ruleCollectionGroup", OWNED_RCG),
    }
    assert {(kind, rid.lower()) for kind, rid in expected} <= found
    assert {kind for kind, _ in found - {(k, r.lower()) for k, r in expected}} == {"ruleCollection"}
    text = json.dumps(json.loads(out)).lower()
    for foreign in (FOREIGN_ROUTE, FOREIGN_RCG):
        assert foreign.lower() not in text
    assert ("routetable", CUSTOMER_TABLE.lower()) not in {(k.lower(), r) for k, r in found}
    code, tsv, _ = cli("owned", "--settings", settings(), "-o", "tsv")
    assert {tuple(line.split("\t")[:2]) for line in tsv.splitlines()} == {
        (item["kind"], item["id"]) for item in json.loads(out)["owned"]}
    code, text_out, _ = cli("owned", "--settings", settings())
    assert text_out.splitlines()[0] == f"/subscriptions/…: {len(found)} owned object(s)"
    assert len(arm_writes(live)) == writes  # owned reads only
