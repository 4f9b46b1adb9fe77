// Small DOM helpers: elements are built with text nodes (never innerHTML with data), so nothing the API
// returns can run as markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const STATUS_TONE = {
  Created: "accent", IVPosted: "info", Aggregated: "ok",
  SCMSent: "warn", FnOCreated: "info", FnOPosted: "ok", FnOCreateError: "bad", FnOPostError: "bad", DoNotSync: "",
  created: "ok", duplicate: "", conflict: "bad",
  ok: "ok", error: "bad", running: "warn", material: "bad",
};

export function badge(text, tone) {
  const t = tone ?? STATUS_TONE[text] ?? "";
  return h("span", { class: `badge ${t}`.trim(), dataset: { status: text } }, text);
}

/** A status time, short enough for a table column (month, day, 24-hour time); the full ISO time on hover. */
export function formatTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const text = date.toLocaleString(undefined, {
    month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, text);
}

/** Quantities arrive as exact decimals (numbers or strings): shown as they are, never through float maths. */
export function formatQuantity(value) {
  return value === undefined || value === null || value === "" ? "—" : String(value);
}

export function empty(title, text, ...extra) {
  return h("div", { class: "empty" }, h("strong", {}, title), text ? h("span", {}, text) : null, ...extra);
}

/**
 * A table. columns: [{label, value: row => node|text, num?, wrap?}]. Rows empty → the empty state given.
 */
export function table(columns, rows, emptyState) {
  if (!rows || rows.length === 0) return h("div", { class: "table-wrap" }, emptyState || empty("Nothing here yet"));
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : c.wrap ? "wrap" : null }, c.value(row)))),
        ),
      ),
    ),
  );
}

/** An API error as people read it: the message, the stable code, and each detail on its own line. */
export function errorBox(error, title = "That did not work") {
  const details = (error && error.details) || [];
  return h(
    "div",
    { class: "alert error", role: "alert" },
    h("strong", {}, title, ": "),
    error?.message || String(error),
    error?.code ? h("span", { class: "code" }, `(${error.code})`) : null,
    details.length
      ? h("ul", {}, details.map((d) => h("li", {}, describeDetail(d))))
      : null,
  );
}

function describeDetail(detail) {
  if (!detail || typeof detail !== "object") return String(detail);
  const where = [];
  if (detail.index !== undefined) where.push(`line ${Number(detail.index) + 1} (index ${detail.index})`);
  if (detail.line !== undefined) where.push(`line ${detail.line}, column ${detail.column}`);
  if (detail.field) where.push(detail.field);
  const known = new Set(["index", "line", "column", "field", "message"]);
  const rest = Object.entries(detail).filter(([k]) => !known.has(k)).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return [where.join(" · "), detail.message, ...rest].filter(Boolean).join(" — ");
}

export function success(text) {
  return h("div", { class: "alert success", role: "status" }, text);
}

export function warning(title, items) {
  return h("div", { class: "alert warning", role: "alert" }, h("strong", {}, title), h("ul", {}, items.map((text) => h("li", {}, text))));
}

export function info(...children) {
  return h("div", { class: "alert info" }, ...children);
}

export function toast(text) {
  const node = h("div", { class: "toast" }, text);
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), 4000);
}

export function tabs(names, onSelect, selected = names[0]) {
  const bar = h("div", { class: "tabs", role: "tablist" });
  const select = (name) => {
    for (const b of bar.children) b.setAttribute("aria-selected", String(b.dataset.tab === name));
    onSelect(name);
  };
  for (const name of names) {
    bar.append(h("button", { type: "button", role: "tab", dataset: { tab: name }, onclick: () => select(name) }, name));
  }
  queueMicrotask(() => select(selected));
  return bar;
}

/** Run `work` with the button disabled, so a double click never posts twice. */
export async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Open a download link of another origin (a storage read link): its own Content-Disposition names the file. */
export function followLink(url) {
  const link = h("a", { href: url, rel: "noopener noreferrer" });
  document.body.append(link);
  link.click();
  link.remove();
}

/** Load a sample body shipped with the console (samples/*.json), as text for the editor. */
export async function sampleText(name) {
  const response = await fetch(`samples/${name}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`sample ${name} is not available`);
  return response.text();
}
