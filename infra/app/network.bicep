// The app's own VNet when the deployer names no subnets: one subnet for the Function app's VNet
// integration (delegated to Microsoft.App/environments, which Flex Consumption requires) and one for the
// private endpoints of storage, telemetry, the result topic and the app itself. Peer it to the hub (or
// pass existing subnets instead: appSubnetId / privateEndpointSubnetId in main.bicep) so the app reaches
// ARM and the private endpoints resolve through the zones in private-dns.bicep.
targetScope = 'resourceGroup'

@description('VNet name.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Address space of the VNet, e.g. 10.90.0.0/24.')
param addressPrefix string

@description('Prefix of the app (VNet integration) subnet, at least /28; Flex recommends /26 or larger.')
param appSubnetPrefix string

@description('Prefix of the private endpoint subnet.')
param privateEndpointSubnetPrefix string

@description('Hub VNet to peer with (the app reaches ARM through the hub firewall); empty: no peering (appVnetEgress external).')
param hubVnetId string = ''

@description('Private IP of the hub firewall: next hop of the app subnet default route; empty: no route table.')
param hubFirewallPrivateIp string = ''

var peerToHub = !empty(hubVnetId)
var routeThroughHub = !empty(hubFirewallPrivateIp)

// No inbound rule beyond Azure's defaults: nothing on the internet reaches either subnet, and the private
// endpoints only answer inside the VNet (and peered networks).
resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-app-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource endpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-pe-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

// The app's egress to ARM and Entra ID: everything leaves through the hub firewall, which must allow the
// AzureResourceManager and AzureActiveDirectory service tags (docs/deploy.md section 1).
resource appRoutes 'Microsoft.Network/routeTables@2024-05-01' = if (routeThroughHub) {
  name: '${name}-app-rt'
  location: location
  tags: tags
  properties: {
    disableBgpRoutePropagation: true
    routes: [
      {
        name: 'default-via-hub-firewall'
        properties: {
          addressPrefix: '0.0.0.0/0'
          nextHopType: 'VirtualAppliance'
          nextHopIpAddress: hubFirewallPrivateIp
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: appNsg.id
          }
          // Flex Consumption VNet integration requires this delegation.
          delegations: [
            {
              name: 'flex'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          privateEndpointNetworkPolicies: 'Enabled'
          defaultOutboundAccess: false
          // No default outbound access: ARM (and Entra ID) are reached through the hub firewall.
          routeTable: routeThroughHub ? {
            id: appRoutes.id
          } : null
        }
      }
      {
        name: 'snet-private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: endpointNsg.id
          }
          // NSG rules apply to the private endpoints too.
          privateEndpointNetworkPolicies: 'Enabled'
          defaultOutboundAccess: false
        }
      }
    ]
  }
}

output vnetId string = vnet.id
output appSubnetId string = vnet.properties.subnets[0].id
output privateEndpointSubnetId string = vnet.properties.subnets[1].id

// The spoke side of the hub peering (the hub side: hub-peering.bicep, or the hub team).
resource toHub 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = if (peerToHub) {
  parent: vnet
  name: 'to-hub'
  properties: {
    remoteVirtualNetwork: {
      id: hubVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: true
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}
