"""Blob naming convention and the pure part of approval (line selection)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.proposed_journal_file import ProposedJournalFile, UnreadableJournal
from shared.domain.reconciliation.config import Side
from shared.domain.reconciliation.journal import (
    TooManyToApprove,
    UnknownJournalError,
    UnknownLineError,
    select_proposed,
)
from shared.domain.reconciliation.naming import SnapshotName, parse_snapshot_name

from .conftest import report_text, run


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("contoso/2026-11-23.a/erp.csv", SnapshotName("contoso", "2026-11-23.a", Side.ERP, "csv")),
        ("snapshots/env-1/r1/WMS.parquet", SnapshotName("env-1", "r1", Side.WMS, "parquet")),
        ("e/r1/wms.tsv", SnapshotName("e", "r1", Side.WMS, "csv")),
        ("e/r1/config.json", None),
        ("e/r1/erp.xlsx", None),
        ("r1/erp.csv", None),  # runs belong to an environment: the old layout is not a run
        ("erp.csv", None),
        ("e/../erp.csv", None),
        ("e_1/r1/erp.csv", None),  # "_" is not allowed in an environment id
        ("a/b/c/erp.csv", None),
        ("e/r 1/erp.csv", None),
    ],
)
def test_parse_snapshot_name(name: str, expected: SnapshotName | None) -> None:
    assert parse_snapshot_name(name) == expected


def _journals(doc: dict) -> list[dict]:
    return doc["journals"]


def test_select_all_or_some_lines(sample_files: tuple[Path, Path]) -> None:
    doc = json.loads(report_text(run(*sample_files, run_id="R"), "proposed_journal.json"))
    all_lines = select_proposed(_journals(doc), max_lines=100)
    assert {ln["item"] for ln in all_lines} == {"A0001", "A0002", "A0003", "D0002", "M0030", "X9999"}
    one = all_lines[1]["line_id"]
    assert [ln["line_id"] for ln in select_proposed(_journals(doc), line_ids=[one, one], max_lines=100)] == [one]
    with pytest.raises(UnknownLineError):
        select_proposed(_journals(doc), line_ids=[one, "nope"], max_lines=100)


def _proposal(journals: int, lines_each: int) -> dict:
    return {
        "run_id": "R",
        "target": "erp",
        "mode": "movement",
        "journals": [
            {"journal_id": f"R-{j:03d}", "lines": [{"line_id": f"{j}.{n}"} for n in range(lines_each)]}
            for j in range(1, journals + 1)
        ],
    }


def test_a_selection_over_the_limit_is_refused_whole_with_the_journals_to_approve_instead() -> None:
    doc = _proposal(journals=4, lines_each=3)
    with pytest.raises(TooManyToApprove) as refused:
        select_proposed(_journals(doc), max_lines=11)
    assert refused.value.selected == 12 and refused.value.limit == 11
    assert "12 proposed lines" in str(refused.value) and "4 journal(s) of up to 3 lines: R-001 … R-004" in str(
        refused.value
    )
    assert len(select_proposed(_journals(doc), max_lines=12)) == 12  # the limit itself is allowed


def test_journal_ids_select_whole_journals_in_file_order_and_unknown_ones_fail() -> None:
    doc = _proposal(journals=4, lines_each=3)
    got = select_proposed(_journals(doc), journal_ids=["R-004", "R-002"], max_lines=6)
    assert [ln["line_id"] for ln in got] == ["2.0", "2.1", "2.2", "4.0", "4.1", "4.2"]
    with pytest.raises(UnknownJournalError, match="R-009"):
        select_proposed(_journals(doc), journal_ids=["R-001", "R-009"], max_lines=100)
    with pytest.raises(TooManyToApprove, match="2 journal"):
        select_proposed(_journals(doc), journal_ids=["R-001", "R-003"], max_lines=5)


def test_the_stream_reader_gives_what_json_loads_gives(sample_files: tuple[Path, Path]) -> None:
    raw = report_text(run(*sample_files, run_id="R"), "proposed_journal.json").encode()
    doc = json.loads(raw)
    reader = ProposedJournalFile.of_bytes(raw)
    assert reader.header() == {k: doc[k] for k in ("run_id", "target", "mode", "master", "line_count")}
    assert list(reader.journals()) == doc["journals"]
    assert list(reader.journals()) == doc["journals"]  # read again: the reader rewinds


def test_the_stream_reader_finds_header_fields_written_after_the_journals() -> None:
    doc = {"journals": [{"lines": [{"line_id": "L1"}]}], "run_id": "late", "target": "wms"}
    reader = ProposedJournalFile.of_bytes(json.dumps(doc).encode())
    assert reader.header() == {"run_id": "late", "target": "wms"}
    assert [j["lines"] for j in reader.journals()] == [[{"line_id": "L1"}]]


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"journals": [{"lines": [1, 2'])
def test_an_unreadable_proposed_journal_is_named_not_half_read(raw: bytes) -> None:
    reader = ProposedJournalFile.of_bytes(raw)
    with pytest.raises(UnreadableJournal):
        reader.header()
        list(reader.journals())
