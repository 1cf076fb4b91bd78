"""The one list of ARM operations this project reacts to and performs.

Two consumers read these lists besides the code: the Event Grid subscription filter in `infra/`
(``HANDLED_OPERATIONS``) and the two custom role definitions in `infra/` (``SPOKE_ACTIONS``,
``HUB_ACTIONS`` plus ``CLASSIC_FIREWALL_ACTIONS``). Tests compare the Bicep with these, so a new event or
a new ARM call is added here first, in the role of the scope where the call is made.
"""

from __future__ import annotations

# Event Grid event types the intake accepts (subscription system topic, Microsoft.Resources.*).
HANDLED_EVENT_TYPES: tuple[str, ...] = (
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.Resources.ResourceDeleteSuccess",
)

# `data.operationName` values the intake maps to targets. Event Grid allows 25 filter values in total
# per subscription (docs/arm-notes.md section 4.2), so this list must stay short.
HANDLED_OPERATIONS: tuple[str, ...] = (
    "Microsoft.ContainerService/managedClusters/write",
    "Microsoft.ContainerService/managedClusters/delete",
    "Microsoft.ContainerService/managedClusters/agentPools/write",
    "Microsoft.Network/applicationGateways/write",
    "Microsoft.Network/applicationGateways/delete",
    "Microsoft.Network/virtualNetworks/write",
    "Microsoft.Network/virtualNetworks/subnets/write",
    "Microsoft.Network/routeTables/write",
    "Microsoft.Network/routeTables/delete",
    "Microsoft.Network/routeTables/routes/write",
    "Microsoft.Network/routeTables/routes/delete",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete",
    "Microsoft.Network/azureFirewalls/write",
    # A changed P2S client pool changes egress routes and the P2S rule of every cluster.
    "Microsoft.Network/virtualNetworkGateways/write",
)

# RBAC actions the function's identity needs, each tied to the calls that use it, split by WHERE they are
# needed. `infra/` grants them through two custom roles (tests/infra compares the Bicep with these dicts);
# nothing here may be a wildcard.
#
# Spoke role, assigned at each REMEDIATION_SCOPE entry: observe clusters, gateways and networks; write route
# tables, routes and subnet associations, with the `join/action`s a subnet PUT is checked for.
SPOKE_ACTIONS: dict[str, str] = {
    "Microsoft.ContainerService/managedClusters/read": "observe clusters (get, list in scope)",
    "Microsoft.ContainerService/managedClusters/outboundNetworkDependenciesEndpoints/read": "EGRESS_PROFILE="
    "aks-endpoints: the cluster's egress endpoint list (docs/egress.md)",
    "Microsoft.Network/applicationGateways/read": "observe the ingress gateway (sku, subnet, isolation tag)",
    "Microsoft.Network/virtualNetworkGateways/read": "observe P2S client address pools",
    "Microsoft.Network/virtualNetworks/read": "observe VNets in scope",
    "Microsoft.Network/virtualNetworks/subnets/read": "observe node, pod and gateway subnets",
    "Microsoft.Network/virtualNetworks/subnets/write": "associate a route table (read-modify-write of the subnet)",
    "Microsoft.Network/routeTables/read": "observe route tables",
    "Microsoft.Network/routeTables/write": "create the owned route table when a subnet has none",
    "Microsoft.Network/routeTables/join/action": "linked access check when a subnet PUT references a route table",
    "Microsoft.Network/routeTables/routes/read": "observe routes",
    "Microsoft.Network/routeTables/routes/write": "write owned routes through the child endpoint",
    "Microsoft.Network/routeTables/routes/delete": "remove owned routes that are no longer desired",
    # Linked access checks: a PUT re-sends every reference the resource already holds, and ARM checks the
    # caller's join right on each (a subnet's NSG and NAT gateway).
    "Microsoft.Network/networkSecurityGroups/join/action": "linked access check: a subnet PUT re-sends its NSG",
    "Microsoft.Network/natGateways/join/action": "linked access check: a subnet PUT re-sends its NAT gateway",
    # INVENTORY=resource-graph: ARG returns only rows the caller can read; the subscription and group rows of
    # ResourceContainers prove the scope was read (remediation/azure/resource_graph.py).
    "Microsoft.Resources/subscriptions/read": "Resource Graph inventory: the subscription's row proves it was read",
    "Microsoft.Resources/subscriptions/resourceGroups/read": "Resource Graph inventory: a resource-group "
    "scope's row proves it was read",
}

# Hub role, assigned at the firewall's resource group and each additional hub scope (policy, VPN gateway):
# observe the firewall, its policy and the hub network (P2S pools are found through the hub VNet's
# GatewaySubnet); write and delete only the owned rule collection group. Nothing here writes a route table or
# a subnet.
HUB_ACTIONS: dict[str, str] = {
    "Microsoft.Network/azureFirewalls/read": "observe the firewall (private IP, policy or classic rules)",
    "Microsoft.Network/firewallPolicies/read": "observe the policy that owns the rule collection group",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/read": "observe the owned rule collection group",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write": "write the owned rule collection group whole",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete": "remove the owned group when no cluster needs it",
    "Microsoft.Network/virtualNetworkGateways/read": "observe P2S client address pools",
    "Microsoft.Network/virtualNetworks/read": "observe the hub VNet (finds the VPN gateway through its GatewaySubnet)",
    "Microsoft.Network/virtualNetworks/subnets/read": "observe the hub's GatewaySubnet",
    "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections/read": "a secured vWAN hub (AZFW_Hub firewall): "
    "which VNets its connections reach (docs/platform-notes.md 13)",
    "Microsoft.Network/virtualHubs/routingIntent/read": "a secured vWAN hub: which routes its routing intent "
    "already provides (docs/platform-notes.md 13)",
}

# Added to the hub role only for a classic firewall (rules inside the firewall, no policy; infra parameter
# firewallIsClassic): the owned networkRuleCollections are written with a PUT of the whole firewall, which
# re-sends its subnet and public IPs, so ARM checks the join right on each.
CLASSIC_FIREWALL_ACTIONS: dict[str, str] = {
    "Microsoft.Network/azureFirewalls/write": "classic firewalls: write owned networkRuleCollections",
    "Microsoft.Network/virtualNetworks/subnets/join/action": "linked access check: a classic firewall PUT "
    "re-sends its AzureFirewallSubnet",
    "Microsoft.Network/publicIPAddresses/join/action": "linked access check: a classic firewall PUT "
    "re-sends its public IPs",
}

# Every action the code may use anywhere (the union of the roles above), for callers that ask "is this
# call covered at all"; which scope grants it is decided by the dicts above.
REQUIRED_ACTIONS: dict[str, str] = {**SPOKE_ACTIONS, **HUB_ACTIONS, **CLASSIC_FIREWALL_ACTIONS}
