// The event subscription of a watched subscription's system topic. Deployed in the topic's resource group.
//
// eventDelivery 'queue' (default): Event Grid puts each event, as one message, on the `resource-events`
// queue of the events account, authenticated with the topic's own identity (deliveryWithResourceIdentity);
// on_resource_event_queued reads it. Event Grid never calls the app, so the app needs no public endpoint.
// eventDelivery 'webhook' (opt-in): Event Grid calls the on_resource_event function (AzureFunction
// endpoint) over the app's public endpoint; it can only be created once the code is published, because
// Event Grid checks that <site id>/functions/on_resource_event exists.
targetScope = 'resourceGroup'

@allowed([
  'queue'
  'webhook'
])
@description('queue: Event Grid -> Storage queue (private app). webhook: Event Grid -> on_resource_event (public app).')
param eventDelivery string = 'queue'

@description('System topic of the watched subscription.')
param systemTopicName string

@description('Event subscription name.')
param eventSubscriptionName string

@description('Resource id of the Function app (webhook delivery).')
param functionAppId string

@description('Resource id of the events storage account: the delivery queue and the dead letters.')
param eventsStorageAccountId string

@description('Queue the events are delivered to (queue delivery).')
param eventQueueName string

@description('Seconds a delivered event stays on the queue unread (-1: until read). The drift sweep covers what expires.')
param queueMessageTimeToLiveInSeconds int = 604800

@description('Blob container for dead letters.')
param deadLetterContainerName string

@description('Delivery attempts before dead-lettering (Event Grid: 1-30, default 30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before dead-lettering (Event Grid: 1-1440, default 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// = HANDLED_EVENT_TYPES in remediation/core/operations.py (tests/infra compares them).
var handledEventTypes = [
  'Microsoft.Resources.ResourceWriteSuccess'
  'Microsoft.Resources.ResourceDeleteSuccess'
]

// = HANDLED_OPERATIONS in remediation/core/operations.py (tests/infra compares them). Event Grid allows 25
// filter values in total per event subscription (docs/arm-notes.md 4.2); comparisons are case-insensitive.
var handledOperations = [
  'Microsoft.ContainerService/managedClusters/write'
  'Microsoft.ContainerService/managedClusters/delete'
  'Microsoft.ContainerService/managedClusters/agentPools/write'
  'Microsoft.Network/applicationGateways/write'
  'Microsoft.Network/applicationGateways/delete'
  'Microsoft.Network/virtualNetworks/write'
  'Microsoft.Network/virtualNetworks/subnets/write'
  'Microsoft.Network/routeTables/write'
  'Microsoft.Network/routeTables/delete'
  'Microsoft.Network/routeTables/routes/write'
  'Microsoft.Network/routeTables/routes/delete'
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/write'
  'Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete'
  'Microsoft.Network/azureFirewalls/write'
  'Microsoft.Network/virtualNetworkGateways/write'
]

var deliverToQueue = eventDelivery == 'queue'

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: eventSubscriptionName
  properties: {
    // Each queue message then holds one event object in the Event Grid schema (intake reads CloudEvents
    // 1.0 too, should the schema be changed here).
    eventDeliverySchema: 'EventGridSchema'
    // The topic's identity writes the message: no key or SAS, and the events account's firewall admits
    // Event Grid as a trusted service only when it authenticates with a managed identity.
    deliveryWithResourceIdentity: deliverToQueue ? {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: eventsStorageAccountId
          queueName: eventQueueName
          queueMessageTimeToLiveInSeconds: queueMessageTimeToLiveInSeconds
        }
      }
    } : null
    // AzureFunction delivery needs no key or webhook URL: Event Grid calls the function through the
    // platform, and the trigger acknowledges well inside Event Grid's 30 s timeout (it only enqueues).
    destination: deliverToQueue ? null : {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/on_resource_event'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: handledEventTypes
      // One StringIn filter on data.operationName: subjectBeginsWith cannot say "any resource group,
      // type X" (docs/arm-notes.md 4.2).
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: handledOperations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Dead-lettering is off unless configured; Event Grid does not retry 400/403/413 at all, so without a
    // dead-letter destination those events would be dropped silently (docs/arm-notes.md 4.3).
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: eventsStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = eventSubscription.id
