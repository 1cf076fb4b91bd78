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

@description('Address ranges (operators, a deployment runner, a jump host) allowed to reach the private endpoints on 443: the HTTP API and the SCM endpoint a private deploy uses. Empty: only the app subnet reaches them.')
param endpointClientPrefixes array = []

var peerToHub = !empty(hubVnetId)
var routeThroughHub = !empty(hubFirewallPrivateIp)

// Explicit rules on both subnets, so the defaults (AllowVnetInBound covers every peered and on-premises
// range) never decide. App subnet: Flex VNet integration is outbound only; it may reach the private
// endpoints, and ARM and Entra ID (through the hub firewall), nothing else. Endpoint subnet: only the app
// subnet and the named client ranges reach the endpoints, on 443 only. Azure DNS (168.63.129.16) is not
// subject to NSG rules. Rules: docs/deploy.md section 1.1.
var denyAllInbound = {
  name: 'deny-all-inbound'
  properties: {
    priority: 4096
    direction: 'Inbound'
    access: 'Deny'
    protocol: '*'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefix: '*'
    destinationPortRange: '*'
  }
}
var denyAllOutbound = {
  name: 'deny-all-outbound'
  properties: {
    priority: 4096
    direction: 'Outbound'
    access: 'Deny'
    protocol: '*'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefix: '*'
    destinationPortRange: '*'
  }
}
var appOutboundTargets = [
  {
    name: 'allow-private-endpoints'
    destination: privateEndpointSubnetPrefix
    priority: 100
  }
  {
    name: 'allow-arm'
    destination: 'AzureResourceManager'
    priority: 110
  }
  {
    name: 'allow-entra-id'
    destination: 'AzureActiveDirectory'
    priority: 120
  }
]
var appOutboundRules = [for target in appOutboundTargets: {
  name: target.name
  properties: {
    priority: target.priority
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: appSubnetPrefix
    sourcePortRange: '*'
    destinationAddressPrefix: target.destination
    destinationPortRange: '443'
  }
}]
var endpointFromApp = {
  name: 'allow-app-subnet'
  properties: {
    priority: 100
    direction: 'Inbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: appSubnetPrefix
    sourcePortRange: '*'
    destinationAddressPrefix: privateEndpointSubnetPrefix
    destinationPortRange: '443'
  }
}
var endpointFromClients = empty(endpointClientPrefixes) ? [] : [
  {
    name: 'allow-endpoint-clients'
    properties: {
      priority: 110
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefixes: endpointClientPrefixes
      sourcePortRange: '*'
      destinationAddressPrefix: privateEndpointSubnetPrefix
      destinationPortRange: '443'
    }
  }
]

resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-app-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: concat(appOutboundRules, [
      denyAllInbound
      denyAllOutbound
    ])
  }
}

resource endpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-pe-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: concat([
      endpointFromApp
    ], endpointFromClients, [
      denyAllInbound
      denyAllOutbound
    ])
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
