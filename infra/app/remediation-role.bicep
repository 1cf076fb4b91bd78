// The custom role that lets the Function app remediate AKS routing and firewall rules, and nothing else.
// Its actions are exactly the keys of REQUIRED_ACTIONS in remediation/operations.py (tests/infra checks
// it): read what the runbook reads, write only route tables, routes, subnets (route table association),
// rule collection groups and classic firewalls. No wildcard, no delete of anything but owned routes/groups.
targetScope = 'subscription'

@description('Display name of the role; unique in the tenant, so it includes the environment name.')
param roleName string

@description('Scopes where the role may be assigned: subscription or resource-group ids (spokes, hub).')
param assignableScopes array

// Keep in the order of REQUIRED_ACTIONS; each line says why (remediation/operations.py has the same reasons).
var requiredActions = [
  'Microsoft.ContainerService/managedClusters/read' // observe clusters
  'Microsoft.ContainerService/managedClusters/outboundNetworkDependenciesEndpoints/read' // aks-endpoints profile
  'Microsoft.Network/applicationGateways/read' // observe the ingress gateway
  'Microsoft.Network/azureFirewalls/read' // observe the firewall
  'Microsoft.Network/azureFirewalls/write' // classic firewalls: owned networkRuleCollections
  'Microsoft.Network/firewallPolicies/read' // observe the policy
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/read' // observe the owned group
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/write' // write the owned group whole
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete' // remove the owned group
  'Microsoft.Network/virtualNetworkGateways/read' // P2S client address pools
  'Microsoft.Network/virtualNetworks/read' // observe VNets
  'Microsoft.Network/virtualNetworks/subnets/read' // observe node, pod and gateway subnets
  'Microsoft.Network/virtualNetworks/subnets/write' // associate a route table
  'Microsoft.Network/routeTables/read' // observe route tables
  'Microsoft.Network/routeTables/write' // create the owned route table
  'Microsoft.Network/routeTables/join/action' // linked access check of a subnet PUT
  'Microsoft.Network/routeTables/routes/read' // observe routes
  'Microsoft.Network/routeTables/routes/write' // write owned routes
  'Microsoft.Network/routeTables/routes/delete' // remove owned routes
  'Microsoft.Network/networkSecurityGroups/join/action' // a subnet PUT re-sends its NSG
  'Microsoft.Network/natGateways/join/action' // a subnet PUT re-sends its NAT gateway
  'Microsoft.Network/virtualNetworks/subnets/join/action' // a classic firewall PUT re-sends its subnet
  'Microsoft.Network/publicIPAddresses/join/action' // a classic firewall PUT re-sends its public IPs
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  // A role definition's name is a GUID; deriving it from the subscription and role name keeps redeploys
  // idempotent.
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'AKS private-network egress/ingress remediation: observe clusters and gateways, write owned routes, route table associations and the owned firewall rule collection group.'
    type: 'CustomRole'
    permissions: [
      {
        actions: requiredActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

// The GUID, so assignments in other subscriptions can address the role with subscriptionResourceId().
output roleDefinitionGuid string = role.name
output roleDefinitionId string = role.id
