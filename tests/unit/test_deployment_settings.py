"""Every setting, table and container the code uses is declared for local runs and in the Bicep,
with the same default everywhere; `azd up` has what it needs.

The Bicep is parsed with tree-sitter-bicep (a real grammar), not with regexes.
"""

import json
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_bicep

from devtools.localrunner.catalog import build_catalog
from shared.adapters.storage_names import CONTAINERS, QUEUES, TABLES
from shared.config import STORAGE_CONNECTION, Settings, setting_names

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep" / "main.bicep"
SUBSCRIPTIONS_BICEP = ROOT / "infra" / "bicep" / "blob-subscriptions.bicep"
DEPLOYMENT_SPECIFIC = {
    "OMNISYNC_ENVIRONMENT_NAME",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
"""Settings whose Azure value is the deployment's own (the azd environment name), not the code default."""
LOCAL_ONLY = {"LOCAL_FUNCTION_KEY", "FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags", "AzureWebJobsStorage"}


def _tree(path: Path = BICEP) -> tree_sitter.Node:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    tree = parser.parse(path.read_bytes())
    assert not tree.root_node.has_error, f"{path.name} does not parse"
    return tree.root_node


def _walk(node: tree_sitter.Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _key(prop: tree_sitter.Node) -> str:
    return prop.children[0].text.decode()


def _string(node: tree_sitter.Node) -> str | None:
    if node.type != "string":
        return None
    return "".join(c.text.decode() for c in node.children if c.type == "string_content")


def bicep_app_settings() -> set[str]:
    names = set()
    for node in _walk(_tree()):
        if node.type == "object_property" and _key(node) == "appSettings":
            array = next(c for c in node.children if c.type == "array")
            for entry in (c for c in array.children if c.type == "object"):
                for prop in (c for c in entry.children if c.type == "object_property"):
                    if _key(prop) == "name":
                        names.add(_string(prop.children[-1]))
    return names


def bicep_param_default(name: str) -> set[str]:
    for node in _walk(_tree()):
        if node.type == "parameter_declaration" and any(c.text.decode() == name for c in node.children):
            array = next(c for c in node.children if c.type == "array")
            return {_string(c) for c in _walk(array) if c.type == "string"}
    raise AssertionError(f"param {name} not found in main.bicep")


def bicep_param_defaults(path: Path = BICEP) -> dict[str, tree_sitter.Node]:
    """Parameter name -> the node of its default value."""
    defaults = {}
    for node in _walk(_tree(path)):
        if node.type == "parameter_declaration":
            named = [c for c in node.children if c.type == "identifier"]
            if named and node.children[-2].type == "=":
                defaults[named[0].text.decode()] = node.children[-1]
    return defaults


def bicep_app_setting_values() -> dict[str, str]:
    """App setting -> the value it gets when every parameter keeps its default (literal or parameter)."""
    params = bicep_param_defaults()
    values = {}
    for node in _walk(_tree()):
        if node.type != "object_property" or _key(node) != "appSettings":
            continue
        array = next(c for c in node.children if c.type == "array")
        for entry in (c for c in array.children if c.type == "object"):
            props = {_key(p): p.children[-1] for p in entry.children if p.type == "object_property"}
            name, value = _string(props["name"]), props["value"]
            if value.type == "call_expression" and value.children[0].text.decode() == "string":
                value = next(c for c in value.children[1].children if c.type == "identifier")
            if value.type == "identifier" and value.text.decode() in params:
                value = params[value.text.decode()]
            if value.type == "string":
                values[name] = _string(value)
            elif value.type == "number":
                values[name] = value.text.decode()
    return values


def _env_text(value: object) -> str:
    """A Settings default as it is written in an environment variable."""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    assert isinstance(value, str), value
    return value


def code_defaults() -> dict[str, str]:
    return {info.alias or name: _env_text(info.default) for name, info in Settings.model_fields.items()}


def code_settings() -> set[str]:
    import function_app

    catalog = build_catalog(function_app.app)
    expressions = [t.schedule for t in catalog.timers.values()] + [q.queue_name for q in catalog.queues]
    referenced = {m for e in expressions for m in re.findall(r"%([^%]+)%", e)}
    connections = {b.connection for b in catalog.blobs} | {q.connection for q in catalog.queues}
    return set(setting_names()) | referenced | connections


def local_settings() -> set[str]:
    return set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])


def _declared(name: str, declared: set[str]) -> bool:
    return name in declared or any(d.startswith(f"{name}__") for d in declared)


def test_every_setting_the_code_reads_is_in_the_local_sample():
    missing = sorted(n for n in code_settings() if not _declared(n, local_settings()))
    assert missing == []


def test_every_setting_the_code_reads_is_in_the_bicep_app_settings():
    app_settings = bicep_app_settings()
    assert "AzureWebJobsStorage__accountName" in app_settings
    missing = sorted(n for n in code_settings() - LOCAL_ONLY if not _declared(n, app_settings))
    assert missing == []


def test_bicep_uses_identity_based_storage_not_connection_strings():
    app_settings = bicep_app_settings()
    assert STORAGE_CONNECTION not in app_settings and "AzureWebJobsStorage" not in app_settings
    assert "allowSharedKeyAccess: false" in BICEP.read_text()


def test_bicep_creates_every_table_and_container_the_code_uses():
    assert bicep_param_default("tableNames") == set(TABLES)
    assert bicep_param_default("containerNames") == set(CONTAINERS)


def test_bicep_creates_every_work_queue_and_its_poison_queue_with_an_identity_connection():
    assert bicep_param_default("queueNames") == set(QUEUES)
    text = BICEP.read_text()
    assert "'${workQueuePrefix}-${name}-poison'" in text
    assert "OMNISYNC_STORAGE__queueServiceUri" in bicep_app_settings()


def test_every_queue_trigger_reads_a_queue_the_bicep_creates():
    import function_app
    from devtools.localrunner.catalog import build_catalog

    triggered = {q.queue_name for q in build_catalog(function_app.app).queues}
    assert triggered == {f"%WORK_QUEUE_PREFIX%-{name}" for name in QUEUES}


def test_local_sample_has_no_setting_the_code_does_not_know():
    unknown = local_settings() - code_settings() - LOCAL_ONLY
    assert unknown == set()


def test_defaults_agree_across_code_local_sample_and_bicep() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    bicep = bicep_app_setting_values()
    disagree = []
    for name, default in sorted(code_defaults().items()):
        if name in LOCAL_ONLY:  # the local key: a placeholder in the sample, never set in Azure
            continue
        if sample.get(name) != default:
            disagree.append(f"{name}: code {default!r}, local sample {sample.get(name)!r}")
        if name not in DEPLOYMENT_SPECIFIC and bicep.get(name) != default:
            disagree.append(f"{name}: code {default!r}, Bicep {bicep.get(name)!r}")
    assert disagree == []


def test_the_default_agreement_check_sees_parameter_literals_and_string_calls() -> None:
    # The check above must read all three forms main.bicep uses; a hard-coded literal counts too.
    values = bicep_app_setting_values()
    assert values["ONHAND_MAX_EVENTS"] == "512"  # string(onhandMaxEvents), an int parameter
    assert values["RECONCILE_MASTER"] == "wms"  # a string parameter
    assert values["OMNISYNC_STORAGE_NAME_PREFIX"] == ""  # a literal


def test_every_blob_trigger_has_an_event_grid_subscription() -> None:
    import function_app

    triggers = {(b.name, b.container) for b in build_catalog(function_app.app).blobs}
    array = bicep_param_defaults(SUBSCRIPTIONS_BICEP)["blobTriggers"]
    subscribed = set()
    for entry in (c for c in array.children if c.type == "object"):
        props = {_key(p): _string(p.children[-1]) for p in entry.children if p.type == "object_property"}
        subscribed.add((props["function"], props["container"]))
    assert triggers and subscribed == triggers
    text = SUBSCRIPTIONS_BICEP.read_text()
    assert "systemKeys.blobs_extension" in text and "Microsoft.Storage.BlobCreated" in text
    assert "Microsoft.EventGrid/systemTopics@" in BICEP.read_text()


def test_azd_deploys_the_tagged_app_runs_the_subscription_hook_and_outputs_the_api_url() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "path: infra/bicep" in azure_yaml and "host: function" in azure_yaml
    assert "./infra/hooks/postdeploy.sh" in azure_yaml and "./infra/hooks/postdeploy.ps1" in azure_yaml
    hook = (ROOT / "infra" / "hooks" / "postdeploy.sh").read_text()
    assert "infra/bicep/blob-subscriptions.bicep" in hook
    main = BICEP.read_text()
    assert "'azd-service-name': 'api'" in main
    outputs = {line.split()[1] for line in main.splitlines() if line.startswith("output ")}
    assert {"API_BASE_URL", "AZURE_FUNCTION_APP_NAME", "AZURE_EVENTGRID_SYSTEM_TOPIC"} <= outputs
    used = set(re.findall(r"\$\{?(A[A-Z_]+)", hook))
    assert used <= outputs | {"AZURE_RESOURCE_GROUP"}
    parameters = json.loads((ROOT / "infra" / "bicep" / "main.parameters.json").read_text())["parameters"]
    assert set(parameters) <= set(bicep_param_defaults())


DEPLOYED_STORAGE = {
    "accountName": "omnisyncst",
    "credential": "managedidentity",
    "clientId": "00000000-0000-0000-0000-0000000000c1",
    "blobServiceUri": "https://omnisyncst.blob.core.windows.net/",
    "queueServiceUri": "https://omnisyncst.queue.core.windows.net/",
    "tableServiceUri": "https://omnisyncst.table.core.windows.net/",
}
"""What each identity-based storage setting of main.bicep holds once deployed (values of the resources)."""


def _deployed_storage_env(monkeypatch, connection: str, names: set[str]) -> None:
    """The environment of a deployed app for `connection`: only the given `NAME__…` settings."""
    monkeypatch.delenv(connection, raising=False)
    for name in [n for n in os.environ if n.startswith(f"{connection}__")]:
        monkeypatch.delenv(name)
    for name in names:
        if name.startswith(f"{connection}__"):
            monkeypatch.setenv(name, DEPLOYED_STORAGE[name.split("__", 1)[1]])


def test_the_blob_extension_makes_each_trigger_client_from_the_deployed_settings(monkeypatch) -> None:
    """In Azure the host hands an SDK-type blob trigger only the connection *name*; the Python
    extension then builds the client from the app settings and reads fewer forms than the host
    (`NAME__accountName` alone fails unless NAME is AzureWebJobsStorage). The deployed settings,
    exactly as main.bicep lists them, must give each trigger a client for its blob, by identity."""
    from azure.identity import ManagedIdentityCredential

    import function_app
    from devtools.localrunner.triggers import sdk_blob_client, wants_blob_client

    triggers = [b for b in build_catalog(function_app.app).blobs if wants_blob_client(b)]
    assert triggers
    deployed = bicep_app_settings()
    for trigger in triggers:
        _deployed_storage_env(monkeypatch, trigger.connection, deployed)
        client = sdk_blob_client(trigger, "contoso/run-1/erp.csv")
        assert client.url == f"https://omnisyncst.blob.core.windows.net/{trigger.container}/contoso/run-1/erp.csv"
        assert isinstance(client.credential, ManagedIdentityCredential)


def test_without_a_blob_service_uri_the_extension_names_the_setting_it_cannot_find(monkeypatch) -> None:
    """The settings the Bicep deployed before (`__accountName` without `__blobServiceUri`): the
    trigger gets no client, and the error names the connection setting to fix."""
    import function_app
    from devtools.localrunner.triggers import sdk_blob_client, wants_blob_client

    trigger = next(b for b in build_catalog(function_app.app).blobs if wants_blob_client(b))
    deployed = bicep_app_settings() - {f"{trigger.connection}__blobServiceUri"}
    _deployed_storage_env(monkeypatch, trigger.connection, deployed)
    with pytest.raises(ValueError, match=f"connection name {trigger.connection} does not exist"):
        sdk_blob_client(trigger, "contoso/run-1/erp.csv")
