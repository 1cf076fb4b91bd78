"""Egress profiles end to end (docs/egress.md): the real SDK clients against the emulator, policy-based and
classic firewalls, the endpoint list, a second plan, and bad egress settings through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from emulator.egress_support import set_outbound_endpoints
from remediation.cli.main import main
from remediation.views import render
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import (
    BASE_SETTINGS,
    FIREWALL,
    OVERLAY,
    OWNED_RCG,
    POLICY,
    Seed,
    arm_writes,
    props,
    seed_item,
    start_emulator,
)

EXAMPLE = Path(__file__).parents[1] / "emulator" / "data" / "OutboundNetworkDependenciesEndpointsList.json"
BROAD = {"*", "internet", "azurecloud"}
TAG_RULE = {"ruleType": "ApplicationRule", "name": "aks-overlay", "description": "AKS required egress (FQDN tag)",
            "sourceAddresses": ["10.1.5.0/24"], "protocols": [{"protocolType": "Http", "port": 80},
                                                             {"protocolType": "Https", "port": 443}],
            "fqdnTags": ["AzureKubernetesService"], "targetFqdns": []}


def classic_firewall(seed: Seed) -> None:
    seed_item(seed, FIREWALL)["properties"].pop("firewallPolicy")


def public_overlay(seed: Seed) -> None:
    seed_item(seed, OVERLAY)["properties"]["apiServerAccessProfile"] = {"enablePrivateCluster": False}


def _collections(emu: Emulator) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in props(emu, OWNED_RCG)["ruleCollections"]}


def _no_broad_destination(collections: list[dict[str, Any]]) -> bool:
    return all(not {d.lower() for d in r.get("destinationAddresses") or []} & BROAD
               for c in collections for r in (c.get("rules") or c.get("properties", {}).get("rules") or []))


def test_forced_tunnelled_cluster_behind_a_policy_gets_the_fqdn_tag_rule(world: WorldFactory) -> None:
    w = world()
    result = w.run(OVERLAY)
    assert result.converged is True
    collections = _collections(w.emu)
    assert collections["rmd-egress-fqdn"]["rules"] == [TAG_RULE]
    assert "rmd-egress" not in collections  # a private cluster needs no tunnel network rule
    assert _no_broad_destination(list(collections.values()))
    w.reset_log()
    second = w.run(OVERLAY, dry_run=True)
    assert "No changes." in render.render_text(second).splitlines()
    assert arm_writes(w.emu) == []


def test_public_cluster_gets_region_scoped_tunnel_rules_only(world: WorldFactory) -> None:
    w = world(public_overlay)
    assert w.run(OVERLAY).converged is True
    egress = {r["name"]: r for r in _collections(w.emu)["rmd-egress"]["rules"]}
    assert {n: (r["ipProtocols"], r["destinationAddresses"], r["destinationPorts"]) for n, r in egress.items()} == {
        "aks-overlay-tunnel-tcp": (["TCP"], ["AzureCloud.westeurope"], ["9000"]),
        "aks-overlay-tunnel-udp": (["UDP"], ["AzureCloud.westeurope"], ["1194"])}
    assert "No changes." in render.render_text(w.run(OVERLAY, dry_run=True))


def test_forced_tunnelled_cluster_behind_a_classic_firewall(world: WorldFactory) -> None:
    w = world(classic_firewall, EGRESS_EXTRA_FQDNS="myregistry.azurecr.io")
    assert w.run(OVERLAY).converged is True
    firewall = props(w.emu, FIREWALL)
    (application,) = firewall["applicationRuleCollections"]
    rules = {r["name"]: r for r in application["properties"]["rules"]}
    assert rules["aks-overlay"]["fqdnTags"] == ["AzureKubernetesService"]
    assert rules["extra-fqdns"]["targetFqdns"] == ["myregistry.azurecr.io"]
    assert _no_broad_destination(firewall["networkRuleCollections"])
    assert w.emu.get(OWNED_RCG) is None
    w.reset_log()
    second = w.run(OVERLAY, dry_run=True)
    assert not second.plan.has_changes and arm_writes(w.emu) == []


def test_aks_endpoints_profile_writes_the_clusters_own_list(world: WorldFactory) -> None:
    w = world(EGRESS_PROFILE="aks-endpoints")
    set_outbound_endpoints(w.emu, OVERLAY, json.loads(EXAMPLE.read_text())["responses"]["200"]["body"])
    assert w.run(OVERLAY).converged is True
    collections = _collections(w.emu)
    apps = {r["name"]: r for r in collections["rmd-egress-fqdn"]["rules"]}
    assert apps["aks-overlay-images"]["targetFqdns"] == ["*.data.mcr.microsoft.com", "mcr.microsoft.com"]
    assert apps["aks-overlay-images"]["description"] == "images"
    network = {r["name"]: r for r in collections["rmd-egress"]["rules"]}
    # The example policy has its DNS proxy on: the NTP FQDN is a network rule the emulator accepts.
    assert network["aks-overlay-time-sync"]["destinationFqdns"] == ["ntp.ubuntu.com"]
    assert network["aks-overlay-tunnel-classic"]["destinationAddresses"] == ["AzureCloud.westeurope"]
    w.reset_log()
    assert not w.run(OVERLAY, dry_run=True).plan.has_changes


def test_aks_endpoints_with_the_dns_proxy_off_reports_instead_of_writing(world: WorldFactory) -> None:
    def proxy_off(seed: Seed) -> None:
        seed_item(seed, POLICY)["properties"]["dnsSettings"] = {"enableProxy": False, "servers": []}

    w = world(proxy_off, EGRESS_PROFILE="aks-endpoints")
    set_outbound_endpoints(w.emu, OVERLAY, json.loads(EXAMPLE.read_text())["responses"]["200"]["body"])
    result = w.run(OVERLAY)
    assert result.converged is True
    assert all(not r.get("destinationFqdns") for r in _collections(w.emu)["rmd-egress"]["rules"])
    assert any("ntp.ubuntu.com UDP 123" in s.reason and "dnsSettings.enableProxy is off" in s.reason
               for s in result.plan.skipped)


def test_endpoint_list_denied_falls_back_to_aks_required_with_the_reason(world: WorldFactory) -> None:
    w = world(EGRESS_PROFILE="aks-endpoints")
    w.emu.faults.add("GET", r"/outboundNetworkDependenciesEndpoints$", kind="status", status=403,
                     code="AuthorizationFailed", message="no read right", count=100)
    result = w.run(OVERLAY)
    assert result.converged is True
    assert _collections(w.emu)["rmd-egress-fqdn"]["rules"] == [TAG_RULE]
    reasons = [s.reason for s in result.plan.skipped if "outboundNetworkDependenciesEndpoints" in s.target]
    assert reasons and "AuthorizationFailed" in reasons[0] and "aks-required" in reasons[0]


# --------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emu = start_emulator(monkeypatch)
    monkeypatch.setenv("ARM_ENDPOINT", emu.base_url)
    try:
        yield emu
    finally:
        emu.stop()


BAD = [
    ("unknown-profile", {"EGRESS_PROFILE": "open"}, "EGRESS_PROFILE"),
    ("fqdn-not-a-hostname", {"EGRESS_EXTRA_FQDNS": "not a host"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-with-scheme", {"EGRESS_EXTRA_FQDNS": "https://myregistry.azurecr.io"}, "EGRESS_EXTRA_FQDNS"),
    ("fqdn-with-path", {"EGRESS_EXTRA_FQDNS": "myregistry.azurecr.io/v2/"}, "EGRESS_EXTRA_FQDNS"),
    ("unknown-fqdn-tag", {"EGRESS_FQDN_TAGS": "AzureKubernetes"}, "EGRESS_FQDN_TAGS"),
    ("custom-broad", {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATIONS": "Internet"}, "EGRESS_DESTINATIONS"),
]


@pytest.mark.parametrize(("change", "setting"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_egress_setting_is_one_line_exit_1_and_no_arm_call(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, live: Emulator, change: dict[str, str],
        setting: str) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {**BASE_SETTINGS, **change}}), encoding="utf-8")
    code = main(["apply", "--target", OVERLAY, "--settings", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {setting}: ")
    assert live.request_log == []


CUSTOM_NTP = {"EGRESS_PROFILE": "custom", "EGRESS_DESTINATION_FQDNS": "ntp.ubuntu.com", "EGRESS_PORTS": "123",
              "EGRESS_PROTOCOLS": "UDP"}


def test_custom_fqdn_rule_behind_a_policy_with_the_dns_proxy(world: WorldFactory) -> None:
    w = world(**CUSTOM_NTP)
    assert w.run(OVERLAY).converged is True
    (rule,) = _collections(w.emu)["rmd-egress"]["rules"]
    assert (rule["destinationFqdns"], rule["destinationAddresses"]) == (["ntp.ubuntu.com"], [])
    assert not w.run(OVERLAY, dry_run=True).plan.has_changes


def test_custom_fqdn_rule_on_a_classic_firewall_without_dns_proxy_is_reported(world: WorldFactory) -> None:
    w = world(classic_firewall, **CUSTOM_NTP)
    result = w.run(OVERLAY)
    assert result.converged is True
    assert not any(c["name"] == "rmd-egress" for c in props(w.emu, FIREWALL)["networkRuleCollections"])
    assert any("ntp.ubuntu.com" in s.reason and "Network.DNS.EnableProxy" in s.reason for s in result.plan.skipped)
