# azd postdeploy hook (Windows): see postdeploy.sh; only the webhook opt-in needs wiring after deploy.
$ErrorActionPreference = 'Stop'
if ($env:EVENT_DELIVERY -ne 'webhook') {
    Write-Host "Event Grid delivers to the resource-events queue; nothing to wire after deploy."
    exit 0
}
if ($env:WIRE_EVENT_GRID -eq 'true') {
    Write-Host "Event Grid subscriptions are already part of this environment's deployment."
    exit 0
}
azd env set WIRE_EVENT_GRID true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
