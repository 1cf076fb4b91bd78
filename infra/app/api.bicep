// The Function app on the Flex Consumption plan (Functions v4, Python 3.11, Linux), with a system-assigned
// managed identity. Flex is the plan to use: Linux Consumption retires 2028-09-30 and has a 10 min timeout
// cap, while a firewall update alone takes 3-5 min (domain-notes.md section 4).
targetScope = 'resourceGroup'

@description('Function app name (also the default host name prefix).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region (must offer Flex Consumption).')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Storage account used by the host, the queue, the table and the lease blobs.')
param storageAccountName string

@description('Blob container the Flex plan deploys the app package into.')
param deploymentContainerName string

@description('Application Insights connection string (no key is needed: local auth is disabled).')
param applicationInsightsConnectionString string

@description('App settings that the remediation code reads (remediation/config.py).')
param remediationSettings object

@description('Upper bound of Flex instances; ARM throttles writes per principal, so more instances do not mean faster remediation.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance in MB (Flex: 2048 or 4096).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex zone redundancy is regional and needs always-ready instances; losing a zone only delays remediation (Event Grid retries for 24 h, the drift sweep catches up)
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers to the AzureFunction endpoint and operators call the HTTP API over the public endpoint; HTTP functions require a function key
  // checkov:skip=CKV_AZURE_17: client certificates would break Event Grid delivery and the documented curl check; callers authenticate with a function key
  // checkov:skip=CKV_AZURE_212: Flex scales from zero; a lost instance loses nothing because Event Grid and the queue redeliver and the drift sweep is the backstop
  // checkov:skip=CKV_AZURE_213: there is no long-running HTTP server to probe on Flex (scale to zero); the platform manages host health
  name: name
  location: location
  // azd finds the deployment target of service 'api' (azure.yaml) by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    // Flex keeps runtime and deployment here, not in FUNCTIONS_WORKER_RUNTIME / WEBSITE_RUN_FROM_PACKAGE
    // app settings (Flex rejects those settings).
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP or basic-auth SCM publishing: deployment goes through Entra ID (azd / func publish), so no
// publishing password exists to leak.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// App settings are a separate resource because REMEDIATION_PRINCIPAL_ID is the site's own identity, which
// exists only after the site does. This PUT replaces all app settings, so every setting lives here.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every sites/config as the 'web' config; these settings are app settings only:
  // checkov:skip=CKV_AZURE_13: App Service Authentication would block Event Grid delivery; HTTP functions need a function key
  // checkov:skip=CKV_AZURE_222: public access is needed by Event Grid delivery and the HTTP API (see the site)
  // checkov:skip=CKV_AZURE_63: IIS HTTP logging does not apply to Linux Functions; requests go to Application Insights
  // checkov:skip=CKV_AZURE_65: IIS detailed error pages do not apply to Linux Functions
  // checkov:skip=CKV_AZURE_66: IIS failed request tracing does not apply to Linux Functions
  // checkov:skip=CKV_AZURE_80: .NET Framework version does not apply to a Python app
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files content share; state lives in blobs and tables
  parent: functionApp
  name: 'appsettings'
  properties: union(remediationSettings, {
    // Identity-based host storage: no connection string. Service URIs (not just the account name) keep
    // the right DNS suffix in sovereign clouds.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    AzureWebJobsStorage__credential: 'managedidentity'
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    // Telemetry with an Entra token of the system-assigned identity (App Insights local auth is off).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    // The intake drops events whose data.authorization.evidence.principalId is this identity, so the
    // app's own route and rule writes do not trigger it again (arm-protocol.md section 4.4).
    REMEDIATION_PRINCIPAL_ID: functionApp.identity.principalId
  })
}

output id string = functionApp.id
output name string = functionApp.name
output principalId string = functionApp.identity.principalId
output defaultHostName string = functionApp.properties.defaultHostName
