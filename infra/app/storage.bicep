// Storage account of the Function app: the Functions host (identity-based AzureWebJobsStorage), the Flex
// Consumption deployment package, the work queue, the audit table and the lease blobs that give one writer
// per firewall policy. No key is ever handed out: shared keys are disabled, so every client (host, app
// code) authenticates with Microsoft Entra ID. Public network access is disabled: the app reaches blob,
// queue and table through private endpoints (main.bicep), and nothing outside the VNet reaches the
// account at all. Event Grid's queue and dead letters live in the separate events account
// (events-storage.bicep), because Event Grid can only deliver over the trusted-service path.
targetScope = 'resourceGroup'

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account (the Function app region).')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Blob container that the Flex Consumption plan deploys the app package into.')
param deploymentContainerName string

@allowed([
  'Disabled'
  'Enabled'
])
@description('Disabled, except for a lab (main.bicep labPublicAccess); the network ACL denies by default either way.')
param publicNetworkAccess string

@description('Lab only: public IPv4 addresses or ranges admitted through the storage firewall (e.g. the deployer).')
param labAllowedIpRanges array = []

@description('Days each audit blob is immutable (time-based retention of the audit container).')
@minValue(1)
@maxValue(146000)
param auditRetentionDays int = 365

// Names the app code uses (remediation/storage: QUEUE_NAME, POISON_QUEUE_NAME, AUDIT_TABLE, STATUS_TABLE,
// DEDUPE_TABLE, LOCK_CONTAINER); tests/infra compares them.
var workQueueName = 'remediation-requests'
// The host moves a message here after maxDequeueCount failed attempts (Functions queue trigger docs);
// creating it up front lets operators alert on it before the first failure.
var poisonQueueName = 'remediation-requests-poison'
var auditTableName = 'remediationaudit'
var statusTableName = 'remediationstatus'
var dedupeTableName = 'remediationdedupe'
var tableNames = [
  auditTableName
  statusTableName
  dedupeTableName
]
var locksContainerName = 'remediation-locks'
// AUDIT_CONTAINER (remediation/storage/audit.py): the append-only copy of the audit table.
var auditContainerName = 'remediation-audit'
var containerNames = [
  deploymentContainerName
  locksContainerName
]
var queueNames = [
  workQueueName
  poisonQueueName
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_206: work items, leases and an audit trail the drift sweep can rebuild; LRS keeps a small app cheap (edit the sku for ZRS/GRS)
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    // Identity-based connections only: AzureWebJobsStorage__* settings, no connection string, no key.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      // Nothing is admitted on the public endpoint: the app uses the private endpoints. The trusted-service
      // exception only exists while a lab enables public access (CIS 4.8); Event Grid writes to the
      // events account, not here.
      bypass: 'AzureServices'
      defaultAction: 'Deny'
      ipRules: [for range in labAllowedIpRanges: {
        value: range
        action: 'Allow'
      }]
      virtualNetworkRules: []
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

// The audit trail an auditor can rely on: a time-based retention policy (WORM) with protected append
// writes. The app appends one JSON line per run to the hour's append blob; no one, the app included, can
// change or delete a blob until it is auditRetentionDays old. Lock the policy for regulated use
// (scripts/lock-audit-retention.sh): a locked policy can only be extended, never shortened or removed
// (docs/deploy.md section 13.2).
resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: auditContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource auditRetention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: auditContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: true
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

output name string = storage.name
output id string = storage.id
// Endpoints come from the account itself, so they carry the right DNS suffix in every cloud
// (core.windows.net, core.usgovcloudapi.net, core.chinacloudapi.cn).
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainerName
output workQueueName string = workQueueName
output auditTableName string = auditTableName
output locksContainerName string = locksContainerName
output auditContainerName string = auditContainer.name
