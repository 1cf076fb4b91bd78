// Lets a system topic's identity write dead letters into the app's 'eventgrid-deadletter' container, and
// nowhere else (the assignment is scoped to the container). Deployed in the app's resource group.
targetScope = 'resourceGroup'

@description('Object id of the system topic identity.')
param topicPrincipalId string

@description('Storage account of the app.')
param storageAccountName string

@description('Dead-letter container.')
param deadLetterContainerName string

// Storage Blob Data Contributor: Event Grid needs to create blobs in the dead-letter container.
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, topicPrincipalId, storageBlobDataContributorRoleId)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: topicPrincipalId
    principalType: 'ServicePrincipal'
  }
}
