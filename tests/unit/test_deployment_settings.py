"""Every setting, table and container the code uses is declared for local runs and in the Bicep.

The Bicep is parsed with tree-sitter-bicep (a real grammar), not with regexes.
"""

import json
import re
from pathlib import Path

import tree_sitter
import tree_sitter_bicep

from devtools.localrunner.catalog import build_catalog
from shared.adapters.storage_names import CONTAINERS, QUEUES, TABLES
from shared.config import STORAGE_CONNECTION, setting_names

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep" / "main.bicep"
LOCAL_ONLY = {"LOCAL_FUNCTION_KEY", "FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags", "AzureWebJobsStorage"}


def _tree() -> tree_sitter.Node:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    tree = parser.parse(BICEP.read_bytes())
    assert not tree.root_node.has_error, "main.bicep does not parse"
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
