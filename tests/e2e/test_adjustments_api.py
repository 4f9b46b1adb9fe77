"""The newcomer's walk-through over HTTP: post, list, sync on demand, query on-hand; bad input too."""

import json
import uuid
from decimal import Decimal

import httpx
import pytest


def _env() -> str:
    return "e2e-" + uuid.uuid4().hex[:10]


def _lines(prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}-1",
            "organizationId": "usmf",
            "productId": "D0001",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "dimensions": {"siteId": "1", "locationId": "13", "colorId": "Red"},
            "quantity": 5,
            "externalReferenceCategory": "POS transaction",
            "externalReferenceId": "RCPT-1",
        },
        {
            "ID": f"{prefix}-2",
            "OrganizationId": "usmf",
            "productid": "D0001",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "dimensions": {"SiteId": "1", "locationId": "13", "colorId": "Red"},
            "quantity": -2.25,
            "externalReferenceId": "SO-2",
        },
        {
            "id": f"{prefix}-3",
            "organizationId": "usmf",
            "productId": "D0001",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "dimensions": {"siteId": "1", "locationId": "14", "colorId": "Blue"},
            "quantity": "0.1",
        },
    ]


def _post(app, env, body, **kwargs):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**app.headers, "content-type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(
        f"{app.base_url}/environment/{env}/transaction/adjustment/bulk",
        content=content,
        headers=headers,
        timeout=60,
        **kwargs,
    )


def _query(app, env, body):
    response = httpx.post(f"{app.base_url}/environment/{env}/onhand/indexquery", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    return exact(response)


def exact(response: httpx.Response):
    """The body with every JSON number as a Decimal, to see quantities exactly as written (never a float)."""
    return json.loads(response.text, parse_float=Decimal)


def test_post_list_sync_and_query(running_app):
    env = _env()
    posted = _post(running_app, env, _lines("w"))
    assert posted.status_code == 200, posted.text
    assert [line["status"] for line in posted.json()["lines"]] == ["Created"] * 3

    listed = httpx.get(
        f"{running_app.base_url}/environment/{env}/transaction/adjustment",
        params={"status": "Created"},
        headers=running_app.headers,
    ).json()
    assert sorted(item["id"] for item in listed["items"]) == ["w-1", "w-2", "w-3"]

    running_app.run_timer("sync_to_cache")
    line = exact(
        httpx.get(f"{running_app.base_url}/environment/{env}/transaction/adjustment/w-2", headers=running_app.headers)
    )
    # the sweep syncs and then aggregates (@iv/adjustment has a journal mapping); quantities are JSON numbers
    assert line["status"] == "Aggregated" and line["quantity"] == Decimal("-2.25")
    assert line["statusTimes"]["IVPosted"] is not None

    items = _query(
        running_app,
        env,
        {
            "filters": {"organizationId": ["usmf"], "productId": ["D0001"], "siteId": ["1"]},
            "groupByValues": ["locationId"],
        },
    )
    by_location = {i["dimensions"]["locationId"]: i["quantities"]["@iv"]["adjustment"] for i in items}
    assert by_location == {"13": Decimal("2.75"), "14": Decimal("0.1")}


def test_instant_update_flag_reaches_the_cache_in_the_same_request(running_app):
    env = _env()
    posted = _post(running_app, env, _lines("inst")[:1], params={"createWithIVSync": "true"})
    assert posted.json()["lines"][0]["status"] == "IVPosted"
    items = _query(running_app, env, {"filters": {"organizationId": ["usmf"]}})
    assert items[0]["quantities"] == {"@iv": {"adjustment": 5}}


def test_resending_is_idempotent_and_changed_content_is_a_conflict(running_app):
    env = _env()
    assert _post(running_app, env, _lines("idem")).status_code == 200
    again = _post(running_app, env, _lines("idem"))
    assert again.json()["summary"] == {"created": 0, "duplicate": 3, "conflict": 0}
    changed = _lines("idem")
    changed[0]["quantity"] = 6
    response = _post(running_app, env, changed)
    assert response.status_code == 207
    assert [line["outcome"] for line in response.json()["lines"]] == ["conflict", "duplicate", "duplicate"]


def _count(app, env) -> int:
    listed = httpx.get(f"{app.base_url}/environment/{env}/transaction/adjustment", headers=app.headers)
    return len(listed.json()["items"])


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'[{"id": ', {}, 400, "InvalidJson"),
        (b'[{"quantity": NaN}]', {}, 400, "InvalidJson"),
        (b"{}", {}, 400, "InvalidBody"),
        (b"[]", {}, 400, "InvalidBody"),
        (b"[1]", {"content-type": "text/plain"}, 415, "UnsupportedMediaType"),
        (b"[" + b" " * 9_000_000 + b"]", {}, 413, "PayloadTooLarge"),
    ],
)
def test_bad_requests_are_refused_clearly_and_store_nothing(running_app, body, headers, status, code):
    env = _env()
    response = _post(running_app, env, body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _count(running_app, env) == 0


def test_one_invalid_line_stores_nothing_and_names_index_and_field(running_app):
    env = _env()
    lines = _lines("bad")
    lines[2]["quantity"] = "1.0000001"
    lines[1]["dimensions"] = {"siteId": "a/b"}
    response = _post(running_app, env, lines)
    assert response.status_code == 400
    details = {(d["index"], d["field"]) for d in response.json()["error"]["details"]}
    assert details == {(2, "quantity"), (1, "dimensions")}
    assert _count(running_app, env) == 0


def test_too_many_lines_is_413(running_app):
    line = _lines("many")[0]
    response = _post(running_app, _env(), [dict(line, id=f"m-{i}") for i in range(10_001)])
    assert response.status_code == 413


def test_bad_environment_id_and_missing_key(running_app):
    response = _post(running_app, "bad%7Cenv", _lines("k"))
    assert response.status_code == 400
    unauth = httpx.post(f"{running_app.base_url}/environment/{_env()}/transaction/adjustment/bulk", json=_lines("k"))
    assert unauth.status_code == 401


def test_one_environment_cannot_read_or_change_another(running_app):
    mine, theirs = _env(), _env()
    _post(running_app, mine, _lines("iso"), params={"createWithIVSync": "true"})
    assert _count(running_app, theirs) == 0
    missing = httpx.get(
        f"{running_app.base_url}/environment/{theirs}/transaction/adjustment/iso-1", headers=running_app.headers
    )
    assert missing.status_code == 404
    assert _query(running_app, theirs, {"filters": {"organizationId": ["usmf"]}}) == []
    _post(running_app, theirs, [dict(_lines("iso")[0], quantity=100)], params={"createWithIVSync": "true"})
    mine_items = _query(running_app, mine, {"filters": {"organizationId": ["usmf"]}, "groupByValues": ["locationId"]})
    assert {i["dimensions"]["locationId"]: i["quantities"]["@iv"]["adjustment"] for i in mine_items} == {
        "13": Decimal("2.75"),
        "14": Decimal("0.1"),
    }


def test_index_query_validates_its_input(running_app):
    response = httpx.post(
        f"{running_app.base_url}/environment/{_env()}/onhand/indexquery",
        json={"filters": {"productId": ["x"]}},
        headers=running_app.headers,
    )
    assert response.status_code == 400
    assert "organizationId" in response.text


def test_list_paging_by_continuation_token(running_app):
    env = _env()
    _post(running_app, env, [dict(_lines("pg")[0], id=f"pg-{i}") for i in range(7)])
    seen, token = [], None
    while True:
        params = {"pageSize": "3", **({"continuationToken": token} if token else {})}
        page = httpx.get(
            f"{running_app.base_url}/environment/{env}/transaction/adjustment",
            params=params,
            headers=running_app.headers,
        ).json()
        seen += [i["id"] for i in page["items"]]
        token = page["continuationToken"]
        if not token:
            break
    assert sorted(seen) == sorted(f"pg-{i}" for i in range(7))
    bad = httpx.get(
        f"{running_app.base_url}/environment/{env}/transaction/adjustment",
        params={"continuationToken": "garbage"},
        headers=running_app.headers,
    )
    assert bad.status_code == 400
