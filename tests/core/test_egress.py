"""Egress profiles (remediation/planning/egress.py, docs/egress.md): table-driven, per profile and per cloud."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from remediation.azure import convert
from remediation.azure.egress_reads import endpoints_from_arm
from remediation.core import arm_shapes
from remediation.core.ids import id_key
from remediation.core.model import (
    ApplicationRule,
    EgressObservation,
    EndpointList,
    NetworkRule,
    Plan,
    ReconcileResult,
    RuleCollection,
    Snapshot,
)
from remediation.planning import desired, egress, plan
from remediation.views import render
from tests.core import factories as f

EXAMPLE = Path(__file__).parents[1] / "emulator" / "data" / "OutboundNetworkDependenciesEndpointsList.json"
UDR = {"outbound_type": "userDefinedRouting"}
BROAD = {"*", "internet", "azurecloud"}


def _collections(snap: Snapshot, **settings: Any) -> dict[str, RuleCollection]:
    collections, _ = desired.desired_rule_collections(snap, f.settings(**settings))
    return {c.name: c for c in collections}


def _reports(snap: Snapshot, **settings: Any) -> list[str]:
    _, skips = desired.desired_rule_collections(snap, f.settings(**settings))
    return [s.reason for s in skips]


def _snap(cluster: dict[str, Any] | None = None, **kwargs: Any) -> Snapshot:
    return f.hub_spoke(aks=f.cluster(**(cluster or {})), with_appgw=False, with_vpn=False, **kwargs)


def _rules(collections: dict[str, RuleCollection]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    network = [(r.name, r.protocols, r.destination_addresses, r.destination_ports, r.destination_fqdns)
               for c in collections.values() if not c.is_application for r in c.rules]
    application = [(r.name, r.protocols, r.fqdn_tags, r.target_fqdns)
                   for c in collections.values() if c.is_application for r in c.application_rules]
    return network, application


TAG_RULE = ("aks1", ("Http:80", "Https:443"), ("AzureKubernetesService",), ())
TUNNEL = [("aks1-tunnel-tcp", ("TCP",), ("AzureCloud.westeurope",), ("9000",), ()),
          ("aks1-tunnel-udp", ("UDP",), ("AzureCloud.westeurope",), ("1194",), ())]
DEFAULT_TO_FW = f.route_table("customer", [f.fw_route("to-fw", "0.0.0.0/0")], [f.NODE_SUBNET])
DEFAULT_ELSEWHERE = f.route_table("customer", [f.fw_route("to-nva", "0.0.0.0/0", "10.9.9.9")], [f.NODE_SUBNET])

AKS_REQUIRED_CASES = [
    # (id, cluster overrides, snapshot kwargs, settings, network rules, application rules)
    ("udr-private", {**UDR, "private_cluster": True}, {}, {}, [], [TAG_RULE]),
    ("udr-public", UDR, {}, {}, TUNNEL, [TAG_RULE]),
    ("loadbalancer", {}, {}, {}, [], []),
    ("loadbalancer-foreign-default-to-firewall", {"private_cluster": True},
     {"node_table": "customer", "tables": [DEFAULT_TO_FW]}, {}, [], [TAG_RULE]),
    ("loadbalancer-default-to-another-appliance", {"private_cluster": True},
     {"node_table": "customer", "tables": [DEFAULT_ELSEWHERE]}, {}, [], []),
    ("force-default-route", {"private_cluster": True}, {}, {"force_default_route": True}, [], [TAG_RULE]),
    ("other-region", {**UDR, "location": "West US 2"}, {}, {},
     [(n, p, ("AzureCloud.westus2",), ports, fq) for n, p, _, ports, fq in TUNNEL], [TAG_RULE]),
]


@pytest.mark.parametrize(("cluster", "kwargs", "settings", "network", "application"),
                         [c[1:] for c in AKS_REQUIRED_CASES], ids=[c[0] for c in AKS_REQUIRED_CASES])
def test_aks_required_profile(cluster: dict[str, Any], kwargs: dict[str, Any], settings: dict[str, Any],
                              network: list[Any], application: list[Any]) -> None:
    collections = _collections(_snap(cluster, **kwargs), **settings)
    assert _rules(collections) == (network, application)
    if application:
        app = collections["rmd-egress-fqdn"]
        assert (app.priority, app.action, app.is_application) == (205, "Allow", True)
        assert app.application_rules[0].source_addresses == (f.NODE_PREFIX,)


CLOUD_CASES = [
    # (cloud, private, application rule (protocols, tags, fqdns), network rules)
    ("AzureCloud", True, (("Http:80", "Https:443"), ("AzureKubernetesService",), ()), []),
    ("AzureUSGovernment", True,
     (("Https:443",), (), ("*.data.mcr.microsoft.com", "*.hcp.westeurope.cx.aks.containerservice.azure.us",
                           "acs-mirror.azureedge.net", "login.microsoftonline.us", "management.usgovcloudapi.net",
                           "mcr.microsoft.com", "packages.microsoft.com")),
     [("aks1-tunnel-tcp", ("TCP",), ("AzureCloud.westeurope",), ("9000",), ()),
      ("aks1-tunnel-udp", ("UDP",), ("AzureCloud.westeurope",), ("1194",), ())]),
    ("AzureChinaCloud", True,
     (("Https:443",), (), ("*.azk8s.cn", "*.data.mcr.microsoft.com", "*.hcp.westeurope.cx.prod.service.azk8s.cn",
                           "*.tun.westeurope.cx.prod.service.azk8s.cn", "login.chinacloudapi.cn",
                           "management.chinacloudapi.cn", "mcr.microsoft.com", "packages.microsoft.com")),
     [("aks1-tunnel-tcp", ("TCP",), ("AzureCloud.westeurope",), ("22", "9000"), ()),
      ("aks1-tunnel-udp", ("UDP",), ("AzureCloud.westeurope",), ("1194",), ())]),
]


@pytest.mark.parametrize(("cloud", "private", "application", "network"), CLOUD_CASES,
                         ids=[c[0] for c in CLOUD_CASES])
def test_aks_required_per_cloud(cloud: str, private: bool, application: tuple[Any, ...],
                                network: list[Any]) -> None:
    snap = _snap({**UDR, "private_cluster": private})
    collections = _collections(snap, cloud=cloud)
    assert _rules(collections) == (network, [("aks1", *application)])
    reports = _reports(snap, cloud=cloud)
    # What a cloud's page does not document (the FQDN tag) is reported, not guessed.
    assert bool(reports) == (cloud != "AzureCloud")
    assert all("not documented" in r for r in reports)


def _endpoint_snap(listed: EndpointList, *, proxy: bool | None, private: bool = False) -> Snapshot:
    snap = _snap({**UDR, "private_cluster": private})
    observation = EgressObservation({id_key(f.CLUSTER): listed}, proxy, None if proxy is not None else "Http403")
    return dataclasses.replace(snap, egress=observation)


def _example() -> EndpointList:
    return endpoints_from_arm(json.loads(EXAMPLE.read_text())["responses"]["200"]["body"]["value"])


def test_aks_endpoints_profile_from_the_spec_example_with_dns_proxy() -> None:
    collections = _collections(_endpoint_snap(_example(), proxy=True), egress_profile="aks-endpoints")
    network, application = _rules(collections)
    assert ("aks1-time-sync", ("UDP",), (), ("123",), ("ntp.ubuntu.com",)) in network
    # The tunnel's wildcard name cannot be a network rule: the documented region tag stands in for it.
    assert ("aks1-tunnel-classic", ("TCP",), ("AzureCloud.westeurope",), ("9000",), ()) in network
    assert len(network) == 2
    by_name = {name: (protocols, fqdns) for name, protocols, _, fqdns in application}
    assert by_name["aks1-images"] == (("Https:443",), ("*.data.mcr.microsoft.com", "mcr.microsoft.com"))
    assert by_name["aks1-ubuntu-optional"] == (
        ("Http:80",), ("azure.archive.ubuntu.com", "changelogs.ubuntu.com", "security.ubuntu.com"))
    assert by_name["aks1-apiserver"] == (("Https:443",), ("*.azmk8s.io",))
    # Categories are kept in the rule descriptions.
    app = collections["rmd-egress-fqdn"]
    assert {r.description for r in app.application_rules} == {
        "azure-resource-management", "images", "artifacts", "ubuntu-optional", "gpu", "windows", "apiserver"}


@pytest.mark.parametrize("proxy", [False, None], ids=["proxy-off", "proxy-unknown"])
def test_aks_endpoints_without_dns_proxy_reports_fqdn_network_rules(proxy: bool | None) -> None:
    snap = _endpoint_snap(_example(), proxy=proxy)
    network, _ = _rules(_collections(snap, egress_profile="aks-endpoints"))
    assert all(not fqdns for *_, fqdns in network)  # never a rule that cannot match
    reports = _reports(snap, egress_profile="aks-endpoints")
    assert any("ntp.ubuntu.com UDP 123" in r and "DNS proxy" in r for r in reports)


@pytest.mark.parametrize("listed", [EndpointList(error="AuthorizationFailed: denied"), EndpointList()],
                         ids=["read-failed", "empty"])
def test_aks_endpoints_falls_back_to_aks_required_with_a_reason(listed: EndpointList) -> None:
    snap = _endpoint_snap(listed, proxy=True, private=True)
    assert _rules(_collections(snap, egress_profile="aks-endpoints")) == ([], [TAG_RULE])
    assert any("aks-required" in r for r in _reports(snap, egress_profile="aks-endpoints"))


CUSTOM = {"egress_profile": "custom", "egress_destinations": ("AzureCloud.westeurope", "10.50.0.0/16"),
          "egress_ports": ("443",), "egress_protocols": ("TCP",)}


def test_custom_profile_is_one_network_rule_per_firewalled_cluster() -> None:
    assert _rules(_collections(_snap(UDR), **CUSTOM)) == (
        [("aks1", ("TCP",), ("10.50.0.0/16", "AzureCloud.westeurope"), ("443",), ())], [])
    assert _collections(_snap({}), **CUSTOM) == {}  # loadBalancer: the firewall never sees its egress


@pytest.mark.parametrize(("proxy", "fqdns", "reported"), [(True, ("ntp.ubuntu.com",), False), (False, None, True)],
                         ids=["dns-proxy-on", "dns-proxy-off"])
def test_custom_fqdn_destinations_need_the_dns_proxy(proxy: bool, fqdns: tuple[str, ...] | None,
                                                     reported: bool) -> None:
    settings = {**CUSTOM, "egress_destinations": (), "egress_ports": ("123",), "egress_protocols": ("UDP",),
                "egress_destination_fqdns": ("ntp.ubuntu.com",)}
    snap = _endpoint_snap(EndpointList(), proxy=proxy)
    network, _ = _rules(_collections(snap, **settings))
    assert network == ([("aks1", ("UDP",), (), ("123",), fqdns)] if fqdns else [])
    assert any("DNS proxy" in r for r in _reports(snap, **settings)) is reported


def test_custom_broad_egress_carries_a_warning_in_every_plan() -> None:
    settings = {**CUSTOM, "egress_destinations": ("AzureCloud",), "allow_broad_egress": True}
    reports = _reports(_snap(UDR), **settings)
    assert len(reports) == 1 and reports[0].startswith("warning: ")


@pytest.mark.parametrize("profile", ["aks-required", "aks-endpoints", "custom"])
def test_extra_fqdns_add_an_application_rule_on_any_profile(profile: str) -> None:
    extra = {**CUSTOM, "egress_profile": profile, "egress_extra_fqdns": ("myregistry.azurecr.io",)}
    snap = _endpoint_snap(_example(), proxy=True)
    rules = {r.name: r for r in _collections(snap, **extra)["rmd-egress-fqdn"].application_rules}
    assert rules["extra-fqdns"] == ApplicationRule("extra-fqdns", (f.NODE_PREFIX,), ("Https:443",),
                                                   target_fqdns=("myregistry.azurecr.io",),
                                                   description="EGRESS_EXTRA_FQDNS")


@pytest.mark.parametrize("profile", ["aks-required", "aks-endpoints"])
@pytest.mark.parametrize("cloud", ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"])
def test_no_profile_ever_writes_a_broad_destination(profile: str, cloud: str) -> None:
    snap = _endpoint_snap(_example(), proxy=True)
    for collection in _collections(snap, egress_profile=profile, cloud=cloud).values():
        for rule in collection.rules:
            assert not {d.lower() for d in rule.destination_addresses} & BROAD, rule


# --------------------------------------------------------------------------------------------- plan, render


def _group_body(collections: dict[str, RuleCollection]) -> dict[str, Any]:
    return {"id": f"{f.POLICY}/ruleCollectionGroups/rmd-aks-runbook", "name": "rmd-aks-runbook",
            "properties": {"priority": 250, "ruleCollections": plan.rule_collections_to_arm(collections.values())}}


def test_application_collections_round_trip_through_arm_and_plan_no_changes() -> None:
    snap = _endpoint_snap(_example(), proxy=True)
    settings = f.settings(egress_profile="aks-endpoints", egress_extra_fqdns=("myregistry.azurecr.io",))
    collections, _ = desired.desired_rule_collections(snap, settings)
    observed = convert.rule_collection_group_from_arm(_group_body({c.name: c for c in collections}))
    again = dataclasses.replace(snap, rule_collection_group=observed)
    (change,) = plan.plan_firewall(again, collections, settings)
    assert change.action.value == "noop"


def test_classic_firewall_gets_an_application_collection_and_a_second_plan_is_a_noop() -> None:
    snap = _snap(UDR, fw=f.firewall(policy_id=None))
    settings = f.settings()
    collections, _ = desired.desired_rule_collections(snap, settings)
    changes = plan.plan_firewall(snap, collections, settings)
    by_kind = {(c.kind.value, c.address.rsplit("/", 2)[-2]) for c in changes}
    assert ("firewallApplicationRuleCollection", "applicationRuleCollections") in by_kind
    assert ("firewallNetworkRuleCollection", "networkRuleCollections") in by_kind  # the tunnel rules
    body = {"id": f.FIREWALL, "name": "fw", "properties": {
        "ipConfigurations": [{"properties": {"privateIPAddress": f.FW_IP}}],
        "networkRuleCollections": [{"name": c.address.rsplit("/", 1)[-1], "properties": arm_shapes.after(c)}
                                   for c in changes if c.kind.value == "firewallNetworkRuleCollection"],
        "applicationRuleCollections": [{"name": c.address.rsplit("/", 1)[-1], "properties": arm_shapes.after(c)}
                                       for c in changes if c.kind.value == "firewallApplicationRuleCollection"]}}
    again = dataclasses.replace(snap, firewall=convert.firewall_from_arm(body))
    assert {c.action.value for c in plan.plan_firewall(again, collections, settings)} == {"noop"}


def test_application_rule_renders_like_a_network_rule() -> None:
    snap = _snap({**UDR, "private_cluster": True})
    collections, _ = desired.desired_rule_collections(snap, f.settings())
    changes = plan.plan_firewall(snap, collections, f.settings())
    text = render.render_text(ReconcileResult("firewall:x", True, Plan("firewall:x", changes)))
    assert "    + rule aks1: Http:80,Https:443 10.1.0.0/22 -> fqdnTags AzureKubernetesService" in text
    (rule,) = render.to_json(ReconcileResult("firewall:x", True, Plan("firewall:x", changes)))["changes"][0][
        "after"]["ruleCollections"][0]["rules"]
    assert rule == {"ruleType": "ApplicationRule", "name": "aks1", "description": "AKS required egress (FQDN tag)",
                    "sourceAddresses": ["10.1.0.0/22"], "protocols": [{"protocolType": "Http", "port": 80},
                                                                      {"protocolType": "Https", "port": 443}],
                    "fqdnTags": ["AzureKubernetesService"], "targetFqdns": []}


def test_network_rule_with_fqdns_renders_its_fqdns() -> None:
    rule = NetworkRule("aks1-time-sync", ("UDP",), ("10.1.0.0/22",), (), ("123",), ("ntp.ubuntu.com",))
    body = plan.rule_collections_to_arm([RuleCollection("rmd-egress", 200, "Allow", (rule,))])
    assert render._rule_text(body[0]["rules"][0]) == "UDP 10.1.0.0/22 -> ntp.ubuntu.com ports 123"


def test_egress_path_reasons() -> None:
    settings = f.settings()
    assert egress.egress_path(_snap(UDR), f.cluster(**UDR), settings) == "outboundType userDefinedRouting"
    snap = _snap({}, node_table="customer", tables=[DEFAULT_TO_FW])
    assert egress.egress_path(snap, f.cluster(), settings) == "route to-fw on customer sends 0.0.0.0/0 to the firewall"
    assert egress.egress_path(_snap({}), f.cluster(), settings) is None
    # The firewall pass reads the node subnet's table only for clusters the outbound type does not decide.
    assert egress.tables_to_read(snap, settings) == (f.table_id("customer"),)
    assert egress.tables_to_read(_snap(UDR, node_table="customer"), settings) == ()


def test_broad_egress_warning_renders_as_a_warning_line() -> None:
    settings = f.settings(**{**CUSTOM, "egress_destinations": ("AzureCloud",), "allow_broad_egress": True})
    _, skips = desired.desired_rule_collections(_snap(UDR), settings)
    text = render.render_text(ReconcileResult("scope:x", True, Plan("scope:x", skipped=skips)))
    assert text.splitlines()[1].startswith("warning ALLOW_BROAD_EGRESS: EGRESS_PROFILE=custom opens egress to ")
