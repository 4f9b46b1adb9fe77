"""The blob-event use case against a real Azurite: pairing, reports, idempotency, error runs, atomicity."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import tempfile
import threading
import uuid

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient, BlobServiceClient

from shared.adapters.blob_reports import BlobReportSink
from shared.adapters.storage_clients import blob_service
from shared.config import get_settings, reset_settings
from shared.services.reconcile_blobs import Containers, Outcome, handle_snapshot_blob

# Containers of this module's own: the e2e app (same Azurite, same session) watches `snapshots`.
SNAP, REPORTS = "it-snapshots", "it-reports"
ENV = "it-env"
"""Each test's runs live in an environment of their own (``fresh_environment``): snapshots/{ENV}/{runId}/...
Identical snapshots in one environment are one run, so tests must not see each other's runs."""


@pytest.fixture(autouse=True)
def fresh_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    env = "it-env-" + uuid.uuid4().hex[:10]
    monkeypatch.setattr(__import__(__name__, fromlist=["ENV"]), "ENV", env)
    return env


# A costly item 1 unit short, a cheap item 4 short, a WMS-only item, and an id with leading zeros
# that must not be confused with "417" (which the WMS also holds, as a separate item).
ERP = (
    b"ItemNumber,InventorySiteId,InventoryWarehouseId,OnHandQuantity,UnitCost\r\n"
    b"A0002,1,13,35,0.15\r\n"
    b"A0003,1,13,12,899.00\r\n"
    b"00417,1,13,7,2.00\r\n"
)
WMS = "\ufeffitem_id;warehouse;on_hand\nA0002;13;31\nA0003;13;11\n00417;13;7\n417;13;5\nA0009;13;3\n".encode()
REPORT_SET = {
    "discrepancies.csv",
    "differences.csv",
    "report.xlsx",
    "summary.json",
    "history.json",
    "report.html",
    "proposed_journal.json",
    "journal_index.json",
    "line_index.json",
    "manifest.json",
}


@pytest.fixture
def service(app_env: str) -> BlobServiceClient:
    svc = blob_service()
    with contextlib.suppress(ResourceExistsError):
        svc.create_container(SNAP)
    return svc


@pytest.fixture
def run_id() -> str:
    return "run-" + uuid.uuid4().hex[:12]


def upload(service: BlobServiceClient, name: str, data: bytes, env: str | None = None) -> str:
    env = env or ENV
    service.get_blob_client(SNAP, f"{env}/{name}").upload_blob(data, overwrite=True)
    return f"{SNAP}/{env}/{name}"


def fire(service: BlobServiceClient, blob_name: str) -> Outcome:
    return handle_snapshot_blob(
        blob_name, service, get_settings().reconcile_defaults(), containers=Containers(SNAP, REPORTS)
    )


def reports(service: BlobServiceClient, run_id: str, env: str | None = None) -> dict[str, bytes]:
    env = env or ENV
    container = service.get_container_client(REPORTS)
    if not container.exists():
        return {}
    return {
        b.name.split("/", 2)[2]: container.download_blob(b.name).readall()
        for b in container.list_blobs(name_starts_with=f"{env}/{run_id}/")
    }


def rows_by_item(csv_bytes: bytes) -> dict[str, dict[str, str]]:
    return {r["item"]: r for r in csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig")))}


def test_second_snapshot_starts_the_run_and_reports_tell_the_story(service: BlobServiceClient, run_id: str) -> None:
    first = fire(service, upload(service, f"{run_id}/erp.csv", ERP))
    assert first.status == "waiting" and "wms" in first.detail
    assert reports(service, run_id) == {}

    second = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert second.status == "ok", second.detail
    files = reports(service, run_id)
    assert set(files) == REPORT_SET

    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == REPORT_SET - {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == hashlib.sha256(files[name]).hexdigest(), name

    rows = rows_by_item(files["discrepancies.csv"])
    assert rows["A0003"]["material"] == "yes"  # 1 unit of a 899.00 item
    assert rows["A0002"]["material"] == "no"  # 4 units of a 0.15 item
    assert rows["A0009"]["category"] == "only_in_wms"
    assert rows["417"]["category"] == "only_in_wms"  # not merged into 00417
    assert "00417" not in rows  # matches itself, so it is no discrepancy

    summary = json.loads(files["summary.json"])
    assert summary["status"] == "ok" and summary["run_id"] == run_id
    assert summary["counts"]["match"] == 1
    journal = json.loads(files["proposed_journal.json"])
    lines = {ln["item"]: ln for j in journal["journals"] for ln in j["lines"]}
    assert lines["A0003"]["quantity_delta"] == "-1"  # ERP brought to the WMS (master)
    assert lines["A0003"]["review"] is True and lines["A0003"]["movement"] == "issue"
    assert lines["A0002"]["review"] is False  # immaterial: proposed, but needs no review
    html = files["report.html"].decode()
    assert "A0003" in html and "<script" not in html


def test_only_one_side_writes_nothing(service: BlobServiceClient, run_id: str) -> None:
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "waiting" and "erp" in outcome.detail
    assert reports(service, run_id) == {}


def test_refiring_and_concurrent_triggers_leave_a_finished_run_as_it_is(
    service: BlobServiceClient, run_id: str
) -> None:
    upload(service, f"{run_id}/erp.csv", ERP)
    name = upload(service, f"{run_id}/wms.csv", WMS)
    fire(service, name)
    before = reports(service, run_id)

    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(fire(service, name))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.status for o in outcomes] == ["finished"] * 3
    after = reports(service, run_id)
    assert set(after) == REPORT_SET
    assert after["manifest.json"] == before["manifest.json"]
    assert after == before


def test_unreadable_file_gives_an_error_report_not_an_exception(service: BlobServiceClient, run_id: str) -> None:
    upload(service, f"{run_id}/erp.csv", b"\xff\xfe\x00\x01 not text \x80\x81\n1,2\n")
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error"
    files = reports(service, run_id)
    assert set(files) == {"summary.json", "report.html", "manifest.json"}
    summary = json.loads(files["summary.json"])
    assert summary["status"] == "error" and summary["errors"]


def test_a_finished_runs_report_never_changes_but_an_error_run_can_be_fixed(
    service: BlobServiceClient, run_id: str
) -> None:
    upload(service, f"{run_id}/erp.csv", ERP)
    fire(service, upload(service, f"{run_id}/wms.csv", b"item_id;warehouse\nA0002;13\n"))  # no quantity column
    assert set(reports(service, run_id)) == {"summary.json", "report.html", "manifest.json"}
    assert fire(service, upload(service, f"{run_id}/wms.csv", WMS)).status == "ok"  # fixed file: re-run
    done = reports(service, run_id)
    assert "discrepancies.csv" in done and json.loads(done["summary.json"])["status"] == "ok"
    again = fire(service, upload(service, f"{run_id}/wms.csv", b"item_id;warehouse;on_hand\nA0002;13;1\n"))
    assert again.status == "finished"
    assert reports(service, run_id) == done


def test_two_erp_files_is_an_error_run(service: BlobServiceClient, run_id: str) -> None:
    upload(service, f"{run_id}/erp.csv", ERP)
    upload(service, f"{run_id}/erp.parquet", b"PAR1")
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error" and "erp" in outcome.detail
    assert json.loads(reports(service, run_id)["summary.json"])["status"] == "error"


@pytest.mark.parametrize("bad", ["a" * 65, "run$1", "-starts-with-dash"])
def test_invalid_run_id_is_ignored_and_nothing_is_stored(service: BlobServiceClient, bad: str) -> None:
    upload(service, f"{bad}/erp.csv", ERP)
    outcome = fire(service, upload(service, f"{bad}/wms.csv", WMS))
    assert outcome.status == "ignored"
    assert reports(service, bad) == {}


def test_run_config_file_overrides_the_default_threshold(service: BlobServiceClient, run_id: str) -> None:
    upload(service, f"{run_id}/config.json", json.dumps({"materiality": {"value": "0.5"}}).encode())
    upload(service, f"{run_id}/erp.csv", ERP)
    fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    rows = rows_by_item(reports(service, run_id)["discrepancies.csv"])
    assert rows["A0002"]["material"] == "yes"  # |-4 x 0.15| = 0.60 > 0.5


def test_settings_set_the_master_side(service: BlobServiceClient, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_MASTER", "erp")
    reset_settings()
    upload(service, f"{run_id}/erp.csv", ERP)
    fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    journal = json.loads(reports(service, run_id)["proposed_journal.json"])
    lines = {ln["item"]: ln for j in journal["journals"] for ln in j["lines"]}
    assert journal["target"] == "wms"
    assert lines["A0003"]["quantity_delta"] == "1"  # the WMS is brought up to the ERP's 12


def test_invalid_run_config_gives_an_error_run(service: BlobServiceClient, run_id: str) -> None:
    upload(service, f"{run_id}/config.json", b'{"master": "nobody"}')
    upload(service, f"{run_id}/erp.csv", ERP)
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error" and "config" in outcome.detail


def test_history_counts_consecutive_out_of_balance_runs(service: BlobServiceClient) -> None:
    item = "H" + uuid.uuid4().hex[:8]
    erp = f"ItemNumber,InventoryWarehouseId,OnHandQuantity,UnitCost\n{item},13,10,500\n".encode()
    wms = f"item_id;warehouse;on_hand\n{item};13;9\n".encode()
    runs = [f"hist-{uuid.uuid4().hex[:8]}-{n}" for n in range(3)]
    for n, run in enumerate(runs):
        upload(service, f"{run}/erp.csv", erp + f"OTHER,13,{n},1\n".encode())  # each day's stock differs a bit
        fire(service, upload(service, f"{run}/wms.csv", wms))
    last = json.loads(reports(service, runs[-1])["summary.json"])
    flagged = {(f["item"], f["warehouse"]): f["runs"] for f in last["audit"]["flagged"]}
    assert flagged[(item, "13")] == 3


def test_history_reads_older_runs_from_their_briefs_and_only_the_deciding_runs_streaks(
    service: BlobServiceClient,
) -> None:
    """A run reads the last twelve runs for its history; on bad days each summary is ~15 MB, nearly all
    of it the streak list, and only the newest run's list counts. The older runs are read from their brief
    (history.json): with their summaries unreadable they still appear in the trend, and the streak still
    comes from the newest run."""
    item = "B" + uuid.uuid4().hex[:8]
    erp = f"ItemNumber,InventoryWarehouseId,OnHandQuantity,UnitCost\n{item},13,10,500\n".encode()
    wms = f"item_id;warehouse;on_hand\n{item};13;9\n".encode()
    runs = [f"brief-{uuid.uuid4().hex[:8]}-{n}" for n in range(4)]
    container = service.get_container_client(REPORTS)
    for n, run in enumerate(runs):
        if n == 3:  # the first two runs' summaries no longer match their manifest: unreadable
            for old in runs[:2]:
                container.upload_blob(f"{ENV}/{old}/summary.json", b"{}", overwrite=True)
        upload(service, f"{run}/erp.csv", erp + f"OTHER,13,{n},1\n".encode())
        fire(service, upload(service, f"{run}/wms.csv", wms))
    files = reports(service, runs[-1])
    brief = json.loads(reports(service, runs[2])["history.json"])
    assert "out_of_balance" not in brief and brief["out_of_balance_count"] == 1
    assert "flagged" not in brief["audit"] and brief["audit"]["flagged_count"] == 1
    last = json.loads(files["summary.json"])
    streaks = {(e["item"], e["warehouse"]): e["runs"] for e in last["out_of_balance"]}
    assert streaks[(item, "13")] == 4, "the newest run's streak list was read from its summary"
    page = files["report.html"].decode()
    assert all(run in page for run in runs[:3]), "every earlier run is in the trend, read from its brief"


class _Exploding(io.RawIOBase):
    """A report stream that fails half way, as a crash between writes would."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        raise OSError("simulated crash while writing the report set")


def _committed_set(service: BlobServiceClient, run_id: str) -> dict[str, bytes]:
    upload(service, f"{run_id}/erp.csv", ERP)
    fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    return reports(service, run_id)


def test_crash_between_writes_leaves_the_previous_set_intact(service: BlobServiceClient, run_id: str) -> None:
    before = _committed_set(service, run_id)
    sink = BlobReportSink(service, f"{ENV}/{run_id}", REPORTS)
    sink.write("summary.json", b'{"status": "half"}', "application/json")
    with pytest.raises(OSError):
        sink.write("discrepancies.csv", io.BufferedReader(_Exploding()), "text/csv")
    sink.abort()
    assert reports(service, run_id) == before


def test_crash_inside_commit_is_not_trusted(
    service: BlobServiceClient, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.blob_reports import read_report

    before = _committed_set(service, run_id)
    sink = BlobReportSink(service, f"{ENV}/{run_id}", REPORTS)
    for name in ("discrepancies.csv", "proposed_journal.json", "report.html", "summary.json"):
        sink.write(name, b"new " + name.encode(), "text/plain")
    real = BlobClient.upload_blob

    def summary_crashes(self: BlobClient, *args: object, **kwargs: object) -> object:
        if self.blob_name.endswith("/summary.json"):  # the reports go up together: this one fails
            raise OSError("simulated crash during commit")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BlobClient, "upload_blob", summary_crashes)
    with pytest.raises(OSError):
        sink.commit()
    after = reports(service, run_id)
    assert after["manifest.json"] == before["manifest.json"]  # the manifest still describes the old set
    container = service.get_container_client(REPORTS)
    assert after["discrepancies.csv"] == b"new discrepancies.csv"  # overwritten beside the crash ...
    assert read_report(container, f"{ENV}/{run_id}", "discrepancies.csv") is None  # ... and readers refuse it
    assert read_report(container, f"{ENV}/{run_id}", "summary.json") == before["summary.json"]


# ---- bad input: an error report naming file and line, never an exception ----
def _errors(service: BlobServiceClient, run_id: str) -> list[str]:
    summary = json.loads(reports(service, run_id)["summary.json"])
    assert summary["status"] == "error"
    return summary["errors"]


def test_a_header_field_over_the_csv_field_limit_is_an_error_report(service: BlobServiceClient, run_id: str) -> None:
    upload(service, f"{run_id}/erp.csv", b"ItemNumber,OnHandQuantity," + b"x" * 140_000 + b"\r\nA1,1,2\r\n")
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error"
    (error,) = _errors(service, run_id)
    assert f"{run_id}/erp.csv" in error and "line 1" in error


@pytest.mark.parametrize("name", ["config.json", "config.toml"])
def test_a_run_config_nested_5000_deep_is_an_error_report(service: BlobServiceClient, run_id: str, name: str) -> None:
    deep = ('{"a": ' * 5000 + "1" + "}" * 5000) if name.endswith(".json") else "a = " + "[" * 5000 + "]" * 5000
    upload(service, f"{run_id}/{name}", deep.encode())
    upload(service, f"{run_id}/erp.csv", ERP)
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error" and "nested too deeply" in outcome.detail
    assert any(name in e for e in _errors(service, run_id))


def test_a_malformed_row_names_file_and_line_not_server_paths_or_engine_internals(
    service: BlobServiceClient, run_id: str
) -> None:
    upload(service, f"{run_id}/erp.csv", ERP + b"A0004,1,13,5,1.00,extra\r\n")
    outcome = fire(service, upload(service, f"{run_id}/wms.csv", WMS))
    assert outcome.status == "error"
    (error,) = _errors(service, run_id)
    assert error == f"it-snapshots/{ENV}/{run_id}/erp.csv: line 5: expected 5 columns, found 6"
    page = reports(service, run_id)["report.html"].decode()
    for leak in (tempfile.gettempdir(), "reconcile-", "strict_mode", "Possible fixes", "Invalid Input Error"):
        assert leak not in page and leak not in outcome.detail
