// What a system topic's identity may do in the events account, and nothing more: send messages to the
// `resource-events` queue (queue delivery with the topic's identity) and write blobs into the
// `eventgrid-deadletter` container. Each assignment is scoped to that one queue or container.
targetScope = 'resourceGroup'

@description('Object id of the system topic identity.')
param topicPrincipalId string

@description('The events storage account.')
param storageAccountName string

@description('Dead-letter container.')
param deadLetterContainerName string

@description('Queue Event Grid delivers to.')
param eventQueueName string

// Storage Blob Data Contributor: Event Grid creates blobs in the dead-letter container.
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
// Storage Queue Data Message Sender: Event Grid adds messages to the queue; it cannot read or delete them.
var storageQueueDataMessageSenderRoleId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'

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

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: eventQueueName
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

resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, topicPrincipalId, storageQueueDataMessageSenderRoleId)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSenderRoleId)
    principalId: topicPrincipalId
    principalType: 'ServicePrincipal'
  }
}
