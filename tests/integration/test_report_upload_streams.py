"""The blob report sink streams large reports to Azurite in blocks: never a whole report in memory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
import tracemalloc
import uuid
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient

from shared.adapters.blob_reports import UPLOAD_CONCURRENCY, BlobReportSink, read_manifest
from shared.adapters.storage_clients import blob_service

REPORTS = "it-upload-reports"
SIZE = 40 * 1024 * 1024  # a bad day's differences.csv is ~28 MB, under the SDK's 64 MB single-put size


def test_a_large_report_goes_up_in_blocks_and_reads_back_whole(app_env: str) -> None:
    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPORTS)
    folder = f"env-{uuid.uuid4().hex[:8]}/run-1"
    data = os.urandom(1024 * 1024) * (SIZE // (1024 * 1024)) + b"tail"
    with tempfile.TemporaryFile() as report:
        report.write(data)
        report.seek(0)
        sink = BlobReportSink(service, folder, REPORTS)
        sink.write("differences.csv", report, "text/csv")
        tracemalloc.start()
        try:
            sink.commit()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Before: upload_blob read the whole staged file (40 MB) for one request; now at most one 4 MB block
    # per request in flight, read only when a request slot is free.
    assert peak < (UPLOAD_CONCURRENCY + 1) * 4 * 1024 * 1024 < SIZE, f"commit held {peak >> 20} MB at once"
    container = service.get_container_client(REPORTS)
    stored = container.download_blob(f"{folder}/differences.csv").readall()
    assert stored == data
    manifest = read_manifest(container, folder)
    assert manifest["files"]["differences.csv"]["sha256"] == hashlib.sha256(data).hexdigest()
    props = container.get_blob_client(f"{folder}/differences.csv").get_blob_properties()
    assert props.content_settings.content_type == "text/csv"


def test_a_small_report_still_goes_up_in_one_request(app_env: str) -> None:
    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPORTS)
    folder = f"env-{uuid.uuid4().hex[:8]}/run-1"
    with tempfile.TemporaryFile() as report:
        report.write(b"a,b\r\n1,2\r\n")
        report.seek(0)
        sink = BlobReportSink(service, folder, REPORTS)
        sink.write("differences.csv", report, "text/csv")
        sink.write("summary.json", b"{}", "application/json")
        sink.commit()
    container = service.get_container_client(REPORTS)
    assert container.download_blob(f"{folder}/differences.csv").readall() == b"a,b\r\n1,2\r\n"
    assert set(read_manifest(container, folder)["files"]) == {"differences.csv", "summary.json"}


def test_a_report_set_goes_up_several_requests_at_a_time(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One request at a time, a bad day's 200 MB waited on every 4 MB block's round trip in turn."""
    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPORTS)
    folder = f"env-{uuid.uuid4().hex[:8]}/run-1"
    in_flight, most = 0, 0
    lock = threading.Lock()
    real = BlobClient.stage_block

    def counted(self: BlobClient, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.05)  # an Azure round trip, so requests that can overlap do
            return real(self, *args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(BlobClient, "stage_block", counted)
    bodies = {name: os.urandom(9 * 1024 * 1024 + i) for i, name in enumerate(("a.csv", "b.json", "c.xlsx"))}
    sink = BlobReportSink(service, folder, REPORTS)
    with contextlib.ExitStack() as files:
        for name, body in bodies.items():
            f = files.enter_context(tempfile.TemporaryFile())
            f.write(body)
            f.seek(0)
            sink.write(name, f, "application/octet-stream")
        sink.commit()
    assert 2 <= most <= UPLOAD_CONCURRENCY
    container = service.get_container_client(REPORTS)
    for name, body in bodies.items():
        assert container.download_blob(f"{folder}/{name}").readall() == body
    manifest = read_manifest(container, folder)
    assert {n: m["sha256"] for n, m in manifest["files"].items()} == {
        n: hashlib.sha256(b).hexdigest() for n, b in bodies.items()
    }


def test_a_caller_file_is_uploaded_from_where_it_stood_and_left_open(app_env: str) -> None:
    """Seekable reports are hashed in place, not copied: the bytes after the caller's position go up,
    and the file stays the caller's to close."""
    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPORTS)
    folder = f"env-{uuid.uuid4().hex[:8]}/run-1"
    with tempfile.TemporaryFile() as report:
        report.write(b"skipped|" + b"x" * (5 * 1024 * 1024))
        report.seek(len(b"skipped|"))
        sink = BlobReportSink(service, folder, REPORTS)
        sink.write("differences.csv", report, "text/csv")
        sink.commit()
        assert not report.closed
    container = service.get_container_client(REPORTS)
    assert container.download_blob(f"{folder}/differences.csv").readall() == b"x" * (5 * 1024 * 1024)


def test_a_failed_block_stops_the_upload_of_the_rest(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The set fails with its first failed request; the blocks after it are not sent first."""
    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPORTS)
    folder = f"env-{uuid.uuid4().hex[:8]}/run-1"
    calls = 0

    def failing(self: BlobClient, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OSError("simulated network failure")

    monkeypatch.setattr(BlobClient, "stage_block", failing)
    with tempfile.TemporaryFile() as report:
        report.write(os.urandom(1024 * 1024) * 64)  # 16 blocks of 4 MB
        report.seek(0)
        sink = BlobReportSink(service, folder, REPORTS)
        sink.write("proposed_journal.json", report, "application/json")
        with pytest.raises(OSError, match="simulated network failure"):
            sink.commit()
    assert calls <= 2 * UPLOAD_CONCURRENCY < 16
    assert read_manifest(service.get_container_client(REPORTS), folder) == {}
