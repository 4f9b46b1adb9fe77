"""Big report files come straight from storage through a short-lived read link, never through the worker.

A bad day's proposed journal is 132 MB; answered inline, every download held it in the worker and the host.
Files over REPORT_INLINE_MAX_BYTES are refused inline (413 UseDownloadLink) and `…/report/{name}/link`
hands out a SAS for that one blob: read only, minutes long, the download named and typed by the signature.
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func
import httpx
import pytest

from functions.reconcile import get_reconciliation_report, get_reconciliation_report_link
from shared.adapters.blob_reports import BlobReportSink
from shared.adapters.storage_clients import blob_service
from shared.services.reconcile_reports import report_link
from tests.http_requests import app_request

CSV = ("item;warehouse;difference\n" + "".join(f"A{n:05d};W1;{n % 7 - 3}\n" for n in range(400))).encode()


def _get(handler, env: str, run: str, name: str) -> func.HttpResponse:
    request = app_request(
        "GET", "http://localhost/api/x", body=b"", route_params={"environmentId": env, "runId": run, "name": name}
    )
    return handler(request)


@pytest.fixture
def small_inline_limit(app_env, monkeypatch):
    """Files over 4 KiB are 'big' here (32 MiB by default)."""
    from shared.config import reset_settings

    monkeypatch.setenv("REPORT_INLINE_MAX_BYTES", "4096")
    reset_settings()


@pytest.fixture
def run_id(small_inline_limit, environment_id) -> str:
    run = "link-" + uuid.uuid4().hex[:10]
    sink = BlobReportSink(blob_service(), f"{environment_id}/{run}")
    sink.write("differences.csv", CSV, "text/csv")
    sink.write("summary.json", b'{"status": "ok"}', "application/json")
    sink.commit()
    return run


def test_a_file_over_the_inline_limit_is_refused_inline_and_names_its_link(run_id, environment_id):
    assert len(CSV) > 4096
    response = _get(get_reconciliation_report, environment_id, run_id, "differences.csv")
    assert response.status_code == 413, response.get_body()[:200]
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "UseDownloadLink"
    assert f"{run_id}/report/differences.csv/link" in error["message"]
    small = _get(get_reconciliation_report, environment_id, run_id, "summary.json")
    assert small.status_code == 200 and json.loads(small.get_body()) == {"status": "ok"}


def test_the_link_downloads_the_file_as_listed_without_an_api_key(run_id, environment_id):
    response = _get(get_reconciliation_report_link, environment_id, run_id, "differences.csv")
    assert response.status_code == 200, response.get_body()
    assert response.headers["Cache-Control"] == "no-store"
    link = json.loads(response.get_body())
    assert link["bytes"] == len(CSV) and link["sha256"] == hashlib.sha256(CSV).hexdigest()
    expires = datetime.fromisoformat(link["expiresOn"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    download = httpx.get(link["url"])  # no x-functions-key: the signature is the only credential
    assert download.status_code == 200
    assert download.content == CSV
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == f'attachment; filename="{run_id}-differences.csv"'


def test_the_link_reads_that_one_blob_only_and_cannot_write(run_id, environment_id):
    link = json.loads(_get(get_reconciliation_report_link, environment_id, run_id, "differences.csv").get_body())
    parts = urlsplit(link["url"])
    other = urlunsplit(parts._replace(path=parts.path.replace("differences.csv", "summary.json")))
    assert httpx.get(other).status_code == 403
    assert httpx.put(link["url"], content=b"x", headers={"x-ms-blob-type": "BlockBlob"}).status_code == 403
    assert httpx.delete(link["url"]).status_code == 403
    assert httpx.get(link["url"]).content == CSV, "the file is unchanged"


def test_an_expired_link_reads_nothing(run_id, environment_id):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    link = report_link(blob_service(), environment_id, run_id, "differences.csv", timedelta(minutes=15), an_hour_ago)
    assert link is not None
    assert httpx.get(link["url"]).status_code == 403


def test_no_link_to_another_environments_run_an_unlisted_file_or_a_bad_name(run_id, environment_id):
    other_env = "env-" + uuid.uuid4().hex[:10]
    assert _get(get_reconciliation_report_link, other_env, run_id, "differences.csv").status_code == 404
    assert _get(get_reconciliation_report_link, environment_id, run_id, "report.xlsx").status_code == 404
    assert _get(get_reconciliation_report_link, environment_id, run_id, "manifest.json").status_code == 404
    assert _get(get_reconciliation_report_link, environment_id, run_id + "x", "differences.csv").status_code == 404
    bad = _get(get_reconciliation_report_link, environment_id, "../" + run_id, "differences.csv")
    assert bad.status_code == 400


def test_a_run_still_being_written_has_no_link(small_inline_limit, environment_id):
    run = "half-" + uuid.uuid4().hex[:8]
    sink = BlobReportSink(blob_service(), f"{environment_id}/{run}")
    sink.write("differences.csv", CSV, "text/csv")  # written, never committed
    assert _get(get_reconciliation_report_link, environment_id, run, "differences.csv").status_code == 404


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REPORT_LINK_MINUTES", "0"),
        ("REPORT_LINK_MINUTES", "61"),
        ("REPORT_INLINE_MAX_BYTES", "10"),
        ("REPORT_INLINE_MAX_BYTES", str(1024**3 + 1)),
        ("REPORT_INLINE_MAX_BYTES", "x"),
    ],
)
def test_link_settings_out_of_bounds_are_refused_by_name(monkeypatch, name, value):
    from pydantic import ValidationError

    from shared.config import Settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()


def test_a_manifest_that_does_not_give_the_size_is_checked_against_the_blob(run_id, environment_id):
    """Older manifests may lack `bytes`: the size comes from the blob, and a big file is still not read whole."""
    container = blob_service().get_container_client("reports")
    name = f"{environment_id}/{run_id}/manifest.json"
    manifest = json.loads(container.download_blob(name).readall())
    del manifest["files"]["differences.csv"]["bytes"]
    container.upload_blob(name, json.dumps(manifest).encode(), overwrite=True)
    response = _get(get_reconciliation_report, environment_id, run_id, "differences.csv")
    assert response.status_code == 413 and json.loads(response.get_body())["error"]["code"] == "UseDownloadLink"
