"""A big report file is downloaded once per worker, not once per page: the console pages through a bad day's
132 MB proposed journal, and every page (every approval of a journal) downloaded all of it again."""

import os
import uuid

import pytest

from shared.adapters import blob_reports
from shared.adapters.blob_reports import BlobReportSink, open_report
from shared.adapters.storage_clients import blob_service


@pytest.fixture
def keep_from_1k(app_env, monkeypatch):
    monkeypatch.setattr(blob_reports, "KEEP_MIN_BYTES", 1024)
    yield
    blob_reports._forget_kept()


def _commit(folder: str, name: str, data: bytes) -> None:
    sink = BlobReportSink(blob_service(), folder)
    sink.write(name, data, "application/json")
    sink.commit()


def _read(folder: str, name: str) -> bytes | None:
    file = open_report(blob_service().get_container_client("reports"), folder, name)
    if file is None:
        return None
    with file:
        return file.read()


def test_a_big_file_is_read_from_local_disk_the_second_time_while_its_sha256_is_listed(keep_from_1k):
    folder = "env-k/" + uuid.uuid4().hex[:8]
    first = b'{"journals": [' + b"1," * 3000 + b"1]}"
    _commit(folder, "proposed_journal.json", first)
    assert _read(folder, "proposed_journal.json") == first
    reports = blob_service().get_container_client("reports")
    reports.delete_blob(f"{folder}/proposed_journal.json")  # not downloaded again: still there
    assert _read(folder, "proposed_journal.json") == first

    second = b'{"journals": [' + b"2," * 3000 + b"2]}"
    _commit(folder, "proposed_journal.json", second)  # another content: another sha256 in the manifest
    assert _read(folder, "proposed_journal.json") == second


def test_only_the_last_big_file_is_kept_and_small_ones_never(keep_from_1k):
    a, b = ("env-k/" + uuid.uuid4().hex[:8] for _ in range(2))
    _commit(a, "report.xlsx", os.urandom(4096))
    _commit(b, "report.xlsx", os.urandom(4096))
    _read(a, "report.xlsx")
    [kept_a] = blob_reports._kept.values()
    _read(b, "report.xlsx")
    [kept_b] = blob_reports._kept.values()
    assert kept_a != kept_b and not os.path.exists(kept_a) and os.path.exists(kept_b)

    small = "env-k/" + uuid.uuid4().hex[:8]
    _commit(small, "summary.json", b"{}")
    assert _read(small, "summary.json") == b"{}"
    blob_service().get_container_client("reports").delete_blob(f"{small}/summary.json")
    assert _read(small, "summary.json") is None, "a small file is read from storage every time"


def test_a_kept_file_is_still_checked_against_the_manifest(keep_from_1k):
    """A blob changed behind the manifest's back is refused, kept or not (the sha256 is checked on download)."""
    folder = "env-k/" + uuid.uuid4().hex[:8]
    good = os.urandom(4096)
    _commit(folder, "report.xlsx", good)
    reports = blob_service().get_container_client("reports")
    reports.upload_blob(f"{folder}/report.xlsx", os.urandom(4096), overwrite=True)
    assert _read(folder, "report.xlsx") is None and blob_reports._kept == {}
