"""Resource types the emulator serves, and ARM resource-id parsing.

ARM treats ids and paths case-insensitively (docs/arm-notes.md §4.1 "Casing"), so every lookup key here is
lower-cased while the stored bodies keep the casing they were written with.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# Per-type settings.  `lro_seconds` defaults are realistic durations (docs/arm-notes.md §2.3: a firewall update
# "can take three to five minutes"); Emulator(time_factor=...) scales them.


@dataclass(frozen=True)
class TypeSpec:
    """What the emulator knows about one resource type."""

    type_name: str  # canonical casing written into bodies ("type")
    namespace: str
    lro_seconds: float
    etag_key: str = "etag"  # AKS spells it "eTag" (docs/arm-notes.md §2.7)
    parent_key: str | None = None  # lower-cased type key of the parent, for child types
    embedded_in: str | None = None  # name of the parent's properties list holding this child, if embedded
    readonly_props: tuple[
        str, ...
    ] = ()  # properties.* keys the server owns (ignored on PUT, kept from state)
    create_state: str = "Updating"  # provisioningState shown while a create runs
    children: tuple[str, ...] = field(default=())
    # --- protocol, as the recordings show it per resource provider (docs/arm-notes.md §6)
    # "weak": W/"<guid>" (Network RP); "bare": <guid> (firewall policies and RCGs); "opaque": <guid> in eTag (AKS)
    etag_style: str = "weak"
    own_etag: bool = False  # a separate child document with its own etag (RCGs), not the parent's
    etag_on_completion: bool = True  # a new etag again when the operation completes
    operations_segment: str = "operations"  # .../locations/{loc}/{segment}/{id} for Azure-AsyncOperation
    results_segment: str = "operationResults"  # ... and for the DELETE Location
    async_notification: bool = True  # Azure-AsyncNotification: Enabled on PUT/DELETE answers
    delete_mode: str = "lro"  # "lro": 202 + operation; "sync": 200 at once (firewall policies)
    delete_body: bool = False  # the DELETE 202 carries the resource body (RCGs)
    # properties.* the RP fills in when a PUT leaves them out (the recordings show them on the first answer).
    # A dotted path ("sku.name") is filled only inside an object the PUT sent; a callable value gets the
    # properties and returns the default (an Azure Firewall's SKU name depends on where it is deployed).
    defaults: tuple[tuple[str, Any], ...] = ()


def fill_defaults(spec: TypeSpec, props: dict[str, Any]) -> None:
    """Fill `spec.defaults` the PUT left out (None counts as left out), as the resource provider does."""
    for path, value in spec.defaults:
        *parents, key = path.split(".")
        target: Any = props
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict) and target.get(key) is None:
            target[key] = value(props) if callable(value) else copy.deepcopy(value)


def _firewall_sku_name(props: dict[str, Any]) -> str:
    # A firewall in a virtual hub is AZFW_Hub, any other AZFW_VNet (docs/arm-notes.md 2.3).
    return "AZFW_Hub" if props.get("virtualHub") else "AZFW_VNet"


VNET = "microsoft.network/virtualnetworks"
SUBNET = "microsoft.network/virtualnetworks/subnets"
ROUTE_TABLE = "microsoft.network/routetables"
ROUTE = "microsoft.network/routetables/routes"
FIREWALL = "microsoft.network/azurefirewalls"
POLICY = "microsoft.network/firewallpolicies"
RCG = "microsoft.network/firewallpolicies/rulecollectiongroups"
APP_GW = "microsoft.network/applicationgateways"
VNET_GW = "microsoft.network/virtualnetworkgateways"
LOAD_BALANCER = "microsoft.network/loadbalancers"  # AKS's in the node resource group (asymmetric routing check)
NIC = "microsoft.network/networkinterfaces"  # effectiveRouteTable (emulator/effective_support.py)
CONNECTION = "microsoft.network/connections"  # VPN gateway -> local network gateway: the gateway's learned routes
LOCAL_GATEWAY = "microsoft.network/localnetworkgateways"
CLUSTER = "microsoft.containerservice/managedclusters"
AGENT_POOL = "microsoft.containerservice/managedclusters/agentpools"
PEERING = "microsoft.network/virtualnetworks/virtualnetworkpeerings"
VIRTUAL_WAN = "microsoft.network/virtualwans"
VIRTUAL_HUB = "microsoft.network/virtualhubs"
HUB_CONNECTION = "microsoft.network/virtualhubs/hubvirtualnetworkconnections"
ROUTING_INTENT = "microsoft.network/virtualhubs/routingintent"

_COMMON_RO = ("provisioningState", "resourceGuid")

TYPES: dict[str, TypeSpec] = {
    VNET: TypeSpec(
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network",
        10.0,
        children=(SUBNET, PEERING),
        readonly_props=_COMMON_RO,
        # [REC test_network_vnet_gateway_multi_auth.yaml 1, test_sql_mi_tdebyok.yaml 10,
        # test_network_subnet_endpoint_service.yaml 2]: a create without them answers these.
        defaults=(("virtualNetworkPeerings", []), ("enableDdosProtection", False),
                  ("enableVmProtection", False), ("dhcpOptions.dnsServers", [])),
    ),
    # A peering is one side of a VNet peering, embedded in the VNet body (`virtualNetworkPeerings`) and served
    # as a child resource; peeringState is the RP's (emulator/peering.py: Initiated / Connected / Disconnected).
    PEERING: TypeSpec(
        "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
        "Microsoft.Network",
        10.0,
        parent_key=VNET,
        embedded_in="virtualNetworkPeerings",
        readonly_props=("provisioningState", "peeringState", "peeringSyncLevel", "remoteAddressSpace",
                        "remoteVirtualNetworkAddressSpace", "resourceGuid"),
        create_state="Updating",
    ),
    SUBNET: TypeSpec(
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network",
        8.0,
        parent_key=VNET,
        embedded_in="subnets",
        readonly_props=(
            "provisioningState",
            "ipConfigurations",
            "ipConfigurationProfiles",
            "purpose",
            "privateEndpoints",
            "resourceNavigationLinks",
            "serviceAssociationLinks",
        ),
    ),
    # Route tables and routes: Succeeded at the first poll, 2-3 s after the PUT or DELETE [REC
    # test_network_route_table_operation.yaml, Date headers; docs/arm-notes.md 1.2].
    ROUTE_TABLE: TypeSpec(
        "Microsoft.Network/routeTables",
        "Microsoft.Network",
        2.0,
        children=(ROUTE,),
        readonly_props=(*_COMMON_RO, "subnets"),
        # [REC test_network_route_table_operation.yaml 1]: a create without them answers both.
        defaults=(("disableBgpRoutePropagation", False), ("routes", [])),
    ),
    ROUTE: TypeSpec(
        "Microsoft.Network/routeTables/routes",
        "Microsoft.Network",
        2.0,
        parent_key=ROUTE_TABLE,
        embedded_in="routes",
        readonly_props=("provisioningState",),
    ),
    FIREWALL: TypeSpec(
        "Microsoft.Network/azureFirewalls",
        "Microsoft.Network",
        180.0,
        readonly_props=("provisioningState", "ipGroups"),
        # [REC test_azure_firewall.yaml 1]: `sku: {"tier": "Standard"}` answers `{"name": "AZFW_VNet", ...}`,
        # and the rule collection lists come back empty.
        defaults=(("sku.name", _firewall_sku_name), ("ipConfigurations", []), ("networkRuleCollections", []),
                  ("applicationRuleCollections", []), ("natRuleCollections", [])),
    ),
    # test_azure_firewall_policy.yaml (2025): bare-GUID etag, new on PUT and unchanged when the operation
    # completes; operations under nfvOperations; no Azure-AsyncNotification; DELETE answers 200 at once.
    POLICY: TypeSpec(
        "Microsoft.Network/firewallPolicies",
        "Microsoft.Network",
        180.0,
        children=(RCG,),
        readonly_props=("provisioningState", "ruleCollectionGroups", "firewalls", "childPolicies", "size"),
        # [REC test_azure_firewall_policy.yaml 0]: a create without threatIntelMode answers Alert.
        defaults=(("threatIntelMode", "Alert"), ("childPolicies", [])),
        etag_style="bare",
        etag_on_completion=False,
        operations_segment="nfvOperations",
        results_segment="nfvOperationResults",
        async_notification=False,
        delete_mode="sync",
    ),
    # docs/arm-notes.md §2.4: real responses spell the type
    # "Microsoft.Network/FirewallPolicies/RuleCollectionGroups".
    RCG: TypeSpec(
        "Microsoft.Network/FirewallPolicies/RuleCollectionGroups",
        "Microsoft.Network",
        180.0,
        parent_key=POLICY,
        readonly_props=("provisioningState", "size"),
        defaults=(("ruleCollections", []),),  # [REC test_azure_firewall_policy.yaml 12]
        # Same recording: its own bare-GUID etag (not the policy's), new on PUT and again on completion;
        # DELETE answers 202 with the group's body, Location under nfvOperationResults.
        etag_style="bare",
        own_etag=True,
        operations_segment="nfvOperations",
        results_segment="nfvOperationResults",
        async_notification=False,
        delete_body=True,
    ),
    APP_GW: TypeSpec(
        "Microsoft.Network/applicationGateways",
        "Microsoft.Network",
        300.0,
        readonly_props=(*_COMMON_RO, "operationalState"),
    ),
    VNET_GW: TypeSpec(
        "Microsoft.Network/virtualNetworkGateways",
        "Microsoft.Network",
        300.0,
        readonly_props=(*_COMMON_RO, "inboundDnsForwardingEndpoint"),
        # [REC test_network_vnet_gateway_multi_auth.yaml 9]: a VpnGw2 create without them answers these.
        # `bgpSettings` is also filled there, but with ids of the gateway's ip configurations: not modelled.
        defaults=(("packetCaptureDiagnosticState", "None"), ("enablePrivateIpAddress", False), ("natRules", []),
                  ("enableBgpRouteTranslationForNat", False), ("enableBgp", False), ("sku.capacity", 2),
                  ("vpnGatewayGeneration", "Generation1"), ("vpnClientConfiguration.vpnClientRevokedCertificates", []),
                  ("vpnClientConfiguration.radiusServers", []), ("vpnClientConfiguration.vpnClientIpsecPolicies", [])),
    ),
    LOAD_BALANCER: TypeSpec(
        "Microsoft.Network/loadBalancers",
        "Microsoft.Network",
        30.0,
        readonly_props=_COMMON_RO,
    ),
    NIC: TypeSpec("Microsoft.Network/networkInterfaces", "Microsoft.Network", 10.0, readonly_props=_COMMON_RO),
    CONNECTION: TypeSpec("Microsoft.Network/connections", "Microsoft.Network", 60.0, readonly_props=_COMMON_RO),
    LOCAL_GATEWAY: TypeSpec("Microsoft.Network/localNetworkGateways", "Microsoft.Network", 30.0,
                            readonly_props=_COMMON_RO),
    CLUSTER: TypeSpec(
        "Microsoft.ContainerService/ManagedClusters",
        "Microsoft.ContainerService",
        300.0,
        etag_key="eTag",
        etag_style="opaque",
        async_notification=False,  # test_aks_create_again_should_fail.yaml: PUT has Azure-AsyncOperation only
        create_state="Creating",
        children=(AGENT_POOL,),
        readonly_props=(
            "provisioningState",
            "powerState",
            "maxAgentPools",
            "fqdn",
            "azurePortalFQDN",
            "privateFQDN",
            "currentKubernetesVersion",
            "resourceUID",
        ),
    ),
    # Served read-only, derived from the cluster's agentPoolProfiles.
    AGENT_POOL: TypeSpec(
        "Microsoft.ContainerService/managedClusters/agentPools",
        "Microsoft.ContainerService",
        300.0,
        etag_key="eTag",
        etag_style="opaque",
        async_notification=False,
        parent_key=CLUSTER,
    ),
    # Virtual WAN (docs/platform-notes.md 13): a WAN, its hubs, a hub's VNet connections (separate child
    # documents, listed per hub) and its routing intent. Hub operations take tens of minutes in Azure; the
    # durations here are only relative.
    VIRTUAL_WAN: TypeSpec("Microsoft.Network/virtualWans", "Microsoft.Network", 60.0, readonly_props=_COMMON_RO),
    VIRTUAL_HUB: TypeSpec(
        "Microsoft.Network/virtualHubs",
        "Microsoft.Network",
        600.0,
        children=(HUB_CONNECTION, ROUTING_INTENT),
        readonly_props=(*_COMMON_RO, "routingState", "virtualRouterIps", "virtualRouterAsn"),
    ),
    HUB_CONNECTION: TypeSpec(
        "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
        "Microsoft.Network",
        120.0,
        parent_key=VIRTUAL_HUB,
        readonly_props=("provisioningState",),
    ),
    ROUTING_INTENT: TypeSpec(
        "Microsoft.Network/virtualHubs/routingIntent",
        "Microsoft.Network",
        120.0,
        parent_key=VIRTUAL_HUB,
        readonly_props=("provisioningState",),
    ),
}

# The collection segment (lower-case) for each child type, e.g. "subnets".
CHILD_SEGMENT: dict[str, str] = {
    SUBNET: "subnets",
    ROUTE: "routes",
    RCG: "rulecollectiongroups",
    AGENT_POOL: "agentpools",
    PEERING: "virtualnetworkpeerings",
    HUB_CONNECTION: "hubvirtualnetworkconnections",
    ROUTING_INTENT: "routingintent",
}


def lro_key(type_key: str) -> str:
    """Key used in `lro_seconds` overrides: the canonical type name."""
    return TYPES[type_key].type_name


class IdError(ValueError):
    """A string that is not an ARM resource id of the expected shape."""


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM resource id: /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{t}/{n}[/{ct}/{cn}]."""

    subscription: str
    resource_group: str
    namespace: str
    segments: tuple[tuple[str, str], ...]  # ((type, name), ...) as written

    @property
    def type_key(self) -> str:
        return (self.namespace + "/" + "/".join(t for t, _ in self.segments)).lower()

    @property
    def name(self) -> str:
        return self.segments[-1][1]

    @property
    def parent(self) -> ResourceId | None:
        if len(self.segments) < 2:
            return None
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.segments[:-1])

    def top(self) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.segments[:1])

    def canonical(self) -> str:
        """The id with ARM's usual casing for the fixed words (used for new resources)."""
        tail = "/".join(f"{t}/{n}" for t, n in self.segments)
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.namespace}/{tail}"
        )

    def key(self) -> str:
        return self.canonical().lower()


def parse_id(text: str) -> ResourceId:
    """Parse a resource id (case-insensitive fixed words); raises IdError when malformed."""
    parts = text.strip("/").split("/")
    if (
        len(parts) < 8
        or len(parts) % 2 != 0
        or parts[0].lower() != "subscriptions"
        or parts[2].lower() != "resourcegroups"
        or parts[4].lower() != "providers"
    ):
        raise IdError(f"not an ARM resource id: {text!r}")
    if any(not p for p in parts):
        raise IdError(f"empty segment in resource id: {text!r}")
    rest = parts[6:]
    segments = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
    return ResourceId(parts[1], parts[3], parts[5], segments)


def id_key(text: str) -> str:
    """Lower-cased, normalised key for a resource id string (for case-insensitive comparison)."""
    try:
        return parse_id(text).key()
    except IdError:
        return text.rstrip("/").lower()
