"""Small builders for the pure-core tests: a hub-and-spoke topology with one AKS cluster behind a firewall.

Addresses (hub 10.0.0.0/16, spoke 10.1.0.0/16):
  firewall 10.0.1.4 (AzureFirewallSubnet 10.0.1.0/26), GatewaySubnet 10.0.255.0/27, P2S pool 172.16.201.0/24
  aks nodes 10.1.0.0/22, aks pods 10.1.8.0/22, App Gateway subnet 10.1.4.0/24
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from remediation.core.config import Settings, load_settings
from remediation.core.ids import id_key
from remediation.core.model import (
    ObservedAppGateway,
    ObservedCluster,
    ObservedFirewall,
    ObservedHubConnection,
    ObservedPeering,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    Route,
    Snapshot,
)

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/spoke-rg"
HUB_RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/spoke-vnet"
HUB_VNET = f"{HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub-vnet"
NODE_SUBNET = f"{VNET}/subnets/aks-nodes"
POD_SUBNET = f"{VNET}/subnets/aks-pods"
APPGW_SUBNET = f"{VNET}/subnets/appgw"
CLUSTER = f"{RG}/providers/Microsoft.ContainerService/managedClusters/aks1"
APPGW = f"{RG}/providers/Microsoft.Network/applicationGateways/agw1"
FIREWALL = f"{HUB_RG}/providers/Microsoft.Network/azureFirewalls/fw"
POLICY = f"{HUB_RG}/providers/Microsoft.Network/firewallPolicies/fw-policy"
VPN = f"{HUB_RG}/providers/Microsoft.Network/virtualNetworkGateways/vpn"
FW_IP = "10.0.1.4"
NODE_PREFIX = "10.1.0.0/22"
POD_PREFIX = "10.1.8.0/22"
APPGW_PREFIX = "10.1.4.0/24"
P2S_PREFIX = "172.16.201.0/24"
GATEWAY_SUBNET_PREFIX = "10.0.255.0/27"


def settings(**overrides: Any) -> Settings:
    base = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL})
    return dataclasses.replace(base, **overrides)


def table_id(name: str, rg: str = RG) -> str:
    return f"{rg}/providers/Microsoft.Network/routeTables/{name}"


def subnet(subnet_id: str, prefix: str, route_table_id: str | None = None) -> ObservedSubnet:
    return ObservedSubnet(subnet_id, subnet_id.rsplit("/", 1)[-1], (prefix,), "westeurope", route_table_id)


def cluster(**overrides: Any) -> ObservedCluster:
    base = ObservedCluster(
        id=CLUSTER,
        name="aks1",
        location="westeurope",
        provisioning_state="Succeeded",
        network_plugin="azure",
        network_plugin_mode="overlay",
        outbound_type="loadBalancer",
        node_subnet_ids=(NODE_SUBNET,),
    )
    return dataclasses.replace(base, **overrides)


def appgw(**overrides: Any) -> ObservedAppGateway:
    base = ObservedAppGateway(APPGW, "agw1", "Standard_v2", "Standard_v2", APPGW_SUBNET, False)
    return dataclasses.replace(base, **overrides)


def firewall(**overrides: Any) -> ObservedFirewall:
    base = ObservedFirewall(FIREWALL, "fw", "AZFW_VNet", FW_IP, POLICY, vnet_id=HUB_VNET)
    return dataclasses.replace(base, **overrides)


def peering(local: str, remote: str, state: str = "Connected", **overrides: Any) -> ObservedPeering:
    """`local`'s side of a peering to `remote`, with the flags a hub-and-spoke through a firewall needs."""
    name = f"to-{remote.rsplit('/', 1)[-1]}"
    base = ObservedPeering(f"{local}/virtualNetworkPeerings/{name}", name, remote, state, "FullyInSync",
                           allow_vnet_access=True, allow_forwarded_traffic=True)
    return dataclasses.replace(base, **overrides)


def vnet(vnet_id: str, *peerings: ObservedPeering, location: str = "westeurope") -> ObservedVnet:
    return ObservedVnet(vnet_id, location, (), peerings=tuple(peerings))


def peered(spoke: str = VNET, hub: str = HUB_VNET, spoke_state: str = "Connected",
           hub_state: str = "Connected") -> list[ObservedVnet]:
    """A spoke VNet and its hub VNet, peered both ways (the estate every route to the firewall needs)."""
    return [vnet(spoke, peering(spoke, hub, spoke_state)), vnet(hub, peering(hub, spoke, hub_state))]


def hub_connection(hub_id: str, remote: str, state: str = "Succeeded", **overrides: Any) -> ObservedHubConnection:
    base = ObservedHubConnection(f"{hub_id}/hubVirtualNetworkConnections/to-{remote.rsplit('/', 1)[-1]}",
                                 hub_id, remote, state)
    return dataclasses.replace(base, **overrides)


def fw_route(name: str, prefix: str, ip: str = FW_IP) -> Route:
    return Route(name, prefix, "VirtualAppliance", ip)


def route_table(
    name: str,
    routes: Iterable[Route] = (),
    subnets: Iterable[str] = (),
    *,
    owned: bool = False,
    **overrides: Any,
) -> ObservedRouteTable:
    tags = {"managed-by": "aks-egress-remediation"} if owned else {}
    base = ObservedRouteTable(table_id(name), name, "westeurope", tags, tuple(routes), tuple(subnets))
    return dataclasses.replace(base, **overrides)


def snapshot(
    clusters: Iterable[ObservedCluster] = (),
    subnets: Iterable[ObservedSubnet] = (),
    tables: Iterable[ObservedRouteTable] = (),
    gateways: Iterable[ObservedAppGateway] = (),
    vpns: Iterable[ObservedVpnGateway] = (),
    fw: ObservedFirewall | None = None,
    rcg: ObservedRuleCollectionGroup | None = None,
    absent: Iterable[str] = (),
    vnets: Iterable[ObservedVnet] | None = None,
    hub_connections: Iterable[ObservedHubConnection] = (),
) -> Snapshot:
    """`vnets` defaults to the spoke VNet peered both ways with the hub VNet (`peered()`)."""
    return Snapshot(
        clusters={id_key(c.id): c for c in clusters},
        subnets={id_key(s.id): s for s in subnets},
        route_tables={id_key(t.id): t for t in tables},
        app_gateways={id_key(g.id): g for g in gateways},
        vpn_gateways=tuple(vpns),
        firewall=fw,
        rule_collection_group=rcg,
        absent=frozenset(id_key(a) for a in absent),
        vnets={id_key(v.id): v for v in (peered() if vnets is None else vnets)},
        hub_connections=tuple(hub_connections),
    )


def hub_spoke(
    *,
    aks: ObservedCluster | None = None,
    with_appgw: bool = True,
    with_vpn: bool = True,
    node_table: str | None = None,
    tables: Iterable[ObservedRouteTable] = (),
    fw: ObservedFirewall | None = None,
    gateway: ObservedAppGateway | None = None,
    rcg: ObservedRuleCollectionGroup | None = None,
) -> Snapshot:
    """The standard topology; `aks` defaults to an overlay cluster that uses the App Gateway (if any)."""
    c = aks or cluster(ingress_gateway_id=APPGW if with_appgw else None)
    return snapshot(
        clusters=[c],
        subnets=[
            subnet(NODE_SUBNET, NODE_PREFIX, table_id(node_table) if node_table else None),
            subnet(POD_SUBNET, POD_PREFIX),
            subnet(APPGW_SUBNET, APPGW_PREFIX),
        ],
        tables=tables,
        gateways=[gateway or appgw()] if with_appgw else [],
        vpns=[ObservedVpnGateway(VPN, "vpn", (P2S_PREFIX,))] if with_vpn else [],
        fw=fw or firewall(),
        rcg=rcg,
    )
