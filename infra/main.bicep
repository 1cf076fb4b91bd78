// One deployment of the AKS private-network egress/ingress remediation app (azd `azd up`, or
// `az deployment sub create`). Subscription scope: it creates the app resource group, defines the spoke
// and hub roles, and reaches into the watched subscriptions (Event Grid system topics) and the remediated
// scopes (role assignments), which may be other subscriptions of the same tenant.
//
// Private by default (docs/deploy.md): the Function app is VNet-integrated and has public network access
// disabled; storage, telemetry (AMPLS) and the result topic are reached through private endpoints with
// private DNS zones; Event Grid delivers to a Storage queue, never to the app; the HTTP API requires a
// Microsoft Entra token. labPublicAccess opens the public endpoints for a lab, and nothing else does
// (except the webhook opt-in, which needs a reachable app).
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
// Network: private by default
// ---------------------------------------------------------------------------------------------------

@description('LAB ONLY: turn public network access on for the app, storage, telemetry and the result topic (still behind Entra ID, RBAC and default-deny access lists). false in every real deployment.')
param labPublicAccess bool = false

@description('LAB ONLY: public IPv4 addresses or CIDR ranges admitted through the storage firewall and the app access restrictions when labPublicAccess is true (e.g. the deployer).')
param labAllowedIpRanges array = []

@description('Existing subnet for the app VNet integration (delegated to Microsoft.App/environments). Empty: the deployment creates a VNet with both subnets (peer it to the hub).')
param appSubnetId string = ''

@description('Existing subnet for the private endpoints, in the same VNet as appSubnetId. Empty: the one of the created VNet.')
param privateEndpointSubnetId string = ''

@description('Address space of the VNet the deployment creates when appSubnetId is empty.')
param vnetAddressPrefix string = '10.90.0.0/24'

@description('App subnet prefix of the created VNet (/26 or larger recommended for Flex Consumption).')
param appSubnetPrefix string = '10.90.0.0/26'

@description('Private endpoint subnet prefix of the created VNet.')
param privateEndpointSubnetPrefix string = '10.90.0.64/26'

@description('Resource group id (/subscriptions/<id>/resourceGroups/<name>) that already holds the privatelink.* DNS zones (a hub that owns DNS). Empty: the deployment creates the zones in the app resource group and links them to the app VNet.')
param privateDnsZoneResourceGroupId string = ''

// ---------------------------------------------------------------------------------------------------
// HTTP API authentication
// ---------------------------------------------------------------------------------------------------

@allowed([
  'entra'
  'functionKeys'
])
@description('entra: App Service authentication with Microsoft Entra ID (requireAuthentication, callers hold an app role), no key. functionKeys: the documented opt-in, callers send a function key.')
param httpAuth string = 'entra'

@description('Client id of the Entra app registration of the HTTP API (docs/deploy.md). Empty: every HTTP request is refused until it is set.')
param authClientId string = ''

// ---------------------------------------------------------------------------------------------------
// What the app may touch (least privilege)
// ---------------------------------------------------------------------------------------------------

@minLength(1)
@description('REMEDIATION_SCOPE: subscription ids (/subscriptions/<id>) or resource-group ids (/subscriptions/<id>/resourceGroups/<name>) the app remediates. The spoke role is assigned at each, except at an entry that is also a hub scope (it gets the hub role only); never list a whole subscription that contains the hub.')
param remediationScope array

@minLength(1)
@description('FIREWALL_ID: resource id of the central Azure Firewall. The hub role is assigned at its resource group.')
param firewallId string

@description('More hub scopes for the hub role when the firewall policy or the P2S VPN gateway live outside the firewall resource group (subscription or resource-group ids).')
param additionalRoleScopes array = []

@description('true when the firewall is classic (rules inside the firewall, no firewall policy): the hub role then also holds azureFirewalls/write and the joins a firewall PUT is checked for.')
param firewallIsClassic bool = false

// ---------------------------------------------------------------------------------------------------
// Event intake
// ---------------------------------------------------------------------------------------------------

@description('Subscriptions whose ARM events reach the app: objects {subscriptionId, resourceGroupName, systemTopicName (optional), createSystemTopic (optional, default true; false reuses the existing topic named systemTopicName)}. Empty: the deployment subscription, with the topic in the app resource group.')
param watchedSubscriptions array = []

@allowed([
  'queue'
  'webhook'
])
@description('queue: Event Grid delivers to the resource-events Storage queue, read by on_resource_event_queued (private app). webhook: the opt-in EventGridTrigger path; Event Grid calls on_resource_event over the public endpoint, so the app becomes publicly reachable.')
param eventDelivery string = 'queue'

@description('webhook delivery only: create the event subscriptions. Event Grid requires the on_resource_event function to exist, so this is false until the code is published (the azd postdeploy hook sets it and provisions again). Queue delivery is wired at once.')
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
// App settings read by remediation/core/config.py. Empty strings and empty arrays leave the code's default.
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

@description('RULE_COLLECTION_GROUP_SHARD_BYTES: estimated group size above which owned rules go to <group>-2...; empty: the code default (1572864).')
param ruleCollectionGroupShardBytes string = ''

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

@description('WRITE_LANES: ARM lock domains one reconcile writes to at once (1-64); empty: the code default, 16.')
param writeLanes string = ''

@description('LRO_FIRST_POLL_SCALE: the first status poll of a write waits this many times the typical duration of the operation (0-10; 0 = at once, as azure-core does). 1 saves one status poll per write that is done by then (docs/arm-notes.md 1.2).')
param lroFirstPollScale string = '1'

@description('BURST_SWEEP_AFTER: pending cluster/App Gateway requests after which an event burst becomes one sweep (0-1000, 0 = off); empty: the code default, 5.')
param burstSweepAfter string = ''

@description('PREPARE_SUBNETS_TAG: the VNet tag whose value (comma-separated subnet names) marks subnets to prepare for userDefinedRouting clusters before they exist; empty: the code default, aks-egress-prepare.')
param prepareSubnetsTag string = ''

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
  'auto'
  'resource-graph'
  'arm'
])
@description('INVENTORY: where fleet lists come from (default auto: Resource Graph when the scope spans several subscriptions).')
param inventory string = ''

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
// union() also removes duplicates.
var hubScopes = union([
  firewallResourceGroupId
], additionalRoleScopes)
// The spoke role never lands on a hub scope, even if one is listed in remediationScope too: nothing may
// write route tables or subnets on the hub.
var spokeScopes = remediationScope

// One switch for every public endpoint: off unless a lab opens it. The webhook opt-in needs the app
// reachable by Event Grid, so it opens the app (and only the app).
var publicNetworkAccess = labPublicAccess ? 'Enabled' : 'Disabled'
var deliverToQueue = eventDelivery == 'queue'
var appPublicNetworkAccess = (labPublicAccess || !deliverToQueue) ? 'Enabled' : 'Disabled'
var labIpRanges = labPublicAccess ? labAllowedIpRanges : []

// Private DNS zones (docs/deploy.md, "Private topology"). Storage zones follow the cloud's storage
// suffix; the others differ per cloud.
var cloudZones = {
  AzureCloud: {
    sites: 'privatelink.azurewebsites.net'
    eventGrid: 'privatelink.eventgrid.azure.net'
    monitor: [
      'privatelink.monitor.azure.com'
      'privatelink.oms.opinsights.azure.com'
      'privatelink.ods.opinsights.azure.com'
      'privatelink.agentsvc.azure-automation.net'
    ]
  }
  AzureUSGovernment: {
    sites: 'privatelink.azurewebsites.us'
    eventGrid: 'privatelink.eventgrid.azure.us'
    monitor: [
      'privatelink.monitor.azure.us'
      'privatelink.oms.opinsights.azure.us'
      'privatelink.ods.opinsights.azure.us'
      'privatelink.agentsvc.azure-automation.us'
    ]
  }
  AzureChinaCloud: {
    sites: 'privatelink.chinacloudsites.cn'
    eventGrid: 'privatelink.eventgrid.azure.cn'
    monitor: [
      'privatelink.monitor.azure.cn'
      'privatelink.oms.opinsights.azure.cn'
      'privatelink.ods.opinsights.azure.cn'
      'privatelink.agentsvc.azure-automation.cn'
    ]
  }
}
var zonesOfCloud = cloudZones[environment().name]
var blobZone = 'privatelink.blob.${environment().suffixes.storage}'
var queueZone = 'privatelink.queue.${environment().suffixes.storage}'
var tableZone = 'privatelink.table.${environment().suffixes.storage}'
var privateDnsZoneNames = union([
  blobZone
  queueZone
  tableZone
  zonesOfCloud.sites
], zonesOfCloud.monitor, createResultTopic ? [
  zonesOfCloud.eventGrid
] : [])
var zoneGroupId = empty(privateDnsZoneResourceGroupId) ? rg.id : privateDnsZoneResourceGroupId
var zonePrefix = '${zoneGroupId}/providers/Microsoft.Network/privateDnsZones/'
// AMPLS registers the monitor endpoints and the agents' blob endpoint.
var monitorZoneIds = [for zone in union(zonesOfCloud.monitor, [
  blobZone
]): '${zonePrefix}${zone}']

var createNetwork = empty(appSubnetId)
var appSubnet = createNetwork ? network.outputs.appSubnetId : appSubnetId
var endpointSubnet = createNetwork ? network.outputs.privateEndpointSubnetId : privateEndpointSubnetId
var vnetId = createNetwork ? network.outputs.vnetId : first(split(appSubnetId, '/subnets/'))

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
  RULE_COLLECTION_GROUP_SHARD_BYTES: ruleCollectionGroupShardBytes
  EGRESS_DESTINATIONS: join(egressDestinations, ',')
  EGRESS_PORTS: join(egressPorts, ',')
  EGRESS_PROTOCOLS: join(egressProtocols, ',')
  EGRESS_PROFILE: egressProfile
  EGRESS_EXTRA_FQDNS: join(egressExtraFqdns, ',')
  EGRESS_DESTINATION_FQDNS: join(egressDestinationFqdns, ',')
  EGRESS_FQDN_TAGS: join(egressFqdnTags, ',')
  ALLOW_BROAD_EGRESS: allowBroadEgress
  WRITE_LANES: writeLanes
  LRO_FIRST_POLL_SCALE: lroFirstPollScale
  BURST_SWEEP_AFTER: burstSweepAfter
  PREPARE_SUBNETS_TAG: prepareSubnetsTag
  INGRESS_PORTS: join(ingressPorts, ',')
  SPOKE_PREFIXES: join(spokePrefixes, ',')
  FORCE_DEFAULT_ROUTE: forceDefaultRoute
  INVENTORY: inventory
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
    privateLinkScopeName: 'pls-${resourceToken}'
    publicNetworkAccess: publicNetworkAccess
    location: location
    tags: allTags
  }
}

module network 'app/network.bicep' = if (empty(appSubnetId)) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
  }
}

module privateDns 'app/private-dns.bicep' = if (empty(privateDnsZoneResourceGroupId)) {
  name: 'private-dns'
  scope: rg
  params: {
    zoneNames: privateDnsZoneNames
    vnetId: vnetId
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
    publicNetworkAccess: publicNetworkAccess
    labAllowedIpRanges: labIpRanges
  }
}

module eventsStorage 'app/events-storage.bicep' = {
  name: 'events-storage'
  scope: rg
  params: {
    name: 'stevt${resourceToken}'
    location: location
    tags: allTags
  }
}

// One private endpoint per storage service the app uses: blob (host, code package, locks), queue (work
// queue; the events queue), table (audit, status, dedupe).
var storageEndpoints = [
  {
    name: 'pe-st-blob-${resourceToken}'
    groupId: 'blob'
    zone: blobZone
  }
  {
    name: 'pe-st-queue-${resourceToken}'
    groupId: 'queue'
    zone: queueZone
  }
  {
    name: 'pe-st-table-${resourceToken}'
    groupId: 'table'
    zone: tableZone
  }
]

module storageEndpoint 'app/private-endpoint.bicep' = [for e in storageEndpoints: {
  name: e.name
  scope: rg
  params: {
    name: e.name
    location: location
    tags: allTags
    subnetId: endpointSubnet
    targetId: storage.outputs.id
    groupId: e.groupId
    privateDnsZoneIds: [
      '${zonePrefix}${e.zone}'
    ]
  }
  dependsOn: [
    privateDns
  ]
}]

module eventsQueueEndpoint 'app/private-endpoint.bicep' = {
  name: 'pe-stevt-queue-${resourceToken}'
  scope: rg
  params: {
    name: 'pe-stevt-queue-${resourceToken}'
    location: location
    tags: allTags
    subnetId: endpointSubnet
    targetId: eventsStorage.outputs.id
    groupId: 'queue'
    privateDnsZoneIds: [
      '${zonePrefix}${queueZone}'
    ]
  }
  dependsOn: [
    privateDns
  ]
}

module monitoringEndpoint 'app/private-endpoint.bicep' = {
  name: 'pe-ampls-${resourceToken}'
  scope: rg
  params: {
    name: 'pe-ampls-${resourceToken}'
    location: location
    tags: allTags
    subnetId: endpointSubnet
    targetId: monitoring.outputs.privateLinkScopeId
    groupId: 'azuremonitor'
    privateDnsZoneIds: monitorZoneIds
  }
  dependsOn: [
    privateDns
  ]
}

// Inbound to the app (the HTTP API) from inside the network: operators call it through this endpoint.
module siteEndpoint 'app/private-endpoint.bicep' = {
  name: 'pe-func-${resourceToken}'
  scope: rg
  params: {
    name: 'pe-func-${resourceToken}'
    location: location
    tags: allTags
    subnetId: endpointSubnet
    targetId: api.outputs.id
    groupId: 'sites'
    privateDnsZoneIds: [
      '${zonePrefix}${zonesOfCloud.sites}'
    ]
  }
  dependsOn: [
    privateDns
  ]
}

module resultTopicEndpoint 'app/private-endpoint.bicep' = if (createResultTopic) {
  name: 'pe-evgt-results-${resourceToken}'
  scope: rg
  params: {
    name: 'pe-evgt-results-${resourceToken}'
    location: location
    tags: allTags
    subnetId: endpointSubnet
    targetId: createResultTopic ? resultTopic.outputs.id : ''
    groupId: 'topic'
    privateDnsZoneIds: [
      '${zonePrefix}${zonesOfCloud.eventGrid}'
    ]
  }
  dependsOn: [
    privateDns
  ]
}

module resultTopic 'app/result-topic.bicep' = if (createResultTopic) {
  name: 'result-topic'
  scope: rg
  params: {
    name: resultTopicName
    location: location
    tags: allTags
    publicNetworkAccess: publicNetworkAccess
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
    publicNetworkAccess: appPublicNetworkAccess
    labAllowedIpRanges: labIpRanges
    appSubnetId: appSubnet
    eventsQueueServiceUri: eventsStorage.outputs.queueEndpoint
    httpAuth: httpAuth
    authClientId: authClientId
    eventGridWebhook: !deliverToQueue
  }
}

module appRbac 'app/rbac.bicep' = {
  name: 'app-rbac'
  scope: rg
  params: {
    principalId: api.outputs.principalId
    storageAccountName: storage.outputs.name
    eventsStorageAccountName: eventsStorage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    resultTopicName: createResultTopic ? resultTopic.outputs.name : ''
  }
}

// ---------------------------------------------------------------------------------------------------
// Least privilege, split by where it is needed (remediation/core/operations.py): the spoke role at each
// remediated scope, the hub role at the firewall's resource group (and extra hub scopes). Scopes in other
// subscriptions get their assignment from a module deployed there.
// ---------------------------------------------------------------------------------------------------

// Defined in the subscription of the first scope it is assignable at, so the definition lives where it is
// used.
module spokeRole 'app/spoke-role.bicep' = {
  name: 'spoke-role-${resourceToken}'
  scope: subscription(split(spokeScopes[0], '/')[2])
  params: {
    roleName: 'AKS egress remediator, spokes (${environmentName})'
    assignableScopes: spokeScopes
  }
}

module hubRole 'app/hub-role.bicep' = {
  name: 'hub-role-${resourceToken}'
  scope: subscription(firewallIdParts[2])
  params: {
    roleName: 'AKS egress remediator, hub (${environmentName})'
    assignableScopes: hubScopes
    firewallIsClassic: firewallIsClassic
  }
}

// A resource-group id splits into 5 parts ('', subscriptions, id, resourceGroups, name), a subscription
// id into 3. A spoke scope that is also a hub scope gets no spoke role.
module spokeRgAssignments 'app/role-assignment-rg.bicep' = [for (scopeId, i) in spokeScopes: if ((length(split(scopeId, '/')) == 5) && !contains(hubScopes, scopeId)) {
  name: 'spoke-rg-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], last(split(scopeId, '/')))
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: spokeRole.outputs.roleDefinitionGuid
  }
}]

module spokeSubAssignments 'app/role-assignment-sub.bicep' = [for (scopeId, i) in spokeScopes: if ((length(split(scopeId, '/')) == 3) && !contains(hubScopes, scopeId)) {
  name: 'spoke-sub-${i}-${resourceToken}'
  scope: subscription(split(scopeId, '/')[2])
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: spokeRole.outputs.roleDefinitionGuid
  }
}]

module hubRgAssignments 'app/role-assignment-rg.bicep' = [for (scopeId, i) in hubScopes: if (length(split(scopeId, '/')) == 5) {
  name: 'hub-rg-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], last(split(scopeId, '/')))
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: hubRole.outputs.roleDefinitionGuid
  }
}]

module hubSubAssignments 'app/role-assignment-sub.bicep' = [for (scopeId, i) in hubScopes: if (length(split(scopeId, '/')) == 3) {
  name: 'hub-sub-${i}-${resourceToken}'
  scope: subscription(split(scopeId, '/')[2])
  params: {
    principalId: api.outputs.principalId
    roleDefinitionGuid: hubRole.outputs.roleDefinitionGuid
  }
}]

// ---------------------------------------------------------------------------------------------------
// Event Grid: per watched subscription, its system topic (created or reused), the permissions of the
// topic's identity in the events account (send to the queue, write dead letters), then the filtered
// event subscription (queue delivery: at once; webhook delivery: once the function exists).
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

module deliveryRbac 'app/eventgrid-delivery-rbac.bicep' = [for (w, i) in watched: {
  name: 'evgt-delivery-${i}-${resourceToken}'
  scope: rg
  params: {
    topicPrincipalId: systemTopics[i].outputs.principalId
    storageAccountName: eventsStorage.outputs.name
    deadLetterContainerName: eventsStorage.outputs.deadLetterContainerName
    eventQueueName: eventsStorage.outputs.eventQueueName
  }
}]

module eventSubscriptions 'app/eventgrid-subscription.bicep' = [for (w, i) in watched: if (deliverToQueue || wireEventGrid) {
  name: 'evgs-${i}-${resourceToken}'
  scope: resourceGroup(w.subscriptionId, w.resourceGroupName)
  params: {
    systemTopicName: systemTopics[i].outputs.name
    eventSubscriptionName: 'aks-remediation-${environmentName}'
    eventDelivery: eventDelivery
    functionAppId: api.outputs.id
    eventsStorageAccountId: eventsStorage.outputs.id
    eventQueueName: eventsStorage.outputs.eventQueueName
    deadLetterContainerName: eventsStorage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  dependsOn: [
    deliveryRbac
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
output SPOKE_ROLE_ID string = spokeRole.outputs.roleDefinitionId
output SPOKE_ROLE_SCOPES array = spokeScopes
output HUB_ROLE_ID string = hubRole.outputs.roleDefinitionId
output HUB_ROLE_SCOPES array = hubScopes
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output EVENTS_STORAGE_ACCOUNT_NAME string = eventsStorage.outputs.name
output APP_SUBNET_ID string = appSubnet
output EVENT_DELIVERY string = eventDelivery
output PUBLIC_NETWORK_ACCESS string = publicNetworkAccess
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output EVENT_GRID_WIRED bool = deliverToQueue || wireEventGrid
