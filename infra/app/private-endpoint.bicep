// One private endpoint of one sub-resource (groupId), registered in its private DNS zones through a zone
// group, so the record follows the endpoint's IP without manual DNS work.
targetScope = 'resourceGroup'

@description('Private endpoint name.')
param name string

@description('Azure region (the VNet region).')
param location string

@description('Tags.')
param tags object = {}

@description('Subnet that holds the endpoint.')
param subnetId string

@description('Resource id of the service (storage account, AMPLS, site, topic).')
param targetId string

@description('Sub-resource: blob, queue, table, azuremonitor, sites, topic.')
param groupId string

@description('Resource ids of the private DNS zones the endpoint registers in.')
param privateDnsZoneIds array

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [for (zoneId, i) in privateDnsZoneIds: {
      name: 'zone-${i}'
      properties: {
        privateDnsZoneId: zoneId
      }
    }]
  }
}

output id string = endpoint.id
