"""Level targets in the configuration (refused with reasons) and the pure delta rules."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from shared.adapters.level_connectors import LevelHttps, LevelSendFailed
from shared.domain.cache import CacheRow
from shared.domain.level_deltas import DeltaLine, LevelFile, delta_lines, merged_levels, target_levels
from shared.domain.level_targets import HttpsConnector, LevelTarget
from shared.services.inventory_config import InvalidConfig, parse_config

SOURCES = [{"name": "fno", "physicalMeasures": ["onhand", "onorder", "ordered"]}]


def _config(**target: object) -> dict:
    base = {"name": "fs", "connector": {"type": "outbox"}}
    return {"dataSources": SOURCES, "targets": [base | target]}


def _refused(raw: dict) -> list[dict[str, str]]:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(raw)
    return caught.value.problems


def test_level_target_configuration_is_accepted_with_defaults():
    config = parse_config(_config(warehouseMapping={"11": "FS-11", "13": ["VAN-1", "VAN-2"]}))
    target = config.targets[0]
    assert target.measures == ("onhand", "onorder", "ordered") and target.dataSource == "fno"
    assert target.warehouseMapping == {"11": ("FS-11",), "13": ("VAN-1", "VAN-2")}
    assert target.target_mastered() == {"13": ("VAN-1", "VAN-2")}
    assert config.target("fs") is target and config.target("other") is None


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ({"name": "Bad Name"}, "target name must be"),
        ({"connector": {"type": "ftp"}}, "connector"),
        ({"connector": {"type": "https", "url": "http://example.com/levels"}}, "url must be https://"),
        ({"connector": {"type": "https", "url": "https://x.example/", "maxAttempts": 0}}, "maxAttempts"),
        ({"measures": ["onhand", "available"]}, "'available' is not a level measure"),
        ({"measures": ["onhand", "ONHAND"]}, "a measure is listed twice"),
        ({"products": ["=cmd|x"]}, "product filter"),
        ({"warehouses": ["+11"]}, "warehouse"),
        ({"warehouseMapping": {"11": ["FS-1"], "12": ["FS-1"]}}, "target warehouse FS-1 is mapped from 11 and 12"),
        ({"warehouseMapping": {"11": []}}, "must map to a target warehouse"),
        ({"warehouses": ["11"], "warehouseMapping": {"12": "FS-12"}}, "which the warehouses filter leaves out"),
        ({"dataSource": "wms"}, "target fs reads data source wms, which is not configured"),
        ({"unknown": 1}, "is not a known field"),
    ],
)
def test_level_bad_configuration_is_refused_with_its_reason(target, reason):
    problems = _refused(_config(**target))
    assert any(reason in f"{p['field']}: {p['message']}" for p in problems), problems


def test_level_bad_configuration_measure_not_configured_and_target_twice():
    raw = {
        "dataSources": [{"name": "fno", "physicalMeasures": ["onhand"]}],
        "targets": [{"name": "fs", "connector": {"type": "outbox"}}, {"name": "fs", "connector": {"type": "outbox"}}],
    }
    messages = " ".join(p["message"] for p in _refused(raw))
    assert "a target is configured twice" in messages
    assert "sends ['onorder', 'ordered'], which are not physical measures of fno" in messages


def _row(warehouse: str | None, quantities: dict, key: str = "") -> CacheRow:
    dims = {"locationId": warehouse} if warehouse else {}
    return CacheRow(key or f"C|{warehouse}", "k", dims, quantities)


TARGET = LevelTarget.model_validate(
    {
        "name": "fs",
        "connector": {"type": "outbox"},
        "products": ["A*"],
        "warehouses": ["11", "12", "13"],
        "warehouseMapping": {"11": "FS-11", "13": ["VAN-1", "VAN-2"]},
        "measures": ["onhand", "ordered"],
    }
)


def test_level_filters_and_mapping_choose_what_a_target_holds():
    rows = [
        _row("11", {"fno": {"onhand": "10", "onorder": "3", "ordered": "1"}}, "C|a"),
        _row("11", {"fno": {"onhand": "5"}, "pos": {"sold": "9"}}, "C|b"),  # another site, same warehouse
        _row("12", {"FNO": {"OnHand": "7"}}),
        _row("13", {"fno": {"onhand": "50"}}),  # target-mastered
        _row("99", {"fno": {"onhand": "1"}}),  # filtered out
        _row(None, {"fno": {"onhand": "1"}}),  # no warehouse
    ]
    levels = target_levels(TARGET, rows, {})
    assert levels.levels == {"FS-11": {"onhand": "15", "ordered": "1"}, "12": {"onhand": "7"}}
    assert levels.erp_warehouses == {"FS-11": "11", "12": "12"}
    assert TARGET.takes_product("A100") and not TARGET.takes_product("B1")


def test_level_first_sync_full_then_deltas_only_for_real_changes():
    first = target_levels(TARGET, [_row("11", {"fno": {"onhand": "10", "ordered": "0"}})], {})
    full = delta_lines("usmf", "A1", None, first, 1, "t")
    assert [(x.measure, x.delta, x.new_level, x.full) for x in full] == [
        ("onhand", Decimal(10), Decimal(10), True),
        ("ordered", Decimal(0), Decimal(0), True),
    ]
    same = delta_lines("usmf", "A1", first.levels, first, 2, "t")
    assert same == [], "no-op change: nothing"
    later = target_levels(
        TARGET, [_row("11", {"fno": {"onhand": "8", "ordered": "0"}}), _row("12", {"fno": {"onhand": "3"}})], {}
    )
    changed = delta_lines("usmf", "A1", first.levels, later, 2, "t")
    assert [(x.target_warehouse, x.measure, x.delta, x.new_level, x.full) for x in changed] == [
        ("12", "onhand", Decimal(3), Decimal(3), True),
        ("FS-11", "onhand", Decimal(-2), Decimal(8), False),
    ], "a real change as a delta; a warehouse seen for the first time in full"


def test_level_filtered_out_later_gets_no_line_and_keeps_its_state():
    narrower = TARGET.model_copy(update={"warehouses": ("11",), "warehouseMapping": {"11": ("FS-11",)}})
    before = {"FS-11": {"onhand": "10"}, "12": {"onhand": "7"}}
    now = target_levels(narrower, [_row("11", {"fno": {"onhand": "10"}}), _row("12", {"fno": {"onhand": "1"}})], {})
    assert delta_lines("usmf", "A1", before, now, 3, "t") == [], "12 is no longer the ERP's to master: no zeroing line"
    assert merged_levels(before, now.levels) == before


def test_level_file_csv_neutralises_formulas_and_matches_the_json():
    line = DeltaLine(
        "usmf", "A1", "11", "FS-11", "onhand", Decimal("-2"), Decimal("98"), "2026-11-26T10:00:00Z", 3, False
    )
    file = LevelFile("LV-1", "demo", "fs", (line,))
    data = json.loads(file.as_json())
    assert data["lines"][0] | {} == line.as_dict()
    text = file.as_csv().decode("utf-8-sig")
    assert text.splitlines()[1] == "LV-1,1,usmf,A1,FS-11,11,onhand,-2,98,2026-11-26T10:00:00Z,3,delta"
    assert DeltaLine.from_dict(line.as_dict()) == line


class _Target(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Target.seen.append((self.headers["Idempotency-Key"], body))
        self.send_response(_Target.answers.pop(0) if _Target.answers else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target_server():
    server = HTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Target.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/levels"
    server.shutdown()


def test_level_https_connector_retries_with_backoff_and_sends_an_idempotency_key(target_server):
    _Target.answers = [503, 429, 200]
    waits: list[float] = []
    connector = LevelHttps(
        HttpsConnector(type="https", url=target_server, maxAttempts=3, backoffSeconds=0.5), sleep=waits.append
    )
    connector.send(LevelFile("LV-7", "demo", "fs", ()))
    assert [key for key, _ in _Target.seen] == ["LV-7"] * 3
    assert waits == [0.5, 1.0], "exponential backoff between attempts"


def test_level_https_connector_gives_up_on_a_refusal_without_retrying(target_server):
    _Target.answers = [400]
    connector = LevelHttps(HttpsConnector(type="https", url=target_server), sleep=lambda s: None)
    with pytest.raises(LevelSendFailed, match="answered 400"):
        connector.send(LevelFile("LV-8", "demo", "fs", ()))
    assert len(_Target.seen) == 1
