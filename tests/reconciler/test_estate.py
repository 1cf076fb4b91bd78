"""The estate of issue #21 (examples/estate.json): two VNet hubs in two regions and a secured Virtual WAN hub,
five spokes with one userDefinedRouting cluster each. Whichever firewall FIREWALL_ID names, one sweep routes
exactly the spokes that reach it and skips every other one with its reason (the blackholes the issue found:
a VNet peered to the other hub, one with no peering, one whose peering is only Initiated, one on the vWAN hub).
Real SDK against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.common import harness
from tests.reconciler.helpers import SEED_PATH, SUB
from tests.reconciler.helpers import estate_cluster as _cluster
from tests.reconciler.helpers import estate_net as _net
from tests.reconciler.helpers import estate_seed as _seed

SPOKE_PREFIX = "10.200.0.0/16"




SPOKES = ("spoke-weu", "spoke-eus", "spoke-lone", "spoke-initiated", "spoke-vwan")
CASES = [
    # (firewall, its private IP, the one spoke it routes, the reason fragment of each skipped spoke)
    (_net("rg-hub-weu", "azureFirewalls", "fw-westeurope"), "10.0.1.4", "spoke-weu", {
        "spoke-eus": "connected only to VNet vnet-hub-eastus",
        "spoke-lone": "has no peering and no hub connection to a configured firewall",
        "spoke-initiated": "is Initiated, not Connected",
        "spoke-vwan": "has no peering and no hub connection to a configured firewall"}),
    (_net("rg-hub-eus", "azureFirewalls", "fw-eastus"), "10.50.1.4", "spoke-eus", {
        "spoke-weu": "connected only to VNet vnet-hub-westeurope",
        "spoke-vwan": "has no peering and no hub connection to a configured firewall"}),
    (_net("rg-vwan", "azureFirewalls", "fw-vhub-weu"), "10.100.0.132", "spoke-vwan", {
        "spoke-weu": "connected only to VNet vnet-hub-westeurope",
        "spoke-initiated": "connected only to VNet vnet-hub-westeurope"}),
]



def _route_hop(emu: Any, spoke: str, prefix: str = "0.0.0.0/0") -> str | None:
    subnet = emu.get(_net(f"rg-{spoke}", "virtualNetworks", f"vnet-{spoke}") + "/subnets/snet-aks")
    table_ref = subnet["properties"].get("routeTable")
    if table_ref is None:
        return None
    table = emu.get(table_ref["id"])
    hops = [r["properties"].get("nextHopIpAddress") for r in table["properties"]["routes"]
            if r["properties"]["addressPrefix"] == prefix]
    return hops[0] if hops else None


@pytest.mark.parametrize(("firewall", "ip", "routed", "reasons"), CASES, ids=["hub-weu", "hub-eus", "vwan-hub"])
def test_one_sweep_routes_exactly_the_spokes_that_reach_the_firewall(
        firewall: str, ip: str, routed: str, reasons: dict[str, str]) -> None:
    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": firewall,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None and result.converged is True
        skips = {s.target.lower(): s.reason for s in result.plan.skipped}
        assert _cluster(routed).lower() not in skips
        assert _route_hop(h.emu, routed) == ip  # AKS requires the explicit UDR, vWAN hub too
        for spoke in SPOKES:
            if spoke != routed:
                assert skips[_cluster(spoke).lower()].startswith("no path to the firewall"), spoke
                assert _route_hop(h.emu, spoke) is None, spoke  # nothing written: no blackhole
        # The vWAN hub's routing intent (PrivateTraffic) already sends other spokes' ranges to its firewall:
        # that route is left out there; a VNet hub needs it.
        assert _route_hop(h.emu, routed, SPOKE_PREFIX) == (None if routed == "spoke-vwan" else ip)
        for spoke, fragment in reasons.items():
            assert fragment in skips[_cluster(spoke).lower()], (spoke, skips[_cluster(spoke).lower()])
        h.emu.clear_log()
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not again.plan.writes and again.error is None


FIREWALL_IDS = ",".join(c[0] for c in CASES)
# Each spoke that reaches a hub: (its firewall's private IP, its policy).
OWN = {
    "spoke-weu": ("10.0.1.4", _net("rg-hub-weu", "firewallPolicies", "fwpol-westeurope")),
    "spoke-eus": ("10.50.1.4", _net("rg-hub-eus", "firewallPolicies", "fwpol-eastus")),
    "spoke-vwan": ("10.100.0.132", _net("rg-vwan", "firewallPolicies", "fwpol-vhub")),
}


def _group_sources(emu: Any, policy: str) -> set[str]:
    """Every source address of the owned group in `policy` (empty when the group does not exist)."""
    group = emu.get(f"{policy}/ruleCollectionGroups/rmd-aks-runbook")
    if group is None:
        return set()
    return {a for c in group["properties"]["ruleCollections"] for r in c.get("rules", [])
            for a in r.get("sourceAddresses", [])}


def _spoke_range(emu: Any, spoke: str) -> str:
    subnet = emu.get(_net(f"rg-{spoke}", "virtualNetworks", f"vnet-{spoke}") + "/subnets/snet-aks")
    return str(subnet["properties"]["addressPrefix"])


def test_firewall_ids_converge_the_estate_in_one_sweep_each_spoke_on_its_own_hub() -> None:
    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None and result.converged is True
        skips = {s.target.lower(): s.reason for s in result.plan.skipped}
        for spoke, (ip, policy) in OWN.items():
            assert _cluster(spoke).lower() not in skips, skips.get(_cluster(spoke).lower())
            assert _route_hop(h.emu, spoke) == ip, spoke
            sources = _group_sources(h.emu, policy)
            assert _spoke_range(h.emu, spoke) in sources, (spoke, sources)
            for other in OWN.keys() - {spoke}:  # never in another hub's policy
                assert _spoke_range(h.emu, other) not in sources, (spoke, other)
        for spoke in ("spoke-lone", "spoke-initiated"):
            assert skips[_cluster(spoke).lower()].startswith("no path to the firewall"), spoke
            assert _route_hop(h.emu, spoke) is None, spoke
        # SPOKE_PREFIXES (10.200.0.0/16) is held by no VNet peered to a hub: routed via none of them.
        assert all(_route_hop(h.emu, s, SPOKE_PREFIX) is None for s in OWN)
        h.emu.clear_log()
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not again.plan.writes and again.error is None and again.converged is not False


def test_views_say_which_hub_and_firewall_each_cluster_is_behind_and_each_policys_groups() -> None:
    from remediation.engine.status import scope_compliance
    from remediation.views import render, render_status

    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    hubs = {"spoke-weu": "vnet-hub-westeurope", "spoke-eus": "vnet-hub-eastus", "spoke-vwan": "vhub-weu"}
    firewalls = {"spoke-weu": "fw-westeurope", "spoke-eus": "fw-eastus", "spoke-vwan": "fw-vhub-weu"}
    with harness(_seed(), settings) as h:
        planned = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=True)
        doc = render.to_json(planned)
        behind = {b["cluster"].lower(): b for b in doc["behind"]}
        for spoke in SPOKES:
            where = behind[_cluster(spoke).lower()]
            if spoke in hubs:
                assert where["hub"].endswith("/" + hubs[spoke]) and where["firewall"].endswith("/" + firewalls[spoke])
                assert where["reason"] is None and where["via"]
            else:
                assert where["firewall"] is None and where["reason"], spoke
        # Per policy, its owned groups (the plan of each firewall's target names its policy's group).
        policies = {g["policy"].lower(): g["groups"] for g in doc["ownedGroups"]}
        assert {p.lower() for _, p in OWN.values()} <= set(policies)
        assert all(groups == ["rmd-aks-runbook"] for groups in policies.values())
        text = render.render_text(planned)
        assert "behind aks-spoke-eus: firewall fw-eastus in hub vnet-hub-eastus" in text
        assert "owned groups of fwpol-vhub: rmd-aks-runbook" in text

        h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        report = scope_compliance(h.reconciler)
        assert report.compliant is True, render_status.render_text(report)
        assert len(report.firewalls) == 3 and all(f.state.value == "compliant" for f in report.firewalls)
        status = render_status.to_json(report)
        by_id = {c["id"].lower(): c for c in status["clusters"]}
        for spoke in SPOKES:
            entry = by_id[_cluster(spoke).lower()]
            if spoke in hubs:
                assert entry["state"] == "compliant", entry
                assert entry["behind"]["firewall"].endswith("/" + firewalls[spoke])
            else:
                assert entry["state"] == "skipped" and entry["behind"]["reason"]
        assert "@ behind firewall fw-vhub-weu in hub vhub-weu" in render_status.render_text(report)


def test_destroy_removes_what_the_tool_owns_behind_every_configured_firewall() -> None:
    """`sweep --destroy` under FIREWALL_IDS: every policy's owned group goes, every owned route goes, and the
    firewall part of each firewall is read inside its own lease (engine/destroy.py)."""
    from remediation.engine.destroy import Destroyer

    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        assert h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False).converged is True
        assert all(_group_sources(h.emu, policy) for _, policy in OWN.values())
        result = Destroyer(h.settings).run(dry_run=False, approve=lambda plan: True)
        assert result.error is None and result.converged is True, result.error
        for spoke, (_, policy) in OWN.items():
            assert _group_sources(h.emu, policy) == set(), policy
            assert _route_hop(h.emu, spoke) is None, spoke
        again = Destroyer(h.settings).run(dry_run=True)
        assert not again.plan.has_changes


def test_owned_lists_the_groups_of_every_configured_firewall(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`owned` under FIREWALL_IDS: each policy's owned group is listed (each firewall's view of one fleet read)."""
    from remediation.cli.main import main

    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        assert h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False).converged is True
        path = tmp_path / "settings.json"
        path.write_text(json.dumps({"IsEncrypted": False, "Values": settings}), encoding="utf-8")
        capsys.readouterr()
        assert main(["owned", "--settings", str(path), "-o", "json"]) == 0
        listed = {item["id"].lower() for item in json.loads(capsys.readouterr().out)["owned"]}
        for _, policy in OWN.values():
            assert f"{policy}/ruleCollectionGroups/rmd-aks-runbook".lower() in listed, policy


def test_destroy_removes_nothing_when_a_configured_firewall_is_not_found() -> None:
    """A firewall of FIREWALL_IDS that the read does not find: its owned groups are unknown, so the whole
    destroy is refused (an error, zero writes), never a partial removal."""
    from remediation.engine.destroy import Destroyer

    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    with harness(_seed(), settings) as h:
        assert h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False).converged is True
        gone = _net("rg-hub-eus", "azureFirewalls", "fw-eastus-2")
        missing = {**settings, "FIREWALL_IDS": f"{FIREWALL_IDS},{gone}"}
        with harness(h.emu.dump(), missing) as again:
            again.emu.clear_log()
            result = Destroyer(again.settings).run(dry_run=False, approve=lambda plan: True)
            assert result.error is not None and "not found" in result.error, result.error
            assert [r for r in again.emu.request_log if r.method in {"PUT", "DELETE", "PATCH"}] == []


VWAN_SPOKE = "spoke-vwan"
VWAN_AGW_SUBNET = _net("rg-spoke-vwan", "virtualNetworks", "vnet-spoke-vwan") + "/subnets/snet-appgw"
VWAN_AGW = _net("rg-spoke-vwan", "applicationGateways", "agw-spoke-vwan")


def _with_vwan_app_gateway(seed: dict[str, Any]) -> dict[str, Any]:
    """The vWAN spoke gains an App Gateway v2 (AGIC) in a subnet of its own: the body of the example's gateway
    (examples/private-network.json), moved into the spoke."""
    example = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    (agw,) = [r for r in example["resources"] if r["id"].endswith("/applicationGateways/agw-spoke")]
    text = (json.dumps(agw).replace("/resourceGroups/rg-spoke/", "/resourceGroups/rg-spoke-vwan/")
            .replace("/virtualNetworks/vnet-spoke/", "/virtualNetworks/vnet-spoke-vwan/")
            .replace("agw-spoke", "agw-spoke-vwan"))
    seed["resources"].append(json.loads(text))
    by_id = {r["id"].lower(): r for r in seed["resources"]}
    vnet = by_id[_net("rg-spoke-vwan", "virtualNetworks", "vnet-spoke-vwan").lower()]
    vnet["properties"]["subnets"].append({
        "name": "snet-appgw", "id": VWAN_AGW_SUBNET, "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": {"provisioningState": "Succeeded", "addressPrefix": "10.5.4.0/24", "delegations": []}})
    cluster = by_id[_cluster(VWAN_SPOKE).lower()]
    cluster["properties"]["addonProfiles"] = {"ingressApplicationGateway": {"enabled": True, "config": {
        "applicationGatewayId": VWAN_AGW, "effectiveApplicationGatewayId": VWAN_AGW}}}
    return seed


def _routes_of(emu: Any, subnet_id: str) -> set[tuple[str, str, str | None]]:
    table_ref = emu.get(subnet_id)["properties"].get("routeTable")
    table = emu.get(table_ref["id"]) if table_ref else None
    return {(r["properties"]["addressPrefix"], r["properties"]["nextHopType"], r["properties"].get("nextHopIpAddress"))
            for r in (table["properties"]["routes"] if table else [])}


def test_the_app_gateway_subnet_of_a_secured_hub_spoke_gets_its_direct_internet_route() -> None:
    """Microsoft's secured-hub App Gateway scenario (docs/platform-notes.md 13): the hub sends the spoke VNet
    0.0.0.0/0 (routing intent Internet policy, enableInternetSecurity on the connection), so the App Gateway subnet
    gets 0.0.0.0/0 -> Internet beside its AKS range -> hub firewall; the node subnet keeps the App Gateway subnet
    -> hub firewall. Nothing of the kind on a VNet hub's spokes."""
    settings = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_IDS": FIREWALL_IDS,
                "REMEDIATION_MODE": "enforce", "SPOKE_PREFIXES": SPOKE_PREFIX}
    hub_ip = OWN[VWAN_SPOKE][0]
    with harness(_with_vwan_app_gateway(_seed()), settings) as h:
        result = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert result.error is None and result.converged is True, [c.message for c in result.plan.conflicts]
        assert _routes_of(h.emu, VWAN_AGW_SUBNET) == {("0.0.0.0/0", "Internet", None),
                                                       ("10.5.0.0/22", "VirtualAppliance", hub_ip)}
        node = _net("rg-spoke-vwan", "virtualNetworks", "vnet-spoke-vwan") + "/subnets/snet-aks"
        assert ("10.5.4.0/24", "VirtualAppliance", hub_ip) in _routes_of(h.emu, node)
        for spoke in ("spoke-weu", "spoke-eus"):
            subnet = _net(f"rg-{spoke}", "virtualNetworks", f"vnet-{spoke}") + "/subnets/snet-aks"
            assert all(hop != "Internet" for _, hop, _ in _routes_of(h.emu, subnet)), spoke
        # The direct route is no flow through the firewall: status judges the gateway's flows to AKS only.
        from remediation.engine.status import scope_compliance
        from remediation.views import render_status

        report = scope_compliance(h.reconciler)
        assert report.compliant is True, render_status.render_text(report)
        h.emu.clear_log()
        again = h.reconciler.reconcile_combined(h.reconciler.scope_target(), dry_run=False)
        assert not again.plan.writes and again.error is None
