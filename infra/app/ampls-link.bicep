// Adds the app's workspace and Application Insights to an existing Azure Monitor Private Link Scope (the
// estate's, usually in the hub, which already has its private endpoint and DNS zones). Deployed with
// scope: the resource group of that scope.
targetScope = 'resourceGroup'

@description('Name of the existing private link scope.')
param privateLinkScopeName string

@description('Log Analytics workspace resource id.')
param workspaceId string

@description('Application Insights resource id.')
param applicationInsightsId string

@description('Suffix that keeps the scoped resource names unique per deployment.')
param nameSuffix string

resource privateLinkScope 'Microsoft.Insights/privateLinkScopes@2021-07-01-preview' existing = {
  name: privateLinkScopeName
}

resource scopedWorkspace 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: privateLinkScope
  name: 'log-analytics-${nameSuffix}'
  properties: {
    linkedResourceId: workspaceId
  }
}

resource scopedComponent 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: privateLinkScope
  name: 'application-insights-${nameSuffix}'
  properties: {
    linkedResourceId: applicationInsightsId
  }
}
