#!/bin/sh
# azd postdeploy hook: wire Event Grid once the code is published, for the webhook opt-in only.
# Queue delivery (EVENT_DELIVERY=queue, the default) is wired by the first provision: Event Grid writes to
# a Storage queue that exists before any code. The webhook endpoint <site>/functions/on_resource_event,
# though, must exist when its event subscription is created, so the first provision leaves wireEventGrid
# false; after the first deploy this sets it and provisions again. Later `azd up` runs keep it true.
set -eu
if [ "${EVENT_DELIVERY:-queue}" != "webhook" ]; then
  echo "Event Grid delivers to the resource-events queue; nothing to wire after deploy."
  exit 0
fi
if [ "${WIRE_EVENT_GRID:-false}" = "true" ]; then
  echo "Event Grid subscriptions are already part of this environment's deployment."
  exit 0
fi
azd env set WIRE_EVENT_GRID true
azd provision --no-prompt
