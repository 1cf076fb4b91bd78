// The app's user-assigned identity. main.bicep creates it, grants its data-plane roles (rbac.bicep), and
// only then creates the Function app that uses it: the Flex deployment container role is in place before
// the first package write, with no race against role propagation (the Flex quickstarts do the same,
// docs/deploy.md section 5.1). The spoke and hub roles are assigned to it as well.
targetScope = 'resourceGroup'

@description('Identity name.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
