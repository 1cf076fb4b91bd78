// Optional Event Grid custom topic for remediation result events (RESULT_TOPIC_ENDPOINT). Local auth is
// disabled: the app publishes with its managed identity and the EventGrid Data Sender role (rbac.bicep),
// through the topic's private endpoint (public network access disabled).
targetScope = 'resourceGroup'

@description('Custom topic name.')
param name string

@description('Azure region.')
param location string

@description('Tags.')
param tags object = {}

@allowed([
  'Disabled'
  'Enabled'
])
@description('Disabled: the app publishes through the private endpoint of the topic (main.bicep); Enabled only for a lab.')
param publicNetworkAccess string

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // checkov:skip=CKV_AZURE_193: publicNetworkAccess is the parameter main.bicep sets to 'Disabled' unless labPublicAccess; checkov cannot resolve a module parameter, tests/infra/test_private_by_default.py checks the default
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    // remediation/triggers/publish.py sends EventGridEvent objects.
    inputSchema: 'EventGridSchema'
    // Entra-only publishing: no topic access key exists to leak.
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    inboundIpRules: []
  }
}

output endpoint string = topic.properties.endpoint
output id string = topic.id
output name string = topic.name
