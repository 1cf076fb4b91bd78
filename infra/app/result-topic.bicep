// Optional Event Grid custom topic for remediation result events (RESULT_TOPIC_ENDPOINT). Local auth is
// disabled: the app publishes with its managed identity and the EventGrid Data Sender role (rbac.bicep).
targetScope = 'resourceGroup'

@description('Custom topic name.')
param name string

@description('Azure region.')
param location string

@description('Tags.')
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // checkov:skip=CKV_AZURE_193: the Flex app is not VNet-integrated and publishes over the public endpoint; local auth is off, so publishing needs an Entra token and EventGrid Data Sender
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
    publicNetworkAccess: 'Enabled'
  }
}

output endpoint string = topic.properties.endpoint
output id string = topic.id
output name string = topic.name
