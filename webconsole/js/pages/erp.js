// ERP transactions: post the ERP's own transactions (they offset lines the ERP already has), look one up.
import { api, envPath } from "../api.js";
import { badge, busy, clear, errorBox, h, success, table } from "../ui.js";
import { jsonEditor } from "./editor.js";

export async function render(root) {
  const editor = jsonEditor({ samples: [["sample ERP transactions", "erp_transactions.json"]], rows: 14, initial: "[\n]\n" });
  const result = h("div");
  const post = h("button", { type: "button", class: "primary" }, "Post transactions");
  post.addEventListener("click", () => busy(post, async () => {
    clear(result);
    try {
      const answer = await api("POST", envPath("erptransactions", "bulk"), { body: editor.text() });
      const key = Object.keys(answer).find((k) => Array.isArray(answer[k])) || "transactions";
      const s = answer.summary || {};
      clear(result, success(`${s.created ?? 0} created, ${s.duplicate ?? 0} duplicate, ${s.conflict ?? 0} conflict.`),
        table([
          { label: "#", value: (t) => (t.index ?? 0) + 1, num: true },
          { label: "Transaction id", value: (t) => t.id },
          { label: "Outcome", value: (t) => badge(t.outcome) },
        ], answer[key]));
    } catch (error) {
      clear(result, errorBox(error, "Nothing was stored"));
    }
  }));

  const found = h("div");
  const lookup = h("form", { class: "toolbar" },
    h("label", { class: "grow" }, "Transaction id", h("input", { name: "id", required: true })),
    h("button", { type: "submit" }, "Look up"));
  lookup.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(found);
    try {
      const tx = await api("GET", envPath("erptransactions", lookup.elements.id.value.trim()));
      clear(found, h("dl", { class: "kv" }, Object.entries(tx).flatMap(([k, v]) =>
        [h("dt", {}, k), h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "—"))])));
    } catch (error) {
      clear(found, errorBox(error, "Not found"));
    }
  });

  root.append(
    h("h1", {}, "ERP transactions"),
    h("p", { class: "page-intro" }, "Transactions the ERP booked itself (invoices, receipts). Each offsets the matching lines so nothing is counted twice in on-hand."),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "Post"), editor.node, h("div", { class: "actions" }, post), result),
      h("div", { class: "panel" }, h("h2", {}, "Look up a transaction"), lookup, found)));
}
