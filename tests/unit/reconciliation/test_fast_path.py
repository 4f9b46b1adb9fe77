"""Bad-day speed (issue 12, item 11): the batched run writes byte for byte the reports of the reference.

``reconcile_stream.stream_fast`` inlines the domain rules, takes canonical number texts and line-id
hashes from DuckDB and writes CSV and JSON lines as text; ``stream_reference`` takes every key
through ``rules.assess``, ``Discrepancy``, ``csv.writer`` and ``JournalProposer`` one object at a
time. Each scenario below is generated to touch every rule the fast path restates — materiality by
quantity, percent and value in both directions, item and class overrides, unknown value, zero cost,
negatives, serials, counting mode, ERP master, several measures, warehouse mapping, ids that differ
only in case, spreadsheet-hostile and CSV-hostile ids, journals split over batches, a streak history —
and every output file of both paths is compared.
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from shared.adapters import difference_texts
from shared.adapters.snapshot_engine import Comparison
from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import ReconciliationResult, SnapshotSource, StreamWay, reconcile

from .conftest import ERP_HEADER, WMS_HEADER, write_csv

ODD_IDS = ['A"1', "B,2", "=HYP(1)", "00417", "Ärmel ✓", "-5", "3-4", "+x", "@y", "1E5", " pad ", "tab\tid"]
ODD_IDS += ["1234567890123456", "123456789012345", "0", "\u0661\u0662\u0663"]  # 16 / 15 digits, "0", not ASCII
CLASSES = ["", "BULK", "0042", "=cls"]
COSTS = ["", "12.50", "1200", "0", "0.000001", "899.00", "1.2345"]


def _quantity(rnd: random.Random) -> D:
    return D(rnd.randint(-40, 400)) / rnd.choice([D(1), D(4), D(1000), D(1_000_000)])


def _snapshots(
    tmp_path: Path, seed: int, *, serials: bool, site_both: bool, measures: bool, vans: bool
) -> tuple[Path, Path]:
    """About 2,000 keys on each side (several batches of every way: the test fetches 333 keys a batch)."""
    rnd = random.Random(seed)
    items = [f"{i:05d}" for i in range(600)] + ODD_IDS * 8 + [f"mix{i}" for i in range(20)] * 2
    erp_rows: list[list[str]] = []
    wms_rows: list[list[str]] = []
    for n in range(2_400):
        item = rnd.choice(items)
        wh = rnd.choice(["11", "01", "FO1", "13"])
        batch = rnd.choice(["", "", "B-1", "1E5", "L,2"])
        serial = rnd.choice(["", "SN1", "SN2"]) if serials else ""
        # one site per warehouse (so keys only in the WMS take their site from it), not all of them digits
        site = {"11": "1", "01": "1", "FO1": "S-2", "13": "S-3"}[wh]
        erp_q = _quantity(rnd)
        wms_q = erp_q if rnd.random() < 0.5 else erp_q + rnd.choice([D(1), D(-3), D("0.25"), D(60), -erp_q])
        on_order, ordered = D(rnd.randint(0, 9)), D(rnd.randint(0, 9))
        erp_item = item.lower() if item.startswith("mix") and n % 2 else item
        erp_row = [erp_item, site, wh, batch, *([serial] if serials else []), str(erp_q)]
        erp_row += [rnd.choice(COSTS), rnd.choice(CLASSES)]
        if measures:
            erp_row += [str(on_order), str(ordered)]
        wms_wh = rnd.choice(["VAN1", "VAN2"]) if vans and wh == "FO1" else wh
        wms_row = [item.upper() if item.startswith("mix") else item, *([site] if site_both else []), wms_wh, batch]
        wms_row += [*([serial] if serials else []), str(wms_q)]
        if measures:
            wms_row += [str(on_order + rnd.choice([0, 0, 1, 7])), str(ordered + rnd.choice([0, 2]))]
        if rnd.random() < 0.92:
            erp_rows.append(erp_row)
        if rnd.random() < 0.92:
            wms_rows.append(wms_row)
        if rnd.random() < 0.05:  # a duplicate key: summed on that side
            erp_rows.append(erp_row)
    erp_header = ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "ItemBatchNumber"]
    erp_header += [*(["ItemSerialNumber"] if serials else []), "OnHandQuantity", "UnitCost", "ItemClass"]
    erp_header += ["OnOrderQuantity", "OrderedQuantity"] if measures else []
    wms_header = ["item_id", *(["site_id"] if site_both else []), "warehouse", "lot"]
    wms_header += [*(["serial_number"] if serials else []), "on_hand"]
    wms_header += ["on_order", "ordered"] if measures else []
    erp = write_csv(tmp_path / f"erp{seed}.csv", erp_header, erp_rows)
    wms = write_csv(tmp_path / f"wms{seed}.csv", wms_header, wms_rows, delimiter=";")
    return erp, wms


def _files(result: ReconciliationResult) -> dict[str, bytes]:
    out = {}
    for report in result.reports:
        out[report.name] = report.data if isinstance(report.data, bytes) else report.data.read()
    return out


def _both(
    erp: Path, wms: Path, config: ReconcileConfig, history: list[dict[str, Any]], run_id: str, expect: StreamWay
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every way's files against the reference's; ``expect``: the way the default (engine) run really takes."""
    runs = {}
    for way in StreamWay:
        result = reconcile(SnapshotSource(erp), SnapshotSource(wms), config, history, run_id=run_id, stream=way)
        assert result.ok, result.errors
        runs[way] = (_files(result), result.summary, result.streamed_by)
        result.close()
    ref_files, ref_summary, _ = runs[StreamWay.REFERENCE]
    assert runs[StreamWay.ENGINE][2] == expect
    for way in (StreamWay.PYTHON, StreamWay.ENGINE):
        files, summary, _ = runs[way]
        assert sorted(files) == sorted(ref_files)
        for name, data in ref_files.items():
            assert files[name] == data, f"{name} differs between the {way} path and the reference"
        assert summary == ref_summary
    return ref_files, ref_summary


THRESHOLDS = {
    "positive": {"quantity": "2", "percent": "10", "value": "50"},
    "negative": {"quantity": "0.5", "value": "5"},
}

SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, bool]]] = {
    "wms master, movement, overrides, odd ids, case-insensitive": (
        {
            "materiality": THRESHOLDS,
            "item_overrides": {"00007": {"quantity": "100"}, "MIX3": {"value": "0"}},
            "class_overrides": {"BULK": {"percent": "1"}, "=cls": {"value": "1000"}},
            "journal_max_lines": 7,
            "report_top_n": 5,
            "workbook_max_rows": 20,
        },
        {"serials": False, "site_both": False, "measures": False, "vans": False},
    ),
    "erp master, counting, material only, measures, warehouse mapping": (
        {
            "master": "erp",
            "journal_mode": "counting",
            "propose": "material",
            "materiality": {"quantity": "1", "percent": "5"},
            "measures": {"on_order": {"materiality": {"quantity": "5"}}, "ordered": {}},
            "value_maps": {"wms": {"warehouse": {"VAN1": "FO1", "VAN2": "FO1"}}},
            "audit_basis": "any",
            "audit_after_runs": 2,
            "currency": "EUR",
        },
        {"serials": False, "site_both": True, "measures": True, "vans": True},
    ),
    "serials, site in the level, case-sensitive, negatives and unknown cost not material": (
        {
            "case_sensitive_ids": True,
            "negative_is_material": False,
            "unknown_cost_is_material": False,
            "materiality": {"value": "10"},
            "journal_max_lines": 1000,
        },
        {"serials": True, "site_both": True, "measures": False, "vans": False},
    ),
    "item level only (no warehouse in the key), three lines a journal": (
        {"level": ["item"], "journal_max_lines": 3, "materiality": {"quantity": "0.5", "percent": "20"}},
        {"serials": False, "site_both": False, "measures": False, "vans": False},
    ),
}


def _in_engine_scope(raw: dict[str, Any], shape: dict[str, bool]) -> tuple[dict[str, Any], dict[str, bool]]:
    """A scenario without what sends a run the Python way (other measures, item or class thresholds,
    serials): the engine makes its texts (``difference_texts``)."""
    outside = ("measures", "item_overrides", "class_overrides")
    return {k: v for k, v in raw.items() if k not in outside}, {**shape, "serials": False, "measures": False}


SCENARIOS |= {
    f"{name}, in the engine's scope": _in_engine_scope(*scenario) for name, scenario in list(SCENARIOS.items())
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_fast_path_writes_every_report_byte_for_byte_as_the_reference(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # batches that end inside journals and inside runs of one item (7 lines a journal in some scenarios),
    # in every way: the engine's texts, the Python way's raw rows and the reference's rows
    monkeypatch.setattr(difference_texts, "LINES_BATCH", 333)
    monkeypatch.setattr(Comparison.raw_batches, "__defaults__", (333,))
    monkeypatch.setattr(Comparison.differences, "__defaults__", (333,))
    raw, shape = SCENARIOS[name]
    config = ReconcileConfig.model_validate(raw)
    erp, wms = _snapshots(tmp_path, len(name), **shape)
    restated = not (shape["serials"] or shape["measures"] or config.item_overrides or config.class_overrides)
    way = StreamWay.ENGINE if restated else StreamWay.PYTHON
    first_files, first = _both(erp, wms, config, [], "run-1", way)
    # several batches of every way (an item-level key has fewer keys: 333 a batch here)
    assert first["counts"]["differences"] > (333 if config.level else 1_000)
    # a second run on the same data continues the first run's streaks (runs in a row, audit flags)
    _files_2, second = _both(erp, wms, config, [first], "run-2", way)
    assert second["audit"]["flagged"] or config.audit_after_runs > 2
    journal = first_files["proposed_journal.json"]
    assert journal.count(b'"line_id"') == first["journal"]["lines"] > 0


def test_the_scenarios_reach_the_rules_the_fast_path_restates(tmp_path: Path) -> None:
    """Guards the parity test above: its data really produce every reason, category and edge case."""
    name = "wms master, movement, overrides, odd ids, case-insensitive"
    raw, shape = SCENARIOS[name]
    erp, wms = _snapshots(tmp_path, len(name), **shape)
    result = reconcile(SnapshotSource(erp), SnapshotSource(wms), ReconcileConfig.model_validate(raw), [], run_id="r")
    text = _files(result)["discrepancies.csv"].decode("utf-8")
    result.close()
    for needle in (
        "quantity ",
        "percent ",
        "value ",
        "value unknown (no unit cost)",
        "percent: master quantity is 0",
        "negative stock",
        "only_in_erp",
        "only_in_wms",
        "quantity_differs",
        '"A""1"',
        '"B,2"',
        "'=HYP(1)",
        "MIX",
    ):
        assert needle in text, needle


def test_the_fast_path_builds_no_object_per_key_and_formats_no_quantity_as_a_decimal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What made a bad day slow was per-key Python: the batched path must not fall back to it.

    Counted, not timed: a Discrepancy only for keys entering the summary's largest list (about
    top_n × ln(keys / top_n) of them), no ``assess`` call, and ``fmt`` only for the difference,
    value and percent (and |value| in a value reason): quantities and costs are stripped texts.
    """
    import shared.services.reconcile_stream as stream

    counts = {"discrepancy": 0, "assess": 0, "fmt": 0}

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(stream, "Discrepancy", counting("discrepancy", stream.Discrepancy))
    monkeypatch.setattr(stream, "assess", counting("assess", stream.assess))
    monkeypatch.setattr(stream, "fmt", counting("fmt", stream.fmt))
    name = "wms master, movement, overrides, odd ids, case-insensitive"
    raw, shape = SCENARIOS[name]
    erp, wms = _snapshots(tmp_path, len(name), **shape)
    result = reconcile(SnapshotSource(erp), SnapshotSource(wms), ReconcileConfig.model_validate(raw), [], run_id="r")
    differing = result.summary["counts"]["differences"]
    result.close()
    assert differing > 1_000
    assert counts["assess"] == 0
    assert counts["discrepancy"] < differing / 10
    assert counts["fmt"] <= 4 * differing


def test_a_key_only_in_the_wms_shows_its_warehouses_site_in_every_way(tmp_path: Path) -> None:
    """The WMS export has no site; a key only there takes the one site its warehouse's matching keys
    name. Here no differing key names that site itself, so the engine way must look up its cells too."""
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [["A1", "=S9", "W9", "5", "2"], ["A2", "=S9", "W9", "7", "2"], ["B1", "1", "W1", "3", "2"]],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "on_hand"],
        [["A1", "W9", "5"], ["A2", "W9", "7"], ["NEW", "W9", "4"], ["B1", "W1", "1"]],
    )
    files, _ = _both(erp, wms, ReconcileConfig(), [], "site", StreamWay.ENGINE)
    assert b",NEW,'=S9,W9," in files["discrepancies.csv"]  # the site, neutralised, from its warehouse


def test_a_huge_percent_threshold_goes_the_python_way_not_into_an_overflow(tmp_path: Path) -> None:
    """In the engine a percent threshold multiplies the master quantity: 10^15 % against a quantity near
    10^12 is beyond DuckDB's DECIMAL(38,12), and the run failed. Percent thresholds from 10^6 on now
    take the Python way (the same files)."""
    header = ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"]
    erp = write_csv(tmp_path / "e.csv", header, [["BIG", "1", "999999999990", "0.5"], ["S", "1", "5", "1"]])
    wms = write_csv(
        tmp_path / "w.csv", ["item_id", "warehouse", "on_hand"], [["BIG", "1", "999999999999"], ["S", "1", "9"]]
    )
    for percent in ("1000000", "1000000000000000"):
        config = ReconcileConfig.model_validate({"materiality": {"percent": percent}})
        _both(erp, wms, config, [], "percent", StreamWay.PYTHON)


def test_when_the_engine_cannot_build_the_texts_the_python_way_makes_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing is written before the texts query, and the streaks the engine was handed come back:
    the second run continues the first run's streaks whichever way made its texts."""
    erp, wms = _snapshots(tmp_path, 7, serials=False, site_both=False, measures=False, vans=False)
    _, first = _both(erp, wms, ReconcileConfig(), [], "first", StreamWay.ENGINE)
    monkeypatch.setattr(difference_texts, "_keyed", lambda cmp, s: "SELECT no_such_column FROM diffs")
    _, second = _both(erp, wms, ReconcileConfig(), [first], "fallback", StreamWay.PYTHON)
    assert "the engine could not make the texts" in caplog.text
    assert {e["runs"] for e in first["out_of_balance"]} == {1}
    assert {e["runs"] for e in second["out_of_balance"]} == {2}  # every key differs again: in a row


def test_sums_too_large_to_prove_exact_are_made_by_the_reference_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The batched path adds each key once per (category, warehouse) and combines the sums later:
    exact, so the same as the reference's, while they stay below 10^15 (values) and 10^21
    (quantities). Values of 10^20 and more go through the reference path, still the same bytes."""
    rows_e, rows_w = [], []
    for i in range(40):
        rows_e.append(
            [f"BIG{i:02d}", "1", str(11 + i % 3), "", f"{123456789012 - i}.123456", f"{987654321098 + i}.654321"]
        )
        rows_w.append([f"BIG{i:02d}", str(11 + i % 3), "", f"{i * 7}.000001"])
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "ItemBatchNumber", "OnHandQuantity", "UnitCost"],
        rows_e,
    )
    wms = write_csv(tmp_path / "w.csv", ["item_id", "warehouse", "lot", "on_hand"], rows_w)
    caplog.set_level("INFO", logger="shared.services.reconcile")
    files, summary = _both(erp, wms, ReconcileConfig(), [], "big", StreamWay.REFERENCE)
    assert "running the reference path" in caplog.text
    assert len(summary["totals"]["abs_value_difference"].split(".")[0]) > 20
    assert files["summary.json"]


@pytest.mark.parametrize(
    "text", ["0", "7", "00417", "417", "0" * 16, "9" * 15, "1" + "0" * 15, "12a", "١٢", "²", "-5", "1E5", ""]
)
def test_item_cells_of_digit_ids_are_what_the_general_rules_make(text: str) -> None:
    """Most item numbers are digits: their cells skip the regular expressions but must not differ."""
    from shared.services.reconcile_stream import _cells_in_general, _cells_of

    assert _cells_of(text) == _cells_in_general(text)


def test_values_past_the_64_bit_texts_and_quantities_at_the_engines_bound(tmp_path: Path) -> None:
    """The engine writes a quantity, difference or value below its 64-bit bounds from a BIGINT or a
    DECIMAL(18, s) and any larger value from the 128-bit one: both must give the reference's text.
    A quantity of 5·10^11 or more goes the Python way (a difference of two must fit 18 digits)."""
    header_e, header_w = ERP_HEADER, WMS_HEADER
    near = "499999999999.999999"
    pairs = [  # (ERP, WMS, unit cost): values from 10^-12 to ~10^14, both signs, whole and not
        (near, "-499999999999.999999", "99.999999"),
        ("-499999999999.5", near, "0.000001"),
        ("0.000001", "0.000002", "0.000001"),
        ("10", "12000", "899.123456"),
        ("1500", "0", "999.999999"),
        ("1000000", "1000001", "999999"),
        ("7", "7.000001", ""),
        ("-3", "2", "12.5"),
    ]
    rows_e = [[f"BIG{i}", "1", "11", "", e, c] for i, (e, _, c) in enumerate(pairs)]
    rows_w = [[f"BIG{i}", "11", "", w] for i, (_, w, _) in enumerate(pairs)]
    erp = write_csv(tmp_path / "e.csv", header_e, rows_e)
    wms = write_csv(tmp_path / "w.csv", header_w, rows_w)
    files, summary = _both(erp, wms, ReconcileConfig(), [], "bound", StreamWay.ENGINE)
    differences = files["differences.csv"].decode()
    assert "999999999999.999998" in differences and "0.000000000001" in differences  # read back, not assumed
    assert summary["counts"]["differences"] == len(pairs)

    over = write_csv(tmp_path / "e2.csv", header_e, [*rows_e, ["HUGE", "1", "11", "", "500000000000", "1"]])
    _both(over, wms, ReconcileConfig(), [], "over", StreamWay.PYTHON)
