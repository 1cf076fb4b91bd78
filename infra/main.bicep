// One deployment of the AKS private-network egress/ingress remediation app (azd `azd up`, or
// `az deployment sub create`). Subscription scope: it creates the app resource group, defines the custom
// role, and reaches into the watched subscriptions (Event Grid system topics) and the remediated scopes
// (role assignments), which may be other subscriptions of the same tenant.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd AZURE_ENV_NAME); resource names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region of the app resource group and its resources; it must offer Flex Consumption.')
param location string

@description('Name of the app resource group; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Tags added to every resource this deployment creates.')
param tags object = {}

@description('Upper bound of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// ---------------------------------------------------------------------------------------------------
// What the app may touch (least privilege)
// ---------------------------------------------------------------------------------------------------

@minLength(1)
@description('REMEDIATION_SCOPE: subscription ids (/subscriptions/<id>) or resource-group ids (/subscriptions/<id>/resourceGroups/<name>) the app remediates. The custom role is assigned at each.')
param remediationScope array

@minLength(1)
@description('FIREWALL_ID: resource id of the central Azure Firewall. The custom role is also assigned at its resource group.')
param firewallId string

@description('More scopes for the custom role when the firewall policy or the P2S VPN gateway live outside the firewall resource group and the remediation scope (subscription or resource-group ids).')
param additionalRoleScopes array = []

// ---------------------------------------------------------------------------------------------------
// Event intake
// ---------------------------------------------------------------------------------------------------

@description('Subscriptions whose ARM events reach the app: objects {subscriptionId, resourceGroupName, systemTopicName (optional), createSystemTopic (optional, default true; false reuses the existing topic named systemTopicName)}. Empty: the deployment subscription, with the topic in the app resource group.')
param watchedSubscriptions array = []

@description('Create the Event Grid event subscriptions. Event Grid requires the on_resource_event function to exist, so this is false until the code is published (the azd postdeploy hook sets it and provisions again).')
param wireEventGrid bool = false

@description('Event Grid delivery attempts before dead-lettering (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// ---------------------------------------------------------------------------------------------------
// App settings read by remediation/config.py. Empty strings and empty arrays leave the code's default.
// ---------------------------------------------------------------------------------------------------

@allowed([
  ''
  'AzureCloud'
  'AzureUSGovernment'
  'AzureChinaCloud'
])
@description('AZURE_CLOUD; empty: the cloud this deployment runs in (environment().name).')
param azureCloud string = ''

@description('ARM_ENDPOINT; empty: the Resource Manager endpoint of the cloud this deployment runs in.')
param armEndpoint string = ''

@description('OWNERSHIP_PREFIX: name prefix of owned routes and rule collections (code default rmd-).')
param ownershipPrefix string = ''

@description('OWNERSHIP_TAG: key=value tag on route tables the app creates (code default managed-by=aks-egress-remediation).')
param ownershipTag string = ''

@description('RULE_COLLECTION_GROUP: the owned rule collection group; must start with the ownership prefix.')
param ruleCollectionGroup string = ''

@description('RULE_COLLECTION_GROUP_PRIORITY (100-65000) as text; empty: the code default.')
param ruleCollectionGroupPriority string = ''

@description('EGRESS_DESTINATIONS: addresses, CIDRs or service tags of the egress Allow rule.')
param egressDestinations array = []

@description('EGRESS_PORTS: ports or ranges of the egress Allow rule, e.g. ["443","9000","1194","123"].')
param egressPorts array = []

@description('EGRESS_PROTOCOLS: TCP, UDP, ICMP or Any.')
param egressProtocols array = []

@allowed([
  ''
  'aks-required'
  'aks-endpoints'
  'custom'
])
@description('EGRESS_PROFILE: aks-required (default), aks-endpoints or custom (docs/egress.md).')
param egressProfile string = ''

@description('EGRESS_DESTINATION_FQDNS: EGRESS_PROFILE=custom host names of the egress network rule (DNS proxy).')
param egressDestinationFqdns array = []

@description('EGRESS_EXTRA_FQDNS: extra host names allowed on Https:443 (e.g. a private registry).')
param egressExtraFqdns array = []

@description('EGRESS_FQDN_TAGS: FQDN tags of the aks-required application rule; empty: AzureKubernetesService.')
param egressFqdnTags array = []

@allowed([
  ''
  'true'
  'false'
])
@description('ALLOW_BROAD_EGRESS: let EGRESS_PROFILE=custom name *, Internet or unscoped AzureCloud.')
param allowBroadEgress string = ''

@description('INGRESS_PORTS: ports the App Gateway subnet may reach on the AKS ranges.')
param ingressPorts array = []

@description('SPOKE_PREFIXES: other spokes reached through the hub firewall (routed to the firewall).')
param spokePrefixes array = []

@allowed([
  ''
  'true'
  'false'
])
@description('FORCE_DEFAULT_ROUTE: also route 0.0.0.0/0 to the firewall for clusters without userDefinedRouting.')
param forceDefaultRoute string = ''

@allowed([
  ''
  'true'
  'false'
])
@description('ALLOW_TAKEOVER: overwrite a foreign route that blocks an owned one (default: report a conflict).')
param allowTakeover string = ''

@allowed([
  'enforce'
  'report'
])
@description('REMEDIATION_MODE: report turns every trigger into a dry run. Start with report for a week, then enforce.')
param remediationMode string = 'report'

@minLength(11)
@description('DRIFT_SCHEDULE: NCRONTAB with seconds (6 fields) of the drift sweep timer.')
param driftSchedule string = '0 */15 * * * *'

@description('Create an Event Grid custom topic for result events and point RESULT_TOPIC_ENDPOINT at it.')
param createResultTopic bool = false

@description('RESULT_TOPIC_ENDPOINT of an existing topic (when createResultTopic is false); empty: no result events.')
param resultTopicEndpoint string = ''

// ---------------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var appResourceGroupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var resultTopicName = createResultTopic ? 'evgt-results-${resourceToken}' : ''

// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/azureFirewalls/{name}
var firewallIdParts = split(firewallId, '/')
var firewallResourceGroupId = '/subscriptions/${firewallIdParts[2]}/resourceGroups/${firewallIdParts[4]}'
// union() also removes duplicates (e.g. a hub resource group already listed in remediationScope).
var roleScopes = union(remediationScope, [
  firewallResourceGroupId
], additionalRoleScopes)

var defaultWatchedSubscriptions = [
  {
    subscriptionId: subscription().subscriptionId
    resourceGroupName: appResourceGroupName
  }
]
var watched = empty(watchedSubscriptions) ? defaultWatchedSubscriptions : watchedSubscriptions

var remediationSettings = {
  REMEDIATION_SCOPE: join(remediationScope, ',')
  FIREWALL_ID: firewallId
  // environment() names the cloud ARM runs this deployment in, so sovereign clouds need no extra input.
  AZURE_CLOUD: empty(azureCloud) ? environment().name : azureCloud
  ARM_ENDPOINT: empty(armEndpoint) ? environment().resourceManager : armEndpoint
  OWNERSHIP_PREFIX: ownershipPrefix
  OWNERSHIP_TAG: ownershipTag
  RULE_COLLECTION_GROUP: ruleCollectionGroup
  RULE_COLLECTION_GROUP_PRIORITY: ruleCollectionGroupPriority
  EGRESS_DESTINATIONS: join(egressDestinations, ',')
  EGRESS_PORTS: join(egressPorts, ',')
  EGRESS_PROTOCOLS: join(egressProtocols, ',')
  EGRESS_PROFILE: egressProfile
  EGRESS_EXTRA_FQDNS: join(egressExtraFqdns, ',')
  EGRESS_DESTINATION_FQDNS: join(egressDestinationFqdns, ',')
  EGRESS_FQDN_TAGS: join(egressFqdnTags, ',')
  ALLOW_BROAD_EGRESS: allowBroadEgress
  INGRESS_PORTS: join(ingressPorts, ',')
  SPOKE_PREFIXES: join(spokePrefixes, ',')
  FORCE_DEFAULT_ROUTE: forceDefaultRoute
  ALLOW_TAKEOVER: allowTakeover
  REMEDIATION_MODE: remediationMode
  DRIFT_SCHEDULE: driftSchedule
  RESULT_TOPIC_ENDPOINT: createResultTopic ? resultTopic.outputs.endpoint : resultTopicEndpoint
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appResourceGroupName
  location: location
  tags: allTags
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: allTags
    deploymentContainerName: deploymentContainerName
  }
}

module resultTopic 'app/result-topic.bicep' = if (createResultTopic) {
  name: 'result-topic'
  scope: rg
  params: {
    name: resultTopicName
    location: location
    tags: allTags
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    remediationSettings: remediationSettings
    maximumInstanceCount: maximumInstanceCount
  }
}

module appRbac 'app/rbac.bicep' = {
  name: 'app-rbac'
  scope: rg
  params: {
    principalId: api.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    resultTopicName: createResultTopic ? resultTopic.outputs.name : ''
  }
}

// ---------------------------------------------------------------------------------------------------
// Least privilege on the remediated scopes: one custom role with exactly REQUIRED_ACTIONS, assigned at
// each scope. Scopes in other subscriptions get their assignment from a module deployed there.
// ---------------------------------------------------------------------------------------------------

// Defined in the subscription of the first remediated scope, so the definition lives where it is assignable.
module remediationRole 'app/remediation-role.bicep' = {
  name: 'remediation-role-${resourceToken}'
  scope: subscription(split(remediationScope[0], '/')[2])
  params: {
    roleName: 'AKS egress-ingress remediator (${environmentName})'
    assignableScopes: roleScopes
  }
}

// A resource-group id splits into 5 parts ('', subscriptions, id, resourceGroups, name), a subscription
// id into 3.
module resourceGroupRoleAssignments 'app/role-assignment-rg.bicep' = [for (scopeId, i) in roleScopes: if (length(split(scopeId, '/')) == 5) {
  name: 'remediator-rg-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], last(split(scopeId, '/')))
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: remediationRole.outputs.roleDefinitionGuid
  }
}]

module subscriptionRoleAssignments 'app/role-assignment-sub.bicep' = [for (scopeId, i) in roleScopes: if (length(split(scopeId, '/')) == 3) {
  name: 'remediator-sub-${i}-${resourceToken}'
  scope: subscription(split(scopeId, '/')[2])
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: remediationRole.outputs.roleDefinitionGuid
  }
}]

// ---------------------------------------------------------------------------------------------------
// Event Grid: per watched subscription, its system topic (created or reused), the dead-letter permission
// of the topic's identity, then (once the function exists) the filtered event subscription.
// ---------------------------------------------------------------------------------------------------

module systemTopics 'app/eventgrid-topic.bicep' = [for (w, i) in watched: {
  name: 'evgt-${i}-${resourceToken}'
  scope: resourceGroup(w.subscriptionId, w.resourceGroupName)
  params: {
    systemTopicName: (w.?systemTopicName) ?? 'evgt-arm-${resourceToken}'
    createSystemTopic: (w.?createSystemTopic) ?? true
    tags: allTags
  }
  dependsOn: [
    rg
  ]
}]

module deadLetterRbac 'app/eventgrid-deadletter-rbac.bicep' = [for (w, i) in watched: {
  name: 'evgt-deadletter-${i}-${resourceToken}'
  scope: rg
  params: {
    topicPrincipalId: systemTopics[i].outputs.principalId
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}]

module eventSubscriptions 'app/eventgrid-subscription.bicep' = [for (w, i) in watched: if (wireEventGrid) {
  name: 'evgs-${i}-${resourceToken}'
  scope: resourceGroup(w.subscriptionId, w.resourceGroupName)
  params: {
    systemTopicName: systemTopics[i].outputs.name
    eventSubscriptionName: 'aks-remediation-${environmentName}'
    functionAppId: api.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  dependsOn: [
    deadLetterRbac
  ]
}]

// azd stores these outputs in the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output FUNCTION_APP_ID string = api.outputs.id
output FUNCTION_APP_HOSTNAME string = api.outputs.defaultHostName
output REMEDIATION_PRINCIPAL_ID string = api.outputs.principalId
output REMEDIATION_ROLE_ID string = remediationRole.outputs.roleDefinitionId
output REMEDIATION_ROLE_SCOPES array = roleScopes
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output EVENT_GRID_WIRED bool = wireEventGrid
