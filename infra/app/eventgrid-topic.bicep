// The subscription-level system topic (Microsoft.Resources.Subscriptions) of one watched subscription.
// It raises ResourceWriteSuccess/ResourceDeleteSuccess for every ARM write in the subscription; AKS has no
// "cluster created" event of its own (docs/platform-notes.md 3.2.4). Only ONE topic of this type may exist per
// subscription (docs/arm-notes.md 4.2), so an existing one can be reused by name instead of created.
// Deployed with scope: resourceGroup(watchedSubscriptionId, resourceGroupName): a system topic lives in a
// resource group of the subscription it watches, with location 'global'.
targetScope = 'resourceGroup'

@description('Name of the system topic to create, or of the existing one to reuse.')
param systemTopicName string

@description('true: create the topic. false: reuse the existing topic of that name (it must have a system-assigned identity for dead-lettering).')
param createSystemTopic bool = true

@description('Tags for a created topic.')
param tags object = {}

@description('Log Analytics workspace of the app: the topic\'s DeliveryFailures go there.')
param workspaceId string

resource newTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  // The topic's own identity writes dead letters to the app's storage (deadLetterWithResourceIdentity),
  // so no storage key or SAS is needed.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = if (!createSystemTopic) {
  name: systemTopicName
}

output name string = systemTopicName
// Delivery failures of every event subscription on the topic (AegDeliveryFailureLogs), created or reused.
resource newTopicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (createSystemTopic) {
  name: 'aks-remediation-to-workspace'
  scope: newTopic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
    ]
  }
}

resource existingTopicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!createSystemTopic) {
  name: 'aks-remediation-to-workspace'
  scope: existingTopic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
    ]
  }
}

// A reused topic must carry a system-assigned identity: it writes the dead letters and sends to the queue.
// Without one, stop with the reason instead of dereferencing null.
output principalId string = createSystemTopic ? newTopic.identity.principalId : (existingTopic.identity.?principalId ?? fail('WATCHED_SUBSCRIPTIONS: the reused system topic has no system-assigned identity; enable it (az eventgrid system-topic update --identity systemassigned) or let the deployment create the topic.'))
