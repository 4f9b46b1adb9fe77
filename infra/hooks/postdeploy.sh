#!/bin/sh
# azd postdeploy hook: subscribe the blob triggers to the storage account's Event Grid system topic.
# Runs after the code is deployed (the webhook key exists only then). azd exports main.bicep's
# outputs and AZURE_RESOURCE_GROUP as environment variables. Needs the Azure CLI, logged in.
set -eu
: "${AZURE_RESOURCE_GROUP:?run through azd (azd up / azd deploy)}"
az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name blob-subscriptions \
  --template-file infra/bicep/blob-subscriptions.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC" \
  --output none
echo "omnisync API: $API_BASE_URL"
