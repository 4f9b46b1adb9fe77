"""The blob report sink streams large reports to Azurite in blocks: never a whole report in memory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import tracemalloc
import uuid

from azure.core.exceptions import ResourceExistsError

from shared.adapters.blob_reports import BlobReportSink, read_manifest
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
    # Before: upload_blob read the whole staged file (40 MB) for one request; now at most a few 4 MB blocks.
    assert peak < 4 * 4 * 1024 * 1024, f"commit held {peak >> 20} MB at once"
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
