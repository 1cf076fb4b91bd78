// Assigns a role to a principal on one resource (deployed with scope: resourceGroup(<its subscription>,
// <its resource group>)): least privilege at resource scope for the hub role (each firewall, each firewall
// policy, a hub VNet or VPN gateway listed in additionalRoleScopes). Bicep scopes an extension resource by a
// resource symbol, so each supported type has its own `existing` reference; main.bicep refuses other types
// (guardHubScopeTypes) before anything is written.
targetScope = 'resourceGroup'

@description('Object id of the principal (the app identity).')
param principalId string

@description('Role definition GUID (the custom hub role).')
param roleDefinitionGuid string

@description('Resource id: /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/<type>/<name>.')
param resourceId string

var parts = split(resourceId, '/')
var resourceType = toLower(parts[7])
var resourceName = parts[8]

resource firewall 'Microsoft.Network/azureFirewalls@2024-05-01' existing = if (resourceType == 'azurefirewalls') {
  name: resourceName
}

resource firewallPolicy 'Microsoft.Network/firewallPolicies@2024-05-01' existing = if (resourceType == 'firewallpolicies') {
  name: resourceName
}

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2024-05-01' existing = if (resourceType == 'virtualnetworks') {
  name: resourceName
}

resource gateway 'Microsoft.Network/virtualNetworkGateways@2024-05-01' existing = if (resourceType == 'virtualnetworkgateways') {
  name: resourceName
}

resource onFirewall 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'azurefirewalls') {
  name: guid(firewall.id, principalId, roleDefinitionGuid)
  scope: firewall
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onFirewallPolicy 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'firewallpolicies') {
  name: guid(firewallPolicy.id, principalId, roleDefinitionGuid)
  scope: firewallPolicy
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onVirtualNetwork 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'virtualnetworks') {
  name: guid(virtualNetwork.id, principalId, roleDefinitionGuid)
  scope: virtualNetwork
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onGateway 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'virtualnetworkgateways') {
  name: guid(gateway.id, principalId, roleDefinitionGuid)
  scope: gateway
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
