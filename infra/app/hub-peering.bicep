// The hub side of the peering between the hub VNet and the VNet main.bicep creates for the app (deployed
// with scope: the hub VNet's resource group). The deployer needs Network Contributor there; a hub team that
// keeps that right sets createHubPeering false and creates this side itself (docs/deploy.md section 1).
targetScope = 'resourceGroup'

@description('Name of the hub VNet.')
param hubVnetName string

@description('Resource id of the app VNet.')
param appVnetId string

@description('Peering name on the hub side.')
param peeringName string

resource hubVnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: hubVnetName
}

resource toApp 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = {
  parent: hubVnet
  name: peeringName
  properties: {
    remoteVirtualNetwork: {
      id: appVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: true
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}
