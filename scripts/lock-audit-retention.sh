#!/bin/sh
# Lock the time-based retention policy of the audit container (infra/app/storage.bicep). IRREVERSIBLE:
# a locked policy can only be extended; the container and the storage account cannot be deleted while a
# blob is under retention. Run once the retention period is agreed with the auditors (docs/deploy.md section 13.2).
# Needs Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/lock/action
# (e.g. Storage Account Contributor) on the app's storage account.
set -eu
account="${STORAGE_ACCOUNT_NAME:-$(azd env get-value STORAGE_ACCOUNT_NAME)}"
group="${AZURE_RESOURCE_GROUP:-$(azd env get-value AZURE_RESOURCE_GROUP)}"
container="remediation-audit"
etag=$(az storage container immutability-policy show --account-name "$account" --resource-group "$group" \
  --container-name "$container" --query etag -o tsv)
az storage container immutability-policy lock --account-name "$account" --resource-group "$group" \
  --container-name "$container" --if-match "$etag"
az storage container immutability-policy show --account-name "$account" --resource-group "$group" \
  --container-name "$container" --query "{state: state, days: immutabilityPeriodSinceCreationInDays}"
