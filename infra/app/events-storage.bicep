// The events account: where Event Grid puts what it delivers, and nothing else. It holds the queue
// `resource-events` (read by on_resource_event_queued), its poison queue, and the container
// `eventgrid-deadletter` for events Event Grid could not deliver.
//
// Why a second account: Event Grid cannot deliver to a private endpoint. It writes queue messages and
// dead-letter blobs over the storage firewall's trusted-service path, with the system topic's managed
// identity, and that path exists only in the firewall mode "enabled from selected networks" (with no
// network selected here), not with public network access disabled. Keeping that mode on a separate
// account leaves the app's own account (host state, audit, locks, code) with public access disabled.
// Here no IP or VNet rule exists, the default action is Deny, shared keys are off, and only principals
// with a data role reach it: the topics' identities (send to the queue, write dead letters) and the app
// (read the queue, through its private endpoint). See docs/deploy.md, "Event path".
targetScope = 'resourceGroup'

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

// Names the code uses (remediation/triggers/eventgrid_queue.py EVENT_QUEUE_NAME, EVENT_POISON_QUEUE_NAME);
// tests/infra compares them.
var eventQueueName = 'resource-events'
var eventPoisonQueueName = 'resource-events-poison'
var queueNames = [
  eventQueueName
  eventPoisonQueueName
]
var deadLetterContainerName = 'eventgrid-deadletter'
var containerNames = [
  deadLetterContainerName
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59: the trusted-service path Event Grid delivers over exists only with public network access 'Enabled' and defaultAction Deny; no IP or VNet rule admits anyone else (see the header)
  // checkov:skip=CKV_AZURE_206: pending events and dead letters only; Event Grid retries for 24 h and the drift sweep is the backstop, so LRS is enough
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // "Enabled from selected networks", with none selected: only the trusted-service exception below
    // lets a request in on the public endpoint, and it still needs an Entra token and a data role.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny'
      ipRules: []
      virtualNetworkRules: []
      resourceAccessRules: []
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

output name string = storage.name
output id string = storage.id
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output eventQueueName string = eventQueueName
output deadLetterContainerName string = deadLetterContainerName
