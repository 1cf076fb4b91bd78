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

@description('FLEX_RUNTIME_CHECKED_LOCATION: the region in which Flex Consumption was confirmed to offer Python 3.13 (scripts/preflight.sh sets it from az functionapp list-flexconsumption-runtimes). The deployment stops unless it names this deployment\'s location.')
param flexRuntimeCheckedLocation string = ''

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

@allowed([
  'hubPeering'
  'external'
])
@description('How the VNet the deployment creates (appSubnetId empty) reaches ARM. hubPeering: peer it to hubVnetId and route 0.0.0.0/0 to hubFirewallPrivateIp (the hub firewall must allow AzureResourceManager and AzureActiveDirectory). external: the deployer connects it (vWAN hub connection, AVNM, NAT gateway) before the app runs.')
param appVnetEgress string = 'hubPeering'

@description('HUB_VNET_ID: resource id of the hub VNet the created VNet peers with (appVnetEgress hubPeering).')
param hubVnetId string = ''

@description('HUB_FIREWALL_PRIVATE_IP: private IP of the hub firewall, next hop of the app subnet default route (appVnetEgress hubPeering).')
param hubFirewallPrivateIp string = ''

@description('true: also create the hub side of the peering (the deployer needs Network Contributor on the hub VNet); false: the hub team creates it (docs/deploy.md section 1).')
param createHubPeering bool = true

@description('ENDPOINT_CLIENT_PREFIXES: address ranges allowed through the private endpoint subnet NSG on 443 (operators calling the HTTP API, the host running scripts/deploy-private.sh). Created VNet only.')
param endpointClientPrefixes array = []

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
@description('FIREWALL_ID: resource id of the central Azure Firewall (the one-firewall form). The hub role is assigned on the firewall itself.')
param firewallId string

@description('FIREWALL_IDS: further Azure Firewall resource ids of the estate (VNet-hub firewalls, classic or policy-based, and AZFW_Hub firewalls of secured vWAN hubs). Each gets the hub role on itself; the app setting FIREWALL_IDS lists FIREWALL_ID and these.')
param firewallIds array = []

@description('FIREWALL_POLICY_IDS: resource id of the firewall policy of every policy-based firewall (az network firewall show --ids <id> --query firewallPolicy.id). The hub role is assigned on each policy, not on its resource group; required unless the firewalls are classic.')
param firewallPolicyIds array = []

@description('More hub scopes for the hub role: resource ids (a hub VNet or P2S VPN gateway, a parent firewall policy), resource-group or subscription ids. Each is assigned at exactly that scope.')
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

@description('OPERATIONS_IN_FLIGHT: write operations ARM runs at once for one reconcile (1-1000); a write holds a lane only for its request. Empty: the code default, 200.')
param operationsInFlight string = ''

@description('LRO_FIRST_POLL_SCALE: the first status poll of a write waits this many times the typical duration of the operation (0-10; 0 = at once, as azure-core does). 1 saves one status poll per write that is done by then (docs/arm-notes.md 1.2).')
param lroFirstPollScale string = '1'

@description('BURST_SWEEP_AFTER: pending cluster/App Gateway requests after which an event burst becomes one sweep (0-1000, 0 = off); empty: the code default, 5.')
param burstSweepAfter string = ''

@description('PREPARE_SUBNETS_TAG: the VNet tag whose value (comma-separated subnet names) marks subnets to prepare for userDefinedRouting clusters before they exist; empty: the code default, aks-egress-prepare.')
param prepareSubnetsTag string = ''

@description('VERIFY_EFFECTIVE_ROUTES: true = the drift sweep\'s audit row and GET /api/compliance confirm each node subnet\'s computed routes with ARM\'s effective route table of one of its NICs (one read action per node subnet; docs/platform-notes.md 11.2); empty: the code default, false.')
param verifyEffectiveRoutes string = ''

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

// ---------------------------------------------------------------------------------------------------
// Audit and monitoring
// ---------------------------------------------------------------------------------------------------

@description('Days each audit record is immutable (time-based retention of the audit container; 1-146000). Records cannot be changed or deleted before then, by anyone.')
@minValue(1)
@maxValue(146000)
param auditRetentionDays int = 365

@description('Email addresses of the action group that receives the alerts (dead letters, poison messages, failed runs). Empty: alerts fire without a notification (visible in Azure Monitor).')
param alertEmails array = []

@description('PRIVATE_LINK_SCOPE_ID: resource id of an existing Azure Monitor Private Link Scope (a hub that owns the estate\'s AMPLS and its DNS) to add the workspace and Application Insights to. Empty: the deployment creates one.')
param privateLinkScopeId string = ''

@allowed([
  'PrivateOnly'
  'Open'
])
@description('Query and ingestion access mode of a created private link scope. PrivateOnly: networks linked to it reach only its resources (take care before registering it in a hub\'s shared DNS zones). Open: they also reach other workspaces over their public endpoints.')
param privateLinkScopeAccessMode string = 'PrivateOnly'

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
// Event Grid subscription names take 3-64 letters, digits and hyphens; azd environment names may also hold
// _ . ( ) and run to 64 characters, so those become hyphens and the name is cut to 64.
var environmentSlug = replace(replace(replace(replace(environmentName, '_', '-'), '.', '-'), '(', '-'), ')', '-')
var eventSubscriptionName = concat('aks-remediation-', take(environmentSlug, 48))
var deploymentContainerName = 'app-package-${resourceToken}'
var resultTopicName = createResultTopic ? 'evgt-results-${resourceToken}' : ''

// Ids arrive from people: a trailing slash is dropped here, and every comparison below uses the lower-case
// form (ARM ids are case-insensitive; '/resourcegroups/' and '/resourceGroups/' name the same scope).
// union() also removes duplicates.
var allFirewallIds = [for f in union([
  firewallId
], firewallIds): endsWith(f, '/') ? substring(f, 0, length(f) - 1) : f]
var policyIds = [for f in firewallPolicyIds: endsWith(f, '/') ? substring(f, 0, length(f) - 1) : f]
var extraHubScopes = [for s in additionalRoleScopes: endsWith(s, '/') ? substring(s, 0, length(s) - 1) : s]
// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/azureFirewalls/{name}
var firewallIdParts = split(allFirewallIds[0], '/')
// The subscription of the first firewall (a malformed id stops at guardFirewallIds, not at an index error).
var firewallSubscriptionId = (length(firewallIdParts) > 2) ? firewallIdParts[2] : subscription().subscriptionId
// Where the hub role is assigned: on each firewall, each firewall policy and each extra scope, at exactly
// that scope (a resource id: on the resource; a resource group or subscription: there).
var hubScopes = union(allFirewallIds, policyIds, extraHubScopes)
// A custom role is assignable at subscriptions and resource groups; a resource-level assignment needs its
// resource group among them.
var hubAssignableScopeList = [for s in hubScopes: (length(split(s, '/')) > 5) ? concat('/subscriptions/', split(s, '/')[2], '/resourceGroups/', split(s, '/')[4]) : s]
var hubAssignableScopes = union(hubAssignableScopeList, hubAssignableScopeList)
var hubScopeKeys = [for s in hubScopes: toLower(s)]
// Every subscription and resource group that holds a hub scope: the spoke role (route tables, subnets) is
// never assigned at one of them, whatever its spelling.
var hubSubscriptionKeys = [for s in hubScopes: (length(split(s, '/')) > 2) ? toLower(concat('/subscriptions/', split(s, '/')[2])) : toLower(s)]
var hubResourceGroupKeys = [for s in hubScopes: (length(split(s, '/')) > 4) ? toLower(concat('/subscriptions/', split(s, '/')[2], '/resourceGroups/', split(s, '/')[4])) : toLower(s)]
var hubContainerKeys = union(hubSubscriptionKeys, hubResourceGroupKeys)
var spokeScopes = [for s in remediationScope: endsWith(s, '/') ? substring(s, 0, length(s) - 1) : s]
var spokeScopeKeys = [for s in spokeScopes: toLower(s)]

// ---------------------------------------------------------------------------------------------------
// Guards: an invalid parameter combination stops the deployment before anything is written, with the
// setting named (docs/deploy.md section 5.3). Each guard reads `<invalid> ? fail(<message>) : true`;
// parametersChecked joins them and the resource group's name depends on it, so ARM evaluates every guard
// first. tests/infra/test_guards.py evaluates each condition offline.
// ---------------------------------------------------------------------------------------------------
var supportedHubResourceTypes = [
  'azurefirewalls'
  'firewallpolicies'
  'virtualnetworks'
  'virtualnetworkgateways'
]
var firewallIdErrors = [for f in allFirewallIds: (length(split(f, '/')) == 9) ? ((toLower(split(f, '/')[7]) == 'azurefirewalls') ? 0 : 1) : 1]
var policyIdErrors = [for f in policyIds: (length(split(f, '/')) == 9) ? ((toLower(split(f, '/')[7]) == 'firewallpolicies') ? 0 : 1) : 1]
var hubScopeErrors = [for s in extraHubScopes: ((length(split(s, '/')) == 3) || (length(split(s, '/')) == 5)) ? 0 : ((length(split(s, '/')) == 9) ? (contains(supportedHubResourceTypes, toLower(split(s, '/')[7])) ? 0 : 1) : 1)]
var spokeScopeErrors = [for s in spokeScopes: ((length(split(s, '/')) == 3) || (length(split(s, '/')) == 5)) ? 0 : 1]
var spokeSubscriptionKeys = [for s in spokeScopeKeys: (length(split(s, '/')) == 3) ? s : '']
var scopeSubscriptionKeys = [for s in union(spokeScopes, hubScopes): (length(split(s, '/')) > 2) ? toLower(split(s, '/')[2]) : toLower(s)]
var watchedSubscriptionKeys = [for w in watched: toLower(w.subscriptionId)]
var distinctScopeSubscriptions = union(scopeSubscriptionKeys, scopeSubscriptionKeys)

var guardEndpointSubnet = ((!empty(appSubnetId)) && empty(privateEndpointSubnetId)) ? fail('APP_SUBNET_ID is set but PRIVATE_ENDPOINT_SUBNET_ID is empty: name the private endpoint subnet of the same VNet (every private endpoint needs one).') : true
var guardAppSubnet = (empty(appSubnetId) && (!empty(privateEndpointSubnetId))) ? fail('PRIVATE_ENDPOINT_SUBNET_ID is set but APP_SUBNET_ID is empty: name both existing subnets, or neither (the deployment then creates a VNet).') : true
var guardSameVnet = ((!empty(appSubnetId)) && (!empty(privateEndpointSubnetId)) && (toLower(first(split(appSubnetId, '/subnets/'))) != toLower(first(split(privateEndpointSubnetId, '/subnets/'))))) ? fail('APP_SUBNET_ID and PRIVATE_ENDPOINT_SUBNET_ID must be subnets of the same VNet (the private DNS zones are linked to one VNet).') : true
var guardHubPeering = (empty(appSubnetId) && (appVnetEgress == 'hubPeering') && (empty(hubVnetId) || empty(hubFirewallPrivateIp))) ? fail('The VNet this deployment creates has no route to ARM: set HUB_VNET_ID and HUB_FIREWALL_PRIVATE_IP (peering to the hub, default route to its firewall), or APP_VNET_EGRESS=external if you connect it yourself, or pass APP_SUBNET_ID and PRIVATE_ENDPOINT_SUBNET_ID.') : true
var guardFirewallIds = contains(firewallIdErrors, 1) ? fail('FIREWALL_ID / FIREWALL_IDS: every entry must be an Azure Firewall resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/azureFirewalls/<name>).') : true
var guardPolicyIds = contains(policyIdErrors, 1) ? fail('FIREWALL_POLICY_IDS: every entry must be a firewall policy resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/firewallPolicies/<name>).') : true
var guardPolicyNeeded = ((!firewallIsClassic) && empty(firewallPolicyIds)) ? fail('FIREWALL_POLICY_IDS is empty: a policy-based firewall keeps its rules in its firewall policy, and the hub role is assigned on that policy (az network firewall show --ids <firewall id> --query firewallPolicy.id). Set FIREWALL_IS_CLASSIC=true for classic firewalls.') : true
var guardHubScopes = contains(hubScopeErrors, 1) ? fail('ADDITIONAL_ROLE_SCOPES: each entry must be a subscription id, a resource group id, or the id of an Azure Firewall, firewall policy, virtual network or virtual network gateway.') : true
var guardSpokeScopes = contains(spokeScopeErrors, 1) ? fail('REMEDIATION_SCOPE: each entry must be a subscription id (/subscriptions/<id>) or a resource group id (/subscriptions/<id>/resourceGroups/<name>).') : true
var guardSpokeSubscription = (length(intersection(spokeSubscriptionKeys, hubSubscriptionKeys)) > 0) ? fail('REMEDIATION_SCOPE lists a whole subscription that holds a hub scope (a firewall, its policy or an additional role scope): the spoke role would write route tables and subnets on the hub. List the spoke resource groups instead.') : true
var guardWatched = (length(intersection(distinctScopeSubscriptions, watchedSubscriptionKeys)) != length(distinctScopeSubscriptions)) ? fail('WATCHED_SUBSCRIPTIONS must list every subscription of REMEDIATION_SCOPE and of the hub scopes (firewalls, policies), so that Event Grid reports their changes; empty means only the deployment subscription.') : true
var guardResultTopic = (createResultTopic && (!empty(resultTopicEndpoint))) ? fail('CREATE_RESULT_TOPIC=true and RESULT_TOPIC_ENDPOINT are both set: choose one.') : true
var guardFlexRuntime = (toLower(replace(flexRuntimeCheckedLocation, ' ', '')) != toLower(replace(location, ' ', ''))) ? fail('Flex Consumption with Python 3.13 is not confirmed in this location: run scripts/preflight.sh (it checks az functionapp list-flexconsumption-runtimes and sets FLEX_RUNTIME_CHECKED_LOCATION), or pick a region that offers it.') : true
var parametersChecked = guardEndpointSubnet && guardAppSubnet && guardSameVnet && guardHubPeering && guardFirewallIds && guardPolicyIds && guardPolicyNeeded && guardHubScopes && guardSpokeScopes && guardSpokeSubscription && guardWatched && guardResultTopic && guardFlexRuntime

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
// With a reused (hub) private link scope the monitor zones are the hub's: empty copies linked to the app
// VNet would hide its records, so none are created here (docs/deploy.md section 1.2).
var privateDnsZoneNames = union([
  blobZone
  queueZone
  tableZone
  zonesOfCloud.sites
], empty(privateLinkScopeId) ? zonesOfCloud.monitor : [], createResultTopic ? [
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
  REMEDIATION_SCOPE: join(spokeScopes, ',')
  FIREWALL_ID: firewallId
  // The estate's firewalls (remediation/core/config.py); empty keeps the one-firewall form.
  FIREWALL_IDS: empty(firewallIds) ? '' : join(allFirewallIds, ',')
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
  OPERATIONS_IN_FLIGHT: operationsInFlight
  LRO_FIRST_POLL_SCALE: lroFirstPollScale
  BURST_SWEEP_AFTER: burstSweepAfter
  PREPARE_SUBNETS_TAG: prepareSubnetsTag
  VERIFY_EFFECTIVE_ROUTES: verifyEffectiveRoutes
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
  // Through parametersChecked: every guard above is evaluated before the first write.
  name: parametersChecked ? appResourceGroupName : appResourceGroupName
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
    createPrivateLinkScope: empty(privateLinkScopeId)
    accessMode: privateLinkScopeAccessMode
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
    hubVnetId: appVnetEgress == 'hubPeering' ? hubVnetId : ''
    hubFirewallPrivateIp: appVnetEgress == 'hubPeering' ? hubFirewallPrivateIp : ''
    endpointClientPrefixes: endpointClientPrefixes
  }
}

var peerHubSide = empty(appSubnetId) && (appVnetEgress == 'hubPeering') && createHubPeering && (!empty(hubVnetId))
var hubVnetParts = split(hubVnetId, '/')

module hubPeering 'app/hub-peering.bicep' = if (peerHubSide) {
  name: 'hub-peering-${resourceToken}'
  scope: resourceGroup(peerHubSide ? hubVnetParts[2] : subscription().subscriptionId, peerHubSide ? hubVnetParts[4] : appResourceGroupName)
  params: {
    hubVnetName: peerHubSide ? last(hubVnetParts) : ''
    appVnetId: peerHubSide ? network.outputs.vnetId : ''
    peeringName: 'to-app-${resourceToken}'
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
    auditRetentionDays: auditRetentionDays
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

var reuseLinkScope = !empty(privateLinkScopeId)
var linkScopeParts = split(privateLinkScopeId, '/')

// A reused (hub) scope already has its private endpoint and zones; only the app's resources join it.
module linkScope 'app/ampls-link.bicep' = if (reuseLinkScope) {
  name: 'ampls-link-${resourceToken}'
  scope: resourceGroup(reuseLinkScope ? linkScopeParts[2] : subscription().subscriptionId, reuseLinkScope ? linkScopeParts[4] : appResourceGroupName)
  params: {
    privateLinkScopeName: reuseLinkScope ? last(linkScopeParts) : ''
    workspaceId: monitoring.outputs.logAnalyticsId
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    nameSuffix: resourceToken
  }
}

module monitoringEndpoint 'app/private-endpoint.bicep' = if (!reuseLinkScope) {
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
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
  }
  // The identity holds its storage roles before the site first writes its package.
  dependsOn: [
    appRbac
  ]
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: allTags
  }
}

module appRbac 'app/rbac.bicep' = {
  name: 'app-rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    eventsStorageAccountName: eventsStorage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    resultTopicName: createResultTopic ? resultTopic.outputs.name : ''
  }
}

module diagnostics 'app/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    workspaceId: monitoring.outputs.logAnalyticsId
    functionAppName: api.outputs.name
    storageAccountName: storage.outputs.name
    eventsStorageAccountName: eventsStorage.outputs.name
    resultTopicName: createResultTopic ? resultTopic.outputs.name : ''
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: allTags
    workspaceId: monitoring.outputs.logAnalyticsId
    eventsStorageAccountName: eventsStorage.outputs.name
    deadLetterContainerName: eventsStorage.outputs.deadLetterContainerName
    namePrefix: 'aks-remediation-${resourceToken}'
    alertEmails: alertEmails
  }
}

// ---------------------------------------------------------------------------------------------------
// Least privilege, split by where it is needed (remediation/core/operations.py): the spoke role at each
// remediated scope, the hub role on each firewall, each firewall policy and each extra hub scope, at that
// exact scope. Scopes in other subscriptions get their assignment from a module deployed there.
// ---------------------------------------------------------------------------------------------------

// Defined in the subscription of the first scope it is assignable at, so the definition lives where it is
// used.
module spokeRole 'app/spoke-role.bicep' = {
  name: 'spoke-role-${resourceToken}'
  scope: subscription((length(split(spokeScopes[0], '/')) > 2) ? split(spokeScopes[0], '/')[2] : subscription().subscriptionId)
  params: {
    roleName: 'AKS egress remediator, spokes (${environmentName})'
    assignableScopes: spokeScopes
  }
}

module hubRole 'app/hub-role.bicep' = {
  name: 'hub-role-${resourceToken}'
  scope: subscription(firewallSubscriptionId)
  params: {
    roleName: 'AKS egress remediator, hub (${environmentName})'
    assignableScopes: hubAssignableScopes
    firewallIsClassic: firewallIsClassic
  }
}

// A resource-group id splits into 5 parts ('', subscriptions, id, resourceGroups, name), a subscription
// id into 3, a resource id into 9. A spoke scope that holds a hub scope (its subscription or resource group,
// compared case-insensitively) gets no spoke role; guardSpokeSubscription refuses a whole hub subscription.
module spokeRgAssignments 'app/role-assignment-rg.bicep' = [for (scopeId, i) in spokeScopes: if ((length(split(scopeId, '/')) == 5) && !contains(hubContainerKeys, spokeScopeKeys[i])) {
  name: 'spoke-rg-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], last(split(scopeId, '/')))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionGuid: spokeRole.outputs.roleDefinitionGuid
  }
}]

module spokeSubAssignments 'app/role-assignment-sub.bicep' = [for (scopeId, i) in spokeScopes: if ((length(split(scopeId, '/')) == 3) && !contains(hubContainerKeys, spokeScopeKeys[i])) {
  name: 'spoke-sub-${i}-${resourceToken}'
  scope: subscription(split(scopeId, '/')[2])
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionGuid: spokeRole.outputs.roleDefinitionGuid
  }
}]

module hubRgAssignments 'app/role-assignment-rg.bicep' = [for (scopeId, i) in hubScopes: if (length(split(scopeId, '/')) == 5) {
  name: 'hub-rg-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], last(split(scopeId, '/')))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionGuid: hubRole.outputs.roleDefinitionGuid
  }
}]

module hubResourceAssignments 'app/role-assignment-resource.bicep' = [for (scopeId, i) in hubScopes: if (length(split(scopeId, '/')) == 9) {
  name: 'hub-res-${i}-${resourceToken}'
  scope: resourceGroup(split(scopeId, '/')[2], split(scopeId, '/')[4])
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionGuid: hubRole.outputs.roleDefinitionGuid
    resourceId: scopeId
  }
}]

module hubSubAssignments 'app/role-assignment-sub.bicep' = [for (scopeId, i) in hubScopes: if (length(split(scopeId, '/')) == 3) {
  name: 'hub-sub-${i}-${resourceToken}'
  scope: subscription(split(scopeId, '/')[2])
  params: {
    principalId: identity.outputs.principalId
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
    workspaceId: monitoring.outputs.logAnalyticsId
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
    eventSubscriptionName: eventSubscriptionName
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
output REMEDIATION_PRINCIPAL_ID string = identity.outputs.principalId
output REMEDIATION_CLIENT_ID string = identity.outputs.clientId
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
