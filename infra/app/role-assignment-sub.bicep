// Assigns a role to a principal at a whole subscription (deployed with scope: subscription(id)).
targetScope = 'subscription'

@description('Object id of the principal (the Function app identity).')
param principalId string

@description('Role definition GUID (built-in or custom).')
param roleDefinitionGuid string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionGuid)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output id string = assignment.id
