#!/bin/sh
# Publish the code to a private Function app (public network access Disabled), from where that works: a
# host inside the app's VNet or a network peered with it that resolves the privatelink zones (a jump host,
# a self-hosted CI runner, a dev box on the VPN). The deploy goes to the site's SCM endpoint
# (<app>.scm.<suffix>), which with public access disabled answers only through the app's private endpoint;
# from a laptop on the internet it answers 403 (docs/deploy.md section 5.1 has the sources).
# Usage: scripts/deploy-private.sh            (after `azd provision`; reads the azd environment)
set -eu

app="${AZURE_FUNCTION_APP_NAME:-$(azd env get-value AZURE_FUNCTION_APP_NAME)}"
host="${FUNCTION_APP_HOSTNAME:-$(azd env get-value FUNCTION_APP_HOSTNAME)}"
scm_host=$(printf '%s' "$host" | sed 's/^\([^.]*\)\./\1.scm./')

address=$(getent hosts "$scm_host" | awk '{print $1}' | head -n 1 || true)
case "$address" in
  10.*|192.168.*|172.1[6-9].*|172.2[0-9].*|172.3[0-1].*)
    echo "$scm_host resolves to $address (private endpoint): deploying $app." ;;
  "")
    echo "$scm_host does not resolve here. Run this inside the VNet (or a peered network that uses the" >&2
    echo "privatelink.azurewebsites.net zone), e.g. a jump host or a self-hosted runner." >&2
    exit 1 ;;
  *)
    echo "$scm_host resolves to the public address $address: the deploy would get 403. Run this inside the" >&2
    echo "VNet, or link the privatelink.azurewebsites.net zone to this network's DNS." >&2
    exit 1 ;;
esac

azd deploy api --no-prompt
