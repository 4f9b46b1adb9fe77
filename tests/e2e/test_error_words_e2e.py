"""Errors a person can act on, on the running app: every problem of a line, configuration errors in plain words,
query errors without pydantic's wording, and reads of an environment nothing was ever posted to say so."""

from __future__ import annotations

import uuid

import httpx
import pytest

PYDANTIC_WORDS = ("Tuple should", "after validation", "Input should", "Field required", "Extra inputs", "instance of")


def _env() -> str:
    return "words-" + uuid.uuid4().hex[:10]


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    text = str(body)
    assert not any(w in text for w in PYDANTIC_WORDS), text
    return body["error"]


def test_a_line_with_a_bad_measure_and_two_other_problems_gets_all_three_back(running_app):
    line = {
        "id": "w-1",
        "organizationId": "usmf",
        "productId": "-A0001",
        "quantityDataSource": "@iv",
        "physicalMeasure": "nosuchmeasure",
        "quantity": "three",
    }
    response = httpx.post(
        f"{running_app.base_url}/environment/{_env()}/transaction/adjustment/bulk",
        json=[line],
        headers=running_app.headers,
    )
    error = _error(response, 400, "InvalidLines")
    assert sorted(d["field"] for d in error["details"]) == ["physicalMeasure", "productId", "quantity"]
    assert error["message"].startswith("3 problem(s)")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"dataSources": []}, "dataSources", "needs at least 1 item(s)"),
        ({"dataSources": [{"name": "pos"}]}, "dataSources.0.physicalMeasures", "is required"),
        (
            {"dataSources": [{"name": "pos", "physicalMeasures": ["sold"], "colour": "red"}]},
            "dataSources.0.colour",
            "is not a known field",
        ),
    ],
)
def test_configuration_errors_are_in_plain_words(running_app, body, field, words):
    env = _env()
    response = httpx.put(
        f"{running_app.base_url}/environment/{env}/configuration", json=body, headers=running_app.headers
    )
    error = _error(response, 400, "InvalidConfiguration")
    assert any(d["field"] == field and d["message"].startswith(words) for d in error["details"]), error
    still = httpx.get(f"{running_app.base_url}/environment/{env}/configuration", headers=running_app.headers).json()
    assert still["isDefault"] is True  # nothing was stored


def test_query_parameter_errors_are_in_plain_words(running_app):
    response = httpx.get(
        f"{running_app.base_url}/environment/{_env()}/transaction/adjustment",
        params={"pageSize": "0", "createdFrom": "yesterday"},
        headers=running_app.headers,
    )
    error = _error(response, 400, "InvalidQuery")
    assert {d["field"]: d["message"] for d in error["details"]} == {
        "pageSize": "must be at least 1",
        "createdFrom": "must be an ISO date and time, e.g. 2026-11-23T10:00:00Z",
    }


class TestAnEnvironmentWithoutData:
    """Every read of an environment nothing was ever posted to says so; once it has data, empty is just empty."""

    ENV = _env()

    @pytest.fixture
    def env(self) -> str:
        return self.ENV

    def test_lists_answer_200_with_a_notice(self, running_app, env):
        for route in ("transaction/adjustment", "transaction/aggregated"):
            response = httpx.get(f"{running_app.base_url}/environment/{env}/{route}", headers=running_app.headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["items"] == [] and "has no data yet" in body["notice"] and env in body["notice"]

    @pytest.mark.parametrize("route", ["transaction/adjustment/x1", "transaction/aggregated/x1", "erptransactions/x1"])
    def test_reads_by_id_answer_404_saying_the_environment_is_empty(self, running_app, env, route):
        response = httpx.get(f"{running_app.base_url}/environment/{env}/{route}", headers=running_app.headers)
        assert "has no data yet" in _error(response, 404, "NotFound")["message"]

    @pytest.mark.parametrize("route", ["onhand/indexquery", "onhand/exactquery"])
    def test_on_hand_queries_answer_an_empty_array_and_a_notice_header(self, running_app, env, route):
        query = {"filters": {"organizationId": ["usmf"]}}
        if route.endswith("exactquery"):
            query["filters"] |= {"dimensions": ["siteId"], "values": [["1"]]}
        response = httpx.post(
            f"{running_app.base_url}/environment/{env}/{route}", json=query, headers=running_app.headers
        )
        assert response.status_code == 200 and response.json() == []  # IV's shape, as IV clients expect
        assert "has no data yet" in response.headers["omnisync-notice"]

    def test_the_configuration_says_it_is_the_default(self, running_app, env):
        body = httpx.get(f"{running_app.base_url}/environment/{env}/configuration", headers=running_app.headers).json()
        assert body["isDefault"] is True and "no configuration of its own" in body["notice"]

    def test_with_data_an_empty_answer_is_plain_empty(self, running_app, env):
        line = {
            "id": "first",
            "organizationId": "usmf",
            "productId": "A0001",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "quantity": 1,
        }
        base = f"{running_app.base_url}/environment/{env}"
        posted = httpx.post(
            f"{base}/transaction/adjustment/bulk",
            json=[line],
            params={"createWithIVSync": "true"},
            headers=running_app.headers,
        )
        assert posted.status_code == 200, posted.text
        listed = httpx.get(f"{base}/transaction/adjustment", params={"productId": "B9"}, headers=running_app.headers)
        assert listed.json() == {"items": [], "continuationToken": None}
        other_org = httpx.post(
            f"{base}/onhand/indexquery", json={"filters": {"organizationId": ["other"]}}, headers=running_app.headers
        )
        assert other_org.status_code == 200 and other_org.json() == []
        assert "omnisync-notice" not in other_org.headers
        missing = httpx.get(f"{base}/transaction/adjustment/x1", headers=running_app.headers)
        assert "has no data yet" not in _error(missing, 404, "NotFound")["message"]


def _paths_and_methods() -> list[tuple[str, frozenset[str]]]:
    """Every registered route with the methods registered on it, from the app's own registrations."""
    import function_app
    from devtools.localrunner.catalog import build_catalog

    by_route: dict[str, set[str]] = {}
    for f in build_catalog(function_app.app).http:
        by_route.setdefault(f.route, set()).update(f.methods)
    return [(route, frozenset(methods)) for route, methods in sorted(by_route.items())]


@pytest.mark.parametrize(("route", "methods"), _paths_and_methods())
def test_every_route_answers_a_wrong_method_with_405_in_the_error_shape(running_app, route, methods):
    wrong = next(m for m in ("PATCH", "DELETE", "PUT", "POST", "GET") if m not in methods)
    path = route.replace("{environmentId}", "errs-env").replace("{file}", "swagger-ui.css")
    path = path.replace("{id}", "x1").replace("{runId}", "run-1").replace("{dataSource}", "pos")
    response = httpx.request(wrong, f"{running_app.base_url}/{path}", headers=running_app.headers, timeout=30)
    _error(response, 405, "MethodNotAllowed")
    assert set(methods) <= {m.strip() for m in response.headers["allow"].split(",")}
