"""ARM JSON (as a GET returns it) -> the project's Observed* models; the SDK wrapping of arm_shapes bodies.

The parsers take plain dicts in ARM property names (`model.as_dict()` of the SDK models, which are
MutableMappings over the REST JSON), so they do not depend on SDK attribute names and also accept bodies
from `az ... show` or the reference examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from remediation.core import arm_shapes, ids
from remediation.core.model import (
    APPLICATION_RULE,
    NetworkRule,
    ObservedAppGateway,
    ObservedCluster,
    ObservedEffectiveRoute,
    ObservedFirewall,
    ObservedHubConnection,
    ObservedPeering,
    ObservedRouteTable,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    PublicFrontend,
    Route,
    RuleCollection,
)
from remediation.planning import egress

# Tag set on Application Gateways provisioned with network isolation (docs/platform-notes.md 3.2.3).
ISOLATION_TAG = "EnhancedNetworkControl"
AGIC_ADDON = "ingressApplicationGateway"
FILTER_COLLECTION = arm_shapes.FILTER_COLLECTION


def _props(body: Mapping[str, Any]) -> Mapping[str, Any]:
    value = body.get("properties")
    return value if isinstance(value, Mapping) else {}


def _get_ci(mapping: Mapping[str, Any] | None, key: str) -> Any:
    """Case-insensitive key lookup (AKS add-on names and config keys vary in case)."""
    if not mapping:
        return None
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for k, v in mapping.items():
        if isinstance(k, str) and k.lower() == lowered:
            return v
    return None


def _ref_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        ref = value.get("id")
        return ref if isinstance(ref, str) and ref else None
    return None


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        return ()
    return tuple(str(v) for v in value if v is not None)


def _tags(body: Mapping[str, Any]) -> dict[str, str]:
    tags = body.get("tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {}


def _unique_ids(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        if value:
            seen.setdefault(ids.id_key(value), value)
    return tuple(seen.values())


# --------------------------------------------------------------------------------------------- clusters


def cluster_from_arm(body: Mapping[str, Any]) -> ObservedCluster:
    props = _props(body)
    pools = [p for p in props.get("agentPoolProfiles") or [] if isinstance(p, Mapping)]
    network = props.get("networkProfile") or {}
    ingress_id: str | None = None
    addon = _get_ci(props.get("addonProfiles"), AGIC_ADDON)
    if isinstance(addon, Mapping) and _truthy(addon.get("enabled")):
        config = addon.get("config") or {}
        ingress_id = (_get_ci(config, "effectiveApplicationGatewayId")
                      or _get_ci(config, "applicationGatewayId") or None)
    return ObservedCluster(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        location=str(body.get("location") or ""),
        provisioning_state=str(props.get("provisioningState") or "Unknown"),
        network_plugin=str(network.get("networkPlugin") or "kubenet"),
        network_plugin_mode=network.get("networkPluginMode") or None,
        # outboundType defaults to loadBalancer when absent (AKS API default).
        outbound_type=str(network.get("outboundType") or "loadBalancer"),
        node_subnet_ids=_unique_ids(p.get("vnetSubnetID") for p in pools),
        pod_subnet_ids=_unique_ids(p.get("podSubnetID") for p in pools),
        ingress_gateway_id=ingress_id if isinstance(ingress_id, str) else None,
        pools_without_subnet=tuple(str(p.get("name")) for p in pools if not p.get("vnetSubnetID")),
        tags=_tags(body),
        private_cluster=_truthy((props.get("apiServerAccessProfile") or {}).get("enablePrivateCluster")),
        node_resource_group=str(props.get("nodeResourceGroup") or "") or None,
    )


def public_frontends_from_lb(body: Mapping[str, Any]) -> tuple[PublicFrontend, ...]:
    """The frontends of a load balancer that hold a public IP (properties.frontendIPConfigurations[].properties
    .publicIPAddress.id); internal frontends (a private IP in a subnet) are left out."""
    found = []
    for frontend in _props(body).get("frontendIPConfigurations") or []:
        if not isinstance(frontend, Mapping):
            continue
        public = (_props(frontend).get("publicIPAddress") or {}).get("id")
        if public:
            found.append(PublicFrontend(str(body["id"]), str(frontend.get("name") or ""), str(public)))
    return tuple(found)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# --------------------------------------------------------------------------------------------- network


def subnet_from_arm(body: Mapping[str, Any], *, location: str, vnet_id: str | None = None) -> ObservedSubnet:
    props = _props(body)
    prefixes = _strs(props.get("addressPrefixes")) or _strs([props.get("addressPrefix")])
    name = str(body.get("name") or "")
    subnet_id = body.get("id") or (
        str(ids.parse_resource_id(vnet_id).child("subnets", name)) if vnet_id else name)
    return ObservedSubnet(
        id=str(subnet_id),
        name=name,
        address_prefixes=prefixes,
        location=location,
        route_table_id=_ref_id(props.get("routeTable")),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
    )


def vnet_subnets_from_arm(body: Mapping[str, Any]) -> list[ObservedSubnet]:
    location = str(body.get("location") or "")
    vnet_id = str(body.get("id") or "")
    return [subnet_from_arm(s, location=location, vnet_id=vnet_id)
            for s in _props(body).get("subnets") or [] if isinstance(s, Mapping)]


def vnet_from_arm(body: Mapping[str, Any]) -> ObservedVnet:
    gateway_subnets, gateway_ids = gateway_refs_from_vnet(body)
    props = _props(body)
    space = props.get("addressSpace")
    space = space if isinstance(space, Mapping) else {}
    firewall_subnets, firewall_ids = firewall_refs_from_vnet(body)
    return ObservedVnet(id=str(body["id"]), location=str(body.get("location") or ""),
                        subnets=tuple(vnet_subnets_from_arm(body)), has_gateway_subnet=bool(gateway_subnets),
                        gateway_ids=tuple(gateway_ids), has_firewall_subnet=bool(firewall_subnets),
                        firewall_ids=tuple(firewall_ids),
                        address_prefixes=_strs(space.get("addressPrefixes")),
                        peerings=tuple(peering_from_arm(p, vnet_id=str(body["id"]))
                                       for p in props.get("virtualNetworkPeerings") or [] if isinstance(p, Mapping)),
                        tags=_tags(body))


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else _truthy(value)


def peering_from_arm(body: Mapping[str, Any], *, vnet_id: str) -> ObservedPeering:
    """One peering, from the VNet body's `virtualNetworkPeerings` or the child resource (the same shape)."""
    props = _props(body)
    name = str(body.get("name") or "")
    remote_space = props.get("remoteVirtualNetworkAddressSpace") or props.get("remoteAddressSpace") or {}
    return ObservedPeering(
        id=str(body.get("id") or f"{vnet_id}/virtualNetworkPeerings/{name}"),
        name=name,
        remote_vnet_id=_ref_id(props.get("remoteVirtualNetwork")),
        state=str(props.get("peeringState") or ""),
        sync_level=str(props["peeringSyncLevel"]) if props.get("peeringSyncLevel") else None,
        allow_vnet_access=_flag(props.get("allowVirtualNetworkAccess"), True),
        allow_forwarded_traffic=_flag(props.get("allowForwardedTraffic"), False),
        allow_gateway_transit=_flag(props.get("allowGatewayTransit"), False),
        use_remote_gateways=_flag(props.get("useRemoteGateways"), False),
        remote_address_prefixes=_strs((remote_space if isinstance(remote_space, Mapping) else {})
                                      .get("addressPrefixes")),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
    )


def gateway_refs_from_vnet(body: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(GatewaySubnet ids, virtualNetworkGateway ids referenced by their ipConfigurations)."""
    return _subnet_refs(body, "gatewaysubnet", ids.VPN_GATEWAY)


def firewall_refs_from_vnet(body: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(AzureFirewallSubnet ids, azureFirewalls ids its ipConfigurations reference: `<firewall>/
    azureFirewallIpConfigurations/<name>`, docs/platform-notes.md 13.3)."""
    return _subnet_refs(body, "azurefirewallsubnet", ids.FIREWALL)


def _subnet_refs(body: Mapping[str, Any], subnet_name: str, parent_type: str) -> tuple[list[str], list[str]]:
    """(ids of the subnets named `subnet_name`, ids of the `parent_type` resources whose IP configurations the
    subnets' `ipConfigurations` back-references name)."""
    subnet_ids: list[str] = []
    referenced: list[str] = []
    vnet_id = str(body.get("id") or "")
    for subnet in _props(body).get("subnets") or []:
        if not isinstance(subnet, Mapping) or str(subnet.get("name", "")).lower() != subnet_name:
            continue
        subnet_ids.append(str(subnet.get("id") or f"{vnet_id}/subnets/{subnet.get('name')}"))
        for config in _props(subnet).get("ipConfigurations") or []:
            ref = _ref_id(config)
            if not ref:
                continue
            try:
                rid = ids.parse_resource_id(ref)
            except ValueError:
                continue
            parent = rid.parent
            if parent is not None and parent.is_type(parent_type):
                referenced.append(str(parent))
    return subnet_ids, referenced


def route_from_arm(body: Mapping[str, Any]) -> Route:
    props = _props(body)
    return Route(
        name=str(body.get("name") or ""),
        address_prefix=str(props.get("addressPrefix") or ""),
        next_hop_type=str(props.get("nextHopType") or ""),
        next_hop_ip_address=props.get("nextHopIpAddress") or None,
    )


def route_table_from_arm(body: Mapping[str, Any]) -> ObservedRouteTable:
    props = _props(body)
    return ObservedRouteTable(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        location=str(body.get("location") or ""),
        tags=_tags(body),
        routes=tuple(route_from_arm(r) for r in props.get("routes") or [] if isinstance(r, Mapping)),
        subnet_ids=_unique_ids(_ref_id(s) for s in props.get("subnets") or []),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
        disable_bgp_route_propagation=_truthy(props.get("disableBgpRoutePropagation")),
    )


def app_gateway_from_arm(body: Mapping[str, Any]) -> ObservedAppGateway:
    props = _props(body)
    sku = props.get("sku") or {}
    configs = [c for c in props.get("gatewayIPConfigurations") or [] if isinstance(c, Mapping)]
    subnet_id = _ref_id(_props(configs[0]).get("subnet")) if configs else None
    tags = _tags(body)
    isolated = str(_get_ci(tags, ISOLATION_TAG) or "").strip().lower() == "true"
    return ObservedAppGateway(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        sku_name=str(sku.get("name") or ""),
        sku_tier=str(sku.get("tier") or ""),
        subnet_id=subnet_id,
        network_isolated=isolated,
        tags=tags,
    )


def vpn_gateway_from_arm(body: Mapping[str, Any]) -> ObservedVpnGateway:
    props = _props(body)
    pool = (props.get("vpnClientConfiguration") or {}).get("vpnClientAddressPool") or {}
    return ObservedVpnGateway(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        p2s_prefixes=_strs(pool.get("addressPrefixes")),
        vnet_ids=tuple(dict.fromkeys(v for s in vpn_gateway_subnet_ids(body) if (v := _parent_vnet(s)) is not None)),
    )


def vpn_gateway_subnet_ids(body: Mapping[str, Any]) -> list[str]:
    return [sid for c in _props(body).get("ipConfigurations") or [] if isinstance(c, Mapping)
            if (sid := _ref_id(_props(c).get("subnet")))]


# --------------------------------------------------------------------------------------------- firewall


def _network_rule(body: Mapping[str, Any], *, protocols_key: str) -> NetworkRule:
    return NetworkRule(
        name=str(body.get("name") or ""),
        protocols=_strs(body.get(protocols_key)),
        source_addresses=_strs(body.get("sourceAddresses")),
        destination_addresses=_strs(body.get("destinationAddresses")),
        destination_ports=_strs(body.get("destinationPorts")),
        destination_fqdns=_strs(body.get("destinationFqdns")),
        description=str(body.get("description") or ""),
    )


def classic_application_collection_from_arm(body: Mapping[str, Any]) -> RuleCollection:
    """A classic `applicationRuleCollections[]` item (rules with protocols [{protocolType, port}])."""
    props = _props(body)
    return RuleCollection(
        name=str(body.get("name") or ""),
        priority=int(props.get("priority") or 0),
        action=str((props.get("action") or {}).get("type") or ""),
        rules=(),
        application_rules=tuple(egress.application_rule_from_arm(r) for r in props.get("rules") or []
                                if isinstance(r, Mapping)),
        rule_type=APPLICATION_RULE,
    )


def classic_collection_from_arm(body: Mapping[str, Any]) -> RuleCollection:
    """A classic `networkRuleCollections[]` item: {name, properties: {priority, action: {type}, rules}}."""
    props = _props(body)
    return RuleCollection(
        name=str(body.get("name") or ""),
        priority=int(props.get("priority") or 0),
        action=str((props.get("action") or {}).get("type") or ""),
        rules=tuple(_network_rule(r, protocols_key="protocols") for r in props.get("rules") or []
                    if isinstance(r, Mapping)),
    )


def firewall_from_arm(body: Mapping[str, Any]) -> ObservedFirewall:
    props = _props(body)
    sku_name = str((props.get("sku") or {}).get("name") or "AZFW_VNet")
    private_ip: str | None = None
    vnet_id: str | None = None
    if sku_name.lower() == "azfw_hub":
        # vWAN secured hub: ipConfigurations is empty, the address is in hubIPAddresses (docs/arm-notes.md 2.3).
        private_ip = (props.get("hubIPAddresses") or {}).get("privateIPAddress") or None
    else:
        configs = [c for c in props.get("ipConfigurations") or [] if isinstance(c, Mapping)]
        private_ip = _props(configs[0]).get("privateIPAddress") or None if configs else None
        subnet_id = _ref_id(_props(configs[0]).get("subnet")) if configs else None
        vnet_id = _parent_vnet(subnet_id)
    return ObservedFirewall(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        sku_name=sku_name,
        private_ip=private_ip,
        policy_id=_ref_id(props.get("firewallPolicy")),
        classic_collections=tuple(
            classic_collection_from_arm(c) for c in props.get("networkRuleCollections") or []
            if isinstance(c, Mapping)),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
        classic_application_collections=tuple(
            classic_application_collection_from_arm(c) for c in props.get("applicationRuleCollections") or []
            if isinstance(c, Mapping)),
        dns_proxy=_classic_dns_proxy(props),
        vnet_id=vnet_id,
        hub_id=_ref_id(props.get("virtualHub")),
    )


def _parent_vnet(subnet_id: str | None) -> str | None:
    """The VNet of a subnet id (the firewall's AzureFirewallSubnet), None when absent or malformed."""
    if not subnet_id:
        return None
    try:
        return str(ids.parse_typed(subnet_id, ids.SUBNET).parent)
    except ValueError:
        return None


def routing_intent_destinations(body: Mapping[str, Any]) -> frozenset[str]:
    """The destinations of one `virtualHubs/{hub}/routingIntent/{name}` ("Internet", "PrivateTraffic")."""
    policies = [p for p in _props(body).get("routingPolicies") or [] if isinstance(p, Mapping)]
    return frozenset(str(d) for p in policies for d in p.get("destinations") or [])


def hub_connection_from_arm(body: Mapping[str, Any]) -> ObservedHubConnection:
    """One `virtualHubs/{hub}/hubVirtualNetworkConnections/{name}` (list item or GET body)."""
    props = _props(body)
    connection_id = str(body["id"])
    hub_id = connection_id.lower().split("/hubvirtualnetworkconnections/")[0]
    return ObservedHubConnection(
        id=connection_id,
        hub_id=connection_id[:len(hub_id)],
        remote_vnet_id=_ref_id(props.get("remoteVirtualNetwork")),
        provisioning_state=str(props.get("provisioningState") or ""),
        enable_internet_security=_truthy(props.get("enableInternetSecurity")),
    )


def _classic_dns_proxy(props: Mapping[str, Any]) -> bool | None:
    """A classic firewall's DNS proxy: additionalProperties "Network.DNS.EnableProxy" (docs/egress.md)."""
    value = _get_ci(props.get("additionalProperties"), "Network.DNS.EnableProxy")
    return None if value is None else _truthy(value)


def _policy_collection(body: Mapping[str, Any]) -> RuleCollection:
    """A policy rule collection. What NetworkRule cannot express (NAT collections, application rules) is
    kept visible as a rule/collection that can never equal a desired one, so the plan sees drift and the
    whole-group PUT (the group is wholly ours) replaces it instead of silently keeping it."""
    kind = str(body.get("ruleCollectionType") or "")
    action = str((body.get("action") or {}).get("type") or "")
    rule_types = {str(r.get("ruleType") or "NetworkRule") for r in body.get("rules") or [] if isinstance(r, Mapping)}
    if kind == FILTER_COLLECTION and rule_types == {APPLICATION_RULE}:
        return RuleCollection(
            name=str(body.get("name") or ""), priority=int(body.get("priority") or 0), action=action, rules=(),
            application_rules=tuple(egress.application_rule_from_arm(r) for r in body.get("rules") or []
                                    if isinstance(r, Mapping)),
            rule_type=APPLICATION_RULE)
    rules: list[NetworkRule] = []
    for rule in body.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        rule_type = str(rule.get("ruleType") or "NetworkRule")
        if kind == FILTER_COLLECTION and rule_type == "NetworkRule":
            rules.append(_network_rule(rule, protocols_key="ipProtocols"))
        else:
            rules.append(NetworkRule(name=str(rule.get("name") or ""), protocols=(f"<{rule_type}>",),
                                     source_addresses=_strs(rule.get("sourceAddresses")),
                                     destination_addresses=(), destination_ports=()))
    if kind != FILTER_COLLECTION:
        action = f"<{kind}:{action}>"
    return RuleCollection(name=str(body.get("name") or ""), priority=int(body.get("priority") or 0),
                          action=action, rules=tuple(rules))


def rule_collection_group_from_arm(body: Mapping[str, Any]) -> ObservedRuleCollectionGroup:
    props = _props(body)
    return ObservedRuleCollectionGroup(
        id=str(body["id"]),
        name=str(body.get("name") or ids.parse_resource_id(body["id"]).name),
        priority=int(props.get("priority") or 0),
        rule_collections=tuple(_policy_collection(c) for c in props.get("ruleCollections") or []
                               if isinstance(c, Mapping)),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
        etag=str(body["etag"]) if body.get("etag") else None,
        size_bytes=_size_bytes(props.get("size")),
    )


def _size_bytes(value: Any) -> int | None:
    """ARM's `size` of a group, "0.001414299 MB" (MiB, as the recordings' figures suggest), in bytes."""
    text = str(value or "").strip()
    number, _, unit = text.partition(" ")
    try:
        amount = float(number)
    except ValueError:
        return None
    return round(amount * 1024 * 1024) if unit.strip().upper() == "MB" else None


# --------------------------------------------------------------------------------------------- to ARM
# The bodies themselves come from remediation.core.arm_shapes (the one serializer); here only the SDK wrapping.


def classic_collection_body(collection: RuleCollection) -> dict[str, Any]:
    """A classic `networkRuleCollections[]` item: `{name, properties}`."""
    return {"name": collection.name, "properties": arm_shapes.classic_collection_properties(collection)}


def nic_subnets_from_arm(body: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(NIC id, the subnet ids of its IP configurations)."""
    configs = [c for c in _props(body).get("ipConfigurations") or [] if isinstance(c, Mapping)]
    subnets = tuple(str(s["id"]) for c in configs if isinstance(s := _props(c).get("subnet"), Mapping) and s.get("id"))
    return str(body["id"]), subnets


def effective_routes_from_arm(body: Mapping[str, Any]) -> tuple[ObservedEffectiveRoute, ...]:
    """`{"value": [{"source", "state", "addressPrefix": [...], "nextHopType", "nextHopIpAddress": [...],
    "name"}]}` -> the Active routes, one per prefix (a route lists several prefixes; service endpoints do)."""
    found = []
    for route in body.get("value") or []:
        if not isinstance(route, Mapping) or str(route.get("state") or "Active").lower() != "active":
            continue
        hops = _strs(route.get("nextHopIpAddress"))
        for prefix in _strs(route.get("addressPrefix")):
            found.append(ObservedEffectiveRoute(str(route.get("source") or "Default"), prefix,
                                                str(route.get("nextHopType") or ""), hops[0] if hops else None,
                                                str(route["name"]) if route.get("name") else None))
    return tuple(found)
