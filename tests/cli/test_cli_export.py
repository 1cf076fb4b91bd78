"""`export` (#25 item 5) against the emulator served on loopback: the export reads only, loads into a fresh
emulator, and the plan on the export equals the plan on the live estate (same changes, conflicts and skips),
listing through ARM and through Resource Graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from tests.cli.conftest import Run
from tests.reconciler.helpers import (
    APP_GATEWAY,
    CNI,
    CUSTOMER_TABLE,
    FIREWALL,
    FOREIGN_RCG,
    HUB,
    OVERLAY,
    POLICY,
    SUB,
    arm_writes,
)

HUB_VNET = f"{HUB}/virtualNetworks/vnet-hub"
VPN_GATEWAY = f"{HUB}/virtualNetworkGateways/vpngw-hub"


def _plan(out: str) -> dict[str, Any]:
    document = json.loads(out)
    return {key: document[key] for key in ("changes", "conflicts", "skipped", "summary")}


def _same_plans(cli: Run, settings: str, seed: Path, *command: str) -> dict[str, Any]:
    code, live_out, err = cli(*command, "--settings", settings, "-o", "json")
    assert code in {0, 1}, err
    code_export, export_out, err_export = cli(*command, "--settings", settings, "--emulator-seed", str(seed),
                                              "-o", "json")
    assert code_export == code, err_export
    live, exported = _plan(live_out), _plan(export_out)
    assert exported == live
    return live


@pytest.mark.parametrize("inventory", ["arm", "resource-graph"])
def test_the_plan_on_the_export_equals_the_plan_on_the_live_estate(
        cli: Run, live: Emulator, settings: Callable[..., str], tmp_path: Path, inventory: str) -> None:
    config = settings(INVENTORY=inventory)
    seed = tmp_path / "estate.json"
    code, out, err = cli("export", "--settings", config, "--out", str(seed))
    assert code == 0, err
    assert out == "" and f"to {seed}" in err
    # Reader rights are enough: no write (a Resource Graph query is a POST that reads).
    assert [w for w in arm_writes(live) if not w.startswith("POST /providers/Microsoft.ResourceGraph/")] == []
    exported = {str(item["id"]).lower() for item in json.loads(seed.read_text(encoding="utf-8"))["resources"]}
    for resource in (CNI, OVERLAY, APP_GATEWAY, CUSTOMER_TABLE, FIREWALL, POLICY, FOREIGN_RCG):
        assert resource.lower() in exported
    assert {item["id"].lower() for item in live.dump()["resources"]} >= exported

    sweep = _same_plans(cli, config, seed, "sweep")
    assert sweep["changes"] and sweep["skipped"]  # the example has work to do and a kubenet cluster to skip
    _same_plans(cli, config, seed, "plan", "--target", CNI)
    # After an apply the estate holds owned objects; the plans still agree (no changes on either side).
    assert cli("apply", "--target", CNI, "--settings", config, "--auto-approve")[0] == 0
    code, _, err = cli("export", "--settings", config, "--out", str(seed))
    assert code == 0, err
    again = _same_plans(cli, config, seed, "plan", "--target", CNI)
    assert not [c for c in again["changes"] if c["action"] != "noop"]


def test_a_foreign_route_conflict_survives_the_export(cli: Run, live: Emulator, settings: Callable[..., str],
                                                      tmp_path: Path) -> None:
    table = live.get(CUSTOMER_TABLE)
    assert table is not None
    table["properties"]["routes"].append({"name": "team-spoke", "properties": {
        "addressPrefix": "10.2.0.0/16", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.9.9.9"}})
    live.put_foreign(CUSTOMER_TABLE, {"location": table["location"], "tags": table.get("tags") or {},
                                      "properties": {"routes": table["properties"]["routes"]}})
    seed = tmp_path / "estate.json"
    assert cli("export", "--settings", settings(), "--out", str(seed))[0] == 0
    plan = _same_plans(cli, settings(), seed, "plan", "--target", CNI)
    assert plan["conflicts"]


def test_export_to_stdout_is_a_seed_and_query_works(cli: Run, live: Emulator, settings: Callable[..., str]) -> None:
    code, out, err = cli("export", "--settings", settings())
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {"resources"} and document["resources"]
    assert all(not ({"resourceGroup", "subscriptionId", "tenantId"} & set(item)) for item in document["resources"])
    code, out, err = cli("export", "--settings", settings(), "--query", "length(resources)")
    assert code == 0 and json.loads(out) == len(document["resources"])


def test_the_hub_outside_the_scope_is_exported_through_its_references(
        cli: Run, live: Emulator, settings: Callable[..., str], tmp_path: Path) -> None:
    """REMEDIATION_SCOPE names only the spoke's resource group: the firewall (FIREWALL_ID), its policy and
    groups, the hub VNet and its VPN gateway are read through the references observation follows."""
    spoke_only = settings(REMEDIATION_SCOPE=f"/subscriptions/{SUB}/resourceGroups/rg-spoke")
    seed = tmp_path / "estate.json"
    code, _, err = cli("export", "--settings", spoke_only, "--out", str(seed))
    assert code == 0, err
    exported = {str(item["id"]).lower() for item in json.loads(seed.read_text(encoding="utf-8"))["resources"]}
    for resource in (FIREWALL, POLICY, FOREIGN_RCG, HUB_VNET, VPN_GATEWAY):
        assert resource.lower() in exported
    sweep = _same_plans(cli, spoke_only, seed, "sweep")
    assert sweep["changes"]


VWAN_FIREWALL = f"/subscriptions/{SUB}/resourceGroups/rg-vwan/providers/Microsoft.Network/azureFirewalls/fw-vhub-weu"
ESTATE = Path(__file__).resolve().parents[2] / "examples" / "estate.json"


def test_a_secured_vwan_hub_is_exported_with_its_connections_and_routing_intent(
        cli: Run, settings: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an AZFW_Hub firewall the path model reads the virtual hub's VNet connections and its routing intent:
    the export carries them (and the hub and its WAN), so the plan on the export equals the live one."""
    emu = Emulator(seed=json.loads(ESTATE.read_text(encoding="utf-8"))).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    try:
        config = settings(FIREWALL_ID=VWAN_FIREWALL,
                         REMEDIATION_SCOPE=f"/subscriptions/{SUB}/resourceGroups/rg-spoke-vwan")
        seed = tmp_path / "vwan.json"
        code, _, err = cli("export", "--settings", config, "--out", str(seed))
        assert code == 0, err
        types = {str(item["type"]).lower() for item in json.loads(seed.read_text(encoding="utf-8"))["resources"]}
        assert {"microsoft.network/virtualhubs", "microsoft.network/virtualwans",
                "microsoft.network/virtualhubs/hubvirtualnetworkconnections",
                "microsoft.network/virtualhubs/routingintent"} <= types, types
        sweep = _same_plans(cli, config, seed, "sweep")
        assert sweep["changes"]  # the vWAN spoke's cluster is routed to the hub firewall on both
    finally:
        emu.stop()
