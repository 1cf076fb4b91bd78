// The private DNS zones the app's private endpoints register in, each linked to the app's VNet, so names
// like <account>.blob.core.windows.net resolve to the private endpoint inside the VNet. Deployed only
// when the deployer does not bring central zones (privateDnsZoneResourceGroupId in main.bicep); a hub
// that owns the zones must then link them to the app's VNet itself.
targetScope = 'resourceGroup'

@description('Zone names (privatelink.*), e.g. privatelink.blob.core.windows.net.')
param zoneNames array

@description('Resource id of the VNet the zones are linked to.')
param vnetId string

@description('Tags for every resource.')
param tags object = {}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zoneName in zoneNames: {
  name: zoneName
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zoneName, i) in zoneNames: {
  parent: zones[i]
  name: 'app-vnet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}]
