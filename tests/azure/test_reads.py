"""Reads: the seeded private-network topology parses into the project's models."""

from __future__ import annotations

from collections import Counter

from emulator import Emulator
from remediation.azure.arm import ArmClient
from remediation.core import ids
from remediation.core.config import Settings
from remediation.engine.observe import observe_cluster, observe_firewall, observe_fleet, observe_subnet

from .conftest import AKS, FIREWALL_ID, HUB, SPOKE

VNET_SPOKE = f"{SPOKE}/virtualNetworks/vnet-spoke"
RT_NODES = f"{SPOKE}/routeTables/rt-spoke-nodes"
AGW = f"{SPOKE}/applicationGateways/agw-spoke"


def test_clusters_parse(arm: ArmClient) -> None:
    clusters = {c.name: c for c in arm.list_clusters()}
    assert set(clusters) == {"aks-cni", "aks-overlay", "aks-kubenet"}
    cni = clusters["aks-cni"]
    assert (cni.network_plugin, cni.network_plugin_mode, cni.outbound_type) == ("azure", None, "loadBalancer")
    assert [ids.parse_resource_id(s).name for s in cni.node_subnet_ids] == ["snet-aks-nodes"]
    assert [ids.parse_resource_id(s).name for s in cni.pod_subnet_ids] == ["snet-aks-pods"]
    assert ids.same_id(cni.ingress_gateway_id, AGW)
    assert cni.provisioning_state == "Succeeded"
    overlay = clusters["aks-overlay"]
    assert (overlay.network_plugin_mode, overlay.outbound_type) == ("overlay", "userDefinedRouting")
    assert overlay.pod_subnet_ids == ()
    assert clusters["aks-kubenet"].network_plugin == "kubenet"
    assert arm.get_cluster(f"{AKS}/aks-cni") == cni


def test_missing_resources_are_none(arm: ArmClient) -> None:
    assert arm.get_cluster(f"{AKS}/nope") is None
    assert arm.get_route_table(f"{SPOKE}/routeTables/nope") is None
    assert arm.get_subnet(f"{SPOKE}/virtualNetworks/nope/subnets/x") is None
    assert arm.get_subnet(f"{VNET_SPOKE}/subnets/nope") is None
    assert arm.get_rule_collection_group(f"{HUB}/firewallPolicies/fwpol-hub", "rmd-aks-runbook") is None


def test_firewall_and_gateways_parse(arm: ArmClient) -> None:
    fw = arm.get_firewall(FIREWALL_ID)
    assert fw is not None
    assert fw.private_ip == "10.0.1.4"
    assert fw.sku_name == "AZFW_VNet"
    assert ids.same_id(fw.policy_id, f"{HUB}/firewallPolicies/fwpol-hub")
    (vpn,) = arm.list_vpn_gateways_in("00000000-0000-0000-0000-000000000000", "rg-hub")
    assert vpn.name == "vpngw-hub" and vpn.p2s_prefixes == ("172.16.201.0/24",)
    assert [ids.parse_resource_id(v).name for v in vpn.vnet_ids] == ["vnet-hub"]  # its GatewaySubnet's VNet
    (agw,) = arm.list_app_gateways()
    assert (agw.sku_name, agw.sku_tier, agw.network_isolated) == ("Standard_v2", "Standard_v2", False)
    assert agw.subnet_id is not None and agw.subnet_id.endswith("/snet-appgw")
    group = arm.get_rule_collection_group(f"{HUB}/firewallPolicies/fwpol-hub", "platform-baseline")
    assert group is not None and group.rule_collections[0].rules[0].protocols == ("UDP",)


def test_route_tables_and_subnets_parse(arm: ArmClient) -> None:
    table = arm.get_route_table(RT_NODES)
    assert table is not None
    assert [(r.name, r.address_prefix, r.next_hop_type) for r in table.routes] == [
        ("to-onprem", "192.168.0.0/16", "VirtualNetworkGateway")]
    assert table.tags == {"owner": "network-team"}
    assert [ids.parse_resource_id(s).name for s in table.subnet_ids] == ["snet-aks-nodes"]
    nodes = arm.get_subnet(f"{VNET_SPOKE}/subnets/snet-aks-nodes")
    assert nodes is not None
    assert nodes.address_prefixes == ("10.1.0.0/22",) and nodes.location == "westeurope"
    assert ids.same_id(nodes.route_table_id, RT_NODES)
    names = {s.name for s in arm.list_subnets()}
    assert {"snet-aks-nodes", "snet-aks-pods", "snet-appgw", "GatewaySubnet"} <= names
    assert [t.name for t in arm.list_route_tables()] == ["rt-spoke-nodes"]


def _gets(emu: Emulator) -> list[str]:
    return [r.path.lower() for r in emu.request_log
            if r.method == "GET" and "/operations/" not in r.path.lower()]


def test_observe_cluster_reads_each_resource_once(emu: Emulator, arm: ArmClient,
                                                  settings: Settings) -> None:
    emu.clear_log()
    snap = observe_cluster(arm, f"{AKS}/aks-cni", settings)
    gets = _gets(emu)
    assert [p for p, n in Counter(gets).items() if n > 1] == []
    assert arm.arm_calls.reads == len(gets) and arm.arm_calls.writes == 0
    assert set(snap.clusters) == {ids.id_key(f"{AKS}/aks-cni")}
    names = {s.name for s in snap.subnets.values()}
    assert names == {"snet-aks-nodes", "snet-aks-pods", "snet-appgw"}
    assert set(snap.route_tables) == {ids.id_key(RT_NODES)}
    assert set(snap.app_gateways) == {ids.id_key(AGW)}
    assert snap.firewall is not None and snap.firewall.private_ip == "10.0.1.4"
    assert snap.rule_collection_group is None
    assert [g.p2s_prefixes for g in snap.vpn_gateways] == [("172.16.201.0/24",)]
    assert snap.absent == frozenset()


def test_observe_missing_cluster_records_absent(arm: ArmClient, settings: Settings) -> None:
    snap = observe_cluster(arm, f"{AKS}/gone", settings)
    assert snap.absent == {ids.id_key(f"{AKS}/gone")} and not snap.clusters


def test_observe_firewall_reads_do_not_grow_with_clusters(emu: Emulator, arm: ArmClient,
                                                         settings: Settings) -> None:
    emu.clear_log()
    snap = observe_firewall(arm, settings)
    assert len(snap.clusters) == 3
    assert snap.firewall is not None
    assert ids.id_key(f"{HUB}/firewallPolicies/fwpol-hub/ruleCollectionGroups/rmd-aks-runbook") in snap.absent
    gets = _gets(emu)
    assert [p for p, n in Counter(gets).items() if n > 1] == []
    assert not any("managedclusters/" in p for p in gets)  # clusters come from one list, never one by one
    assert len(gets) <= 8


def test_observe_fleet_and_subnet(arm: ArmClient, settings: Settings) -> None:
    fleet = observe_fleet(arm, settings)
    assert ids.id_key(RT_NODES) in fleet.route_tables and len(fleet.clusters) == 3
    snap = observe_subnet(arm, f"{VNET_SPOKE}/subnets/snet-aks-nodes", settings)
    assert set(snap.route_tables) == {ids.id_key(RT_NODES)}
    assert snap.firewall is not None
