// Assigns a role to a principal at a resource group, possibly in another subscription
// (deployed with scope: resourceGroup(subscriptionId, resourceGroupName)).
targetScope = 'resourceGroup'

@description('Object id of the principal (the Function app identity).')
param principalId string

@description('Role definition GUID (built-in or custom).')
param roleDefinitionGuid string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionGuid)
  properties: {
    // Resolved in this subscription: a custom role is addressable from every subscription in its
    // assignableScopes.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output id string = assignment.id
