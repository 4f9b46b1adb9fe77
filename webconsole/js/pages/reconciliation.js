// Reconciliation runs: the list, one run's summary, its HTML report in a sandboxed frame, the CSV/XLSX
// downloads, and approval of selected proposed lines (they become adjustment lines).
import { ApiError } from "../api.js";
import * as runs from "../reconciliation_api.js";
import { badge, busy, clear, downloadBlob, empty, errorBox, formatQuantity, formatTime, h, info, success, table } from "../ui.js";

export async function render(root, args) {
  const listNode = h("div", { id: "run-list" });
  const runNode = h("div", { id: "run-view" });
  const open = h("form", { class: "toolbar" },
    h("label", { class: "grow" }, "Open a run by its id", h("input", { name: "runId", required: true, placeholder: "sample-20261126-101500", value: args[0] || "" })),
    h("button", { type: "submit", class: "primary" }, "Open run"));
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = `#/reconciliation/${encodeURIComponent(open.elements.runId.value.trim())}`;
  });
  root.append(
    h("h1", {}, "Reconciliation"),
    h("p", { class: "page-intro" }, "ERP and WMS on-hand snapshots compared. Each run has a report; nothing posts until you approve proposed lines."),
    h("div", { class: "panel" }, open, listNode),
    runNode);
  loadList(listNode);
  if (args[0]) await showRun(runNode, args[0]);
}

async function loadList(node) {
  clear(node, h("p", { class: "muted" }, "Loading runs…"));
  try {
    const listed = await runs.listRuns();
    if (listed === null) {
      clear(node, empty("No runs listed", "This deployment does not list runs yet. Open a run by its id (make drop-samples prints it)."));
      return;
    }
    clear(node, table([
      { label: "Run", value: (r) => h("a", { href: `#/reconciliation/${encodeURIComponent(r.runId)}` }, r.runId) },
      { label: "Status", value: (r) => badge(r.status || "unknown") },
      { label: "Run time", value: (r) => formatTime(r.runTime) },
      { label: "Differences", value: (r) => r.differences ?? "—", num: true },
      { label: "Material", value: (r) => r.material ?? "—", num: true },
      { label: "Trend", value: (r) => r.trend ?? "—" },
    ], listed.runs, empty("No runs yet", "Drop an ERP and a WMS snapshot (make drop-samples) and the run appears here.")));
  } catch (error) {
    clear(node, errorBox(error, "Could not list the runs"));
  }
}

async function showRun(node, runId) {
  clear(node, h("p", { class: "muted" }, "Loading the run…"));
  let run;
  try {
    run = await runs.getRun(runId);
  } catch (error) {
    const title = error instanceof ApiError && error.status === 404 ? "No report for this run yet" : "Could not open the run";
    clear(node, errorBox(error, title));
    return;
  }
  const s = run.summary || {};
  const counts = s.counts || {};
  const card = (label, value) => h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value ?? "—"));
  const reportFrame = h("div");
  const downloads = h("div", { class: "toolbar" });
  const approval = h("div", { class: "panel", id: "approval" });
  clear(node,
    h("h2", {}, "Run ", h("code", {}, run.runId), " ", badge(run.status || "unknown")),
    (s.errors || []).length ? errorBox({ message: s.errors.join("; "), code: "RunError" }, "The run failed") : null,
    h("div", { class: "cards" },
      card("Matching keys", counts.match), card("Quantity differs", counts.quantity_differs),
      card("Only in ERP", counts.only_in_erp), card("Only in WMS", counts.only_in_wms),
      card("Material", counts.material), card("Value difference", formatQuantity(s.totals?.value_difference))),
    h("div", { class: "panel" }, h("h2", {}, "Reports"), downloads, reportFrame),
    approval);
  renderDownloads(downloads, run);
  renderReport(reportFrame, run);
  renderApproval(approval, run);
}

function renderDownloads(node, run) {
  const names = new Set((run.reports || []).map((r) => r.name));
  for (const [name, label] of [["discrepancies.csv", "Download CSV"], ["report.xlsx", "Download Excel"], ["report.html", "Download HTML report"]]) {
    if (!names.has(name)) continue;
    const button = h("button", { type: "button", dataset: { report: name } }, label);
    button.addEventListener("click", () => busy(button, async () => {
      try {
        const response = await runs.fetchReport(run.runId, name);
        if (!response) throw new ApiError(404, "NotFound", `${name} cannot be downloaded from this deployment yet`);
        downloadBlob(await response.blob(), `${run.runId}-${name}`);
      } catch (error) {
        node.append(errorBox(error, "Download failed"));
      }
    }));
    node.append(button);
  }
  if (!node.children.length) node.append(h("span", { class: "muted" }, "This run lists no downloadable reports."));
}

async function renderReport(node, run) {
  if (!(run.reports || []).some((r) => r.name === "report.html")) return;
  try {
    const response = await runs.fetchReport(run.runId, "report.html");
    if (!response) {
      clear(node, info("The HTML report cannot be shown from this deployment yet (no report route). Its file: ",
        h("code", {}, (run.reports.find((r) => r.name === "report.html") || {}).path || "report.html")));
      return;
    }
    // No scripts in the frame (sandbox without allow-scripts); the report is self-contained HTML and CSS.
    clear(node, h("iframe", { class: "report-frame", title: `Report of run ${run.runId}`, sandbox: "", srcdoc: await response.text() }));
  } catch (error) {
    clear(node, errorBox(error, "Could not load the report"));
  }
}

async function renderApproval(node, run) {
  const result = h("div", { id: "approval-result" });
  const organization = h("input", { name: "organizationId", value: "usmf", size: 10, required: true });
  let lines = null;
  try {
    lines = await runs.proposedLines(run.runId);
  } catch {
    lines = null;
  }
  const typed = h("input", { name: "lineIds", placeholder: "line id, line id, …", class: "grow", size: 50 });
  let selection;
  if (lines) {
    selection = table([
      { label: "", value: (l) => h("input", { type: "checkbox", name: "approve", value: l.line_id, "aria-label": `approve ${l.item}` }) },
      { label: "Item", value: (l) => l.item },
      { label: "Site / warehouse", value: (l) => [l.site, l.warehouse].filter(Boolean).join(" / ") || "—" },
      { label: "Batch", value: (l) => l.batch || "—" },
      { label: "Proposed change", value: (l) => formatQuantity(l.quantity_delta ?? l.counted_quantity), num: true },
      { label: "Value", value: (l) => formatQuantity(l.value), num: true },
      { label: "Why", value: (l) => (l.reasons || []).join("; ") || l.category, wrap: true },
    ], lines, empty("Nothing to approve", "No difference in this run is material."));
  } else {
    selection = info("The proposed lines cannot be listed from this deployment yet. Paste the line_id values of proposed_journal.json to approve them, or leave the field empty to approve every line.");
  }
  const button = h("button", { type: "button", class: "primary", id: "approve-selected" }, "Approve selected lines");
  button.addEventListener("click", () => busy(button, async () => {
    clear(result);
    const ids = lines
      ? [...node.querySelectorAll("input[name=approve]:checked")].map((i) => i.value)
      : typed.value.split(/[\s,]+/).filter(Boolean);
    if (lines && ids.length === 0) {
      clear(result, errorBox({ message: "Select at least one line." }, "Nothing selected"));
      return;
    }
    if (!lines && ids.length === 0 && !window.confirm("Approve every proposed line of this run?")) return;
    try {
      const answer = await runs.approve(run.runId, { organizationId: organization.value.trim(), ...(ids.length ? { lineIds: ids } : {}) });
      clear(result,
        success(`${answer.posted} line(s) posted as adjustments.`),
        table([
          { label: "Adjustment line", value: (l) => l.id },
          { label: "Outcome", value: (l) => badge(l.outcome) },
          { label: "Status", value: (l) => badge(l.status) },
        ], answer.lines),
        h("p", {}, h("a", { href: `#/adjustments/detailed/${encodeURIComponent(run.runId)}`, id: "approved-lines-link" }, "See them among the adjustments →")));
    } catch (error) {
      clear(result, errorBox(error, "Not approved"));
    }
  }));
  clear(node,
    h("h2", {}, "Approve proposed lines"),
    h("p", { class: "muted" }, "Each approved line becomes an adjustment line (id recon-<line id>, reference = this run), validated and synced like any other. Approving twice posts once."),
    selection,
    h("div", { class: "actions" }, h("label", {}, "Organization", organization), lines ? null : h("label", { class: "grow" }, "Line ids", typed), button),
    result);
}
