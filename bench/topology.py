"""A synthetic hub-and-spoke fleet of N AKS clusters sharing one Azure Firewall, as an emulator seed.

Shape (one subscription; `subscriptions=` deals the spokes over more):
- rg-hub: vnet-hub (AzureFirewallSubnet, GatewaySubnet), fw-hub (private IP 10.0.1.4) with policy fwpol-hub
  (plus a foreign rule collection group `platform-baseline`), and vpngw-hub with a P2S pool 172.16.201.0/24.
- rg-spoke-KKK: vnet-spoke-KKK (10.(16+K).0.0/16) with `subnets_per_vnet` subnets: snet-appgw (10.x.255.0/24,
  holding App Gateway agw-spoke-KKK) and node subnets snet-aks-JJJ (10.x.J.0/24), one per cluster.
- Cluster i (aks-IIII) lives in the VNet's next free node subnet. Every 4th cluster uses AGIC on its VNet's
  App Gateway; every 10th has outboundType userDefinedRouting (needs 0.0.0.0/0 -> firewall); the others
  use loadBalancer. Every 3rd is flat Azure CNI without a pod subnet, the rest Azure CNI Overlay.
- Every spoke VNet is peered both ways with vnet-hub (Connected, allowForwardedTraffic on the spoke side: the
  path to the firewall, remediation/planning/paths.py); the peerings sit inside the VNet bodies.
- No route table exists yet: the first sweep creates one per node subnet and one per App Gateway subnet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUB = "00000000-0000-0000-0000-000000000000"
LOCATION = "westeurope"
HUB_RG = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers"
FIREWALL_ID = f"{HUB_RG}/Microsoft.Network/azureFirewalls/fw-hub"
POLICY_ID = f"{HUB_RG}/Microsoft.Network/firewallPolicies/fwpol-hub"
HUB_VNET_ID = f"{HUB_RG}/Microsoft.Network/virtualNetworks/vnet-hub"
VPN_GATEWAY_ID = f"{HUB_RG}/Microsoft.Network/virtualNetworkGateways/vpngw-hub"
P2S_POOL = "172.16.201.0/24"
SPOKE_PREFIX = "192.168.0.0/16"  # another spoke / on-premises range reached through the hub

SETTINGS: dict[str, str] = {
    "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
    "FIREWALL_ID": FIREWALL_ID,
    "REMEDIATION_MODE": "enforce",
    "SPOKE_PREFIXES": SPOKE_PREFIX,
}


@dataclass
class Fleet:
    """A generated seed plus the ids a benchmark needs."""

    seed: dict[str, Any]
    cluster_ids: list[str] = field(default_factory=list)
    vnet_ids: list[str] = field(default_factory=list)
    app_gateway_ids: list[str] = field(default_factory=list)

    @property
    def resource_count(self) -> int:
        return len(self.seed["resources"])


def _etag(n: int) -> str:
    return f'W/"00000000-0000-4000-8000-{n:012d}"'


def _subnet(vnet_id: str, name: str, prefix: str, ip_configs: list[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded", "addressPrefix": prefix, "delegations": [],
        "privateEndpointNetworkPolicies": "Disabled", "privateLinkServiceNetworkPolicies": "Enabled",
    }
    if ip_configs:
        props["ipConfigurations"] = [{"id": i} for i in ip_configs]
    return {"name": name, "id": f"{vnet_id}/subnets/{name}", "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": props}


def _vnet(vnet_id: str, prefix: str, subnets: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return {
        "name": vnet_id.rsplit("/", 1)[1], "id": vnet_id, "etag": _etag(n), "type": "Microsoft.Network/virtualNetworks",
        "location": LOCATION, "tags": {},
        "properties": {"provisioningState": "Succeeded", "addressSpace": {"addressPrefixes": [prefix]},
                       "subnets": subnets, "virtualNetworkPeerings": [], "enableDdosProtection": False},
    }


def _peering(local: str, remote: str, remote_prefix: str, *, spoke_side: bool) -> dict[str, Any]:
    """One side of a Connected peering, as a VNet body holds it (docs/platform-notes.md 13)."""
    name = f"to-{remote.rsplit('/', 1)[1]}"
    return {"name": name, "id": f"{local}/virtualNetworkPeerings/{name}",
            "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "properties": {"provisioningState": "Succeeded", "peeringState": "Connected",
                           "peeringSyncLevel": "FullyInSync", "remoteVirtualNetwork": {"id": remote},
                           "allowVirtualNetworkAccess": True, "allowForwardedTraffic": spoke_side,
                           "allowGatewayTransit": not spoke_side, "useRemoteGateways": False,
                           "remoteAddressSpace": {"addressPrefixes": [remote_prefix]},
                           "remoteVirtualNetworkAddressSpace": {"addressPrefixes": [remote_prefix]}}}


def _hub(resources: list[dict[str, Any]]) -> None:
    fw_ipconfig = f"{FIREWALL_ID}/azureFirewallIpConfigurations/ipconfig1"
    vpn_ipconfig = f"{VPN_GATEWAY_ID}/ipConfigurations/default"
    resources.append(_vnet(HUB_VNET_ID, "10.0.0.0/16", [
        _subnet(HUB_VNET_ID, "AzureFirewallSubnet", "10.0.1.0/26", [fw_ipconfig]),
        _subnet(HUB_VNET_ID, "GatewaySubnet", "10.0.2.0/27", [vpn_ipconfig]),
    ], 1))
    resources.append({
        "name": "fw-hub", "id": FIREWALL_ID, "etag": _etag(2), "type": "Microsoft.Network/azureFirewalls",
        "location": LOCATION, "tags": {},
        "properties": {
            "provisioningState": "Succeeded", "sku": {"name": "AZFW_VNet", "tier": "Standard"},
            "threatIntelMode": "Alert", "additionalProperties": {},
            "ipConfigurations": [{
                "name": "ipconfig1", "id": fw_ipconfig,
                "type": "Microsoft.Network/azureFirewalls/azureFirewallIpConfigurations",
                "properties": {"provisioningState": "Succeeded", "privateIPAddress": "10.0.1.4",
                               "privateIPAllocationMethod": "Dynamic",
                               "subnet": {"id": f"{HUB_VNET_ID}/subnets/AzureFirewallSubnet"}}}],
            "networkRuleCollections": [], "applicationRuleCollections": [], "natRuleCollections": [],
            "firewallPolicy": {"id": POLICY_ID},
        },
    })
    resources.append({
        "name": "fwpol-hub", "id": POLICY_ID, "etag": _etag(3), "type": "Microsoft.Network/firewallPolicies",
        "location": LOCATION, "tags": {},
        "properties": {"provisioningState": "Succeeded", "sku": {"tier": "Standard"}, "threatIntelMode": "Alert",
                       "dnsSettings": {"enableProxy": True, "servers": []}, "childPolicies": []},
    })
    resources.append({
        "name": "platform-baseline", "id": f"{POLICY_ID}/ruleCollectionGroups/platform-baseline", "etag": _etag(3),
        "type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
        "properties": {"provisioningState": "Succeeded", "priority": 100, "ruleCollections": [{
            "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "platform-dns", "priority": 100,
            "action": {"type": "Allow"}, "rules": [{
                "ruleType": "NetworkRule", "name": "dns", "ipProtocols": ["UDP"], "sourceAddresses": ["10.0.0.0/8"],
                "destinationAddresses": ["168.63.129.16"], "destinationPorts": ["53"],
                "sourceIpGroups": [], "destinationIpGroups": [], "destinationFqdns": []}]}]},
    })
    resources.append({
        "name": "vpngw-hub", "id": VPN_GATEWAY_ID, "etag": _etag(4), "type": "Microsoft.Network/virtualNetworkGateways",
        "location": LOCATION, "tags": {},
        "properties": {
            "provisioningState": "Succeeded", "gatewayType": "Vpn", "vpnType": "RouteBased",
            "vpnGatewayGeneration": "Generation2", "enableBgp": False, "activeActive": False,
            "sku": {"name": "VpnGw2", "tier": "VpnGw2", "capacity": 2},
            "ipConfigurations": [{
                "name": "default", "id": vpn_ipconfig,
                "type": "Microsoft.Network/virtualNetworkGateways/ipConfigurations",
                "properties": {"provisioningState": "Succeeded", "privateIPAllocationMethod": "Dynamic",
                               "subnet": {"id": f"{HUB_VNET_ID}/subnets/GatewaySubnet"}}}],
            "vpnClientConfiguration": {"vpnClientAddressPool": {"addressPrefixes": [P2S_POOL]},
                                       "vpnClientProtocols": ["OpenVPN"], "vpnAuthenticationTypes": ["AAD"]},
        },
    })


def _extra_hub(resources: list[dict[str, Any]], i: int) -> None:
    """Hub i (i >= 1) of a fleet with several hubs: a VNet 10.i.0.0/16 in rg-hub-i with a GatewaySubnet and a P2S VPN
    gateway (pool 172.16.i.0/24), no firewall (the fleet's one firewall stays in the first hub), peered with no
    spoke. Its pool is one more source of the firewall's P2S rule; no spoke routes it (its clients do not reach
    the spokes: docs/platform-notes.md 14), so a cluster event need not find its gateway."""
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-hub-{i}/providers/Microsoft.Network"
    vnet_id, gateway_id = f"{rg}/virtualNetworks/vnet-hub-{i}", f"{rg}/virtualNetworkGateways/vpngw-hub-{i}"
    ipconfig = f"{gateway_id}/ipConfigurations/default"
    resources.append(_vnet(vnet_id, f"10.{i}.0.0/16", [
        _subnet(vnet_id, "GatewaySubnet", f"10.{i}.2.0/27", [ipconfig])], 10 + i))
    resources.append({
        "name": f"vpngw-hub-{i}", "id": gateway_id, "etag": _etag(20 + i),
        "type": "Microsoft.Network/virtualNetworkGateways", "location": LOCATION, "tags": {},
        "properties": {
            "provisioningState": "Succeeded", "gatewayType": "Vpn", "vpnType": "RouteBased",
            "vpnGatewayGeneration": "Generation2", "enableBgp": False, "activeActive": False,
            "sku": {"name": "VpnGw2", "tier": "VpnGw2", "capacity": 2},
            "ipConfigurations": [{
                "name": "default", "id": ipconfig, "type": "Microsoft.Network/virtualNetworkGateways/ipConfigurations",
                "properties": {"provisioningState": "Succeeded", "privateIPAllocationMethod": "Dynamic",
                               "subnet": {"id": f"{vnet_id}/subnets/GatewaySubnet"}}}],
            "vpnClientConfiguration": {"vpnClientAddressPool": {"addressPrefixes": [f"172.16.{i}.0/24"]},
                                       "vpnClientProtocols": ["OpenVPN"], "vpnAuthenticationTypes": ["AAD"]},
        },
    })


def _app_gateway(agw_id: str, subnet_id: str, n: int) -> dict[str, Any]:
    return {
        "name": agw_id.rsplit("/", 1)[1], "id": agw_id, "etag": _etag(n),
        "type": "Microsoft.Network/applicationGateways", "location": LOCATION, "tags": {},
        "properties": {
            "provisioningState": "Succeeded", "operationalState": "Running",
            "sku": {"name": "Standard_v2", "tier": "Standard_v2"},
            "autoscaleConfiguration": {"minCapacity": 1, "maxCapacity": 3},
            "gatewayIPConfigurations": [{
                "name": "appGatewayIpConfig", "id": f"{agw_id}/gatewayIPConfigurations/appGatewayIpConfig",
                "type": "Microsoft.Network/applicationGateways/gatewayIPConfigurations",
                "properties": {"subnet": {"id": subnet_id}, "provisioningState": "Succeeded"}}],
            "frontendIPConfigurations": [], "frontendPorts": [], "backendAddressPools": [],
            "backendHttpSettingsCollection": [], "httpListeners": [], "requestRoutingRules": [],
        },
    }


def _cluster(cluster_id: str, subnet_id: str, index: int, agw_id: str | None) -> dict[str, Any]:
    name = cluster_id.rsplit("/", 1)[1]
    network: dict[str, Any] = {
        "loadBalancerSku": "standard", "serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10",
        "networkPlugin": "azure",
        "outboundType": "userDefinedRouting" if index % 10 == 0 else "loadBalancer",
    }
    if index % 3 != 0:
        network |= {"networkPluginMode": "overlay", "podCidr": "10.244.0.0/16"}
    addons: dict[str, Any] = {}
    if agw_id is not None:
        addons["ingressApplicationGateway"] = {
            "enabled": True, "config": {"applicationGatewayId": agw_id, "effectiveApplicationGatewayId": agw_id}}
    return {
        "id": cluster_id, "name": name, "type": "Microsoft.ContainerService/managedClusters", "location": LOCATION,
        "tags": {}, "sku": {"name": "Base", "tier": "Standard"},
        "identity": {"type": "SystemAssigned", "principalId": f"00000000-0000-4000-9000-{index:012d}",
                     "tenantId": SUB},
        "properties": {
            "provisioningState": "Succeeded", "powerState": {"code": "Running"}, "kubernetesVersion": "1.32.6",
            "dnsPrefix": f"{name}-dns",
            "agentPoolProfiles": [{
                "name": "system", "count": 3, "vmSize": "Standard_D4s_v5", "mode": "System", "osType": "Linux",
                "type": "VirtualMachineScaleSets", "provisioningState": "Succeeded", "vnetSubnetID": subnet_id}],
            "addonProfiles": addons, "nodeResourceGroup": f"MC_{name}", "networkProfile": network,
            "apiServerAccessProfile": {"enablePrivateCluster": True},
        },
    }


def subscription(k: int, subscriptions: int) -> str:
    """The subscription of spoke k: spokes are dealt round-robin over `subscriptions` (the first is SUB)."""
    return SUB if subscriptions == 1 else f"00000000-0000-0000-0000-{k % subscriptions:012d}"


def settings_for(subscriptions: int, **extra: str) -> dict[str, str]:
    """SETTINGS with REMEDIATION_SCOPE naming every subscription of a `generate(..., subscriptions=)` fleet."""
    scope = ",".join(f"/subscriptions/{subscription(k, subscriptions)}" for k in range(subscriptions))
    return {**SETTINGS, "REMEDIATION_SCOPE": scope, **extra}


def _address_plan(k: int, subnets_per_vnet: int) -> tuple[str, Callable[[int], str]]:
    """Spoke k's address space and its subnets' /24s (index 255: the App Gateway's). A /16 per spoke
    (10.16.0.0/16 on) holds at most 240 spokes; VNets of at most 16 subnets (the one-cluster-per-VNet shape) get
    a /20 each instead, 10.16.0.0/20 on, which holds 3,840."""
    if subnets_per_vnet > 16:
        return f"10.{16 + k}.0.0/16", lambda j: f"10.{16 + k}.{j}.0/24"
    second, third = 16 + k // 16, (k % 16) * 16
    return f"10.{second}.{third}.0/20", lambda j: f"10.{second}.{third + (15 if j == 255 else j)}.0/24"


def generate(n_clusters: int, *, subnets_per_vnet: int = 50, agic_every: int = 4, subscriptions: int = 1,
             hubs: int = 1) -> Fleet:
    """A seed with one hub and ceil(N / (subnets_per_vnet - 1)) spoke VNets holding N clusters. With
    `subscriptions` > 1 the spokes are spread round-robin over that many subscriptions (the hub stays in SUB),
    as a fleet behind one central firewall in a landing zone is."""
    if n_clusters < 1 or subnets_per_vnet < 2 or subscriptions < 1 or not 1 <= hubs <= 15:
        raise ValueError("need at least one cluster, two subnets per VNet, one subscription and 1-15 hubs")
    resources: list[dict[str, Any]] = []
    _hub(resources)
    for i in range(1, hubs):
        _extra_hub(resources, i)
    fleet = Fleet(seed={"resources": resources})
    per_vnet = subnets_per_vnet - 1  # one subnet per VNet is the App Gateway's
    n_vnets = -(-n_clusters // per_vnet)
    clusters: list[dict[str, Any]] = []
    for k in range(n_vnets):
        rg = f"/subscriptions/{subscription(k, subscriptions)}/resourceGroups/rg-spoke-{k:03d}/providers"
        vnet_id = f"{rg}/Microsoft.Network/virtualNetworks/vnet-spoke-{k:03d}"
        space, prefix_of = _address_plan(k, subnets_per_vnet)
        agw_id = f"{rg}/Microsoft.Network/applicationGateways/agw-spoke-{k:03d}"
        agw_subnet = f"{vnet_id}/subnets/snet-appgw"
        subnets = [_subnet(vnet_id, "snet-appgw", prefix_of(255),
                           [f"{agw_id}/gatewayIPConfigurations/appGatewayIpConfig"])]
        for j in range(per_vnet):
            index = k * per_vnet + j
            if index >= n_clusters:
                # Spare subnets keep every VNet at subnets_per_vnet (their size is what a VNet read costs).
                subnets.append(_subnet(vnet_id, f"snet-spare-{j:03d}", prefix_of(j)))
                continue
            subnet_id = f"{vnet_id}/subnets/snet-aks-{j:03d}"
            subnets.append(_subnet(vnet_id, f"snet-aks-{j:03d}", prefix_of(j)))
            cluster_id = f"{rg}/Microsoft.ContainerService/managedClusters/aks-{index:04d}"
            clusters.append(_cluster(cluster_id, subnet_id, index, agw_id if index % agic_every == 0 else None))
            fleet.cluster_ids.append(cluster_id)
        spoke = _vnet(vnet_id, space, subnets, 100 + k)
        spoke["properties"]["virtualNetworkPeerings"].append(
            _peering(vnet_id, HUB_VNET_ID, "10.0.0.0/16", spoke_side=True))
        resources[0]["properties"]["virtualNetworkPeerings"].append(
            _peering(HUB_VNET_ID, vnet_id, space, spoke_side=False))
        resources.append(spoke)
        resources.append(_app_gateway(agw_id, agw_subnet, 5000 + k))
        fleet.vnet_ids.append(vnet_id)
        fleet.app_gateway_ids.append(agw_id)
    resources.extend(clusters)
    return fleet
