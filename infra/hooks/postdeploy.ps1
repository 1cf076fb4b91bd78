# azd postdeploy hook (Windows): see postdeploy.sh for why Event Grid is wired after the first deploy.
$ErrorActionPreference = 'Stop'
if ($env:WIRE_EVENT_GRID -eq 'true') {
    Write-Host "Event Grid subscriptions are already part of this environment's deployment."
    exit 0
}
azd env set WIRE_EVENT_GRID true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
