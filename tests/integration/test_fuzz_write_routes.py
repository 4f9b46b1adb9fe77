"""Fuzz the write routes: thousands of hostile bodies, never a 5xx, nothing stored from a refused body.

Four route families are called directly with `azure.functions.HttpRequest` objects, against the session's Azurite:
adjustment bulk, on-hand (bulk and single), ERP transactions bulk, and the configuration PUT. Bodies are the
samples in samples/ with fields mutated to hostile values (numbers at the edge, odd digits, long and
control-character strings, formula characters, structures in scalar places, duplicate keys, missing and extra
fields, empty and oversized arrays), text-level damage (invalid UTF-8, truncation, non-JSON text), and fully random
JSON. Every example runs in a fresh environment, so examples never see each other's data.

For every example: the status is below 500 (an exception out of the handler counts as the host's 500); a 4xx body
is JSON with an `error` object; a 4xx stored nothing (the environment's lines, cache rows, every ledger and line-id
entity in its key range, and its configuration are as they were before the call).

550 examples per route family (2,200 bodies; about 60-80 s on a busy 2-core machine); OMNISYNC_FUZZ_EXAMPLES
scales them (0.1 while developing, 10 for a long hunt).

5xx found so far are listed in KNOWN_5XX: the fuzzer counts and steps over them (so it keeps hunting for others),
and the `test_found_by_fuzzing_*` tests at the end replay their minimal bodies and fail until production is fixed.
"""

from __future__ import annotations

import copy
import json
import os
import traceback
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from functions.adjustments import post_adjustments
from functions.erp_transactions import post_erp_transactions
from functions.inventory_config import get_configuration, put_configuration
from functions.onhand import post_onhand, post_onhand_bulk
from shared.adapters.config_store import ConfigStore
from shared.adapters.ledger_tables import LedgerStore
from shared.domain.identifiers import environment_range
from shared.services.inventory_config import replace_config
from tests.http_requests import app_request

pytestmark = pytest.mark.azurite

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ADJUSTMENTS = json.loads((SAMPLES / "adjustments.json").read_text())
ONHAND = json.loads((SAMPLES / "onhand_events.json").read_text())
ERP = json.loads((SAMPLES / "erp_transactions.json").read_text())
CONFIGURATION = json.loads((SAMPLES / "configuration.json").read_text())
# A second ERP transaction, a plain one (with the samples' configuration stored, it matches the salesOrder rule).
ERP_PLAIN = {
    "id": "SO-USMF-000732",
    "transactionType": "salesOrder",
    "status": "Invoiced",
    "organizationId": "usmf",
    "productId": "A0001",
    "dimensions": {"siteId": "1"},
    "quantity": 2,
    "offsetDataSource": "pos",
    "offsetPhysicalMeasure": "sold",
}

SCALE = float(os.environ.get("OMNISYNC_FUZZ_EXAMPLES", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


FUZZ = dict(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# ---- JSON text with what json.dumps cannot write ------------------------------------------------------------------
class Raw(str):
    """JSON text written as it is: numbers Python cannot hold, NaN, surrogate escapes, deep nesting."""


class Pairs(list):
    """A JSON object as (key, value) pairs, so a key can be given twice."""


def dump(value: Any, ascii_only: bool = False) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return (
            "{" + ", ".join(f"{json.dumps(k, ensure_ascii=ascii_only)}: {dump(v, ascii_only)}" for k, v in value) + "}"
        )
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k, ensure_ascii=ascii_only)}: {dump(v, ascii_only)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(dump(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8: another hostile body


# ---- hostile values -----------------------------------------------------------------------------------------------
RAW_NUMBERS = [
    "1E+1000000",
    "-1E+1000000",
    "1e-9999999",
    "1E400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "1.0000001",
    "1234567890123456",
    "12345678901234567890123456789",
    "0",
    "-0",
    "0.0",
    "1e2",
    "1E-2",
    "0.000000000001",
    "-0.5",
    "99999999999999999999.99999",
    "1" + "0" * 400,
    "0." + "0" * 400 + "1",
    "9" * 5000,
]
NUMERIC_TEXT = [
    "1E+1000000",
    "1e-9999999",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1_000",
    "1_0.5",
    "١٠٠٠",
    "۱۲",
    "१२",
    "１０",
    "０.５",
    "𝟏𝟎",
    "0x10",
    "0b1",
    "1e5",
    " 1",
    "1 ",
    "+1",
    "--1",
    "1,5",
    "",
    "¹",
    "½",
    "Ⅻ",
    "0" * 100,
    "1" * 400,
]
STRINGS = [
    "",
    " ",
    "x" * 1025,
    "y" * 40_000,
    "z" * 200_000,
    "a/b",
    "a\\b",
    "a#b",
    "a?b",
    "/",
    "\\",
    "#",
    "?",
    "../..",
    "a\tb",
    "a\nb",
    "a\rb",
    "\x00",
    "a\x00b",
    "\x1f",
    "\x7f",
    "\u0085",
    "\u2028",
    "\u202e" + "evil",
    "=SUM(A1:A9)",
    "+1+1",
    "-1-1",
    "@iv",
    "=cmd|' /C calc'!A0",
    "\t=1",
    "İ",
    "ß",
    "ǅ",
    "ﬃ",
    "🙂" * 10,
    "\ufeff",
    "\ufffd",
    "e\u0301",
    "ＵＳＭＦ",
    "usmf ",
    " usmf",
    "USMF",
    "null",
    "true",
    "[]",
    "{}",
    "'",
    '"',
    "%00",
    "%2F",
    "${jndi:ldap://x}",
    "<script>",
    "PartitionKey eq 'x'",
    "' or ''='",
    "|",
    "}",
    "~",
    "2026-02-30",
    "2026-11-23T25:00:00",
    "0000-00-00",
    "9999-12-31",
    "2026-11-23",
    "true",
    "False",
]
RAW_STRINGS = ['"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\u0000"', '"\\u001f"']
STRUCTURES: list[Any] = [
    None,
    True,
    False,
    {},
    [],
    [[]],
    {"a": {"b": 1}},
    [1, 2],
    ["1"],
    {"": ""},
    Raw("[" * 30 + "]" * 30),
    Raw("[" * 5000 + "]" * 5000),
    Raw('{"a":' * 40 + "1" + "}" * 40),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(RAW_NUMBERS).map(Raw)
)
random_json = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)

hostile_values = st.one_of(
    st.sampled_from(RAW_NUMBERS).map(Raw),
    st.sampled_from(NUMERIC_TEXT),
    st.sampled_from(STRINGS),
    st.sampled_from(RAW_STRINGS).map(Raw),
    st.sampled_from(STRUCTURES),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(
        lambda d: Raw(str(d).replace("E", "e")) if "." in str(d) or "E" in str(d) else Raw(str(d))
    ),
    random_json,
).map(copy.deepcopy)  # a mutation must never change STRUCTURES' own objects (the next example would differ)


# ---- mutating a valid body ----------------------------------------------------------------------------------------
def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def case_variants(key: str) -> list[str]:
    return [key.upper(), key.lower(), key[:1].upper() + key[1:], key + " ", "\ufeff" + key]


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    doc = copy.deepcopy(sample)
    if isinstance(doc, list) and draw(st.booleans()):
        doc = draw(st.lists(st.sampled_from(doc), min_size=1, max_size=4)).copy()
        doc = [copy.deepcopy(item) for item in doc]
    for _ in range(draw(st.integers(1, 3))):
        places = paths(doc)
        path = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "extra", "duplicate", "case"]))
        if not path:  # the root: replace it, or leave it for another mutation
            if op == "replace":
                doc = draw(hostile_values)
            continue
        parent, last = at(doc, path[:-1]), path[-1]
        if isinstance(parent, Pairs):
            continue
        if op == "replace":
            parent[last] = draw(hostile_values)
        elif op == "delete":
            del parent[last]
        elif op == "extra" and isinstance(parent, dict):
            parent[
                draw(
                    st.sampled_from(
                        [
                            "extra",
                            "__proto__",
                            "PartitionKey",
                            "RowKey",
                            "odata.etag",
                            "",
                            "id" if "id" not in parent else "ID",
                        ]
                    )
                )
            ] = draw(hostile_values)
        elif op in ("duplicate", "case") and isinstance(parent, dict) and isinstance(last, str):
            key = last if op == "duplicate" else draw(st.sampled_from(case_variants(last)))
            pairs = Pairs(parent.items())
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(hostile_values)))
            if len(path) == 1:
                doc = pairs
            else:
                at(doc, path[:-2])[path[-2]] = pairs
    return doc


@st.composite
def body_text(draw: st.DrawFn, sample: Any, limit: int | None) -> bytes:
    """A body: a mutated sample, a sample with many or no items, random JSON, or text that is not JSON at all."""
    kind = draw(st.sampled_from(["mutated"] * 6 + ["valid", "random", "random_items", "count", "text", "bytes"]))
    if kind == "valid":
        value: Any = copy.deepcopy(sample)
    elif kind == "mutated":
        value = draw(mutated(sample))
    elif kind == "random":
        value = draw(random_json)
    elif kind == "random_items":  # random objects that carry some of the sample's keys, so they reach validation
        template = sample[0] if isinstance(sample, list) else sample
        keys = draw(st.lists(st.sampled_from(sorted(template)), unique=True))
        item = {k: draw(hostile_values | st.just(template[k]).map(copy.deepcopy)) for k in keys}
        value = [item] if isinstance(sample, list) else item
    elif kind == "count":
        if isinstance(sample, list):
            many = (limit or 100) + draw(st.sampled_from([0, 1, 50]))
            value = draw(st.sampled_from([[], [sample[0]] * many, [{}], [[]], [None]]))
        elif "dataSources" in sample:
            source = sample["dataSources"][0]
            value = {**sample, "dataSources": [source] * draw(st.sampled_from([0, 2, 500, 3000]))}
        else:  # one on-hand event: an array where an object belongs, or an event with nothing in it
            value = draw(
                st.sampled_from(
                    [
                        [sample],
                        {},
                        {**sample, "quantities": {}},
                        {**sample, "quantities": {"fno": {f"m{i}": 1 for i in range(600)}}},
                    ]
                )
            )
    elif kind == "text":
        return encode(
            draw(
                st.sampled_from(
                    [
                        "",
                        " ",
                        "null",
                        "nul",
                        "{",
                        "[",
                        "]",
                        "'x'",
                        "{'a': 1}",
                        "[1,]",
                        "NaN",
                        "Infinity",
                        "1",
                        '"text"',
                        "<xml/>",
                        "\ufeff[]",
                        "[] []",
                        "// comment\n[]",
                        "[1 2]",
                        "\x00",
                    ]
                )
                | st.text(max_size=60)
            )
        )
    else:
        return draw(st.binary(max_size=200))
    text = dump(value, ascii_only=draw(st.booleans()))
    damage = draw(st.sampled_from(["none"] * 8 + ["invalid_utf8", "truncate", "trailing", "bom"]))
    raw = encode(text)
    if damage == "invalid_utf8":
        cut = draw(st.integers(0, len(raw)))
        raw = (
            raw[:cut]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88"]))
            + raw[cut:]
        )
    elif damage == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif damage == "trailing":
        raw += draw(st.sampled_from([b",", b"]", b" x", b"\x00", b"{}"]))
    elif damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    return raw


# ---- calling a route and what a refusal must leave behind -------------------------------------------------------
def request(env: str, body: bytes, method: str = "POST") -> func.HttpRequest:
    return app_request(
        method,
        "http://localhost/api/x",
        body=body,
        headers={"content-type": "application/json"},
        route_params={"environmentId": env},
    )


def stored_state(env: str, *, with_config: bool) -> dict[str, Any]:
    store = LedgerStore()
    lo, hi = environment_range(env)
    in_range = {"parameters": {"lo": lo, "hi": hi}}
    state = {
        "lines": store.query_lines(env, {}, 1000, None)[0],
        "cache": list(store.cache_rows_of_environment(env, None)),
        "ledger": [
            (e["PartitionKey"], e["RowKey"])
            for table in store.ledgers
            for e in table.query_entities("PartitionKey ge @lo and PartitionKey lt @hi", **in_range)
        ],
        "lineids": [
            (e["PartitionKey"], e["RowKey"])
            for e in store.line_ids.query_entities("PartitionKey ge @lo and PartitionKey lt @hi", **in_range)
        ],
        "finishedlines": [
            (e["PartitionKey"], e["RowKey"])
            for e in store.finished.query_entities("PartitionKey ge @lo and PartitionKey lt @hi", **in_range)
        ],
    }
    if with_config:
        state["configuration"] = json.loads(get_configuration(request(env, b"", "GET")).get_body())
    return state


_BEFORE: dict[bool, dict[str, Any]] = {}


def state_of_a_fresh_environment(configured: bool) -> dict[str, Any]:
    """What a fresh environment holds before the call (read once per kind: every fresh environment is alike)."""
    if configured not in _BEFORE:
        _BEFORE[configured] = stored_state(fresh_environment(configured), with_config=True)
    return _BEFORE[configured]


def shown(body: bytes) -> str:
    return repr(body if len(body) <= 600 else body[:600] + b"...(%d bytes)" % len(body))


# 5xx already found and reported (see the failing tests at the end of this file). The fuzzer steps over them, so it
# keeps looking for others; the tests below keep failing until production code is fixed.
KNOWN_5XX = {
    (
        "erptransactions",
        "AssertionError",
        "offsets.py",
        "parse_transactions",
    ): "a non-string offsetDataSource/offsetPhysicalMeasure trips `assert rule is not None` (500)",
    (
        "erptransactions",
        "TypeError",
        "offsets.py",
        "parse_transactions",
    ): "an object or array as transactionType raises TypeError: unhashable type (500)",
    (
        "*",
        "UnicodeEncodeError",
        "_http.py",
        "__set_body",
    ): "a lone surrogate (\\ud800) quoted in an error message cannot be encoded as UTF-8 (500)",
}
FOUND_KNOWN: dict[str, int] = {}


def known_5xx(route: str, exc: BaseException) -> str | None:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = (type(exc).__name__, Path(frame.filename).name, frame.name)
    return KNOWN_5XX.get((route, *where)) or KNOWN_5XX.get(("*", *where))


def call_route(route: str, function: Any, env: str, body: bytes, *, config_route: bool, configured: bool) -> int:
    """One example: never a 5xx, a 4xx is a JSON error, and a 4xx changed nothing in the environment."""
    note(f"route={route} env={env} configured={configured} body={shown(body)}")
    try:
        response = function(request(env, body))
    except Exception as exc:  # the host answers 500 for an exception out of the function
        known = known_5xx(route, exc)
        if known:
            FOUND_KNOWN[f"{route}: {known}"] = FOUND_KNOWN.get(f"{route}: {known}", 0) + 1
            return 500
        raise AssertionError(
            f"5xx FOUND: {route} raised {type(exc).__name__}: {str(exc)[:300]} for body {shown(body)}"
        ) from exc
    status, text = response.status_code, response.get_body()
    assert status < 500, f"5xx FOUND: {route} answered {status} {text[:300]!r} for body {shown(body)}"
    try:
        answer = json.loads(text)
    except ValueError:
        raise AssertionError(f"{route} answered {status} with a body that is not JSON: {text[:300]!r}") from None
    if 400 <= status < 500:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), dict), (
            f"{route} answered {status} without an error object: {text[:300]!r}"
        )
        assert isinstance(answer["error"].get("code"), str) and isinstance(answer["error"].get("message"), str)
        before = state_of_a_fresh_environment(configured)
        after = stored_state(env, with_config=config_route)
        changed = sorted(k for k in after if after[k] != before[k])
        assert not changed, (
            f"REFUSED BODY STORED SOMETHING: {route} answered {status} "
            f"{answer['error']['code']} but changed {changed} for body {shown(body)}"
        )
    return status


def fresh_environment(configured: bool) -> str:
    env = "env-" + uuid.uuid4().hex[:10]
    if configured:  # the samples' own configuration (dimension mappings, offset rules) instead of the default
        replace_config(ConfigStore(), env, copy.deepcopy(CONFIGURATION))
    return env


STATUSES: dict[str, dict[int, int]] = {}


def count(route: str, status: int) -> None:
    STATUSES.setdefault(route, {}).setdefault(status, 0)
    STATUSES[route][status] += 1


@pytest.fixture(scope="module", autouse=True)
def _report_statuses():
    yield
    print("\nfuzz statuses per route:", json.dumps({r: dict(sorted(s.items())) for r, s in STATUSES.items()}))
    if FOUND_KNOWN:
        print("known 5xx stepped over:", json.dumps(FOUND_KNOWN))


# ---- the four route families --------------------------------------------------------------------------------------
@settings(max_examples=examples(550), **FUZZ)
@given(body=body_text(ADJUSTMENTS, 10_000), configured=st.booleans())
def test_adjustment_bulk_never_5xx_and_a_refusal_stores_nothing(app_env, body, configured):
    env = fresh_environment(configured)
    count(
        "adjustments", call_route("adjustments", post_adjustments, env, body, config_route=False, configured=configured)
    )


@settings(max_examples=examples(550), **FUZZ)
@given(bulk=st.booleans(), data=st.data(), configured=st.booleans())
def test_onhand_never_5xx_and_a_refusal_stores_nothing(app_env, bulk, data, configured):
    sample = ONHAND if bulk else ONHAND[data.draw(st.sampled_from([0, 1]))]
    body = data.draw(body_text(sample, 512), label="body")
    env = fresh_environment(configured)
    route, function = ("onhand/bulk", post_onhand_bulk) if bulk else ("onhand", post_onhand)
    count(route, call_route(route, function, env, body, config_route=False, configured=configured))


@settings(max_examples=examples(550), **FUZZ)
@given(body=body_text([*ERP, ERP_PLAIN], 512), configured=st.booleans())
def test_erp_transactions_never_5xx_and_a_refusal_stores_nothing(app_env, body, configured):
    env = fresh_environment(configured)
    count(
        "erptransactions",
        call_route("erptransactions", post_erp_transactions, env, body, config_route=False, configured=configured),
    )


@settings(max_examples=examples(550), **FUZZ)
@given(body=body_text(CONFIGURATION, None), configured=st.booleans())
def test_configuration_never_5xx_and_a_refusal_changes_nothing(app_env, body, configured):
    env = fresh_environment(configured)
    count(
        "configuration",
        call_route("configuration", put_configuration, env, body, config_route=True, configured=configured),
    )


# ---- 5xx the fuzzer found: minimal bodies, failing until production code refuses them with a 400 -----------------
ERP_MINIMAL = (
    '[{"id": "t-1", "transactionType": "salesOrder", "status": "Invoiced", "organizationId": "usmf", '
    '"productId": "P1", "quantity": 1, "offsetDataSource": %s, "offsetPhysicalMeasure": %s}]'
)


@pytest.mark.parametrize(
    ("source", "measure"),
    [("5", '"sold"'), ("null", '"sold"'), ('["pos"]', '"sold"'), ('"pos"', "7"), ('"pos"', "null")],
)
def test_found_by_fuzzing_a_non_string_offset_field_is_400_not_500(app_env, source, measure):
    env = fresh_environment(configured=False)
    body = ERP_MINIMAL % (source, measure)
    try:
        response = post_erp_transactions(request(env, body.encode()))
    except AssertionError as exc:
        raise AssertionError(
            f"5xx FOUND BY FUZZING: POST erptransactions/bulk raises {type(exc).__name__} "
            f"(`assert rule is not None` in shared/domain/offsets.py) instead of answering 400, "
            f"for body {body}"
        ) from exc
    assert response.status_code == 400, response.get_body()
    details = json.loads(response.get_body())["error"]["details"]
    assert any(d["field"] in ("offsetDataSource", "offsetPhysicalMeasure") for d in details), details


@pytest.mark.parametrize("transaction_type", ["{}", "[]", '["salesOrder"]'])
def test_found_by_fuzzing_an_object_or_array_as_transaction_type_is_400_not_500(app_env, transaction_type):
    env = fresh_environment(configured=False)
    body = ERP_MINIMAL.replace('"salesOrder"', transaction_type) % ('"pos"', '"sold"')
    try:
        response = post_erp_transactions(request(env, body.encode()))
    except TypeError as exc:
        raise AssertionError(
            f"5xx FOUND BY FUZZING: POST erptransactions/bulk raises TypeError ({exc}; "
            f"`tx_type not in TRIGGERS` in shared/domain/offsets.py) instead of answering 400, "
            f"for body {body}"
        ) from exc
    assert response.status_code == 400, response.get_body()
    details = json.loads(response.get_body())["error"]["details"]
    assert any(d["field"] == "transactionType" for d in details), details


CONFIG_MINIMAL = (
    '{"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}], "offsets": [{"transactionType": '
    '"salesOrder", "offsetDataSource": %s, "offsetPhysicalMeasure": "sold", "trigger": "Invoice"}]}'
)


@pytest.mark.parametrize(
    ("route", "function", "body"),
    [
        ("POST erptransactions/bulk", post_erp_transactions, ERP_MINIMAL % ('"\\ud800"', '"sold"')),
        ("PUT configuration", put_configuration, CONFIG_MINIMAL % '"\\ud800"'),
    ],
    ids=["erptransactions", "configuration"],
)
def test_found_by_fuzzing_a_lone_surrogate_quoted_in_an_error_is_400_not_500(app_env, route, function, body):
    env = fresh_environment(configured=False)
    try:
        response = function(request(env, body.encode()))
    except UnicodeEncodeError as exc:
        raise AssertionError(
            f"5xx FOUND BY FUZZING: {route} raises UnicodeEncodeError ({exc}) while writing its "
            f"400 (the error message quotes the lone surrogate), for body {body}"
        ) from exc
    assert response.status_code == 400, response.get_body()
    assert json.loads(response.get_body())["error"]["details"]
