// The Function app on the Flex Consumption plan (Functions v4, Python 3.13, Linux), running as the
// user-assigned identity main.bicep creates and grants first. Flex is the plan to use: Linux Consumption
// retires 2028-09-30 and has a 10 min timeout cap, while a firewall update alone takes 3-5 min
// (docs/platform-notes.md section 4).
//
// Private by default: VNet-integrated into appSubnetId (outbound: ARM, and storage, telemetry and the
// result topic through their private endpoints), public network access disabled (inbound only through
// the site's private endpoint, main.bicep), and the HTTP API behind App Service authentication with
// Microsoft Entra ID. Function keys are an opt-in (httpAuth 'functionKeys'). See docs/deploy.md.
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

@description('App settings that the remediation code reads (remediation/core/config.py).')
param remediationSettings object

@allowed([
  'Disabled'
  'Enabled'
])
@description('Disabled unless a lab opens the app or Event Grid delivers by webhook (main.bicep).')
param publicNetworkAccess string

@description('Lab only: public IPv4 ranges (CIDR) admitted by the access restrictions when public access is on.')
param labAllowedIpRanges array = []

@description('Subnet the app is VNet-integrated into (delegated to Microsoft.App/environments).')
param appSubnetId string

@description('Queue endpoint of the events account (the resource-events queue of on_resource_event_queued).')
param eventsQueueServiceUri string

@allowed([
  'entra'
  'functionKeys'
])
@description('entra: App Service authentication with Microsoft Entra ID, no key needed. functionKeys: the opt-in; callers send a function key.')
param httpAuth string = 'entra'

@description('Resource id of the user-assigned identity of the app (identity.bicep), created and granted its storage roles before the site, so the first package deploy does not race role propagation.')
param identityId string

@description('Client id of that identity: the Functions host, the SDK clients and telemetry pick it by this id.')
param identityClientId string

@description('Object (principal) id of that identity: the intake drops the events it caused.')
param identityPrincipalId string

@description('Client id of the Entra app registration that represents the HTTP API (the token audience). Empty with httpAuth entra: every HTTP request is refused (401) until it is set.')
param authClientId string = ''

@description('Tenant that issues the tokens.')
param authTenantId string = tenant().tenantId

@description('true when Event Grid delivers by webhook: its handshake and deliveries reach /runtime/webhooks/eventgrid, which App Service authentication must let through (the Event Grid system key protects it).')
param eventGridWebhook bool = false

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

var entraAuth = httpAuth == 'entra'
var labRestrictions = [for (range, i) in labAllowedIpRanges: {
  name: 'lab-${i}'
  ipAddress: range
  action: 'Allow'
  priority: 100 + i
}]
// The webhook opt-in: Event Grid calls from its service tag's addresses.
var eventGridRestrictions = eventGridWebhook ? [
  {
    name: 'event-grid'
    ipAddress: 'AzureEventGrid'
    tag: 'ServiceTag'
    action: 'Allow'
    priority: 300
  }
] : []
var ipRestrictions = concat(labRestrictions, eventGridRestrictions)

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: publicNetworkAccess is the parameter main.bicep sets to 'Disabled' unless labPublicAccess or the webhook opt-in asks otherwise; checkov cannot resolve a module parameter, tests/infra/test_private_by_default.py checks the default
  // checkov:skip=CKV_AZURE_17: callers authenticate with Microsoft Entra tokens (App Service authentication); client certificates would add a second credential to manage and break the webhook opt-in
  // checkov:skip=CKV_AZURE_212: Flex scales from zero; a lost instance loses nothing because Event Grid and the queue redeliver and the drift sweep is the backstop
  // checkov:skip=CKV_AZURE_213: there is no long-running HTTP server to probe on Flex (scale to zero); the platform manages host health
  // checkov:skip=CKV_AZURE_15: minTlsVersion is 1.3, or 1.2 only under the webhook opt-in; checkov cannot read the conditional, tests/infra/test_audit_and_monitoring.py checks both branches
  // checkov:skip=CKV_AZURE_145: the same minTlsVersion conditional (1.3 by default), checked in tests/infra/test_audit_and_monitoring.py
  name: name
  location: location
  // azd finds the deployment target of service 'api' (azure.yaml) by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  // User-assigned, created before the site with its roles (main.bicep: identity, appRbac): the deployment
  // container role exists before the first package write, unlike a system-assigned identity born with the
  // site (docs/deploy.md section 5.1).
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: publicNetworkAccess
    // Outbound through the VNet: ARM via the network's egress, storage, telemetry and the result topic
    // via their private endpoints.
    virtualNetworkSubnetId: appSubnetId
    siteConfig: {
      // TLS 1.3 on the site and its SCM endpoint (SupportedTlsVersions lists 1.3, docs/deploy.md section 14).
      // The webhook opt-in keeps 1.2: Event Grid's TLS 1.3 support for webhook delivery is not confirmed.
      minTlsVersion: eventGridWebhook ? '1.2' : '1.3'
      scmMinTlsVersion: eventGridWebhook ? '1.2' : '1.3'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Deny by default on the public endpoint too (it is only on for a lab or the webhook opt-in);
      // only the lab's ranges are admitted.
      ipSecurityRestrictionsDefaultAction: 'Deny'
      ipSecurityRestrictions: ipRestrictions
      scmIpSecurityRestrictionsDefaultAction: 'Deny'
      scmIpSecurityRestrictionsUseMain: true
    }
    // Flex keeps runtime and deployment here, not in FUNCTIONS_WORKER_RUNTIME / WEBSITE_RUN_FROM_PACKAGE
    // app settings (Flex rejects those settings).
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.13'
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

// App settings are a separate resource (a PUT that replaces all app settings, so every setting lives here).
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every sites/config as the 'web' config; these settings are app settings only:
  // checkov:skip=CKV_AZURE_13: App Service authentication is the authsettingsV2 resource below; this resource holds app settings only
  // checkov:skip=CKV_AZURE_222: public network access is a property of the site (Disabled by default), not of its app settings
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
    AzureWebJobsStorage__clientId: identityClientId
    // The events account (connection "EventsStorage" of on_resource_event_queued), identity-based too.
    EventsStorage__queueServiceUri: eventsQueueServiceUri
    EventsStorage__credential: 'managedidentity'
    EventsStorage__clientId: identityClientId
    // DefaultAzureCredential (ARM, Event Grid) picks the user-assigned identity by this id.
    AZURE_CLIENT_ID: identityClientId
    // Read when the host indexes the HTTP functions (remediation/triggers/http_auth.py): with Entra ID
    // in front, no function key is required on top; with the opt-in, every call needs a key.
    HTTP_AUTH_LEVEL: entraAuth ? 'anonymous' : 'function'
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    // Telemetry with an Entra token of the user-assigned identity (App Insights local auth is off).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // The intake drops events whose data.authorization.evidence.principalId is this identity, so the
    // app's own route and rule writes do not trigger it again (docs/arm-notes.md section 4.4).
    REMEDIATION_PRINCIPAL_ID: identityPrincipalId
  })
}

// App Service authentication (Easy Auth v2): every request needs a Microsoft Entra token for the API's app
// registration; without one the platform answers 401 before the code runs. Callers are limited to the
// principals assigned an app role of that registration (its service principal has "assignment required",
// docs/deploy.md), so a token alone from the tenant is not enough.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_63: IIS HTTP logging does not apply to Linux Functions; requests go to Application Insights
  // checkov:skip=CKV_AZURE_65: IIS detailed error pages do not apply to Linux Functions
  // checkov:skip=CKV_AZURE_66: IIS failed request tracing does not apply to Linux Functions
  // checkov:skip=CKV_AZURE_80: .NET Framework version does not apply to a Python app
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files content share; state lives in blobs and tables
  // checkov:skip=CKV_AZURE_222: public network access is a property of the site (Disabled by default), not of its auth settings
  // checkov:skip=CKV_AZURE_13: this is App Service authentication (authsettingsV2, platform.enabled); checkov only reads the v1 authsettings property 'enabled'
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: entraAuth
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // The Event Grid webhook opt-in authenticates with the Event Grid system key instead.
      excludedPaths: eventGridWebhook ? [
        '/runtime/webhooks/eventgrid'
      ] : []
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: !empty(authClientId)
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

output id string = functionApp.id
output name string = functionApp.name
output principalId string = identityPrincipalId
output defaultHostName string = functionApp.properties.defaultHostName
