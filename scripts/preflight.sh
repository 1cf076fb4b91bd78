#!/bin/sh
# azd preprovision hook (also runnable by hand before `az deployment sub create`): the checks ARM cannot do
# at template time, written into the azd environment so main.bicep's guards can read them.
#  1. Flex Consumption offers Python 3.13 in AZURE_LOCATION -> FLEX_RUNTIME_CHECKED_LOCATION.
#  2. FIREWALL_POLICY_IDS, when empty and the firewalls are policy-based, from each firewall's
#     firewallPolicy.id (the hub role is assigned on each policy).
# Reads only; writes nothing to Azure. docs/deploy.md section 5.3.
set -eu

location="${AZURE_LOCATION:?AZURE_LOCATION is not set (azd env set AZURE_LOCATION <region>)}"

versions=$(az functionapp list-flexconsumption-runtimes --location "$location" --runtime python \
  --query "[].version" -o tsv 2>/dev/null || true)
if printf '%s\n' "$versions" | grep -qx '3.13'; then
  azd env set FLEX_RUNTIME_CHECKED_LOCATION "$location"
  echo "Flex Consumption offers Python 3.13 in $location."
else
  echo "Flex Consumption does not list Python 3.13 in $location (az functionapp list-flexconsumption-runtimes" >&2
  echo "--location $location --runtime python). Pick another region: azd env set AZURE_LOCATION <region>." >&2
  exit 1
fi

if [ "${FIREWALL_IS_CLASSIC:-false}" != "true" ] && [ -z "${FIREWALL_POLICY_IDS:-}" ]; then
  firewalls=$(printf '%s' "${FIREWALL_IDS:-[]}" | tr -d '[]" ' | tr ',' ' ')
  policies=""
  for firewall in ${FIREWALL_ID:?FIREWALL_ID is not set} $firewalls; do
    policy=$(az network firewall show --ids "$firewall" --query firewallPolicy.id -o tsv)
    if [ -z "$policy" ]; then
      echo "$firewall has no firewall policy: set FIREWALL_IS_CLASSIC=true for classic firewalls." >&2
      exit 1
    fi
    policies="${policies:+$policies,}\"$policy\""
  done
  azd env set FIREWALL_POLICY_IDS "[$policies]"
  echo "FIREWALL_POLICY_IDS=[$policies]"
fi
