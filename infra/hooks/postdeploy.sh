#!/bin/sh
# azd postdeploy hook: wire Event Grid once the code is published.
# Event Grid checks that the AzureFunction endpoint <site>/functions/on_resource_event exists when an event
# subscription is created, so the first provision (before any code) leaves wireEventGrid false. After the
# first deploy this sets it and provisions again; later `azd up` runs keep it true.
set -eu
if [ "${WIRE_EVENT_GRID:-false}" = "true" ]; then
  echo "Event Grid subscriptions are already part of this environment's deployment."
  exit 0
fi
azd env set WIRE_EVENT_GRID true
azd provision --no-prompt
