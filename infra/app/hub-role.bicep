// The hub role: what the Function app may do where the firewall lives (its resource group, and any extra
// hub scope holding the policy or the VPN gateway). Its actions are exactly HUB_ACTIONS in
// remediation/core/operations.py, plus CLASSIC_FIREWALL_ACTIONS when firewallIsClassic (tests/infra checks
// both): observe the firewall, its policy and the hub network; write and delete only the owned rule
// collection group. Nothing here writes a route table or a subnet.
targetScope = 'subscription'

@description('Display name of the role; unique in the tenant, so it includes the environment name.')
param roleName string

@description('Scopes where the role may be assigned: the hub subscription or resource-group ids.')
param assignableScopes array

@description('true for a classic firewall (rules inside the firewall, no firewall policy): adds azureFirewalls/write and the joins its PUT is checked for.')
param firewallIsClassic bool = false

// = HUB_ACTIONS (remediation/core/operations.py has the reason of each).
var hubActions = [
  'Microsoft.Network/azureFirewalls/read' // observe the firewall
  'Microsoft.Network/firewallPolicies/read' // observe the policy
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/read' // observe the owned group
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/write' // write the owned group whole
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete' // remove the owned group
  'Microsoft.Network/virtualNetworkGateways/read' // P2S client address pools
  'Microsoft.Network/virtualNetworks/read' // the hub VNet leads to the VPN gateway
  'Microsoft.Network/virtualNetworks/subnets/read' // the hub's GatewaySubnet
  'Microsoft.Network/virtualHubs/hubVirtualNetworkConnections/read' // a secured vWAN hub's VNet connections
  'Microsoft.Network/virtualHubs/routingIntent/read' // what the hub's routing intent already provides
]

// = CLASSIC_FIREWALL_ACTIONS: a classic firewall's owned networkRuleCollections are written with a PUT of
// the whole firewall, which re-sends its subnet and public IPs.
var classicFirewallActions = [
  'Microsoft.Network/azureFirewalls/write' // owned networkRuleCollections
  'Microsoft.Network/virtualNetworks/subnets/join/action' // the PUT re-sends AzureFirewallSubnet
  'Microsoft.Network/publicIPAddresses/join/action' // the PUT re-sends the public IPs
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'AKS private-network egress/ingress remediation, hub: observe the firewall, its policy and the hub network; write the owned rule collection group (and, for a classic firewall, its owned rule collections).'
    type: 'CustomRole'
    permissions: [
      {
        actions: union(hubActions, firewallIsClassic ? classicFirewallActions : [])
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionGuid string = role.name
output roleDefinitionId string = role.id
