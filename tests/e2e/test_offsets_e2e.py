"""Through the running app: configuration, on-hand events, calculated measures and the offset walk-through.

The walk-through is the issue's "done when": a POS sale posted through omnisync, aggregated, sent
and posted, with the ERP's own on-hand arriving on its data source. The available quantity a person
would expect is written next to every step.
"""

import json
import time
import uuid
from decimal import Decimal

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from tests.unit.test_inventory_config import DOC_SIGNS, DOC_SOURCES

WALKTHROUGH_CONFIG = {
    "dataSources": [
        {"name": "fno", "physicalMeasures": ["availphysical"]},
        {"name": "@iv", "physicalMeasures": ["adjustment"]},
        {
            "name": "pos",
            "physicalMeasures": ["sold"],
            "dimensionMappings": {"PosSiteId": "siteId", "PosWarehouse": "locationId"},
        },
    ],
    "calculatedMeasures": [
        {
            "dataSource": "iv",
            "name": "available",
            "modifiers": [
                {"dataSource": "fno", "physicalMeasure": "availphysical", "calculationType": "Addition"},
                {"dataSource": "@iv", "physicalMeasure": "adjustment", "calculationType": "Addition"},
                {"dataSource": "pos", "physicalMeasure": "sold", "calculationType": "Subtraction"},
            ],
        }
    ],
    "offsets": [
        {
            "transactionType": "adjustmentJournal",
            "offsetDataSource": "@iv",
            "offsetPhysicalMeasure": "adjustment",
            "trigger": "Post",
        }
    ],
}


def _url(app, env, path):
    return f"{app.base_url}/environment/{env}/{path}"


def _put_config(app, env, config):
    return httpx.put(_url(app, env, "configuration"), json=config, headers=app.headers, timeout=30)


def _post(app, env, path, body, expected=200):
    response = httpx.post(_url(app, env, path), json=body, headers=app.headers, timeout=60)
    assert response.status_code == expected, response.text
    return response.json()


def _available(app, env, product="A0001"):
    items = _post(
        app,
        env,
        "onhand/indexquery",
        {"filters": {"organizationId": ["usmf"], "productId": [product]}, "groupByValues": []},
    )
    return Decimal(items[0]["quantities"]["iv"]["available"]) if items else Decimal(0)


@pytest.fixture
def env():
    return "ivc-" + uuid.uuid4().hex[:8]


def test_configuration_has_a_default_and_refuses_what_is_invalid(running_app, env):
    got = httpx.get(_url(running_app, env, "configuration"), headers=running_app.headers).json()
    assert got["isDefault"] is True
    assert "pos" in [s["name"] for s in got["configuration"]["dataSources"]]

    bad = {
        "dataSources": DOC_SOURCES,
        "calculatedMeasures": [
            {
                "dataSource": "iv",
                "name": "a",
                "modifiers": [
                    {"dataSource": "fno", "physicalMeasure": "availphysical", "calculationType": "Addition"},
                    {"dataSource": "fno", "physicalMeasure": "availphysical", "calculationType": "Addition"},
                ],
            },
            {
                "dataSource": "iv",
                "name": "b",
                "modifiers": [{"dataSource": "iv", "physicalMeasure": "a", "calculationType": "Subtraction"}],
            },
        ],
    }
    refused = _put_config(running_app, env, bad)
    assert refused.status_code == 400
    messages = " ".join(d["message"] for d in refused.json()["error"]["details"])
    assert "twice" in messages and "calculated measure itself" in messages
    assert httpx.get(_url(running_app, env, "configuration"), headers=running_app.headers).json()["isDefault"]

    assert _put_config(running_app, env, WALKTHROUGH_CONFIG).status_code == 200
    stored = httpx.get(_url(running_app, env, "configuration"), headers=running_app.headers).json()
    assert stored["isDefault"] is False and stored["configuration"]["offsets"][0]["trigger"] == "Post"
    other = httpx.get(_url(running_app, env + "x", "configuration"), headers=running_app.headers).json()
    assert other["isDefault"] is True, "one environment's configuration is not another's"
    assert httpx.delete(_url(running_app, env, "configuration"), headers=running_app.headers).status_code == 204
    assert httpx.get(_url(running_app, env, "configuration"), headers=running_app.headers).json()["isDefault"]


def test_the_documents_calculated_measure_through_the_api_is_220(running_app, env):
    config = {
        "dataSources": DOC_SOURCES,
        "calculatedMeasures": [
            {
                "dataSource": "CustomChannel",
                "name": "MyCustomAvailableforReservation",
                "modifiers": [{"dataSource": ds, "physicalMeasure": m, "calculationType": t} for ds, m, t in DOC_SIGNS],
            }
        ],
    }
    assert _put_config(running_app, env, config).status_code == 200
    _post(
        running_app,
        env,
        "onhand",
        {
            "id": "doc-1",
            "organizationId": "usmf",
            "productId": "MyProduct",
            "dimensions": {"ColorId": "Red"},
            "quantities": {
                "mypos": {"outbound": 20, "inbound": 80},
                "fno": {"availphysical": 100, "orderedintotal": 50, "orderedreserved": 10},
                "exterchannel": {"received": 90, "scheduled": 30, "issued": 60, "reserved": 40},
            },
        },
    )
    (item,) = _post(
        running_app,
        env,
        "onhand/indexquery",
        {
            "filters": {"OrganizationId": ["usmf"], "ProductId": ["MyProduct"]},
            "groupByValues": ["ColorId"],
            "returnNegative": True,
        },
    )
    assert item["dimensions"] == {"colorId": "Red"}
    assert Decimal(item["quantities"]["CustomChannel"]["MyCustomAvailableforReservation"]) == 220
    assert Decimal(item["quantities"]["fno"]["availphysical"]) == 100

    exact = _post(
        running_app,
        env,
        "onhand/exactquery",
        {
            "filters": {
                "organizationId": ["usmf"],
                "productId": ["MyProduct"],
                "dimensions": ["ColorId"],
                "values": [["Red"], ["Blue"]],
            },
            "groupByValues": ["ColorId"],
        },
    )
    assert [Decimal(i["quantities"]["CustomChannel"]["MyCustomAvailableforReservation"]) for i in exact] == [220]
    none = _post(
        running_app,
        env,
        "onhand/exactquery",
        {
            "filters": {
                "organizationId": ["usmf"],
                "productId": ["MyProduct"],
                "dimensions": ["ColorId"],
                "values": [["Blue"]],
            }
        },
    )
    assert none == []
    for bad in (
        {"dimensions": ["ColorId", "SizeId"], "values": [["Red"]]},  # a value per name
        {"dimensions": ["Shelf"], "values": [["3"]]},  # base dimensions only
        {"dimensions": ["ColorId"], "values": [["Red"]], "siteId": ["1"]},
    ):  # exact filters only
        refused = httpx.post(
            _url(running_app, env, "onhand/exactquery"),
            headers=running_app.headers,
            json={"filters": {"organizationId": ["usmf"], **bad}},
        )
        assert refused.status_code == 400, (bad, refused.text)

    _post(
        running_app,
        env,
        "onhand",
        {
            "id": "doc-2",
            "organizationId": "usmf",
            "productId": "MyProduct",
            "dimensions": {"ColorId": "Red"},
            "quantities": {"mypos": {"outbound": 300}},
        },
    )
    (hidden,) = _post(
        running_app,
        env,
        "onhand/indexquery",
        {"filters": {"organizationId": ["usmf"], "productId": ["MyProduct"]}, "returnNegative": False},
    )
    assert "MyCustomAvailableforReservation" not in hidden["quantities"].get("CustomChannel", {}), (
        "100+50+80+90+30-10-320-60-40 is negative and returnNegative is false"
    )


def test_bad_events_are_refused_whole_with_reasons(running_app, env):
    assert _put_config(running_app, env, WALKTHROUGH_CONFIG).status_code == 200
    good = {"id": "g1", "organizationId": "usmf", "productId": "A0001", "quantities": {"fno": {"availphysical": 5}}}
    refused = _post(
        running_app,
        env,
        "onhand/bulk",
        [
            good,
            {**good, "id": "g2", "quantities": {"iv": {"available": 1}}},
            {**good, "id": "g3", "dimensionDataSource": "pos", "dimensions": {"Shelf": "3"}},
        ],
        expected=400,
    )
    fields = {(d["index"], d["field"]) for d in refused["error"]["details"]}
    assert fields == {(1, "quantities.iv"), (2, "dimensions.Shelf")}
    assert _available(running_app, env) == 0, "nothing of a refused request is applied"
    too_many = httpx.post(_url(running_app, env, "onhand/bulk"), json=[good] * 513, headers=running_app.headers)
    assert too_many.status_code == 413
    wrong_type = httpx.post(_url(running_app, env, "onhand"), content=b"{}", headers=running_app.headers)
    assert wrong_type.status_code == 415
    unknown = httpx.post(_url(running_app, env, "setonhand/nosuch/bulk"), json=[good], headers=running_app.headers)
    assert unknown.status_code == 404
    no_key = httpx.post(_url(running_app, env, "onhand"), json=good)
    assert no_key.status_code == 401
    assert _available(running_app, env) == 0


def test_walkthrough_a_pos_sale_through_journals_is_never_counted_twice(running_app, storage_connection, env):
    app = running_app
    assert _put_config(app, env, WALKTHROUGH_CONFIG).status_code == 200
    site = {"siteId": "1", "locationId": "11"}

    # 1. The ERP's own on-hand arrives on its data source: 100 in warehouse 11.
    _post(
        app,
        env,
        "onhand",
        {
            "id": "fno-1",
            "organizationId": "usmf",
            "productId": "A0001",
            "dimensions": site,
            "quantities": {"fno": {"availphysical": 100}},
        },
    )
    assert _available(app, env) == 100

    # 2. The POS sells 10 and reports it to omnisync as an adjustment, applied at once.
    _post(
        app,
        env,
        "transaction/adjustment/bulk?createWithIVSync=true",
        [
            {
                "id": "pos-sale-1",
                "organizationId": "usmf",
                "productId": "A0001",
                "quantityDataSource": "@iv",
                "physicalMeasure": "adjustment",
                "dimensions": {**site, "posTill": "T3"},
                "quantity": -10,
                "externalReferenceId": "RCPT-1001",
            }
        ],
    )
    assert _available(app, env) == 90

    # 3. Aggregated and sent to the ERP as an adjustment journal: still 90, nothing counted twice yet.
    app.run_timer("sync_to_cache")  # the sweep syncs and aggregates what no queue message took
    assert _available(app, env) == 90
    app.run_timer("send_journals")
    assert _available(app, env) == 90
    items = httpx.get(_url(app, env, "transaction/aggregated"), headers=app.headers).json()["items"]
    (line,) = [i for i in items if i["status"] == "SCMSent"]

    # 4. The ERP posts the journal; its result carries the ERP's own on-hand change for the line.
    service = BlobServiceClient.from_connection_string(storage_connection)
    result = {
        "journalId": line["journalId"],
        "state": "posted",
        "erpJournalNumber": "USMF-IAdj-77",
        "lines": [{"lineId": line["id"], "erpLineNumber": "1", "quantities": {"fno": {"availphysical": -10}}}],
    }
    inbox = service.get_container_client("journal-inbox")
    inbox.upload_blob(f"{env}/{line['journalId']}-result.json", json.dumps(result))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = httpx.get(_url(app, env, f"transaction/aggregated/{line['id']}"), headers=app.headers).json()
        if got["status"] == "FnOPosted" and got.get("offset") == "done":
            break
        time.sleep(0.3)
    assert got["status"] == "FnOPosted" and got["offset"] == "done", got
    assert _available(app, env) == 90

    (item,) = _post(app, env, "onhand/indexquery", {"filters": {"organizationId": ["usmf"], "productId": ["A0001"]}})
    assert Decimal(item["quantities"]["@iv"]["adjustment"]) == 0, "the offset took the sale off @iv"
    assert Decimal(item["quantities"]["fno"]["availphysical"]) == 90, "the ERP now holds the sale"

    # 5. The same result file again, and the sync timer's sweep: nothing moves.
    inbox.upload_blob(f"{env}/{line['journalId']}-result-again.json", json.dumps(result))
    time.sleep(1.5)
    app.run_timer("sync_to_cache")
    assert _available(app, env) == 90


def test_erp_transactions_and_counting_results_over_http(running_app, env):
    app = running_app
    config = {
        **WALKTHROUGH_CONFIG,
        "offsets": [
            {
                "transactionType": "salesOrder",
                "offsetDataSource": "pos",
                "offsetPhysicalMeasure": "sold",
                "trigger": "Invoice",
                "checkedDimensions": ["siteId"],
            }
        ],
    }
    assert _put_config(app, env, config).status_code == 200
    _post(
        app,
        env,
        "setonhand/fno/bulk",
        [
            {
                "id": "count-1",
                "organizationId": "usmf",
                "productId": "A0001",
                "dimensions": {"siteId": "1", "locationId": "11"},
                "quantities": {"fno": {"availphysical": 100}},
            }
        ],
    )
    _post(
        app,
        env,
        "onhand",
        {
            "id": "pos-1",
            "organizationId": "usmf",
            "productId": "A0001",
            "dimensionDataSource": "pos",
            "dimensions": {"PosSiteId": "1"},
            "quantities": {"pos": {"sold": 10}},
        },
    )
    assert _available(app, env) == 90
    by_pos_names = _post(
        app,
        env,
        "onhand/indexquery",
        {
            "dimensionDataSource": "pos",
            "filters": {"organizationId": ["usmf"], "PosSiteId": ["1"]},
            "groupByValues": ["PosWarehouse"],
        },
    )
    assert {i["dimensions"].get("locationId"): Decimal(i["quantities"]["iv"]["available"]) for i in by_pos_names} == {
        None: -10,
        "11": 100,
    }, "the POS's own dimension names, mapped to siteId and locationId"
    unknown = httpx.post(
        _url(app, env, "onhand/indexquery"),
        headers=app.headers,
        json={"dimensionDataSource": "nosuch", "filters": {"organizationId": ["usmf"]}},
    )
    assert unknown.status_code == 400

    order = {
        "id": "SO-77",
        "transactionType": "salesOrder",
        "status": "Invoiced",
        "organizationId": "usmf",
        "productId": "A0001",
        "dimensions": {"siteId": "1", "locationId": "11"},
        "quantity": 10,
        "OFFSETDATASOURCE": "pos",
        "OFFSETPHYSICALMEASURE": "sold",
        "quantities": {"fno": {"availphysical": -10}},
    }
    refused = _post(
        app,
        env,
        "erptransactions/bulk",
        [
            order,
            {**order, "id": "SO-78", "status": "Posted"},
            {**order, "id": "SO-79", "OFFSETPHYSICALMEASURE": "availphysical"},
        ],
        expected=400,
    )
    assert {(d["index"], d["field"]) for d in refused["error"]["details"]} == {
        (1, "status"),
        (2, "offsetPhysicalMeasure"),
    }
    assert _available(app, env) == 90, "nothing of a refused request is applied"

    first = _post(app, env, "erptransactions/bulk", [order])
    assert first["transactions"][0] == {"index": 0, "id": "SO-77", "outcome": "created", "status": "offset"}
    again = _post(app, env, "erptransactions/bulk", [order])
    assert again["transactions"][0]["outcome"] == "duplicate"
    assert _available(app, env) == 90
    (item,) = _post(app, env, "onhand/indexquery", {"filters": {"organizationId": ["usmf"], "productId": ["A0001"]}})
    assert Decimal(item["quantities"]["pos"]["sold"]) == 0 and Decimal(item["quantities"]["fno"]["availphysical"]) == 90

    too_many = httpx.post(
        _url(app, env, "erptransactions/bulk"),
        headers=app.headers,
        json=[{**order, "id": f"SO-{i}"} for i in range(513)],
    )
    assert too_many.status_code == 413
    changed = _post(app, env, "erptransactions/bulk", [{**order, "quantity": 11}], expected=207)
    assert changed["transactions"][0]["outcome"] == "conflict" and _available(app, env) == 90

    recorded = httpx.get(_url(app, env, "erptransactions/SO-77"), headers=app.headers).json()
    assert recorded["status"] == "Invoice" and recorded["appliedStatuses"] == ["Invoice"]
    assert recorded["offsetTarget"] == "pos/sold" and recorded["offsetAppliedAt"]
    assert httpx.get(_url(app, env + "x", "erptransactions/SO-77"), headers=app.headers).status_code == 404
    assert httpx.get(_url(app, env, "erptransactions/SO-78"), headers=app.headers).status_code == 404
