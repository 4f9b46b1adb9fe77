// Adjustments: post lines (sample or editor), the detailed lines with filters and paging, the aggregated
// lines with their journal, the ERP's message, and retry.
import { api, envPath } from "../api.js";
import { badge, busy, clear, empty, errorBox, formatQuantity, formatTime, h, success, table, tabs, toast } from "../ui.js";
import { jsonEditor } from "./editor.js";

const LINE_STATUSES = ["Created", "IVPosted", "Aggregated"];
const AGGREGATED_STATUSES = ["Created", "SCMSent", "FnOCreateError", "FnOCreated", "FnOPostError", "FnOPosted", "DoNotSync"];
const RESENDABLE = new Set(["FnOCreateError"]);

export async function render(root, args) {
  const body = h("div");
  const initialTab = { detailed: "Detailed lines", aggregated: "Aggregated lines" }[args[0]] || "Post adjustments";
  const prefilter = args[1] ? { externalReferenceId: args[1] } : {};
  root.append(
    h("h1", {}, "Inventory adjustments"),
    h("p", { class: "page-intro" },
      "Post adjustment lines, follow each line from Created to IVPosted (in the on-hand cache) and Aggregated, ",
      "and see the aggregated lines sent to the ERP as journals."),
    tabs(["Post adjustments", "Detailed lines", "Aggregated lines"], (name) => {
      clear(body);
      if (name === "Post adjustments") postView(body);
      else if (name === "Detailed lines") linesView(body, prefilter);
      else aggregatedView(body);
    }, initialTab),
    body,
  );
}

function postView(root) {
  const editor = jsonEditor({ samples: [["sample adjustments", "adjustments.json"]], rows: 12, initial: "[\n]\n" });
  const result = h("div", { id: "post-result" });
  const sync = h("label", { class: "check" }, h("input", { type: "checkbox", name: "createWithIVSync" }), "createWithIVSync (sync to the cache within the request)");
  const post = h("button", { type: "button", class: "primary", id: "post-adjustments" }, "Post lines");
  post.addEventListener("click", () => busy(post, async () => {
    clear(result);
    try {
      const answer = await api("POST", envPath("transaction", "adjustment", "bulk"), {
        body: editor.text(), query: { createWithIVSync: sync.querySelector("input").checked ? "true" : undefined },
      });
      const s = answer.summary || {};
      clear(result,
        success(`${s.created ?? 0} created, ${s.duplicate ?? 0} duplicate, ${s.conflict ?? 0} conflict.`),
        table([
          { label: "#", value: (l) => l.index + 1, num: true },
          { label: "Line id", value: (l) => l.id },
          { label: "Outcome", value: (l) => badge(l.outcome) },
          { label: "Status", value: (l) => badge(l.status) },
        ], answer.lines),
        h("p", {}, h("a", { href: "#/adjustments/detailed" }, "Follow these lines in Detailed lines →")));
    } catch (error) {
      clear(result, errorBox(error, "Nothing was stored"));
    }
  }));
  root.append(h("div", { class: "panel" },
    h("h2", {}, "Lines to post"),
    h("p", { class: "muted" }, "A JSON array of adjustment lines in Inventory Visibility field names. Posting the same lines again answers duplicate and changes nothing."),
    editor.node, h("div", { class: "actions" }, sync, post)), result);
}

function filterForm(fields, onSearch) {
  const form = h("form", { class: "toolbar" }, fields,
    h("button", { type: "submit", class: "primary" }, "Search"),
    h("button", { type: "button", onclick: () => { form.reset(); onSearch(); } }, "Clear"));
  form.addEventListener("submit", (event) => { event.preventDefault(); onSearch(); });
  return form;
}

function select(name, label, options) {
  return h("label", {}, label, h("select", { name }, h("option", { value: "" }, "All"), options.map((o) => h("option", { value: o }, o))));
}

function input(name, label, attrs = {}) {
  return h("label", {}, label, h("input", { name, ...attrs }));
}

/** Keeps the continuation tokens of the pages seen, so Previous works as well as Next. */
function pager(load) {
  const tokens = [null];
  let index = 0;
  const info = h("span");
  const prev = h("button", { type: "button", class: "small", onclick: () => { index -= 1; load(tokens[index]); } }, "← Previous");
  const next = h("button", { type: "button", class: "small", onclick: () => { index += 1; load(tokens[index]); } }, "Next →");
  return {
    node: h("div", { class: "pager" }, info, prev, next),
    reset() { tokens.length = 1; index = 0; },
    update(count, token) {
      tokens[index + 1] = token;
      tokens.length = index + 2;
      info.textContent = `Page ${index + 1} · ${count} line${count === 1 ? "" : "s"}`;
      prev.disabled = index === 0;
      next.disabled = !token;
    },
  };
}

function datetimeToIso(value) {
  return value ? new Date(value).toISOString() : undefined;
}

function linesView(root, prefilter) {
  const result = h("div", { id: "lines-result" });
  const form = filterForm([
    select("status", "Status", LINE_STATUSES),
    input("productId", "Product", { placeholder: "D0001", size: 12 }),
    input("organizationId", "Organization", { placeholder: "usmf", size: 8 }),
    input("externalReferenceId", "External reference", { size: 18, value: prefilter.externalReferenceId || "" }),
    input("createdFrom", "Created from", { type: "datetime-local", step: 1 }),
    input("createdTo", "Created to", { type: "datetime-local", step: 1 }),
    h("label", {}, "Per page", h("select", { name: "pageSize" }, [25, 50, 100, 250].map((n) => h("option", { value: n, selected: n === 50 }, n)))),
  ], () => { pages.reset(); load(null); });
  const pages = pager((token) => load(token));

  async function load(token) {
    const f = form.elements;
    clear(result, h("p", { class: "muted" }, "Loading…"));
    try {
      const answer = await api("GET", envPath("transaction", "adjustment"), {
        query: {
          status: f.status.value, productId: f.productId.value.trim(), organizationId: f.organizationId.value.trim(),
          externalReferenceId: f.externalReferenceId.value.trim(), createdFrom: datetimeToIso(f.createdFrom.value),
          createdTo: datetimeToIso(f.createdTo.value), pageSize: f.pageSize.value, continuationToken: token,
        },
      });
      const items = answer.items || [];
      clear(result, table([
        { label: "Line", value: (l) => stacked(l.id, [l.externalReferenceCategory, l.externalReferenceId].filter(Boolean).join(": ")) },
        { label: "Product", value: (l) => stacked(l.productId, l.organizationId) },
        { label: "Source / measure", value: (l) => stacked(`${l.quantityDataSource} / ${l.physicalMeasure}`, dimensions(l.dimensions)), wrap: true },
        { label: "Quantity", value: (l) => formatQuantity(l.quantity), num: true },
        { label: "Status", value: (l) => badge(l.status) },
        { label: "Created", value: (l) => formatTime(l.statusTimes?.Created) },
        { label: "IVPosted", value: (l) => formatTime(l.statusTimes?.IVPosted) },
        { label: "Aggregated", value: (l) => formatTime(l.statusTimes?.Aggregated) },
      ], items, empty("No lines match", "Post adjustments, or change the filters.")), pages.node);
      pages.update(items.length, answer.continuationToken);
    } catch (error) {
      clear(result, errorBox(error, "Could not list the lines"));
    }
  }
  form.append(h("button", { type: "button", id: "refresh-lines", onclick: () => load(null) }, "Refresh"));
  root.append(h("div", { class: "panel" }, form), result);
  load(null);
}

/** A main value with a smaller line under it (ids, references, dimensions) to keep tables narrow. */
function stacked(main, sub) {
  return [h("span", {}, main), sub ? h("span", { class: "sub" }, sub) : null];
}

export function dimensions(dims) {
  const entries = Object.entries(dims || {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(", ") : "—";
}

function aggregatedView(root) {
  const result = h("div", { id: "aggregated-result" });
  const form = filterForm([
    select("status", "Status", AGGREGATED_STATUSES),
    input("productId", "Product", { size: 12 }),
    input("journalId", "Journal id", { size: 22 }),
  ], () => { pages.reset(); load(null); });
  const pages = pager((token) => load(token));

  async function retry(line, button) {
    await busy(button, async () => {
      try {
        await api("POST", envPath("transaction", "aggregated", line.id, "retry"));
        toast(`Line ${line.id} will be sent again in a new journal.`);
        load(null);
      } catch (error) {
        result.prepend(errorBox(error, "Retry refused")); // above the list, which stays as it was
      }
    });
  }

  async function load(token) {
    const f = form.elements;
    clear(result, h("p", { class: "muted" }, "Loading…"));
    try {
      const answer = await api("GET", envPath("transaction", "aggregated"), {
        query: { status: f.status.value, productId: f.productId.value.trim(), journalId: f.journalId.value.trim(), pageSize: 50, continuationToken: token },
      });
      const items = answer.items || [];
      clear(result, table([
        { label: "Aggregated line", value: (l) => stacked(l.productId, `${(l.detailedLineIds || []).length} line(s) · ${l.id}`) },
        { label: "Source / measure", value: (l) => stacked(`${l.key?.dataSource ?? "?"} / ${l.key?.measure ?? "?"}`, dimensions(l.key?.dimensions)), wrap: true },
        { label: "Quantity", value: (l) => formatQuantity(l.quantity), num: true },
        { label: "Status", value: (l) => [badge(l.status), " ", l.waitingForPerson ? badge("needs a person", "warn") : null] },
        { label: "Journal", value: (l) => stacked(l.journalId || "—", [l.erpJournalNumber, l.erpLineNumber].filter(Boolean).join(" / line ")), wrap: true },
        { label: "ERP message", value: (l) => l.message || (l.lateAnswers?.length ? `${l.lateAnswers.length} late answer(s)` : "—"), wrap: true },
        { label: "Attempts", value: (l) => l.attempts ?? 0, num: true },
        {
          label: "", value: (l) => RESENDABLE.has(l.status)
            ? h("button", { type: "button", class: "small", onclick: (e) => retry(l, e.currentTarget) }, "Retry")
            : null,
        },
      ], items, empty("No aggregated lines", "Lines are aggregated a little while after they reach IVPosted.")), pages.node);
      pages.update(items.length, answer.continuationToken);
    } catch (error) {
      clear(result, errorBox(error, "Could not list the aggregated lines"));
    }
  }
  root.append(h("div", { class: "panel" }, form), result);
  load(null);
}
