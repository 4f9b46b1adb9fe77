"""DuckDB out of memory (seen now and then at 10M + 10M rows with two threads): one more try with one thread.

Before, the run became an error run saying "the snapshots: cannot be read as CSV", which blamed the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import shared.adapters.snapshot_engine as engine
from shared.adapters import difference_texts
from shared.adapters.difference_texts import KEYED
from shared.adapters.snapshot_engine import EngineSettings, SnapshotError, SnapshotSource, readable_error
from shared.domain.reconciliation.config import ReconcileConfig

from .conftest import ERP_HEADER, ERP_ROWS, WMS_HEADER, WMS_ROWS, report_text, write_csv


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


class _RunsOutOfMemory:
    """A cursor that has given its first rows and runs out of memory on the next fetch."""

    def fetchmany(self, size: int) -> list[Any]:
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 30.5 MiB")


class _TextsOutOfMemory:
    """The run's connection, out of memory once the engine makes the report texts (``difference_texts``):
    while it builds their table, or (``at_fetch``) on the second batch its fetching thread reads."""

    def __init__(self, con: duckdb.DuckDBPyConnection, at_fetch: bool) -> None:
        self._con, self._at_fetch, self._fetches = con, at_fetch, 0

    def execute(self, sql: str, *args: Any) -> Any:
        if KEYED in sql and not self._at_fetch:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 30.5 MiB")
        return self._con.execute(sql, *args)

    def fetchmany(self, size: int) -> Any:
        self._fetches += 1
        if self._fetches == 2:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 8.0 MiB")
        return self._con.fetchmany(size)

    def close(self) -> None:
        self._con.close()


def _streams_out_of_memory_with(
    monkeypatch: pytest.MonkeyPatch, failing_threads: set[int], at_fetch: bool = False
) -> list[int]:
    """Comparisons made with these thread counts run out of memory while their keys stream: the
    Python paths' cursor on its next fetch, the engine path's texts query."""
    real = engine._compare
    threads: list[int] = []

    def compare(*args: Any) -> engine.Comparison:
        cmp = real(*args)
        threads.append(args[3].threads)
        if args[3].threads in failing_threads:
            cmp._cursor = _RunsOutOfMemory()  # type: ignore[assignment]
            cmp._con = _TextsOutOfMemory(cmp._con, at_fetch)  # type: ignore[assignment]
        return cmp

    monkeypatch.setattr(engine, "_compare", compare)
    return threads


@pytest.mark.parametrize("way", ["engine", "engine, while fetching", "python"])
def test_running_out_of_memory_while_keys_stream_runs_again_with_one_thread_and_the_same_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    from shared.services.reconcile import StreamWay, reconcile

    # one key a batch, so the texts come in several batches (the second one fails)
    monkeypatch.setattr(difference_texts, "LINES_BATCH", 1)
    erp, wms = _files(tmp_path)
    stream = StreamWay(way.split(",")[0])
    expected = reconcile(erp, wms, ReconcileConfig(), [], run_id="t1", stream=stream)
    assert expected.streamed_by == stream
    threads = _streams_out_of_memory_with(monkeypatch, {2}, at_fetch="fetching" in way)
    result = reconcile(erp, wms, ReconcileConfig(), [], run_id="t1", stream=stream)
    assert threads == [2, 1]
    assert result.ok
    assert report_text(result, "discrepancies.csv") == report_text(expected, "discrepancies.csv")


@pytest.mark.parametrize("way", ["engine", "python"])
def test_running_out_of_memory_while_keys_stream_with_one_thread_is_raised_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    from shared.services.reconcile import StreamWay, reconcile

    erp, wms = _files(tmp_path)
    threads = _streams_out_of_memory_with(monkeypatch, {1})
    with pytest.raises(engine.EngineOutOfMemory, match="Out of Memory"):
        reconcile(erp, wms, ReconcileConfig(), [], run_id="t1", engine=EngineSettings(threads=1), stream=StreamWay(way))
    assert threads == [1]
