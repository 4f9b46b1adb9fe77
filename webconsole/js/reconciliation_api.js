// Reconciliation runs: the routes the console reads, and the answers it expects from them.
//
// The routes:
//   GET  environment/{env}/reconciliation[?pageSize=&continuationToken=]
//        → {environmentId, items: [{runId, runTime, status, differences, material, trend}], continuationToken}
//        newest run time first. A 404 or 405 (an older deployment without the route) shows "no runs listed".
//   GET  environment/{env}/reconciliation/{runId}
//        → {environmentId, runId, status, summary, reports: [{name, path, contentType, bytes, sha256, url}]}
//   GET  environment/{env}/reconciliation/{runId}/report/{name}
//        → the bytes of one file the run's manifest lists (report.html, differences.csv, discrepancies.csv,
//          report.xlsx, proposed_journal.json, summary.json), with its content type; 404 otherwise.
//        proposed_journal.json: {"journals": [{"journal_id", "lines": [{"line_id", "item", "site", "warehouse",
//          "batch", "quantity_delta", "movement", "review", "book_quantity", "unit_cost", "value", "category",
//          "reasons": [...]}]}]}
//        A file bigger than REPORT_INLINE_MAX_BYTES answers 413 {error: {code: "UseDownloadLink"}} instead.
//   GET  environment/{env}/reconciliation/{runId}/report/{name}/link
//        → {name, url, expiresOn, contentType, bytes, sha256}: a read link straight to storage, minutes long.
//   GET  environment/{env}/reconciliation/{runId}/proposed[?pageSize=&continuationToken=|&journalId=]
//        → {runId, lineCount, maxLinesPerApproval, items: [line as in proposed_journal.json], continuationToken}
//   POST environment/{env}/reconciliation/{runId}/approve  body {organizationId, lineIds? | journalIds?, …}
//        → {runId, target, mode, posted, lines?, journal?, files?, alreadyWritten?}
//        with "background": true → 202 {approvalId, state, statusUrl, …}: a queue worker moves the lines
//   GET  environment/{env}/reconciliation/{runId}/approvals → {items: [job, …]} newest first
//   GET  environment/{env}/reconciliation/{runId}/approvals/{approvalId}
//        → {state: queued|running|done|failed, journalsTotal, journalsDone, linesTotal, linesDone, posted,
//           duplicates, problems, message}
// GET …/{runId} `summary` fields used: status, master, journal_mode, counts {match, quantity_differs,
// only_in_erp, only_in_wms, differences, material}, totals {value_difference, abs_value_difference}, errors.
import { ApiError, api, envPath } from "./api.js";

/** The listed runs, or null when the list route is not there (404/405): the page says "no runs listed". */
export async function listRuns(continuationToken) {
  try {
    const body = await api("GET", envPath("reconciliation"), { query: { continuationToken } });
    const runs = Array.isArray(body) ? body : body?.runs || body?.items || [];
    return { runs, continuationToken: body?.continuationToken || null };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

export function getRun(runId) {
  return api("GET", envPath("reconciliation", runId));
}

/** One report file as a Response (callers take .text() or .blob()), or null when it cannot be fetched. */
export async function fetchReport(runId, name) {
  try {
    return await api("GET", envPath("reconciliation", runId, "report", name), { raw: true });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** A short-lived read link to one report file in storage ({url, expiresOn, bytes, sha256, …}). */
export function reportLink(runId, name) {
  return api("GET", envPath("reconciliation", runId, "report", name, "link"));
}

/** One page of a run's proposed lines ({items, lineCount, maxLinesPerApproval, continuationToken}), or null
 *  when the run has none or the route is not there. Never the whole journal: a bad day has 100,000s. */
export async function proposedPage(runId, continuationToken, pageSize = 100, journalId = undefined) {
  try {
    return await api("GET", envPath("reconciliation", runId, "proposed"), { query: { pageSize, continuationToken, journalId } });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** The run's background approvals, newest first ({items: [job, …]}), or null when the route is not there. */
export async function backgroundApprovals(runId) {
  try {
    return await api("GET", envPath("reconciliation", runId, "approvals"));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** A background approval's job ({approvalId, state, journalsTotal, journalsDone, linesTotal, linesDone, posted, …}). */
export function approvalStatus(runId, approvalId) {
  return api("GET", envPath("reconciliation", runId, "approvals", approvalId));
}

export function approve(runId, body) {
  return api("POST", envPath("reconciliation", runId, "approve"), { body });
}
