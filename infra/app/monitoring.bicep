// Log Analytics + workspace-based Application Insights, reached through an Azure Monitor Private Link
// Scope (AMPLS). Local (instrumentation-key) authentication is disabled, so telemetry is only accepted with
// an Entra token: the app sets APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD and holds
// Monitoring Metrics Publisher. Public ingestion and query are disabled: telemetry arrives through the
// AMPLS private endpoint (main.bicep), and queries come from inside the network (or a lab opens them).
targetScope = 'resourceGroup'

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@allowed([
  'Disabled'
  'Enabled'
])
@description('Public ingestion and query: Disabled, except for a lab (main.bicep labPublicAccess).')
param publicNetworkAccess string

@description('Azure Monitor Private Link Scope name.')
param privateLinkScopeName string

@description('false: the estate\'s scope (a hub\'s) is reused; main.bicep links the workspace and component to it (ampls-link.bicep).')
param createPrivateLinkScope bool = true

@allowed([
  'PrivateOnly'
  'Open'
])
@description('Ingestion and query access mode of a created scope (docs/deploy.md section 1.2).')
param accessMode string = 'PrivateOnly'

@description('Days Log Analytics keeps the audit-relevant traces (30-730).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
    publicNetworkAccessForIngestion: publicNetworkAccess
    publicNetworkAccessForQuery: publicNetworkAccess
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Entra-only ingestion: a leaked connection string cannot be used to write telemetry.
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: publicNetworkAccess
    publicNetworkAccessForQuery: publicNetworkAccess
  }
}

// PrivateOnly: from networks linked to this scope, telemetry goes only to resources in the scope, so the
// private endpoint cannot be used to send data elsewhere. It also means that once these privatelink zones
// answer for a network, its clients reach no workspace outside the scope: in a hub's shared zones, reuse
// the hub's scope (createPrivateLinkScope false) or choose Open.
resource privateLinkScope 'Microsoft.Insights/privateLinkScopes@2021-07-01-preview' = if (createPrivateLinkScope) {
  name: privateLinkScopeName
  location: 'global'
  tags: tags
  properties: {
    accessModeSettings: {
      ingestionAccessMode: accessMode
      queryAccessMode: accessMode
    }
  }
}

resource scopedWorkspace 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = if (createPrivateLinkScope) {
  parent: privateLinkScope
  name: 'log-analytics'
  properties: {
    linkedResourceId: logAnalytics.id
  }
}

resource scopedComponent 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = if (createPrivateLinkScope) {
  parent: privateLinkScope
  name: 'application-insights'
  properties: {
    linkedResourceId: applicationInsights.id
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
// The connection string names the ingestion endpoint; with DisableLocalAuth it grants nothing by itself.
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
output privateLinkScopeId string = createPrivateLinkScope ? privateLinkScope.id : ''
