"""DuckDB out of memory (seen now and then at 10M + 10M rows with two threads): one more try with one thread.

Before, the run became an error run saying "the snapshots: cannot be read as CSV", which blamed the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import shared.adapters.snapshot_engine as engine
from shared.adapters.snapshot_engine import EngineSettings, SnapshotError, SnapshotSource, readable_error
from shared.domain.reconciliation.config import ReconcileConfig

from .conftest import ERP_HEADER, ERP_ROWS, WMS_HEADER, WMS_ROWS, write_csv


def _files(tmp_path: Path) -> tuple[SnapshotSource, SnapshotSource]:
    erp = write_csv(tmp_path / "erp.csv", ERP_HEADER, ERP_ROWS)
    wms = write_csv(tmp_path / "wms.csv", WMS_HEADER, WMS_ROWS)
    return SnapshotSource(erp), SnapshotSource(wms)


def _out_of_memory() -> SnapshotError:
    cause = duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 30.5 MiB")
    error = SnapshotError(readable_error(cause, ()))
    error.__cause__ = cause
    return error


def test_a_comparison_out_of_memory_is_tried_once_more_with_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine._compare
    threads: list[int] = []

    def first_runs_out(*args: Any) -> engine.Comparison:
        settings: EngineSettings = args[3]
        threads.append(settings.threads)
        if settings.threads > 1:
            raise _out_of_memory()
        return real(*args)

    monkeypatch.setattr(engine, "_compare", first_runs_out)
    erp, wms = _files(tmp_path)
    cmp = engine.compare(erp, wms, ReconcileConfig())
    try:
        assert threads == [2, 1]
        assert sum(1 for batch in cmp.raw_batches() for _ in batch) > 0
    finally:
        cmp.close()


def test_out_of_memory_with_one_thread_and_other_errors_are_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fails(*args: Any) -> engine.Comparison:
        calls.append(args[3].threads)
        raise (
            _out_of_memory() if args[3].threads == 1 else SnapshotError("erp.csv: line 3: a quoted value is not closed")
        )

    monkeypatch.setattr(engine, "_compare", fails)
    erp, wms = _files(tmp_path)
    with pytest.raises(SnapshotError, match="quoted value"):
        engine.compare(erp, wms, ReconcileConfig())
    with pytest.raises(SnapshotError, match="ran out of memory"):
        engine.compare(erp, wms, ReconcileConfig(), EngineSettings(threads=1))
    assert calls == [2, 1]


def test_out_of_memory_is_not_reported_as_an_unreadable_file() -> None:
    assert readable_error(duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate"), ()) == (
        "the snapshots: the comparison ran out of memory (the files are not at fault)"
    )
