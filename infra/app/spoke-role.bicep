// The spoke role: what the Function app may do where the clusters live (each REMEDIATION_SCOPE entry).
// Its actions are exactly the keys of SPOKE_ACTIONS in remediation/core/operations.py (tests/infra checks it):
// observe clusters, gateways and networks; write route tables, routes and subnet associations, with the
// linked-access `join/action`s a subnet PUT is checked for. Nothing about firewalls.
targetScope = 'subscription'

@description('Display name of the role; unique in the tenant, so it includes the environment name.')
param roleName string

@description('Scopes where the role may be assigned: the remediated subscription or resource-group ids.')
param assignableScopes array

// = SPOKE_ACTIONS (remediation/core/operations.py has the reason of each).
var spokeActions = [
  'Microsoft.ContainerService/managedClusters/read' // observe clusters
  'Microsoft.ContainerService/managedClusters/outboundNetworkDependenciesEndpoints/read' // aks-endpoints profile
  'Microsoft.Network/applicationGateways/read' // observe the ingress gateway
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
  'Microsoft.Resources/subscriptions/read' // Resource Graph inventory: the subscription row proves the scope
  'Microsoft.Resources/subscriptions/resourceGroups/read' // Resource Graph inventory: the resource-group row
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  // A role definition's name is a GUID; deriving it from the subscription and role name keeps redeploys
  // idempotent.
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'AKS private-network egress/ingress remediation, spokes: observe clusters, gateways and networks; write owned route tables, routes and route table associations.'
    type: 'CustomRole'
    permissions: [
      {
        actions: spokeActions
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
