"""The OpenAPI document: valid 3.1, every registered route and parameter in it, samples that fit their schemas."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from devtools.localrunner.catalog import build_catalog
from functions.api_reference import OPERATIONS, openapi_document, openapi_path
from functions.http_responses import model_response, to_json
from shared.domain.api_models import OnHandRow

ROOT = Path(__file__).resolve().parents[2]


def _registered() -> list[tuple[str, str, str]]:
    """Every HTTP function as the local runner reads it from the app: (name, method, route)."""
    import function_app

    return [(f.name, m, f.route) for f in build_catalog(function_app.app).http for m in f.methods]


REGISTERED = _registered()


def test_the_document_is_valid_openapi_3_1():
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises with the reason when it is not valid OpenAPI 3.1


def test_there_are_routes_to_check():
    assert len(REGISTERED) >= 23 and ("openapi_document", "GET", "openapi.json") in REGISTERED


@pytest.mark.parametrize(("name", "method", "route"), REGISTERED)
def test_every_registered_route_is_in_the_document_with_its_path_parameters(name, method, route):
    paths = openapi_document()["paths"]
    assert name in OPERATIONS, f"{name}: add what it takes and answers to OPERATIONS in functions/api_reference.py"
    assert openapi_path(route) in paths, f"{name}: {route} is missing"
    operation = paths[openapi_path(route)].get(method.lower())
    assert operation is not None, f"{name}: {method} {route} is missing"
    assert operation["operationId"] == name
    in_route = set(re.findall(r"\{\*?(\w+)[^}]*\}", route))
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
    assert documented == in_route
    assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")


def test_the_document_lists_nothing_the_app_does_not_register():
    registered = {(openapi_path(route), method.lower()) for _, method, route in REGISTERED}
    documented = {(path, method) for path, item in openapi_document()["paths"].items() for method in item}
    assert documented == registered


def test_query_parameters_come_from_the_filter_models():
    operation = openapi_document()["paths"]["/api/environment/{environmentId}/transaction/adjustment"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"status", "productId", "createdFrom", "pageSize", "continuationToken"} <= names


def test_keyed_routes_need_the_function_key_and_open_ones_say_so():
    document = openapi_document()
    assert {"functionKey", "functionKeyQuery"} <= set(document["components"]["securitySchemes"])
    for path in ("/api/health", "/api/openapi.json", "/api/docs", "/api/docs/{file}"):
        assert document["paths"][path]["get"]["security"] == []
    keyed = document["paths"]["/api/environment/{environmentId}/configuration"]["get"]
    assert "security" not in keyed and "401" in keyed["responses"]


NOT_ERRORS = {("/api/environment/{environmentId}/onhand", "409"), ("/api/health", "503")}
"""A single on-hand event that conflicts answers 409 with its outcome (as an item of a bulk answer); health
answers 503 with its report (which storage is unavailable)."""


def test_every_error_answer_has_the_one_error_shape():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and (path, status) not in NOT_ERRORS:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)


def _schema_validator(schema: dict) -> jsonschema.Draft202012Validator:
    document = openapi_document()
    resolvable = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(resolvable)


@pytest.mark.parametrize(
    ("path", "method", "sample"),
    [
        ("/api/environment/{environmentId}/transaction/adjustment/bulk", "post", "adjustments.json"),
        ("/api/environment/{environmentId}/onhand/bulk", "post", "onhand_events.json"),
        ("/api/environment/{environmentId}/erptransactions/bulk", "post", "erp_transactions.json"),
        ("/api/environment/{environmentId}/configuration", "put", "configuration.json"),
    ],
)
def test_sample_bodies_are_the_examples_and_fit_the_request_schema(path, method, sample):
    content = openapi_document()["paths"][path][method]["requestBody"]["content"]["application/json"]
    on_disk = json.loads((ROOT / "samples" / sample).read_text())
    # field names in the schema's spelling (the API takes any casing; the ERP sample shouts two of them)
    assert [{k.lower(): v for k, v in item.items()} for item in _items(content["example"])] == [
        {k.lower(): v for k, v in item.items()} for item in _items(on_disk)
    ]
    assert [e.message for e in _schema_validator(content["schema"]).iter_errors(content["example"])] == []


def _items(body):
    return body if isinstance(body, list) else [body]


def test_answers_declare_quantities_as_numbers():
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["DetailedLine"]["properties"]["quantity"]["type"] == "number"
    on_hand = schemas["OnHandRow"]["properties"]["quantities"]
    assert on_hand["additionalProperties"]["additionalProperties"]["type"] == "number"
    request_quantity = schemas["AdjustmentLine"]["properties"]["quantity"]
    assert any(s.get("type") == "number" for s in request_quantity["anyOf"])
    assert any(s.get("type") == "string" for s in request_quantity["anyOf"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12345678901234.123456"), "12345678901234.123456"),  # a float would write 12345678901234.123
        (Decimal("0.1"), "0.1"),
        (Decimal("-2.25"), "-2.25"),
        (Decimal("3"), "3"),
        (Decimal("999999999999999"), "999999999999999"),
    ],
)
def test_a_decimal_is_written_as_a_json_number_from_its_own_digits(value, text):
    written = to_json({"quantity": value})
    assert written == '{"quantity": ' + text + "}"
    assert json.loads(written, parse_float=Decimal)["quantity"] == value


def test_an_answer_writes_quantities_as_canonical_numbers():
    stored = [
        {"organizationId": "usmf", "productId": "A1", "dimensions": {}, "quantities": {"pos": {"a": "2.50", "b": "-0"}}}
    ]
    body = model_response(list[OnHandRow], stored).get_body().decode()
    assert '"quantities": {"pos": {"a": 2.5, "b": 0}}' in body


@pytest.mark.parametrize(
    ("route", "path"),
    [
        ("console/{*path}", "/api/console/{path}"),
        (
            "environment/{environmentId}/transaction/adjustment/{id}",
            "/api/environment/{environmentId}/transaction/adjustment/{id}",
        ),
        ("items/{id:int}", "/api/items/{id}"),
    ],
)
def test_route_templates_become_openapi_paths(route, path):
    assert openapi_path(route) == path
