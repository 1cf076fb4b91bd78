// The zero-touch path (docs/zero-touch.md): the spoke VNet names, in its tag, the subnets to prepare for
// userDefinedRouting clusters. The VNet's own write event lets the function app route them through the hub
// firewall (0.0.0.0/0 -> firewall, associated) before any cluster exists, so AKS accepts the create.
// Deploy this first; deploy the cluster (outboundType: userDefinedRouting, vnetSubnetID = snet-aks-next) after
// the subnet is prepared (a retried cluster deployment passes once it is).

param location string = resourceGroup().location

@description('The setting PREPARE_SUBNETS_TAG of the function app (default aks-egress-prepare).')
param prepareTag string = 'aks-egress-prepare'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-spoke'
  location: location
  tags: {
    '${prepareTag}': 'snet-aks-next'
  }
  properties: {
    addressSpace: { addressPrefixes: [ '10.1.0.0/16' ] }
    subnets: [
      {
        name: 'snet-aks-next'
        properties: { addressPrefix: '10.1.16.0/24' }
        // No routeTable on the first deployment: the function app creates and associates its own table
        // (rmd-vnet-spoke-snet-aks-next), or merges its routes into one you associate. Caution on a
        // re-deployment: a VNet PUT with inline subnets replaces them and drops an association it does not
        // declare (docs/platform-notes.md 3.3); the VNet's event re-associates within the dedupe window, but a
        // running cluster's egress meanwhile leaves by the system route. Once clusters run, declare the
        // association here (routeTable: { id: resourceId('Microsoft.Network/routeTables',
        // 'rmd-vnet-spoke-snet-aks-next') }).
      }
    ]
  }
}
