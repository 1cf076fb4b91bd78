"""The safety invariants end to end: the real Reconciler and SDK clients against the ARM emulator, on the
example topology, for the cases that were measured to damage a network. Assertions read the emulator's
state and request log, never the call sequence."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from remediation.core.model import Action, Severity
from remediation.engine.reconciler import Reconciler
from tests.reconciler.helpers import (
    APP_GATEWAY,
    APPGW_SUBNET,
    APPGW_TABLE,
    CNI,
    CUSTOMER_TABLE,
    HUB,
    OWNED_RCG,
    Seed,
    arm_writes,
    canonical,
    props,
    route_names,
    seed_item,
    settings_for,
    start_emulator,
)

HUB_VNET = f"{HUB}/virtualNetworks/vnet-hub"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Emulator]]:
    emulators: list[Emulator] = []
    yield emulators
    for emu in emulators:
        emu.stop()


def _world(started: list[Emulator], monkeypatch: pytest.MonkeyPatch, mutate: Any = None,
           **extra: str) -> tuple[Emulator, Reconciler]:
    emu = start_emulator(monkeypatch, mutate)
    started.append(emu)
    return emu, Reconciler(settings_for(emu, **extra))


@pytest.mark.parametrize("name", ["AzureFirewallSubnet", "GatewaySubnet"])
def test_prepare_subnet_on_a_platform_subnet_refuses_with_zero_writes(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    emu, reconciler = _world(started, monkeypatch)
    subnet_id = f"{HUB_VNET}/subnets/{name}"
    before = canonical(props(emu, subnet_id))
    emu.clear_log()
    result = reconciler.reconcile_combined(reconciler.subnet_target(subnet_id), dry_run=False)
    assert arm_writes(emu) == [] and result.arm_calls.writes == 0
    assert not result.plan.has_changes
    (refusal,) = result.plan.blocking_conflicts
    assert name in refusal.message and refusal.severity is Severity.CONFLICT
    assert result.plan.summary()["conflict"] == 1
    assert canonical(props(emu, subnet_id)) == before


def test_prepare_subnet_on_a_v2_gateway_subnet_never_writes_a_default_route(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    emu, reconciler = _world(started, monkeypatch)
    before = canonical(props(emu, APPGW_SUBNET))
    emu.clear_log()
    result = reconciler.reconcile_combined(reconciler.subnet_target(APPGW_SUBNET), dry_run=False)
    table = props(emu, APPGW_SUBNET).get("routeTable")
    prefixes = set()
    if table is not None:
        body = emu.get(table["id"])
        assert body is not None
        prefixes = {r["properties"]["addressPrefix"] for r in body["properties"].get("routes", [])}
    assert "0.0.0.0/0" not in prefixes
    # Issue #24.11: an App Gateway subnet is never "the AKS subnet": no spoke or P2S route either, nothing at
    # all is written (the sweep would remove it), and the refusal names the gateway.
    assert arm_writes(emu) == [] and canonical(props(emu, APPGW_SUBNET)) == before
    (refusal,) = result.plan.blocking_conflicts
    assert "hosts App Gateway" in refusal.message and result.converged is False


def _delete_gateway(seed: Seed) -> None:
    seed["resources"] = [r for r in seed["resources"] if str(r["id"]).lower() != APP_GATEWAY.lower()]


def test_a_deleted_app_gateway_takes_only_its_own_part_with_it(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    # FORCE_DEFAULT_ROUTE sends the gateway's cluster's egress through the firewall, so it has an egress rule
    # (the FQDN-tag application rule of the default profile) that must outlive its gateway.
    emu, reconciler = _world(started, monkeypatch, FORCE_DEFAULT_ROUTE="true")
    assert reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False).converged is True

    def egress_collections() -> dict[str, Any]:
        return {c["name"]: c for c in props(emu, OWNED_RCG)["ruleCollections"] if c["name"].startswith("rmd-egress")}

    egress_before = egress_collections()
    assert "aks-cni" in {r["name"] for r in egress_before["rmd-egress-fqdn"]["rules"]}
    emu.delete_foreign(APP_GATEWAY)

    result = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)

    assert result.converged is True
    collections = {c["name"]: c for c in props(emu, OWNED_RCG)["ruleCollections"]}
    assert "rmd-ingress" not in collections  # what only the gateway needed goes
    assert egress_collections() == egress_before  # the cluster's egress rules stay
    nodes = route_names(emu, CUSTOMER_TABLE)
    assert "rmd-appgw-10-1-4-0-24" not in nodes
    assert {"rmd-spoke-10-2-0-0-16", "rmd-p2s-172-16-201-0-24", "to-onprem"} <= nodes
    assert {n for n in route_names(emu, APPGW_TABLE) if n.startswith("rmd-")} == set()
    assert not [c for c in result.plan.changes
                if c.action is Action.DELETE and "rmd-spoke" in c.address]


def test_a_foreign_collection_inside_the_owned_group_survives_every_sweep(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    emu, reconciler = _world(started, monkeypatch)
    assert reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False).converged is True
    group = copy.deepcopy(emu.get(OWNED_RCG))
    assert group is not None
    foreign = {"ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "team-dns", "priority": 900,
               "action": {"type": "Allow"}, "rules": [{
                   "ruleType": "NetworkRule", "name": "dns", "ipProtocols": ["UDP"],
                   "sourceAddresses": ["10.1.0.0/22"], "sourceIpGroups": [], "destinationAddresses": ["10.0.0.53"],
                   "destinationIpGroups": [], "destinationFqdns": [], "destinationPorts": ["53"]}]}
    group["properties"]["ruleCollections"].append(foreign)
    emu.put_foreign(OWNED_RCG, {"properties": group["properties"]})
    # Drift elsewhere in the group forces a group PUT, which must carry the foreign collection over.
    emu.delete_foreign(f"{CUSTOMER_TABLE}/routes/rmd-spoke-10-2-0-0-16")
    edited = copy.deepcopy(emu.get(OWNED_RCG))
    assert edited is not None
    ingress = next(c for c in edited["properties"]["ruleCollections"] if c["name"] == "rmd-ingress")
    ingress["rules"][0]["destinationPorts"] = ["8443"]
    emu.put_foreign(OWNED_RCG, {"properties": edited["properties"]})

    emu.clear_log()
    result = reconciler.reconcile_combined(reconciler.scope_target(), dry_run=False)

    assert result.converged is True
    assert [w for w in arm_writes(emu) if w.startswith("PUT") and w.lower().endswith(OWNED_RCG.lower())]
    after = {c["name"]: c for c in props(emu, OWNED_RCG)["ruleCollections"]}
    assert canonical(after["team-dns"]) == canonical(foreign)
    assert "8443" not in next(r for r in after["rmd-ingress"]["rules"])["destinationPorts"]
    assert any(c.severity is Severity.NOTE and "team-dns" in c.message for c in result.plan.conflicts)


def _dual_stack(seed: Seed) -> None:
    vnet = seed_item(seed, f"{CUSTOMER_TABLE.split('/routeTables/')[0]}/virtualNetworks/vnet-spoke")
    vnet["properties"]["addressSpace"]["addressPrefixes"].append("fd00:1::/48")
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"] == "snet-aks-nodes":
            prefix = subnet["properties"].pop("addressPrefix")
            subnet["properties"]["addressPrefixes"] = [prefix, "fd00:1:0:1::/64"]


def test_a_dual_stack_node_subnet_gets_ipv4_routes_only_and_a_note(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    emu, reconciler = _world(started, monkeypatch, _dual_stack)
    result = reconciler.reconcile_combined(reconciler.resolve(CNI), dry_run=False)
    assert result.converged is True
    for table in (CUSTOMER_TABLE, APPGW_TABLE):
        body = emu.get(table)
        assert body is not None
        assert not [r for r in body["properties"]["routes"] if ":" in r["properties"]["addressPrefix"]]
    rules = [r for c in props(emu, OWNED_RCG)["ruleCollections"] for r in c["rules"]]
    assert rules and not [a for r in rules for a in (*r["sourceAddresses"], *r.get("destinationAddresses", ()))
                          if ":" in a]
    assert any("dual-stack" in c.message and c.severity is Severity.NOTE for c in result.plan.conflicts)


def _gateway_on_the_node_table(seed: Seed) -> None:
    vnet = seed_item(seed, f"{CUSTOMER_TABLE.split('/routeTables/')[0]}/virtualNetworks/vnet-spoke")
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"] == "snet-appgw":
            subnet["properties"]["routeTable"] = {"id": CUSTOMER_TABLE}


@pytest.mark.parametrize("target", ["cluster", "sweep"])
def test_node_and_gateway_subnets_on_one_table_never_get_their_own_ranges_or_a_default(
        started: list[Emulator], monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    emu, reconciler = _world(started, monkeypatch, _gateway_on_the_node_table, FORCE_DEFAULT_ROUTE="true")
    table = reconciler.resolve(CNI) if target == "cluster" else reconciler.scope_target()
    result = reconciler.reconcile_combined(table, dry_run=False)
    body = emu.get(CUSTOMER_TABLE)
    assert body is not None
    prefixes = {r["properties"]["addressPrefix"] for r in body["properties"]["routes"]}
    assert prefixes.isdisjoint({"0.0.0.0/0", "10.1.0.0/22", "10.1.4.0/24"})  # own ranges, v2 gateway default
    # What is safe for both subnets is still written: spokes, P2S, and the pod range (its own table).
    assert {"10.2.0.0/16", "172.16.201.0/24", "10.1.8.0/22"} <= prefixes
    refused = {c.address.rsplit("/", 1)[-1] for c in result.plan.blocking_conflicts}
    assert {"rmd-default", "rmd-appgw-10-1-4-0-24", "rmd-aks-10-1-0-0-22"} <= refused
    assert result.plan.summary()["conflict"] >= 3
