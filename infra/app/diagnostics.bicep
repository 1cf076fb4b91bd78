// Diagnostic settings: everything an operator or an auditor reads afterwards goes to the app's Log
// Analytics workspace (reached through the private link scope): the Function app's own logs, the reads,
// writes and deletes on both storage accounts (the audit table and trail, the queues, the dead letters),
// the result topic's delivery and publish failures, and the workspace's own query audit. The system topics'
// DeliveryFailures are set where the topics live (eventgrid-topic.bicep). Categories: docs/deploy.md section 13.1.
targetScope = 'resourceGroup'

@description('Log Analytics workspace resource id.')
param workspaceId string

@description('Function app name.')
param functionAppName string

@description('App storage account name.')
param storageAccountName string

@description('Events storage account name.')
param eventsStorageAccountName string

@description('Result topic name; empty: none.')
param resultTopicName string = ''

var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]
var transactionMetrics = [
  {
    category: 'Transaction'
    enabled: true
  }
]

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(split(workspaceId, '/'))
}

resource appStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: appStorage
  name: 'default'
}

resource appQueues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: appStorage
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: appStorage
  name: 'default'
}

resource eventsStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: eventsStorageAccountName
}

resource eventsBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: eventsStorage
  name: 'default'
}

resource eventsQueues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: eventsStorage
  name: 'default'
}

resource resultTopic 'Microsoft.EventGrid/topics@2022-06-15' existing = if (!empty(resultTopicName)) {
  name: resultTopicName
}

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource appStorageDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: appStorage
  properties: {
    workspaceId: workspaceId
    metrics: transactionMetrics
  }
}

resource appBlobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: appBlobs
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource appQueueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: appQueues
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource appTableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: appTables
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource eventsStorageDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: eventsStorage
  properties: {
    workspaceId: workspaceId
    metrics: transactionMetrics
  }
}

resource eventsBlobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: eventsBlobs
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource eventsQueueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: eventsQueues
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource resultTopicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(resultTopicName)) {
  name: 'to-workspace'
  scope: resultTopic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
      {
        category: 'PublishFailures'
        enabled: true
      }
    ]
  }
}

// Who queried the workspace (LAQueryLogs): part of the audit trail of the audit trail.
resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: workspace
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'Audit'
        enabled: true
      }
    ]
  }
}
