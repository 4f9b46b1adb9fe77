"""As deployed, through the local runner: ERP levels → delta journal files for a target, by queue messages.

Uses the README's walk-through bodies (samples/level_*.json, samples/levels_*): filters (product
B0001 and warehouse 99 are not sent), a one-to-one mapping (11 → FS-MAIN), a many-to-one mapping
(VAN-1 and VAN-2 → 13: target-mastered, they receive nothing and their adjustments go to the ERP).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from azure.storage.blob import BlobServiceClient

from tests.e2e.test_queue_driven_e2e import _wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
TARGET = "fieldservice"


def _level_files(storage_connection: str, env: str) -> list[dict]:
    container = BlobServiceClient.from_connection_string(storage_connection).get_container_client("level-outbox")
    if not container.exists():
        return []
    found = []
    for blob in container.list_blobs(name_starts_with=f"{env}/{TARGET}/"):
        if blob.name.endswith(".json"):
            doc = json.loads(container.download_blob(blob.name).readall())
            found.append((blob.last_modified, min(x["sequence"] for x in doc["lines"]), blob.name, doc))
    # last_modified has whole seconds: within one second, the file with the older changes came first
    return [doc for *_, doc in sorted(found, key=lambda item: item[:3])]


def _line_view(doc: dict) -> set[tuple]:
    return {(x["productId"], x["targetWarehouse"], x["measure"], x["delta"], x["newLevel"]) for x in doc["lines"]}


def test_level_e2e_erp_levels_become_delta_files_with_filters_and_a_many_to_one_mapping(queued_app, storage_connection):
    env = "lv-" + uuid.uuid4().hex[:8]
    base = f"{queued_app.base_url}/environment/{env}"
    headers = queued_app.headers | {"content-type": "application/json"}
    put = httpx.put(
        f"{base}/configuration", content=(SAMPLES / "level_target_configuration.json").read_bytes(), headers=headers
    )
    assert put.status_code == 200, put.text
    targets = httpx.get(f"{base}/levels", headers=headers).json()["items"]
    assert targets[0]["targetMastered"] == {"13": ["VAN-1", "VAN-2"]}

    posted = httpx.post(
        f"{base}/setonhand/fno/bulk", content=(SAMPLES / "levels_erp_onhand.json").read_bytes(), headers=headers
    )
    assert posted.status_code == 200, posted.text
    (first,) = _wait_for(lambda: _level_files(storage_connection, env))
    assert _line_view(first) == {
        ("A0001", "FS-MAIN", "onhand", "100", "100"),
        ("A0001", "FS-MAIN", "onorder", "5", "5"),
        ("A0001", "FS-MAIN", "ordered", "20", "20"),
        ("A0001", "12", "onhand", "30", "30"),
    }, "first sync in full; B0001 (product filter), 99 (warehouse filter) and 13 (target-mastered) are not sent"

    changed = httpx.post(
        f"{base}/setonhand/fno/bulk", content=(SAMPLES / "levels_erp_change.json").read_bytes(), headers=headers
    )
    assert changed.status_code == 200, changed.text
    files = _wait_for(lambda: (found := _level_files(storage_connection, env)) and len(found) == 2 and found)
    assert _line_view(files[1]) == {("A0001", "FS-MAIN", "onhand", "-2", "98")}, "only the real change, as a delta"

    sent = httpx.get(f"{base}/levels/{TARGET}/sent", headers=headers).json()
    assert sent["items"][0]["levels"]["FS-MAIN"] == {"onhand": "98", "onorder": "5", "ordered": "20"}
    assert httpx.get(f"{base}/levels/{TARGET}/pending", headers=headers).json()["items"] == []
    assert httpx.get(f"{base}/levels/{TARGET}/failures", headers=headers).json()["items"] == []

    # the van (target-mastered) posts its adjustment: it goes to the ERP as a journal, never back as a level
    van = httpx.post(
        f"{base}/transaction/adjustment/bulk",
        content=(SAMPLES / "levels_van_adjustments.json").read_bytes(),
        headers=headers,
    )
    assert van.status_code == 200, van.text

    def journal_sent():
        items = httpx.get(f"{base}/transaction/aggregated", headers=headers).json()["items"]
        return items if items and all(i["status"] == "SCMSent" for i in items) else None

    (line,) = _wait_for(journal_sent)
    assert (line["key"]["dimensions"]["locationId"], line["quantity"]) == (
        "13",
        -2,
    )  # answers carry quantities as JSON numbers

    # an ERP level snapshot file lands the same way
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    container = blobs.get_container_client("level-snapshots")
    if not container.exists():
        container.create_container()
    container.upload_blob(f"{env}/erp-levels.csv", (SAMPLES / "levels_erp_snapshot.csv").read_bytes(), overwrite=True)
    files = _wait_for(lambda: (found := _level_files(storage_connection, env)) and len(found) == 3 and found)
    assert _line_view(files[2]) == {
        ("A0002", "FS-MAIN", "onhand", "40", "40"),
        ("A0002", "FS-MAIN", "onorder", "0", "0"),
        ("A0002", "FS-MAIN", "ordered", "15", "15"),
        ("A0002", "12", "onhand", "8", "8"),
    }
    assert len(_level_files(storage_connection, env)) == 3, "the van's adjustment sent no level"


def test_level_e2e_read_api_errors_have_the_common_shape(queued_app):
    base = f"{queued_app.base_url}/environment/lv-none"
    missing = httpx.get(f"{base}/levels/nosuchtarget/sent", headers=queued_app.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
    env = "lv-" + uuid.uuid4().hex[:8]
    config = json.loads((SAMPLES / "level_target_configuration.json").read_text())
    httpx.put(f"{queued_app.base_url}/environment/{env}/configuration", json=config, headers=queued_app.headers)
    page = httpx.get(
        f"{queued_app.base_url}/environment/{env}/levels/{TARGET}/pending?pageSize=0", headers=queued_app.headers
    )
    assert page.status_code == 400, page.text
    token = httpx.get(
        f"{queued_app.base_url}/environment/{env}/levels/{TARGET}/sent?continuationToken=abc",
        headers=queued_app.headers,
    )
    assert token.status_code == 400 and token.json()["error"]["code"] == "InvalidContinuationToken"
    bad = dict(config, targets=[dict(config["targets"][0], warehouseMapping={"11": ["X"], "12": ["X"]})])
    refused = httpx.put(f"{queued_app.base_url}/environment/{env}/configuration", json=bad, headers=queued_app.headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidConfiguration"
