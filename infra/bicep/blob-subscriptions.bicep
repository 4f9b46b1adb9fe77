// Event Grid subscriptions of the app's blob triggers (source: EventGrid), one per trigger.
// Deployed after the code by azure.yaml's postdeploy hook (infra/hooks/postdeploy.sh): the webhook
// needs the host's `blobs_extension` system key, which the host creates when it first loads a blob
// trigger, and Event Grid validates the endpoint when the subscription is created.
targetScope = 'resourceGroup'

@description('Function app created by main.bicep (output AZURE_FUNCTION_APP_NAME).')
param functionAppName string

@description('Event Grid system topic on the storage account (output AZURE_EVENTGRID_SYSTEM_TOPIC).')
param systemTopicName string

@description('Blob-triggered functions and the container each watches (checked against the code by a test).')
param blobTriggers array = [
  { function: 'journal_results', container: 'journal-inbox' }
  { function: 'reconcile_snapshot', container: 'snapshots' }
  { function: 'level_snapshot', container: 'level-snapshots' }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource host 'Microsoft.Web/sites/host@2024-04-01' existing = {
  parent: functionApp
  name: 'default'
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [
  for trigger in blobTriggers: {
    parent: topic
    name: replace(trigger.function, '_', '-')
    properties: {
      destination: {
        endpointType: 'WebHook'
        properties: {
          endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${trigger.function}&code=${host.listKeys().systemKeys.blobs_extension}'
        }
      }
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated']
        subjectBeginsWith: '/blobServices/default/containers/${trigger.container}/'
      }
      eventDeliverySchema: 'EventGridSchema'
      retryPolicy: {
        maxDeliveryAttempts: 30
        eventTimeToLiveInMinutes: 1440
      }
    }
  }
]
