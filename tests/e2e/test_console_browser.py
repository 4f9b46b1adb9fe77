"""The web console in a real Chromium (the operating system's, /usr/bin/chromium) against the running app.

Flows: post the sample adjustments → `Created` → the queue triggers sync them → `IVPosted`; drop the sample
snapshots → open the run → approve one proposed line → it is among the adjustments. Screenshots of each page
go to `CONSOLE_SCREENSHOTS` (a folder; `docs/images` refreshes the README's) or the test's temp folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devtools import drop_samples

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
MAX_SCREENSHOT_BYTES = 300_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the console's browser tests need it "
            "(`make install` installs it with apt-get; or `apt-get install chromium`; or set CHROMIUM_PATH)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's own browser download is not reachable here: drive the OS package instead.
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def shots(tmp_path: Path):
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str, **kwargs: object) -> None:
        path = folder / f"console-{name}.png"
        page.screenshot(path=str(path), **kwargs)
        assert path.stat().st_size < MAX_SCREENSHOT_BYTES, f"{path} is {path.stat().st_size} bytes"

    return shoot


@pytest.fixture
def console(browser, queued_app):
    """A page of the console, connected (key and environment typed into the dialog once, as a person does)."""
    environment = "console-" + uuid.uuid4().hex[:8]
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{queued_app.base_url}/console/")
    page.locator("#connection-dialog input[name=key]").fill(queued_app.key)
    page.locator("#connection-dialog input[name=environment]").fill(environment)
    page.locator("#connection-form button[type=submit]").click()
    page.locator('main[data-ready="#/adjustments"], main[data-ready="#/"]').wait_for()
    yield page, environment
    context.close()
    assert problems == [], f"script errors in the console: {problems}"


def _refresh_until(page, refresh: str, done, attempts: int = 120) -> None:
    for _ in range(attempts):
        page.locator(refresh).click()
        page.wait_for_timeout(500)
        if done():
            return
    raise AssertionError(f"the console never showed the expected state; last text: {page.inner_text('main')[:2000]}")


def test_post_the_sample_then_see_created_then_ivposted(console, shots):
    from playwright.sync_api import expect

    page, _ = console
    page.locator("button[data-sample='adjustments.json']").click()
    expect(page.locator("textarea")).to_have_value(re.compile("pos-store13-20261123-000001"))
    page.locator("#post-adjustments").click()
    result = page.locator("#post-result")
    expect(result).to_contain_text("3 created, 0 duplicate, 0 conflict")
    assert result.locator(".badge[data-status=created]").count() == 3
    assert result.locator(".badge[data-status=Created]").count() == 3
    result.scroll_into_view_if_needed()
    shots(page, "post")

    page.get_by_role("tab", name="Detailed lines").click()
    rows = page.locator("#lines-result tbody tr")
    expect(rows).to_have_count(3)

    def synced() -> bool:
        statuses = [b.get_attribute("data-status") for b in page.locator("#lines-result tbody .badge").all()]
        return len(statuses) == 3 and all(s in ("IVPosted", "Aggregated") for s in statuses)

    _refresh_until(page, "#refresh-lines", synced)  # the queued app's sync messages do the work, no button
    for row in rows.all():
        ivposted = row.locator("td").nth(6).inner_text()
        assert ivposted != "—", "an IVPosted line shows the time it reached the cache"
    shots(page, "lines")

    page.get_by_role("tab", name="Post adjustments").click()
    page.locator("button[data-sample='adjustments.json']").click()
    page.locator("#post-adjustments").click()
    expect(page.locator("#post-result")).to_contain_text("0 created, 3 duplicate, 0 conflict")


def test_bad_lines_show_every_problem_and_store_nothing(console, shots):
    from playwright.sync_api import expect

    page, _ = console
    page.locator("textarea").fill('[{"id": "bad-1", "organizationId": "usmf", "productId": "=cmd", "quantity": "x"}]')
    page.locator("#post-adjustments").click()
    alert = page.locator("#post-result .alert.error")
    expect(alert).to_contain_text("Nothing was stored")
    expect(alert).to_contain_text("(InvalidLines)")
    assert alert.locator("li").count() >= 2, "every problem of the line is listed"
    alert.scroll_into_view_if_needed()
    shots(page, "error")
    page.get_by_role("tab", name="Detailed lines").click()
    expect(page.locator("#lines-result")).to_contain_text("No lines match")


def _wait_for_blob(service: BlobServiceClient, name: str, attempts: int = 240) -> bytes:
    for _ in range(attempts):
        with contextlib.suppress(ResourceNotFoundError):
            return service.get_blob_client("reports", name).download_blob().readall()
        time.sleep(0.25)
    raise AssertionError(f"reports/{name} never appeared")


@pytest.fixture
def sample_run(console, queued_app, storage_connection, monkeypatch) -> tuple[str, dict]:
    """`make drop-samples` itself, into the console's environment; the running app reconciles the run."""
    _, environment = console
    run = "console-" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("OMNISYNC_STORAGE", storage_connection)
    assert drop_samples.main(["--run-id", run, "--environment", environment]) == 0
    service = BlobServiceClient.from_connection_string(storage_connection)
    _wait_for_blob(service, f"{environment}/{run}/manifest.json")
    return run, json.loads(_wait_for_blob(service, f"{environment}/{run}/proposed_journal.json"))


def _navigate(page, link: str, hash_: str) -> None:
    """Click a link and wait until its page is drawn (main.js marks `main[data-ready]`)."""
    page.get_by_role("link", name=link, exact=True).click()
    page.locator(f'main[data-ready="{hash_}"]').wait_for()


def _open_run_and_approve(page, run: str, pick_line) -> None:
    from playwright.sync_api import expect

    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    expect(page.locator("#run-view h2").first).to_contain_text(run)
    expect(page.locator("#run-view .badge[data-status=ok]")).to_have_count(1)
    pick_line()
    page.locator("#approve-selected").click()
    expect(page.locator("#approval-result")).to_contain_text("1 line(s) posted as adjustments")


def test_drop_samples_open_the_run_approve_one_line_and_find_it_among_the_adjustments(console, sample_run, shots):
    """A run opened by its id (GET …/reconciliation/{runId}) and one line approved by its id (…/approve)."""
    from playwright.sync_api import expect

    page, _ = console
    run, journal = sample_run
    line = journal["journals"][0]["lines"][0]
    _navigate(page, "Reconciliation", "#/reconciliation")
    expect(page.locator("#run-list")).to_contain_text(run)  # the environment's runs, newest first

    def tick_the_line() -> None:
        page.locator(f"input[name=approve][value='{line['line_id']}']").check()

    _open_run_and_approve(page, run, tick_the_line)
    shots(page, "approve", full_page=True)
    page.locator("#approved-lines-link").click()
    rows = page.locator("#lines-result tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"recon-{line['line_id']}")
    expect(rows.first).to_contain_text(line["item"])
    expect(rows.first).to_contain_text(f"Reconciliation: {run}")


def test_the_run_list_opens_the_run_with_its_report_embedded_and_lines_are_ticked(console, sample_run, shots):
    """The real run list and report-file routes: the run is listed, its report.html embedded, its proposed
    lines offered for approval, and its files downloaded through the API."""
    from playwright.sync_api import expect

    page, _ = console
    run, journal = sample_run
    _navigate(page, "Reconciliation", "#/reconciliation")
    _navigate(page, run, f"#/reconciliation/{run}")
    frame = page.frame_locator("iframe.report-frame")
    expect(frame.locator("body")).to_contain_text("A0003")
    line = journal["journals"][0]["lines"][0]

    def tick_the_first_line() -> None:
        page.locator(f"input[name=approve][value='{line['line_id']}']").check()

    _open_run_and_approve(page, run, tick_the_first_line)
    shots(page, "report", full_page=True)
    with page.expect_download() as download:
        page.locator("button[data-report='discrepancies.csv']").click()
    assert download.value.suggested_filename == f"{run}-discrepancies.csv"
    page.locator("#approved-lines-link").click()
    expect(page.locator("#lines-result tbody tr").first).to_contain_text(f"recon-{line['line_id']}")


def _commit_big_run(
    storage_connection: str,
    environment: str,
    run: str,
    journals: int,
    lines_each: int,
    warnings: list[str],
    indexed: bool = False,
) -> None:
    """A committed run whose proposal is bigger than a page: a summary and a proposed journal, as a run writes
    (with its journal index when ``indexed``, as runs write since; without, as older runs did)."""
    from shared.adapters.blob_reports import BlobReportSink
    from shared.services.journal_indexing import index_of

    lines = journals * lines_each
    proposal = {
        "schema": "omnisync.reconciliation.proposed_journal/1",
        "run_id": run,
        "status": "proposed",
        "master": "wms",
        "target": "erp",
        "mode": "movement",
        "line_count": lines,
        "journals": [
            {
                "journal_id": f"{run}-{j:03d}",
                "lines": [
                    {
                        "line_id": f"{run}-{j}-{n}",
                        "run_id": run,
                        "journal_id": f"{run}-{j:03d}",
                        "line_number": n,
                        "item": f"P{j:02d}{n:03d}",
                        "site": "1",
                        "warehouse": "13",
                        "quantity_delta": "1",
                        "unit_cost": "2",
                        "value": "2",
                        "reasons": [],
                        "category": "quantity_differs",
                    }
                    for n in range(1, lines_each + 1)
                ],
            }
            for j in range(1, journals + 1)
        ],
    }
    counts = {"keys": 1000, "match": 1000 - lines, "quantity_differs": lines, "only_in_erp": 0, "only_in_wms": 0}
    summary = {
        "run_id": run,
        "status": "ok",
        "counts": {**counts, "differences": lines, "material": 0},
        "warnings": warnings,
    }
    sink = BlobReportSink(BlobServiceClient.from_connection_string(storage_connection), f"{environment}/{run}")
    sink.write("summary.json", json.dumps(summary).encode(), "application/json")
    written = json.dumps(proposal, separators=(",", ":")).encode()
    sink.write("proposed_journal.json", written, "application/json")
    if indexed:
        index = index_of(io.BytesIO(written))
        assert index is not None
        sink.write("journal_index.json", json.dumps(index).encode(), "application/json")
    sink.commit()


def test_a_big_proposal_is_listed_a_page_at_a_time_and_a_whole_journal_is_approved(
    console, storage_connection, monkeypatch, shots
):
    """A bad day proposes far more lines than a page: the console pages through them (never the whole
    journal in the browser) and approves one whole journal by its id."""
    from playwright.sync_api import expect

    page, environment = console
    run = "big-" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("OMNISYNC_STORAGE", storage_connection)
    warned = "30 % of the compared keys differ (300 of 1,000): check the snapshots before approving."
    _commit_big_run(storage_connection, environment, run, journals=3, lines_each=90, warnings=[warned])
    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 1–100 of 270")
    expect(page.locator("#proposed-lines tbody tr")).to_have_count(100)
    expect(page.locator("#approval-limit")).to_contain_text("at most 10,000 lines")
    expect(page.locator("#lines-previous")).to_be_disabled()
    page.locator("#lines-next").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 101–200 of 270")
    expect(page.locator("#proposed-lines tbody tr").first).to_contain_text(f"{run}-002")
    page.locator("#lines-next").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 201–270 of 270")
    expect(page.locator("#lines-next")).to_be_disabled()
    page.locator("#lines-previous").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 101–200 of 270")
    expect(page.locator("#run-warnings")).to_contain_text(warned)  # above the counts, before any approval
    page.locator("input[name=journalIds]").fill(f"{run}-002")
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, accept=False))
    page.locator("#approve-selected").click()
    expect(page.locator("#approve-selected")).to_be_enabled()
    assert len(asked) == 1 and warned in asked[0]
    expect(page.locator("#approval-result")).to_be_empty()  # declined: nothing posted
    page.once("dialog", lambda d: answer(d, accept=True))
    page.locator("#approve-selected").click()
    expect(page.locator("#approval-result")).to_contain_text("90 line(s) posted as adjustments")
    assert len(asked) == 2
    page.locator("#run-warnings").scroll_into_view_if_needed()
    shots(page, "approve-journal")  # the warning, the counts, then (scrolled) the pager and the journal field


def _open_big_run(page, environment: str, storage_connection: str, monkeypatch, prefix: str, **proposal) -> str:
    """A big run committed (``_commit_big_run``) and opened in the console's Reconciliation page."""
    run = prefix + uuid.uuid4().hex[:8]
    monkeypatch.setenv("OMNISYNC_STORAGE", storage_connection)
    _commit_big_run(storage_connection, environment, run, warnings=[], **proposal)
    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    return run


def test_a_journal_is_reached_from_the_journal_list_and_named_for_approval(
    console, storage_connection, monkeypatch, shots
):
    """With the run's journal index the console lists every journal: one choice shows its lines (read by range,
    not paged to) and one click names it for approval."""
    from playwright.sync_api import expect

    page, environment = console
    proposal = {"journals": 3, "lines_each": 90, "indexed": True}
    run = _open_big_run(page, environment, storage_connection, monkeypatch, "jump-", **proposal)
    expect(page.locator("#lines-range")).to_have_text("Lines 1–100 of 270")
    expect(page.locator("#journal-jump option")).to_have_count(4)  # the prompt and three journals
    page.locator("#journal-jump").select_option(f"{run}-003")
    expect(page.locator("#lines-range")).to_have_text("Lines 181–270 of 270")
    expect(page.locator("#proposed-lines tbody tr")).to_have_count(90)
    expect(page.locator("#proposed-lines tbody tr").first).to_contain_text(f"{run}-003")
    expect(page.locator("#lines-next")).to_be_disabled()
    expect(page.locator("#journal-jump")).to_have_value(f"{run}-003")
    page.locator("#journal-name").click()
    expect(page.locator("input[name=journalIds]")).to_have_value(f"{run}-003")
    page.locator("#journal-toolbar").scroll_into_view_if_needed()
    shots(page, "journal-jump")
    page.locator("#approve-selected").click()
    expect(page.locator("#approval-result")).to_contain_text("90 line(s) posted as adjustments")


def test_a_whole_proposal_is_approved_in_the_background_and_its_progress_shown(console, storage_connection):
    """One click approves every line, however many: the app queues the job, the queue worker moves the lines
    a part at a time, and the console follows the job until it is done."""
    from playwright.sync_api import expect

    page, environment = console
    run = "bgc-" + uuid.uuid4().hex[:8]
    _commit_big_run(storage_connection, environment, run, journals=3, lines_each=90, warnings=[])
    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 1–100 of 270")
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    first = page.locator("input[name=approve]").first
    first.check()
    page.locator("#approve-background").click()  # ticked lines are Approve's: refused, nothing asked or queued
    expect(page.locator("#approval-result .alert.error")).to_contain_text("Lines are ticked")
    assert asked == []
    first.uncheck()
    page.locator("#approve-background").click()
    progress = page.locator("#background-progress")
    expect(progress).to_contain_text("done, 270 of 270 lines (3 of 3 journals); 270 posted", timeout=60_000)
    expect(page.locator("#approval-result")).to_contain_text("270 line(s) moved by the background approval")
    assert asked == ["Approve every proposed line (270) of this run in the background?"]
    page.locator("#approved-lines-link").click()
    expect(page.locator("#lines-result tbody tr").first).to_contain_text(f"recon-{run}-")
    _navigate(page, "Reconciliation", "#/reconciliation")  # opened again: the approval is named
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    expect(page.locator("#approval-result")).to_contain_text("Last background approval (bg-")
    expect(page.locator("#approval-result")).to_contain_text("done, 270 line(s) moved")


def test_lines_a_background_approval_could_not_move_are_named_when_it_is_done(console, queued_app, storage_connection):
    """Lines approved earlier for another organization keep their ids: the background approval moves the rest
    and the console says how many it left and why, instead of a plain "done"."""
    import httpx
    from playwright.sync_api import expect

    page, environment = console
    run = "bgk-" + uuid.uuid4().hex[:8]
    _commit_big_run(storage_connection, environment, run, journals=2, lines_each=3, warnings=[])
    earlier = httpx.post(
        f"{queued_app.base_url}/environment/{environment}/reconciliation/{run}/approve",
        headers=queued_app.headers,
        json={"organizationId": "other", "journalIds": [f"{run}-001"]},
        timeout=30,
    )
    assert earlier.status_code == 200 and earlier.json()["posted"] == 3
    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#approve-background").click()
    result = page.locator("#approval-result")
    expect(result).to_contain_text("3 line(s) moved by the background approval", timeout=60_000)
    expect(result.locator(".alert.warning")).to_contain_text("3 line(s) were not moved")


def test_a_file_too_big_to_answer_inline_downloads_from_storage_through_its_link(console, storage_connection):
    """A bad day's files are tens of MB: the API refuses them inline (413 UseDownloadLink) and the console
    follows the file's read link instead, so the browser gets the file and the app never holds it."""
    from shared.adapters.blob_reports import BlobReportSink

    page, environment = console
    run = "wide-" + uuid.uuid4().hex[:8]
    rows = "".join(f"P{n:06d};13;{n % 9 - 4};Pièce {n}\n" for n in range(12_000))
    big = ("\ufeffItem;Warehouse;Difference;Name\n" + rows).encode()
    assert len(big) > 262_144  # the queued app answers files up to 256 KiB inline
    summary = {"run_id": run, "status": "ok", "counts": {"keys": 12_000, "differences": 12_000, "material": 0}}
    sink = BlobReportSink(BlobServiceClient.from_connection_string(storage_connection), f"{environment}/{run}")
    sink.write("summary.json", json.dumps(summary).encode(), "application/json")
    sink.write("discrepancies.csv", big, "text/csv")
    sink.commit()
    _navigate(page, "Reconciliation", "#/reconciliation")
    page.locator("input[name=runId]").fill(run)
    page.get_by_role("button", name="Open run").click()
    with page.expect_download() as download:
        page.locator("button[data-report='discrepancies.csv']").click()
    assert download.value.suggested_filename == f"{run}-discrepancies.csv"
    assert "sig=" in download.value.url and "/api/" not in download.value.url  # from storage, not the app
    assert Path(download.value.path()).read_bytes() == big
    assert page.locator("#run-view .alert.error").count() == 0


def test_configuration_saves_the_sample_and_lists_every_problem_of_a_bad_one(console, shots):
    from playwright.sync_api import expect

    page, _ = console
    _navigate(page, "Configuration", "#/configuration")
    expect(page.locator("h1 .badge")).to_have_text("default (from app settings)")
    page.locator("button[data-sample='configuration.json']").click()
    expect(page.locator("textarea")).to_have_value(re.compile('"available"'))
    page.locator("#save-config").click()
    expect(page.locator("#config-message")).to_contain_text("Saved.")
    expect(page.locator("h1 .badge")).to_have_text("saved for this environment")
    shots(page, "configuration")

    page.locator("textarea").fill('{"dataSources": [{"name": "=x", "physicalMeasures": []}], "offsets": 3}')
    page.locator("#save-config").click()
    alert = page.locator("#config-message .alert.error")
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("(InvalidConfiguration)")
    assert alert.locator("li").count() >= 2
    page.reload()
    page.locator('main[data-ready="#/configuration"]').wait_for()
    expect(page.locator("textarea")).to_have_value(re.compile('"available"'))  # the refused one changed nothing


SAMPLES = Path(drop_samples.ROOT) / "samples"


def _with_sample_configuration(app, environment: str) -> str:
    """The environment gets samples/configuration.json (its calculated measure and offset rules)."""
    import httpx

    base = f"{app.base_url}/environment/{environment}"
    config = (SAMPLES / "configuration.json").read_bytes()
    saved = httpx.put(
        f"{base}/configuration", content=config, headers={**app.headers, "content-type": "application/json"}
    )
    assert saved.status_code == 200, saved.text
    return base


def test_on_hand_groups_by_location_with_the_calculated_measure(console, queued_app, shots):
    import httpx
    from playwright.sync_api import expect

    page, environment = console
    base = _with_sample_configuration(queued_app, environment)
    lines = (SAMPLES / "adjustments.json").read_bytes()
    url = f"{base}/transaction/adjustment/bulk?createWithIVSync=true"
    posted = httpx.post(url, content=lines, headers={**queued_app.headers, "content-type": "application/json"})
    assert posted.status_code == 200, posted.text

    _navigate(page, "On-hand", "#/onhand")
    page.locator("input[name=productId]").fill("D0001")
    page.locator("#run-query").click()
    table = page.locator("#onhand-result table")
    expect(table.locator("thead")).to_contain_text("@iv/adjustment")
    expect(table.locator("thead")).to_contain_text("iv/available")
    row = table.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("D0001")
    expect(row.locator("td").nth(1)).to_have_text("13")  # grouped by locationId
    shots(page, "onhand")


def test_erp_transactions_post_the_sample_and_look_it_up(console, queued_app):
    from playwright.sync_api import expect

    page, environment = console
    _with_sample_configuration(queued_app, environment)  # its offset rule for salesOrder on pos/sold
    _navigate(page, "ERP transactions", "#/erp")
    page.locator("button[data-sample='erp_transactions.json']").click()
    expect(page.locator("textarea")).to_have_value(re.compile("SO-USMF-000731"))
    page.get_by_role("button", name="Post transactions").click()
    expect(page.locator("main")).to_contain_text("1 created, 0 duplicate, 0 conflict")
    page.locator("input[name=id]").fill("SO-USMF-000731")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("dl.kv")).to_contain_text("salesOrder")
    page.locator("input[name=id]").fill("never-posted")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("main .alert.error")).to_contain_text("(NotFound)")


def test_a_wrong_key_says_so_in_plain_words(browser, queued_app):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{queued_app.base_url}/console/#/adjustments/detailed")
    page.locator("#connection-dialog input[name=key]").fill("not-the-key")
    page.locator("#connection-dialog input[name=environment]").fill("console-wrong-key")
    page.locator("#connection-form button[type=submit]").click()
    alert = page.locator("#lines-result .alert.error")
    expect(alert).to_contain_text("The function key was refused")
    expect(alert).to_contain_text("(Unauthorized)")
    context.close()


def test_an_aggregated_line_the_erp_refused_shows_its_message_and_is_retried(
    console, queued_app, storage_connection, shots
):
    import httpx
    from playwright.sync_api import expect

    page, environment = console
    base = f"{queued_app.base_url}/environment/{environment}"
    line = {
        "id": "console-retry-1",
        "organizationId": "usmf",
        "productId": "B0001",
        "quantityDataSource": "@iv",
        "physicalMeasure": "adjustment",
        "dimensions": {"siteId": "1", "locationId": "13"},
        "quantity": 4,
    }
    assert httpx.post(f"{base}/transaction/adjustment/bulk", json=[line], headers=queued_app.headers).status_code == 200

    def aggregated() -> list[dict]:
        return httpx.get(f"{base}/transaction/aggregated", headers=queued_app.headers).json()["items"]

    sent = []
    for _ in range(240):  # the queue triggers sync, aggregate and send it to the outbox by themselves
        sent = [a for a in aggregated() if a["journalId"]]
        if sent:
            break
        time.sleep(0.25)
    (item,) = sent
    result = {
        "journalId": item["journalId"],
        "state": "create_error",
        "message": "Item B0001 is blocked",
        "lines": [{"lineId": item["id"], "error": "Item B0001 is blocked for inventory transactions"}],
    }
    service = BlobServiceClient.from_connection_string(storage_connection)
    service.get_blob_client("journal-inbox", f"{environment}/{item['journalId']}-result.json").upload_blob(
        json.dumps(result)
    )
    for _ in range(240):
        if aggregated()[0]["status"] == "FnOCreateError":
            break
        time.sleep(0.25)

    page.get_by_role("tab", name="Aggregated lines").click()
    row = page.locator("#aggregated-result tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".badge[data-status=FnOCreateError]")).to_have_count(1)
    expect(row).to_contain_text("Item B0001 is blocked for inventory transactions")
    expect(row).to_contain_text(item["journalId"])
    shots(page, "aggregated")
    row.get_by_role("button", name="Retry").click()
    expect(page.locator("#toasts")).to_contain_text("will be sent again in a new journal")
    expect(row.locator(".badge[data-status=FnOCreateError]")).to_have_count(0)
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)


def test_level_sync_page_shows_targets_and_what_was_last_sent(console, queued_app, shots):
    """The README's level walk-through, read in the console: the target, its mapping, and A0001's levels."""
    import httpx
    from playwright.sync_api import expect

    page, environment = console
    _navigate(page, "Level sync", "#/levels")  # no targets yet: the page says where they are configured
    expect(page.locator("#level-targets")).to_contain_text("No level targets")
    expect(page.locator("#level-targets a[href='#/configuration']")).to_have_count(1)

    base = f"{queued_app.base_url}/environment/{environment}"
    headers = {**queued_app.headers, "content-type": "application/json"}
    config = (SAMPLES / "level_target_configuration.json").read_bytes()
    saved = httpx.put(f"{base}/configuration", content=config, headers=headers)
    assert saved.status_code == 200, saved.text
    levels = (SAMPLES / "levels_erp_onhand.json").read_bytes()
    posted = httpx.post(f"{base}/setonhand/fno/bulk", content=levels, headers=headers)
    assert posted.status_code == 200, posted.text

    page.reload()
    page.locator('main[data-ready="#/levels"]').wait_for()
    targets = page.locator("#level-targets tbody tr")
    expect(targets).to_have_count(1)
    expect(targets).to_contain_text("fieldservice")
    expect(targets).to_contain_text("11 → FS-MAIN")
    expect(targets.locator("[data-mastered='13']")).to_contain_text("VAN-1, VAN-2")
    page.locator("a[data-target=fieldservice]").click()
    page.locator('main[data-ready="#/levels/fieldservice"]').wait_for()
    expect(page.locator("#level-target .alert.info")).to_contain_text("Target-mastered warehouses receive no levels")
    expect(page.locator("#level-target .alert.info")).to_contain_text("VAN-1, VAN-2 (ERP warehouse 13)")
    expect(page.get_by_role("tab", name="Last sent")).to_have_attribute("aria-selected", "true")

    def sent() -> bool:
        return page.locator("#levels-sent tbody tr").count() > 0

    _refresh_until(page, "#refresh-levels", sent)  # level message at once, the send after LEVEL_SEND_DELAY_SECONDS
    rows = page.locator("#levels-sent tbody tr")
    expect(rows).to_have_count(2)  # A0001 in FS-MAIN and 12; nothing for 13 (target-mastered), 99, B0001
    main_row = rows.filter(has_text="FS-MAIN")
    expect(main_row).to_contain_text("A0001")
    expect(main_row.locator("td").nth(3)).to_have_text("100")
    expect(main_row).to_contain_text("LV-")
    expect(page.locator("#levels-sent")).not_to_contain_text("VAN-")
    expect(page.locator("#levels-sent")).not_to_contain_text("B0001")
    shots(page, "levels", full_page=True)

    page.get_by_role("tab", name="Pending").click()
    expect(page.locator("#levels-pending")).to_contain_text("Nothing pending")
    page.get_by_role("tab", name="Failures").click()
    expect(page.locator("#levels-failures")).to_contain_text("No failures")

    page.goto(f"{queued_app.base_url}/console/#/levels/nosuchtarget")
    expect(page.locator("#level-target .alert.error")).to_contain_text("(NotFound)")


def test_level_sync_last_sent_pages_with_next_and_previous(console, queued_app):
    """26 products sent: the page of 25 offers Next (the API's continuationToken), the second page has the 26th."""
    import httpx
    from playwright.sync_api import expect

    page, environment = console
    base = f"{queued_app.base_url}/environment/{environment}"
    headers = {**queued_app.headers, "content-type": "application/json"}
    config = (SAMPLES / "level_target_configuration.json").read_bytes()
    assert httpx.put(f"{base}/configuration", content=config, headers=headers).status_code == 200
    events = [
        {
            "id": f"page-lvl-{n:03d}",
            "organizationId": "usmf",
            "productId": f"A0{n:03d}",
            "dimensions": {"locationId": "12"},
            "quantities": {"fno": {"onhand": n}},
        }
        for n in range(101, 127)
    ]
    posted = httpx.post(f"{base}/setonhand/fno/bulk", json=events, headers=queued_app.headers)
    assert posted.status_code == 200, posted.text

    page.goto(f"{queued_app.base_url}/console/#/levels/fieldservice")
    page.locator('main[data-ready="#/levels/fieldservice"]').wait_for()
    pager = page.locator("#level-view .pager")
    _refresh_until(page, "#refresh-levels", lambda: "25 products" in pager.inner_text())
    expect(pager.get_by_role("button", name="Next →")).to_be_enabled()
    expect(pager.get_by_role("button", name="← Previous")).to_be_disabled()
    expect(page.locator("#levels-sent")).to_contain_text("A0101")
    pager.get_by_role("button", name="Next →").click()
    _refresh_until(page, "#refresh-levels", lambda: "A0126" in page.locator("#levels-sent").inner_text())
    expect(pager).to_contain_text("Page 2 · 1 product")
    expect(page.locator("#levels-sent")).not_to_contain_text("A0101")
    pager.get_by_role("button", name="← Previous").click()
    expect(pager).to_contain_text("Page 1 · 25 products")
    expect(page.locator("#levels-sent")).to_contain_text("A0101")


def test_lines_ticked_on_several_pages_are_approved_together(console, storage_connection, monkeypatch):
    """Paging redraws the table: a line ticked on page 1 must still be approved after ticking one on page 2.
    The approval names the ticked lines' journals too, so the API reads only those journals."""
    from playwright.sync_api import expect

    page, environment = console
    proposal = {"journals": 3, "lines_each": 60, "indexed": True}
    run = _open_big_run(page, environment, storage_connection, monkeypatch, "pages-", **proposal)
    page.locator(f"input[name=approve][value='{run}-1-2']").check()
    page.locator("#lines-next").click()
    expect(page.locator("#lines-range")).to_have_text("Lines 101–180 of 180")
    page.locator(f"input[name=approve][value='{run}-3-50']").check()
    page.locator("#lines-previous").click()
    expect(page.locator(f"input[name=approve][value='{run}-1-2']")).to_be_checked()  # still ticked when back
    with page.expect_request(lambda r: r.url.endswith("/approve") and r.method == "POST") as sent:
        page.locator("#approve-selected").click()
    expect(page.locator("#approval-result")).to_contain_text("2 line(s) posted as adjustments")
    expect(page.locator("#approval-result")).to_contain_text(f"recon-{run}-3-50")
    body = json.loads(sent.value.post_data or "{}")
    assert sorted(body["lineIds"]) == [f"{run}-1-2", f"{run}-3-50"]
    assert sorted(body["journalIds"]) == [f"{run}-001", f"{run}-003"]
