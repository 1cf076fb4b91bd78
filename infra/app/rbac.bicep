// Data-plane roles of the Function app's identity inside its own resource group. Shared keys are disabled,
// so these role assignments are the only way the host and the code reach storage and telemetry.
targetScope = 'resourceGroup'

@description('Object id of the app\'s user-assigned identity (identity.bicep), granted before the site exists.')
param principalId string

@description('Storage account of the app.')
param storageAccountName string

@description('Events account (the resource-events queue).')
param eventsStorageAccountName string

@description('Application Insights component of the app.')
param applicationInsightsName string

@description('Optional Event Grid custom topic for result events; empty: none.')
param resultTopicName string = ''

// Built-in role definition ids (the same in every Azure cloud).
// Storage Blob Data Owner: the Flex host reads and writes its deployment container and takes blob leases
// (AzureWebJobsStorage, Functions identity-based connection docs); the app's per-policy locks are leases too.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: the queue trigger reads, deletes and moves messages to the poison queue;
// the intake and the HTTP API enqueue. It includes Message Processor and Message Sender.
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the audit table (remediationaudit).
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: Entra-authenticated telemetry when App Insights local auth is disabled.
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
// EventGrid Data Sender: publish result events to the custom topic, nothing else.
var eventGridDataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'

var storageRoleIds = [
  storageBlobDataOwnerRoleId
  storageQueueDataContributorRoleId
  storageTableDataContributorRoleId
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource eventsStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: eventsStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource resultTopic 'Microsoft.EventGrid/topics@2022-06-15' existing = if (!empty(resultTopicName)) {
  name: resultTopicName
}

// principalType ServicePrincipal lets ARM skip the directory lookup that fails for a just-created identity
// (PrincipalNotFound while Entra replicates).
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in storageRoleIds: {
  name: guid(storage.id, principalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Storage Queue Data Contributor on the events account: on_resource_event_queued reads and deletes the
// delivered events and moves failing ones to resource-events-poison. No blob role: the dead letters there
// are for operators, not for the app.
resource eventQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsStorage.id, principalId, storageQueueDataContributorRoleId)
  scope: eventsStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource resultSenderRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(resultTopicName)) {
  name: guid(resultTopic.id, principalId, eventGridDataSenderRoleId)
  scope: resultTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
