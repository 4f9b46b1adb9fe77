// Reconciliation runs: the list, one run's summary, its HTML report in a sandboxed frame, the CSV/XLSX
// downloads, and approval of selected proposed lines (they become adjustment lines).
import { ApiError } from "../api.js";
import * as runs from "../reconciliation_api.js";
import { badge, busy, clear, downloadBlob, empty, errorBox, followLink, formatQuantity, formatTime, h, info, success, table, warning } from "../ui.js";

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
    (s.warnings || []).length ? h("div", { id: "run-warnings" }, warning("Check before approving", s.warnings)) : null,
    h("div", { class: "cards" },
      card("Matching keys", counts.match), card("Quantity differs", counts.quantity_differs),
      card("Only in ERP", counts.only_in_erp), card("Only in WMS", counts.only_in_wms),
      card("Material", counts.material), card("Value difference", formatQuantity(s.totals?.value_difference))),
    h("div", { class: "panel" }, h("h2", {}, "Reports"), downloads, reportFrame),
    approval);
  renderDownloads(downloads, run);
  renderReport(reportFrame, run);
  renderApproval(approval, run, s.warnings || []);
}

function renderDownloads(node, run) {
  const names = new Set((run.reports || []).map((r) => r.name));
  for (const [name, label] of [["discrepancies.csv", "Download CSV"], ["report.xlsx", "Download Excel"], ["report.html", "Download HTML report"]]) {
    if (!names.has(name)) continue;
    const button = h("button", { type: "button", dataset: { report: name } }, label);
    button.addEventListener("click", () => busy(button, async () => {
      try {
        await downloadReport(run.runId, name);
      } catch (error) {
        node.append(errorBox(error, "Download failed"));
      }
    }));
    node.append(button);
  }
  if (!node.children.length) node.append(h("span", { class: "muted" }, "This run lists no downloadable reports."));
}

/** Through the API while the file is small enough to be answered inline; a bad day's files (tens of MB)
 *  are answered 413 UseDownloadLink and come straight from storage through a short-lived read link. */
async function downloadReport(runId, name) {
  let response;
  try {
    response = await runs.fetchReport(runId, name);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "UseDownloadLink")) throw error;
    followLink((await runs.reportLink(runId, name)).url);
    return;
  }
  if (!response) throw new ApiError(404, "NotFound", `${name} cannot be downloaded from this deployment yet`);
  downloadBlob(await response.blob(), `${runId}-${name}`);
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
    // (A page over REPORT_INLINE_MAX_BYTES answers 413 UseDownloadLink: the catch below offers its link.)
    clear(node, h("iframe", { class: "report-frame", title: `Report of run ${run.runId}`, sandbox: "", srcdoc: await response.text() }));
  } catch (error) {
    if (error instanceof ApiError && error.code === "UseDownloadLink") {
      const open = h("button", { type: "button", id: "report-link" }, "Download the HTML report");
      open.addEventListener("click", () => busy(open, () => downloadReport(run.runId, "report.html")));
      clear(node, info("The HTML report is too big to show here. ", open));
      return;
    }
    clear(node, errorBox(error, "Could not load the report"));
  }
}

/** Show a background approval's progress until it is done or failed (polled every 1.5 s). */
async function followApproval(runId, job, node) {
  const progress = h("p", { id: "background-progress", "aria-live": "polite" });
  clear(node, progress);
  for (;;) {
    const lines = job.linesTotal == null ? "checking every line first" :
      `${job.linesDone.toLocaleString()} of ${job.linesTotal.toLocaleString()} lines (${job.journalsDone.length} of ${job.journalsTotal} journals)`;
    clear(progress, `Background approval ${job.approvalId}: ${job.state}, ${lines}; ${job.posted.toLocaleString()} posted, ${job.duplicates.toLocaleString()} already there.`);
    if (job.state === "done") {
      node.append(success(`${job.posted.toLocaleString()} line(s) moved by the background approval.`),
        job.message ? warning("Not every line moved", [job.message]) : "",
        h("p", {}, h("a", { href: `#/adjustments/detailed/${encodeURIComponent(runId)}`, id: "approved-lines-link" }, "See them among the adjustments →")));
      return;
    }
    if (job.state === "failed") {
      node.append(errorBox({ message: job.message || "the approval failed", details: job.problems.map((p) => ({ field: `${p.journalId}, line ${(p.index ?? 0) + 1}: ${p.field}`, message: p.message })) }, "Not approved"));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    if (!node.isConnected) return; // the person left the run: it goes on in the background, unwatched
    try {
      job = await runs.approvalStatus(runId, job.approvalId);
    } catch (error) {
      // one poll lost is not the approval failing: it goes on in the background; say so and keep asking
      clear(progress, `Background approval ${job.approvalId}: the status could not be read (${error.message}); asking again…`);
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}

async function renderApproval(node, run, warnings) {
  const result = h("div", { id: "approval-result" });
  const organization = h("input", { name: "organizationId", value: "usmf", size: 10, required: true });
  const journals = h("input", { name: "journalIds", placeholder: "journal id, journal id, …", class: "grow", size: 40 });
  const typed = h("input", { name: "lineIds", placeholder: "line id, line id, …", class: "grow", size: 50 });
  const listing = h("div", { id: "proposed-lines" });
  const limitNote = h("p", { class: "muted", id: "approval-limit" });
  // How each page reached so far was asked for: the first with nothing (or the journal jumped to), the
  // others with the token of the page before.
  const pages = [{}];
  let shown = null; // the page on screen, or null when the lines cannot be listed
  let journalList = null; // every journal of the proposal (runs written with a journal index)
  // line id → its journal, for the lines ticked on any page: paging redraws the table, the choice stays
  const ticked = new Map();

  function journalJump() {
    if (!journalList?.length) return null;
    const select = h("select", { id: "journal-jump", "aria-label": "go to journal" },
      h("option", { value: "" }, `Go to journal (${journalList.length.toLocaleString()})…`),
      ...journalList.map((j) => h("option", { value: j.journalId, selected: pages[0].journalId === j.journalId },
        `${j.journalId} · lines ${(j.firstLine + 1).toLocaleString()}–${(j.firstLine + j.lines).toLocaleString()}`)));
    select.addEventListener("change", () => {
      if (!select.value) return;
      pages.length = 0;
      pages.push({ journalId: select.value });
      busy(select, () => showPage(0));
    });
    const name = h("button", { type: "button", id: "journal-name", title: "add the chosen journal to Whole journals below" }, "Approve this journal…");
    name.addEventListener("click", () => {
      const chosen = select.value || shown?.items?.[0]?.journal_id;
      if (!chosen) return;
      const named = journals.value.split(/[\s,]+/).filter(Boolean);
      if (!named.includes(chosen)) journals.value = [...named, chosen].join(", ");
      journals.focus();
    });
    return h("div", { class: "toolbar", id: "journal-toolbar" }, select, name);
  }

  async function showPage(index) {
    let page;
    try {
      page = await runs.proposedPage(run.runId, pages[index].token, 100, pages[index].journalId);
    } catch (error) {
      clear(listing, errorBox(error, "Could not list the proposed lines"));
      return;
    }
    shown = page;
    if (!page) {
      clear(listing, info("The proposed lines cannot be listed from this deployment. Paste line ids or journal ids of proposed_journal.json below, or leave both empty to approve every line."));
      return;
    }
    if (page.continuationToken) pages[index + 1] = { token: page.continuationToken };
    if (page.journals) journalList = page.journals;
    const start = page.firstLine ?? 0;
    const total = page.lineCount ?? "?";
    clear(limitNote, `One approval moves at most ${page.maxLinesPerApproval.toLocaleString()} lines. Lines are proposed in journals (`,
      h("code", {}, `${run.runId}-001`), ", …): tick lines on any page, or name whole journals.",
      (page.lineCount ?? 0) > page.maxLinesPerApproval ? " More than that at once: “Approve all in the background”." : "");
    const previous = h("button", { type: "button", id: "lines-previous", disabled: index === 0 }, "← Previous");
    const next = h("button", { type: "button", id: "lines-next", disabled: !page.continuationToken }, "Next →");
    previous.addEventListener("click", () => busy(previous, () => showPage(index - 1)));
    next.addEventListener("click", () => busy(next, () => showPage(index + 1)));
    clear(listing,
      journalJump(),
      table([
        { label: "", value: (l) => h("input", {
          type: "checkbox", name: "approve", value: l.line_id, checked: ticked.has(l.line_id), "aria-label": `approve ${l.item}`,
          onchange: (event) => (event.target.checked ? ticked.set(l.line_id, l.journal_id) : ticked.delete(l.line_id)),
        }) },
        { label: "Journal", value: (l) => l.journal_id || "—" },
        { label: "Item", value: (l) => l.item },
        { label: "Site / warehouse", value: (l) => [l.site, l.warehouse].filter(Boolean).join(" / ") || "—" },
        { label: "Batch", value: (l) => l.batch || "—" },
        { label: "Proposed change", value: (l) => formatQuantity(l.quantity_delta ?? l.counted_quantity), num: true },
        { label: "Value", value: (l) => formatQuantity(l.value), num: true },
        { label: "Why", value: (l) => (l.reasons || []).join("; ") || l.category, wrap: true },
      ], page.items, empty("Nothing to approve", "No difference in this run is proposed.")),
      page.items.length
        ? h("div", { class: "toolbar", id: "lines-pager" }, previous,
          h("span", { class: "muted", id: "lines-range" }, `Lines ${(start + 1).toLocaleString()}–${(start + page.items.length).toLocaleString()} of ${total.toLocaleString()}`),
          next)
        : null);
  }

  const button = h("button", { type: "button", class: "primary", id: "approve-selected" }, "Approve");
  button.addEventListener("click", () => busy(button, async () => {
    clear(result);
    const split = (text) => text.split(/[\s,]+/).filter(Boolean);
    const journalIds = split(journals.value);
    const lineIds = shown ? [...ticked.keys()] : split(typed.value);
    if (journalIds.length && lineIds.length) {
      clear(result, errorBox({ message: "Approve ticked lines or whole journals, not both at once." }, "Two selections"));
      return;
    }
    if (shown && !journalIds.length && !lineIds.length) {
      clear(result, errorBox({ message: "Tick lines on the page or name whole journals." }, "Nothing selected"));
      return;
    }
    if (!shown && !journalIds.length && !lineIds.length && !window.confirm("Approve every proposed line of this run?")) return;
    if (warnings.length && !window.confirm(`This run has ${warnings.length} warning(s):\n\n${warnings.join("\n\n")}\n\nApprove anyway?`)) return;
    // ticked lines name their journals too: the API then reads only those journals of a big proposal
    const journalsOfTicked = shown ? [...ticked.values()] : [];
    const within = journalsOfTicked.length && journalsOfTicked.every(Boolean) ? { journalIds: [...new Set(journalsOfTicked)] } : {};
    const selection = journalIds.length ? { journalIds } : lineIds.length ? { lineIds, ...within } : {};
    try {
      const answer = await runs.approve(run.runId, { organizationId: organization.value.trim(), ...selection });
      clear(result,
        success(`${answer.posted} line(s) posted as adjustments.`),
        table([
          { label: "Adjustment line", value: (l) => l.id },
          { label: "Outcome", value: (l) => badge(l.outcome) },
          { label: "Status", value: (l) => badge(l.status) },
        ], answer.lines || []),
        h("p", {}, h("a", { href: `#/adjustments/detailed/${encodeURIComponent(run.runId)}`, id: "approved-lines-link" }, "See them among the adjustments →")));
    } catch (error) {
      clear(result, errorBox(error, "Not approved"));
    }
  }));
  const background = h("button", { type: "button", id: "approve-background" }, "Approve all in the background");
  background.addEventListener("click", () => busy(background, async () => {
    clear(result);
    const journalIds = journals.value.split(/[\s,]+/).filter(Boolean);
    if (ticked.size) {
      clear(result, errorBox({ message: "The background approval moves whole journals or every line. Approve ticked lines with Approve, or untick them." }, "Lines are ticked"));
      return;
    }
    const what = journalIds.length ? `every line of ${journalIds.length} journal(s)` : `every proposed line (${(shown?.lineCount ?? "?").toLocaleString()})`;
    if (!window.confirm(`Approve ${what} of this run in the background?`)) return;
    if (warnings.length && !window.confirm(`This run has ${warnings.length} warning(s):\n\n${warnings.join("\n\n")}\n\nApprove anyway?`)) return;
    try {
      const body = { organizationId: organization.value.trim(), background: true, ...(journalIds.length ? { journalIds } : {}) };
      await followApproval(run.runId, await runs.approve(run.runId, body), result);
    } catch (error) {
      clear(result, errorBox(error, "Not approved"));
    }
  }));
  clear(node,
    h("h2", {}, "Approve proposed lines"),
    h("p", { class: "muted" }, "Each approved line becomes an adjustment line (id recon-<line id>, reference = this run), validated and synced like any other. Approving twice posts once."),
    limitNote,
    listing,
    h("div", { class: "actions" }, h("label", {}, "Organization", organization),
      h("label", { class: "grow" }, "Whole journals", journals),
      h("label", { class: "grow", id: "typed-line-ids" }, "Line ids", typed), button, background),
    result);
  await showPage(0);
  if (shown) node.querySelector("#typed-line-ids")?.remove(); // lines are ticked on the page instead
  await showBackgroundApprovals(run.runId, result);
}

/** A background approval still going when the run is opened again is followed; the last finished one named. */
async function showBackgroundApprovals(runId, node) {
  let jobs;
  try {
    jobs = await runs.backgroundApprovals(runId);
  } catch {
    return; // the page works without them
  }
  const items = jobs?.items || [];
  const going = items.find((job) => job.state === "queued" || job.state === "running");
  if (going) {
    followApproval(runId, going, node); // not awaited: the page stays usable while it runs
  } else if (items.length) {
    const last = items[0];
    node.append(info(`Last background approval (${last.approvalId}): ${last.state}, ${last.posted.toLocaleString()} line(s) moved${last.message ? `; ${last.message}` : ""}.`));
  }
}
