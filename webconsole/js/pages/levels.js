// Level sync: the environment's targets (filters, warehouse mapping, target-mastered warehouses) and, for one
// target, what it was last sent per product × warehouse, the delta batches still pending, and failed sends.
import { api, envPath } from "../api.js";
import { badge, clear, empty, errorBox, formatQuantity, formatTime, h, info, table, tabs } from "../ui.js";

const PAGE_SIZE = 25;

export async function render(root, args) {
  const targetName = args[0] || "";
  const listNode = h("div", { id: "level-targets" });
  const targetNode = h("div", { id: "level-target" });
  root.append(
    h("h1", {}, "Level sync"),
    h("p", { class: "page-intro" },
      "The ERP's levels (on-hand, on-order, ordered) sent as delta journals to target systems. ",
      "Pick a target to see what each warehouse was last sent, the deltas still waiting, and failed sends."),
    h("div", { class: "panel" }, h("h2", {}, "Targets"), listNode),
    targetNode);
  const targets = await loadTargets(listNode, targetName);
  if (targetName && targets) showTarget(targetNode, targetName, targets.find((t) => t.name === targetName));
}

async function loadTargets(node, selected) {
  clear(node, h("p", { class: "muted" }, "Loading targets…"));
  let answer;
  try {
    answer = await api("GET", envPath("levels"));
  } catch (error) {
    clear(node, errorBox(error, "Could not list the targets"));
    return null;
  }
  const items = answer.items || [];
  clear(node, table([
    { label: "Target", value: (t) => h("a", { href: `#/levels/${encodeURIComponent(t.name)}`, class: t.name === selected ? "active" : null, dataset: { target: t.name } }, t.name) },
    { label: "Connector", value: (t) => t.connector },
    { label: "Data source", value: (t) => t.dataSource },
    { label: "Measures", value: (t) => (t.measures || []).join(", ") },
    { label: "Products", value: (t) => listOrAll(t.products) },
    { label: "ERP warehouses", value: (t) => listOrAll(t.warehouses) },
    { label: "Warehouse mapping", value: (t) => mapping(t.warehouseMapping, t.targetMastered), wrap: true },
  ], items, empty("No level targets",
    "Targets are set in the environment's configuration, under \"targets\" (name, connector, data source, measures, filters, warehouse mapping).",
    h("p", {}, h("a", { href: "#/configuration" }, "Open the Configuration page →")))));
  return items;
}

function listOrAll(values) {
  return values && values.length ? values.join(", ") : h("span", { class: "muted" }, "all");
}

/** "11 → FS-MAIN"; a warehouse mapped onto several target warehouses is target-mastered, so it is marked. */
function mapping(map, targetMastered) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h("span", { class: "muted" }, "same ids as the ERP");
  return entries.map(([erp, to]) => {
    const isMastered = Boolean(targetMastered && targetMastered[erp]);
    return h("span", { class: "sub", dataset: isMastered ? { mastered: erp } : {} }, `${erp} → ${to.join(", ")}`,
      isMastered ? [" ", badge("target-mastered", "warn")] : null);
  });
}

function showTarget(node, name, target) {
  const body = h("div", { id: "level-view" });
  const masteredNote = target && Object.keys(target.targetMastered || {}).length
    ? info("Target-mastered warehouses receive no levels (their adjustments go to the ERP): ",
      Object.entries(target.targetMastered).map(([erp, to]) => `${to.join(", ")} (ERP warehouse ${erp})`).join("; "), ".")
    : null;
  clear(node, h("div", { class: "panel" },
    h("h2", {}, "Target ", h("code", {}, name), target ? [" ", badge(target.connector, "info")] : null),
    masteredNote,
    tabs(["Last sent", "Pending", "Failures"], (tab) => {
      clear(body);
      if (tab === "Last sent") pagedView(body, name, "sent", sentColumns(target), flattenSent, ["product", "products"], "No levels sent yet",
        "Levels appear here once the ERP's on-hand of a product the target takes reached the cache and its file went out.");
      else if (tab === "Pending") pagedView(body, name, "pending", PENDING_COLUMNS, (b) => [b], ["batch", "batches"], "Nothing pending",
        "Every delta was sent and confirmed.");
      else pagedView(body, name, "failures", FAILURE_COLUMNS, (b) => [b], ["failed batch", "failed batches"], "No failures",
        "No file for this target was refused or left unanswered.");
    }),
    body));
}

/** One row per product × target warehouse, a column per measure the target takes. */
function flattenSent(item) {
  const warehouses = Object.entries(item.levels || {});
  if (!warehouses.length) return [{ ...item, warehouse: "—", measures: {} }];
  return warehouses.map(([warehouse, measures]) => ({ ...item, warehouse, measures: measures || {} }));
}

function sentColumns(target) {
  const measures = target?.measures?.length ? target.measures : ["onhand", "onorder", "ordered"];
  return [
    { label: "Product", value: (r) => r.productId ?? "—" },
    { label: "Organization", value: (r) => r.organizationId ?? "—" },
    { label: "Target warehouse", value: (r) => r.warehouse },
    ...measures.map((m) => ({ label: m, value: (r) => formatQuantity(r.measures[m]), num: true })),
    { label: "Sequence", value: (r) => r.sequence ?? "—", num: true },
    { label: "File id", value: (r) => (r.fileId ? h("code", {}, r.fileId) : "—") },
    { label: "Sent at", value: (r) => formatTime(r.sentAt) },
  ];
}

function signed(value) {
  const text = formatQuantity(value);
  return /^[0-9]/.test(text) && !/^0(\.0*)?$/.test(text) ? `+${text}` : text;
}

function deltaLines(lines) {
  if (!lines || !lines.length) return "—";
  return lines.map((l) =>
    h("span", { class: "sub" }, `${l.targetWarehouse ?? "?"} ${l.measure ?? "?"}: ${signed(l.delta)} → ${formatQuantity(l.newLevel)}`,
      l.kind === "full" ? " (full)" : ""));
}

const PENDING_COLUMNS = [
  { label: "Product", value: (b) => [h("span", {}, b.productId ?? "—"), h("span", { class: "sub" }, b.organizationId ?? "")] },
  { label: "Sequence", value: (b) => b.sequence ?? "—", num: true },
  { label: "Status", value: (b) => badge(b.status, b.status === "sending" ? "info" : "warn") },
  { label: "Lines (delta → new level)", value: (b) => deltaLines(b.lines), wrap: true },
  { label: "Created at", value: (b) => formatTime(b.createdAt) },
];

const FAILURE_COLUMNS = [
  { label: "Product", value: (b) => [h("span", {}, b.productId ?? "—"), h("span", { class: "sub" }, b.organizationId ?? "")] },
  { label: "Sequence", value: (b) => b.sequence ?? "—", num: true },
  { label: "File id", value: (b) => (b.fileId ? h("code", {}, b.fileId) : "—") },
  { label: "Attempts", value: (b) => b.attempts ?? 0, num: true },
  { label: "Last error", value: (b) => b.lastError || "—", wrap: true },
  { label: "Next attempt at", value: (b) => formatTime(b.nextAttemptAt) },
];

/** A list read page by page with the API's continuationToken; the tokens seen are kept so Previous works. */
function pagedView(root, target, route, columns, rowsOf, noun, emptyTitle, emptyText) {
  const result = h("div", { id: `levels-${route}` });
  const tokens = [null];
  let index = 0;
  const count = h("span");
  const prev = h("button", { type: "button", class: "small", onclick: () => { index -= 1; load(); } }, "← Previous");
  const next = h("button", { type: "button", class: "small", onclick: () => { index += 1; load(); } }, "Next →");
  const refresh = h("button", { type: "button", id: "refresh-levels", onclick: () => load() }, "Refresh");
  root.append(h("div", { class: "toolbar" }, refresh), result, h("div", { class: "pager" }, count, prev, next));

  async function load() {
    clear(result, h("p", { class: "muted" }, "Loading…"));
    try {
      const answer = await api("GET", envPath("levels", target, route), {
        query: { pageSize: PAGE_SIZE, continuationToken: tokens[index] },
      });
      const items = answer.items || [];
      clear(result, table(columns, items.flatMap(rowsOf), empty(emptyTitle, emptyText)));
      tokens[index + 1] = answer.continuationToken || null;
      tokens.length = index + 2;
      count.textContent = `Page ${index + 1} · ${items.length} ${items.length === 1 ? noun[0] : noun[1]}`;
      prev.disabled = index === 0;
      next.disabled = !answer.continuationToken;
    } catch (error) {
      clear(result, errorBox(error, "Could not read the target"));
      prev.disabled = index === 0;
      next.disabled = true;
    }
  }
  load();
}
