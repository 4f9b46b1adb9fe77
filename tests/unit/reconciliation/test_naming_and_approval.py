"""Blob naming convention and the pure part of approval (line selection)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domain.reconciliation.config import Side
from shared.domain.reconciliation.journal import UnknownLineError, select_lines
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


def test_select_all_or_some_lines(sample_files: tuple[Path, Path]) -> None:
    doc = json.loads(report_text(run(*sample_files, run_id="R"), "proposed_journal.json"))
    all_lines = select_lines(doc)
    assert {ln["item"] for ln in all_lines} == {"A0001", "A0002", "A0003", "D0002", "M0030", "X9999"}
    one = all_lines[1]["line_id"]
    assert [ln["line_id"] for ln in select_lines(doc, [one, one])] == [one]
    with pytest.raises(UnknownLineError):
        select_lines(doc, [one, "nope"])
