// omnisync: Azure Functions (Flex Consumption, Python) on a storage account reached only by a
// managed identity. Deploy: `azd up` (azure.yaml); see README "Deploy to Azure".
// Every parameter default equals the code's default (shared/config.py), checked by
// tests/unit/test_deployment_settings.py.
targetScope = 'resourceGroup'

@description('Short name used to derive resource names (lowercase letters and digits).')
@minLength(3)
@maxLength(11)
param appName string = 'omnisync'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Deployment name, e.g. prod or test; kept apart by separate resource groups.')
@maxLength(12)
param environmentName string = 'prod'

@description('Python version of the Functions runtime.')
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

@description('Memory of one Flex Consumption instance (MB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Timer schedules (NCRONTAB, six fields).')
param syncSchedule string = '0 */1 * * * *'
param sendJournalsSchedule string = '45 */2 * * * *'

@description('Work queues: name prefix (queues {prefix}-sync, -aggregate, -send and their -poison twins).')
param workQueuePrefix string = 'omnisync'
@description('Safety sweep: time budget per run (under the 600 s timeout) and age of markers it takes over.')
param sweepBudgetSeconds int = 420
param sweepMinAgeSeconds int = 60
@description('Seconds an aggregate message waits, so one aggregated line collects the lines of that window.')
param aggregateDelaySeconds int = 30
@description('Seconds a send message waits so that one journal collects the lines aggregated meanwhile.')
param sendDelaySeconds int = 30

@description('Ingest limits.')
param ingestMaxBodyBytes int = 8388608
param ingestMaxLines int = 10000

@description('Biggest report file the API answers inline; bigger ones are downloaded through a short-lived read link (user delegation SAS). Raise it when browsers cannot reach the storage account.')
@minValue(1024)
@maxValue(1073741824)
param reportInlineMaxBytes int = 33554432

@description('Minutes a report read link stays valid.')
@minValue(1)
@maxValue(60)
param reportLinkMinutes int = 15

@description('Most on-hand events or ERP transactions per bulk request.')
param onhandMaxEvents int = 512

@description('Data sources and physical measures accepted by ingest (comma-separated).')
param allowedDataSources string = '@iv,pos,ecom,wms,fno'
param allowedPhysicalMeasures string = 'adjustment,sold,received,ordered,onhand,counted,availphysical,reserved'

@description('Reconciliation defaults: master side, journal mode, value threshold, optional JSON config.')
@allowed(['wms', 'erp'])
param reconcileMaster string = 'wms'
@allowed(['movement', 'counting'])
param reconcileJournalMode string = 'movement'
param reconcileMaterialityValue string = '50'
param reconcileConfig string = ''
@description('ISO 4217 code of the ERP unit costs (e.g. EUR), shown next to values in reconciliation reports; empty: not configured.')
param reconcileCurrency string = ''

@description('Journal mapping: JSON of "dataSource/measure" to {journal_type, target_status, journal_name_id}.')
param journalMapping string = '{"@iv/adjustment": {"journal_type": "adjustment", "target_status": "Posted"}}'
param defaultJournalName string = 'IAdj'
@minValue(1)
@maxValue(10000)
param journalMaxLines int = 1000
param sendMaxAttempts int = 5

@description('ERP connector: outbox (journal files in blob storage) or odata (Dynamics 365 F&O).')
@allowed(['outbox', 'odata'])
param erpConnector string = 'outbox'
param erpODataUrl string = ''
param erpODataTenantId string = ''
@description('App registration (client id) for OData; without a secret the managed identity is used.')
param erpODataClientId string = ''
@secure()
@description('Prefer a Key Vault reference (@Microsoft.KeyVault(...)) over a literal secret.')
param erpODataClientSecret string = ''
param erpODataPostAction string = ''
@description('Level sync to target systems: safety sweep schedule, delay of a send message, lines per delta file.')
param levelSyncSchedule string = '30 */1 * * * *'
param levelSendDelaySeconds int = 5
param levelMaxLines int = 1000

@secure()
@description('API keys for clients that cannot use Entra ID: JSON list of {name, key (32+ characters), environments: ["env"] or "*"}. Prefer a Key Vault reference.')
param apiKeys string = ''
@description('Entra ID tenant (GUID) whose access tokens the API accepts; empty: tokens are refused, API keys only.')
param entraTenantId string = ''
@description('Accepted token audiences (comma-separated): the API app registration\'s client id and/or Application ID URI.')
param entraAudience string = ''
@description('App roles granting environments: JSON {"environmentId": ["Role"], "*": ["AdminRole"]}.')
param entraEnvironmentRoles string = ''
@description('Telemetry: auto sends traces and metrics to Application Insights (its connection string is set below).')
@allowed(['auto', 'console', 'none'])
param telemetryExporter string = 'auto'

@description('Tables the app uses (kept in sync with shared/adapters/storage_names.py by a test).')
param tableNames array = ['ledger00', 'ledger01', 'ledger02', 'ledger03', 'ledger04', 'ledger05', 'ledger06', 'ledger07', 'finishedlines', 'lineids', 'pending', 'journals', 'config', 'levels']

@description('Blob containers the app uses (kept in sync with shared/adapters/storage_names.py by a test).')
param containerNames array = ['snapshots', 'reports', 'journal-outbox', 'journal-inbox', 'wms-outbox', 'approvals', 'level-outbox', 'level-snapshots']

@description('Work queues the app uses, without prefix (kept in sync with shared/adapters/storage_names.py by a test).')
param queueNames array = ['sync', 'aggregate', 'send', 'level', 'levelsend', 'approve']

var suffix = uniqueString(subscription().id, resourceGroup().id, appName, environmentName)
var storageAccountName = toLower(take('st${appName}${suffix}', 24))
var functionAppName = '${appName}-${environmentName}-${take(suffix, 6)}'
var deploymentContainerName = 'app-package-${take(suffix, 8)}'

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${functionAppName}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobServices
  name: deploymentContainerName
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in containerNames: {
    parent: blobServices
    name: name
  }
]

resource tableServices 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for name in tableNames: {
    parent: tableServices
    name: name
  }
]

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource workQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in queueNames: {
    parent: queueServices
    name: '${workQueuePrefix}-${name}'
  }
]

resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in queueNames: {
    parent: queueServices
    name: '${workQueuePrefix}-${name}-poison'
  }
]

// Azure Verified Module (resolved from the public Bicep registry at deploy time). The other
// resources stay plain: their settings are checked against the code by tests that read this file.
module logs 'br/public:avm/res/operational-insights/workspace:0.12.0' = {
  name: 'logs'
  params: {
    name: 'log-${functionAppName}'
    location: location
    skuName: 'PerGB2018'
    dataRetention: 30
    enableTelemetry: false
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${functionAppName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.outputs.resourceId
    DisableLocalAuth: true
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [roleIds.storageBlobDataOwner, roleIds.storageQueueDataContributor, roleIds.storageTableDataContributor]: {
    name: guid(storage.id, identity.id, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource metricsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roleIds.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${functionAppName}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  // azd deploys the `api` service of azure.yaml to the resource carrying this tag.
  tags: { 'azd-service-name': 'api', 'azd-env-name': environmentName }
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'OMNISYNC_STORAGE__accountName', value: storage.name }
        { name: 'OMNISYNC_STORAGE__credential', value: 'managedidentity' }
        { name: 'OMNISYNC_STORAGE__clientId', value: identity.properties.clientId }
        { name: 'OMNISYNC_STORAGE__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        // The snapshot trigger's BlobClient is built in the worker by azurefunctions-extensions-bindings-blob,
        // which reads NAME__blobServiceUri (not __accountName) for an identity-based connection.
        { name: 'OMNISYNC_STORAGE__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'OMNISYNC_ENVIRONMENT_NAME', value: environmentName }
        { name: 'OMNISYNC_STORAGE_NAME_PREFIX', value: '' }
        { name: 'SYNC_SCHEDULE', value: syncSchedule }
        { name: 'WORK_QUEUE_PREFIX', value: workQueuePrefix }
        { name: 'SWEEP_BUDGET_SECONDS', value: string(sweepBudgetSeconds) }
        { name: 'SWEEP_MIN_AGE_SECONDS', value: string(sweepMinAgeSeconds) }
        { name: 'AGGREGATE_DELAY_SECONDS', value: string(aggregateDelaySeconds) }
        { name: 'SEND_DELAY_SECONDS', value: string(sendDelaySeconds) }
        { name: 'SEND_JOURNALS_SCHEDULE', value: sendJournalsSchedule }
        { name: 'INGEST_MAX_BODY_BYTES', value: string(ingestMaxBodyBytes) }
        { name: 'INGEST_MAX_LINES', value: string(ingestMaxLines) }
        { name: 'ONHAND_MAX_EVENTS', value: string(onhandMaxEvents) }
        { name: 'REPORT_INLINE_MAX_BYTES', value: string(reportInlineMaxBytes) }
        { name: 'REPORT_LINK_MINUTES', value: string(reportLinkMinutes) }
        { name: 'ALLOWED_DATA_SOURCES', value: allowedDataSources }
        { name: 'ALLOWED_PHYSICAL_MEASURES', value: allowedPhysicalMeasures }
        { name: 'RECONCILE_MASTER', value: reconcileMaster }
        { name: 'RECONCILE_JOURNAL_MODE', value: reconcileJournalMode }
        { name: 'RECONCILE_MATERIALITY_VALUE', value: reconcileMaterialityValue }
        { name: 'RECONCILE_CONFIG', value: reconcileConfig }
        { name: 'RECONCILE_CURRENCY', value: reconcileCurrency }
        { name: 'JOURNAL_MAPPING', value: journalMapping }
        { name: 'DEFAULT_JOURNAL_NAME', value: defaultJournalName }
        { name: 'JOURNAL_MAX_LINES', value: string(journalMaxLines) }
        { name: 'SEND_MAX_ATTEMPTS', value: string(sendMaxAttempts) }
        { name: 'ERP_CONNECTOR', value: erpConnector }
        { name: 'ERP_ODATA_URL', value: erpODataUrl }
        { name: 'ERP_ODATA_TENANT_ID', value: erpODataTenantId }
        { name: 'ERP_ODATA_CLIENT_ID', value: erpODataClientId }
        { name: 'ERP_ODATA_CLIENT_SECRET', value: erpODataClientSecret }
        { name: 'ERP_ODATA_POST_ACTION', value: erpODataPostAction }
        { name: 'API_KEYS', value: apiKeys }
        { name: 'ENTRA_TENANT_ID', value: entraTenantId }
        { name: 'ENTRA_AUDIENCE', value: entraAudience }
        { name: 'ENTRA_ENVIRONMENT_ROLES', value: entraEnvironmentRoles }
        { name: 'ENTRA_JWKS_URL', value: '' }
        { name: 'TELEMETRY_EXPORTER', value: telemetryExporter }
        // The Python worker passes the host's trace context to OpenTelemetry (host.json telemetryMode).
        { name: 'PYTHON_ENABLE_OPENTELEMETRY', value: 'true' }
        { name: 'LEVEL_SYNC_SCHEDULE', value: levelSyncSchedule }
        { name: 'LEVEL_SEND_DELAY_SECONDS', value: string(levelSendDelaySeconds) }
        { name: 'LEVEL_MAX_LINES', value: string(levelMaxLines) }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
  dependsOn: [storageRoles, deploymentContainer]
}

// Blob triggers use the Event Grid source (the only one on Flex Consumption). The system topic is
// created here; its subscriptions (blob-subscriptions.bicep) need the host's blobs_extension key,
// which exists only once the code is deployed, so azd's postdeploy hook deploys them.
resource blobEvents 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: 'evgt-${functionAppName}'
  location: location
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Names are upper-case so azd exports them as environment variables of the same name (hooks read them).
output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
output AZURE_EVENTGRID_SYSTEM_TOPIC string = blobEvents.name
output API_BASE_URL string = 'https://${functionApp.properties.defaultHostName}/api'
