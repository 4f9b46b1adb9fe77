"""Bad day (issue 12, item 11): what a run keeps per differing key, and that streaming changes no byte.

The run used to keep every proposed journal line as text (a 130 MB string at 1M+1M rows with
30 % differing), every out-of-balance key as a dict, and read discrepancies.csv back twice.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal as D
from pathlib import Path

from shared.domain.reconciliation.config import JournalMode, ReconcileConfig, Side
from shared.domain.reconciliation.history import OutOfBalanceEntries, OutOfBalanceLog, streaks_by_scope
from shared.domain.reconciliation.journal import JournalProposer, JournalText, journal_document, propose
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.rules import assess, fmt

from .conftest import report_text, run, write_csv

TRICKY = ['A"1', "B\\2", "C\n3", "Ärmel ✓", "\x01ctl", "=HYPERLINK(1)", "\u2028sep", "00417"]


def _discs(cfg: ReconcileConfig) -> list[Discrepancy]:
    out = []
    for i, item in enumerate(TRICKY * 3):
        cost = None if i % 3 == 0 else D("0.1234567")
        a = assess(
            erp_qty=D(i) / D(7),
            wms_qty=D("1E+3") if i % 2 else D("-0.5"),
            unit_cost=cost,
            item=item,
            item_class=None,
            config=cfg,
        )
        key = {"item": item, "warehouse": f"W{i % 2}"} | ({"batch": "B-1"} if i % 4 == 0 else {})
        out.append(Discrepancy(key, None if i % 5 else "S1", None, cost, a))
    return out


def _texts(d: Discrepancy) -> tuple[str, str, str, str | None]:
    a = d.assessment
    return fmt(a.erp_qty), fmt(a.wms_qty), fmt(a.difference), None if d.unit_cost is None else fmt(d.unit_cost)


def test_text_for_writes_exactly_the_line_that_line_for_proposes() -> None:
    for master, mode in ((Side.WMS, JournalMode.MOVEMENT), (Side.ERP, JournalMode.COUNTING)):
        for propose_scope in ("all", "material"):
            cfg = ReconcileConfig.model_validate(
                {"master": master, "journal_mode": mode, "journal_max_lines": 4, "propose": propose_scope}
            )
            discs = _discs(cfg)
            by_object, by_text = JournalProposer('r"1', cfg), JournalProposer('r"1', cfg)
            for d in discs:
                line = by_object.line_for(d)
                text = by_text.text_for(d, _texts(d))
                assert (text is None) == (line is None)
                if line is not None:
                    assert text == line.to_json_text()
                    assert by_text.journal_id == line.journal_id


def test_an_emitting_journal_keeps_only_its_first_lines_and_writes_the_same_document() -> None:
    cfg = ReconcileConfig(journal_max_lines=3)
    discs = _discs(cfg)
    journals = propose("r", discs, cfg)
    expected = json.dumps(journal_document("r", journals, cfg), ensure_ascii=False, separators=(",", ":"))
    pieces: list[str] = []
    streamed = JournalText("r", cfg, emit=pieces.append, keep=2)
    for line in (ln for j in journals for ln in j):
        streamed.add(line)
    assert streamed.head_text() + "".join(pieces) + streamed.tail_text() == expected
    assert len(streamed._first) == 2  # nothing else per line stays in memory
    assert streamed.head(2) == [ln.to_json() for ln in journals[0][:2]]


def test_an_empty_streamed_journal_is_the_empty_document() -> None:
    cfg = ReconcileConfig()
    streamed = JournalText("r", cfg, emit=lambda _text: None)
    expected = json.dumps(journal_document("r", [], cfg), ensure_ascii=False, separators=(",", ":"))
    assert streamed.head_text() + streamed.tail_text() == expected


def _old_entries(pairs: list[tuple[tuple[str, str], int]]) -> list[dict[str, object]]:
    """What summaries held before: a dict of streaks, sorted at the end."""
    streaks = dict(pairs)
    return [{"item": i, "warehouse": w, "runs": n} for (i, w), n in sorted(streaks.items())]


def test_out_of_balance_log_gives_the_sorted_entries_in_key_order_and_out_of_it() -> None:
    in_order = [(("A", "1"), 1), (("A", "1"), 1), (("A", "2"), 3), (('B\n"', "1"), 2), (("Ä", "1"), 5)]
    shuffled = [in_order[3], in_order[0], in_order[4], in_order[2], in_order[1]]
    for pairs in (in_order, shuffled):
        log = OutOfBalanceLog(audit_after=3)
        for key, runs in pairs:
            log.add(key, runs)
        entries = log.entries()
        assert list(entries) == _old_entries(pairs)
        assert len(entries) == len(_old_entries(pairs))
        assert json.loads(entries.json_text) == _old_entries(pairs)
        flagged = log.flagged_entries()
        assert list(flagged) == [{"item": "Ä", "warehouse": "1", "runs": 5}, {"item": "A", "warehouse": "2", "runs": 3}]
        assert len(flagged) == 2


def test_out_of_balance_log_joins_thousands_of_entries_into_a_few_strings() -> None:
    log = OutOfBalanceLog(audit_after=3)
    for i in range(10_000):
        log.add((f"I{i:06d}", "1"), 1)
    assert len(log._parts) < 4096 and len(log._chunks) == 2
    entries = log.entries()
    assert len(entries) == 10_000 and entries[9_999] == {"item": "I009999", "warehouse": "1", "runs": 1}


def test_out_of_balance_log_takes_a_batch_as_it_takes_each_key() -> None:
    """``add_many`` (one call per engine batch) ends where ``add`` per key ends: repeats skipped,
    a key out of order part way through a batch, chunks of 4,096 and flagged streaks."""
    pairs = [((f"I{i // 3:06d}", str(i % 3)), 1 + i % 5) for i in range(9_000)]
    pairs.insert(4_500, pairs[4_499])  # a repeat of the previous key
    late = [*pairs[:7_000], (("A", "0"), 4), *pairs[7_000:]]  # out of order inside a batch
    for keyed in (pairs, late):
        one = OutOfBalanceLog(audit_after=3)
        for key, runs in keyed:
            one.add(key, runs)
        expected = one.entries().json_text, one.flagged_entries().json_text  # read once: entries() hands over its text
        for size, made in itertools.product((1, 7, 2_048, 10_000), (False, True)):
            many = OutOfBalanceLog(audit_after=3)
            for start in range(0, len(keyed), size):
                chunk = keyed[start : start + size]
                # made: entry texts as the engine makes them (batches in strict order go in whole)
                texts = [f'{{"item":"{k[0]}","warehouse":"{k[1]}","runs":{n}}}' for k, n in chunk] if made else None
                many.add_many([k for k, _ in chunk], [n for _, n in chunk], texts)
            assert (many.entries().json_text, many.flagged_entries().json_text) == expected, (size, made)
        assert len(json.loads(expected[0])) == len({k for k, _ in keyed})
        assert '"runs":4' in expected[1]


def test_compact_entries_read_as_history_like_the_list() -> None:
    entries = [{"item": "X", "warehouse": "1", "runs": 2}, {"item": "Y", "warehouse": "2", "runs": 1}]
    as_list = {"run_id": "a", "status": "ok", "out_of_balance": entries}
    as_text = {**as_list, "out_of_balance": OutOfBalanceEntries(json.dumps(entries), len(entries))}
    assert streaks_by_scope([as_text], "b") == streaks_by_scope([as_list], "b") == {("X", "1"): 2, ("Y", "2"): 1}
    assert as_text["out_of_balance"] == entries


def _bad_day(tmp_path: Path, n: int = 300) -> tuple[Path, Path]:
    """Every third key differs by 3 units at a unit cost of 100 (material)."""
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "ItemBatchNumber", "OnHandQuantity", "UnitCost"],
        [[f"{i // 2:05d}", str(i % 3), f"B{i % 2}", "10", "100"] for i in range(n)],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "lot", "on_hand"],
        [[f"{i // 2:05d}", str(i % 3), f"B{i % 2}", "7" if i % 3 == 0 else "10"] for i in range(n)],
    )
    return erp, wms


def test_a_streamed_run_writes_the_summary_streaks_and_journal_a_second_run_reads(tmp_path: Path) -> None:
    erp, wms = _bad_day(tmp_path)
    first = run(erp, wms, run_id="day1")
    summary = json.loads(report_text(first, "summary.json"))
    assert len(summary["out_of_balance"]) == 100 and summary["out_of_balance"] == list(first.summary["out_of_balance"])
    assert summary["out_of_balance"] == sorted(summary["out_of_balance"], key=lambda e: (e["item"], e["warehouse"]))
    journal = json.loads(report_text(first, "proposed_journal.json"))
    assert journal == first.journal and journal["line_count"] == 100
    second = run(erp, wms, history=[summary], run_id="day2")
    assert {e["runs"] for e in second.summary["out_of_balance"]} == {2}


def test_the_third_bad_day_in_a_row_lists_its_audit_flags_as_text_and_the_page_shows_a_few(tmp_path: Path) -> None:
    """From the third bad day in a row every differing key is flagged for audit: 296,150 at 1M + 1M rows.
    The flags were a tuple, then a dict per key (the run peaked at 530 MB, the fourth day at 607 MB
    reading them back as history) and every one a row of report.html (23 MB)."""
    from shared.domain.reconciliation.summary_text import parse_summary

    erp, wms = _bad_day(tmp_path)
    history: list[dict] = []
    for day in (1, 2, 3):
        result = run(erp, wms, history=history, run_id=f"day{day}", config=ReconcileConfig(report_top_n=7))
        history.append(parse_summary(report_text(result, "summary.json")))
    summary = json.loads(report_text(result, "summary.json"))
    flagged = summary["audit"]["flagged"]
    assert len(flagged) == 100 and {f["runs"] for f in flagged} == {3}
    assert flagged == sorted(flagged, key=lambda f: (-f["runs"], f["item"], f["warehouse"]))
    assert isinstance(result.summary["audit"]["flagged"], OutOfBalanceEntries)  # text while the run goes on
    assert isinstance(history[-1]["audit"]["flagged"], OutOfBalanceEntries)  # and when read back
    as_history = parse_summary(report_text(result, "summary.json"), for_history=True)
    assert len(as_history["audit"]["flagged"]) == 0 and len(as_history["out_of_balance"]) == 100  # never read there
    html = report_text(result, "report.html")
    first_seven = [f["item"] for f in flagged[:7]]
    assert all(f'<td class="id">{item}</td>' in html for item in first_seven)
    assert (
        f'<td class="id">{flagged[7]["item"]}</td>' not in html.split("consecutive runs", 1)[1].split("</table>", 1)[0]
    )
    assert "7 of 100 items flagged" in html
