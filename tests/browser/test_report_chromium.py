"""The finance HTML report looked at in a real browser: the OS Chromium driven by Playwright.

Playwright's own browser download is unreachable here, so the test launches the
Chromium that `make install` installs with apt-get (/usr/bin/chromium, or the path in
OMNISYNC_CHROMIUM). A missing browser is a FAILURE with the fix in the message, never a skip:
a skipped browser check would let a report that overflows at 800 px through unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import SnapshotSource, reconcile
from tests.unit.reconciliation.conftest import report_text, write_csv

CHROMIUM = os.environ.get("OMNISYNC_CHROMIUM", "/usr/bin/chromium")
WIDTH = 800
RUN_ID = "2026-11-26-nightly-" + "x" * 45  # 64 characters, the longest run id the trigger accepts
SCREENSHOT_MAX_BYTES = 300_000

_SVG_TEXT_OUTSIDE = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.push({text: t.textContent, left: r.left, right: r.right, svgLeft: box.left, svgRight: box.right});
    }
  }
  return out;
}"""


def _require_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make install` (installs it with apt-get when missing) "
            "or `apt-get install -y chromium`, or set OMNISYNC_CHROMIUM to a Chromium binary."
        )


def test_chromium_is_installed() -> None:
    """Fails (never skips) without the browser, so a missing install cannot pass the browser checks silently."""
    _require_chromium()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A run whose largest trend value is a positive 995.86 (the label that used to show as "9")."""
    erp = write_csv(
        tmp_path / "erp.csv",
        ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "ItemBatchNumber", "OnHandQuantity", "UnitCost"],
        [
            ["00417", "1", "Zentrallager Süd-Ost 24", "B-2026-044", "10", "99.586"],
            ["A0003", "1", "13", "", "12", "899.00"],
            ["NOCOST", "1", "13", "", "5", ""],
            ["LONG-" + "9" * 60, "1", "13", "", "1", "0"],
        ],
    )
    wms = write_csv(
        tmp_path / "wms.csv",
        ["sku", "site", "wh", "lot", "qty"],
        [
            ["00417", "1", "Zentrallager Süd-Ost 24", "B-2026-044", "0"],
            ["A0003", "1", "13", "", "12"],
            ["NOCOST", "1", "13", "", "7"],
            ["LONG-" + "9" * 60, "1", "13", "", "2"],
        ],
    )
    history = [
        {
            "run_id": f"2026-11-{d:02d}-nightly",
            "status": "ok",
            "counts": {"material": 2, "differences": 3},
            "totals": {"abs_value_difference": v},
        }
        for d, v in ((22, "310.5"), (23, "402.75"), (24, "515"), (25, "620.25"))
    ]
    as_of = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    result = reconcile(
        SnapshotSource(erp, as_of=as_of),
        SnapshotSource(wms, as_of=as_of),
        ReconcileConfig(),
        history,
        run_id=RUN_ID,
    )
    path = tmp_path / "report.html"
    path.write_text(report_text(result, "report.html"), encoding="utf-8")
    result.close()
    return path


@pytest.fixture
def page(browser: Browser, report: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    pg = context.new_page()
    pg.goto(report.as_uri())
    try:
        yield pg
    finally:
        context.close()


def test_page_has_no_horizontal_overflow_at_800px(page: Page) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH, f"page is {scroll_width}px wide in an {WIDTH}px window"


def test_chart_labels_are_fully_inside_their_svg(page: Page) -> None:
    assert page.evaluate(_SVG_TEXT_OUTSIDE) == []
    trend = page.locator("svg[aria-label='absolute value difference per run']")
    label = trend.locator("text.value").last  # this run: the largest bar, positive
    assert label.text_content() == "995.86"
    box, svg = label.bounding_box(), trend.bounding_box()
    assert box is not None and svg is not None
    assert svg["x"] - 0.5 <= box["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"] + 0.5


def test_as_of_times_trend_and_approval_are_shown(page: Page) -> None:
    assert page.locator("#erp-as-of").inner_text() == "2026-11-26 08:00:00 UTC"
    assert page.locator("#wms-as-of").inner_text() == "2026-11-26 08:00:00 UTC"
    assert "rising" in page.locator("#trend-direction").inner_text()
    assert f"/reconciliation/{RUN_ID}/approve" in page.locator("#approve-call").inner_text()
    assert "1 item(s) of unknown value" in page.locator("#unknown-value").inner_text()


def test_screenshot_is_small_enough_for_the_docs(page: Page, tmp_path: Path) -> None:
    """docs/images/reconciliation-report-800px.png is this shot: set OMNISYNC_REPORT_SCREENSHOT to its path."""
    shot = Path(os.environ.get("OMNISYNC_REPORT_SCREENSHOT") or tmp_path / "report-800px.png")
    page.screenshot(path=str(shot), full_page=True)
    assert 0 < shot.stat().st_size < SCREENSHOT_MAX_BYTES
