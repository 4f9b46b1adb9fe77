# azd postdeploy hook (Windows): same as postdeploy.sh.
$ErrorActionPreference = 'Stop'
if (-not $env:AZURE_RESOURCE_GROUP) { throw 'run through azd (azd up / azd deploy)' }
az deployment group create `
  --resource-group $env:AZURE_RESOURCE_GROUP `
  --name blob-subscriptions `
  --template-file infra/bicep/blob-subscriptions.bicep `
  --parameters functionAppName=$env:AZURE_FUNCTION_APP_NAME systemTopicName=$env:AZURE_EVENTGRID_SYSTEM_TOPIC `
  --output none
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Output "omnisync API: $env:API_BASE_URL"
