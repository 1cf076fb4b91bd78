// Alerts an operator must see: an event Event Grid gave up on (a dead-letter blob in the events account),
// a message the Functions host moved to a poison queue (after its last attempt), an audit record that was
// not stored, and a failed function run.
// Log search alerts over the diagnostic logs (diagnostics.bicep) and Application Insights' requests, all in
// the app's workspace. Queries and their tables: docs/deploy.md section 13.3.
targetScope = 'resourceGroup'

@description('Azure region of the alert rules (the workspace region).')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Log Analytics workspace resource id.')
param workspaceId string

@description('Events storage account name (dead letters).')
param eventsStorageAccountName string

@description('Dead-letter container of the events account.')
param deadLetterContainerName string

@description('Name prefix of the rules and the action group.')
param namePrefix string

@description('Email addresses notified; empty: no action group (the alerts still fire in Azure Monitor).')
param alertEmails array = []

var notify = !empty(alertEmails)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: '${namePrefix}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'aksremed'
    enabled: true
    emailReceivers: [for (address, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

var rules = [
  {
    name: 'dead-lettered-events'
    description: 'Event Grid dead-lettered an ARM event: the app never saw it (the drift sweep is the backstop). Read the blob in the dead-letter container for the reason.'
    severity: 1
    query: 'StorageBlobLogs | where AccountName =~ "${eventsStorageAccountName}" | where OperationName in ("PutBlob", "PutBlockList", "AppendBlock") | where Uri has "/${deadLetterContainerName}/"'
  }
  {
    name: 'poison-messages'
    description: 'The Functions host moved a message to a poison queue after its last attempt: a remediation request or an event was not processed.'
    severity: 1
    query: 'StorageQueueLogs | where OperationName == "PutMessage" | where Uri has "-poison"'
  }
  {
    name: 'audit-write-failures'
    description: 'An audit record was not stored (remediation/triggers/queue.py logs it and does not re-run the reconcile): the audit trail has a gap; the trace names the request.'
    severity: 1
    query: 'AppTraces | where SeverityLevel >= 3 | where Message startswith "audit record of request"'
  }
  {
    name: 'failed-runs'
    description: 'A function run failed (an exception or a failed result): see the audit record and Application Insights.'
    severity: 2
    query: 'AppRequests | where Success == false'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = [for rule in rules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: ${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [
        actionGroup.id
      ] : []
    }
  }
}]
