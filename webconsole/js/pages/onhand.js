// On-hand: Inventory Visibility's index query, grouped by the dimensions chosen, with every physical and
// calculated measure of the environment's configuration as a column.
import { api, envPath } from "../api.js";
import { busy, clear, empty, errorBox, formatQuantity, h, table } from "../ui.js";

const DIMENSIONS = ["siteId", "locationId", "colorId", "sizeId", "styleId", "configId", "batchId", "serialId", "statusId", "licensePlateId", "wmsLocationId"];

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

export async function render(root) {
  const result = h("div", { id: "onhand-result" });
  const form = h("form", { class: "panel" },
    h("div", { class: "toolbar" },
      h("label", {}, "Organization", h("input", { name: "organizationId", value: "usmf", required: true, size: 10 })),
      h("label", { class: "grow" }, "Products (comma-separated, empty for all)", h("input", { name: "productId", placeholder: "D0001, A0001" })),
      h("label", {}, "Site", h("input", { name: "siteId", size: 6 })),
      h("label", {}, "Location", h("input", { name: "locationId", size: 6 })),
    ),
    h("p", { class: "muted" }, "Group by"),
    h("div", { class: "chips" }, DIMENSIONS.map((d) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "groupBy", value: d, checked: d === "locationId" }), d))),
    h("div", { class: "actions" },
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "returnNegative", checked: true }), "Include negative quantities"),
      h("button", { type: "submit", class: "primary", id: "run-query" }, "Query on-hand")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("#run-query"), () => query(form, result));
  });
  root.append(
    h("h1", {}, "On-hand"),
    h("p", { class: "page-intro" }, "What the cache holds per product and dimension: every data source's physical measures and the calculated measures (such as available) of this environment's configuration."),
    form, result);
}

async function query(form, result) {
  const f = form.elements;
  const filters = { organizationId: [f.organizationId.value.trim()] };
  if (list(f.productId.value).length) filters.productId = list(f.productId.value);
  for (const dim of ["siteId", "locationId"]) if (list(f[dim].value).length) filters[dim] = list(f[dim].value);
  const groupByValues = [...form.querySelectorAll("input[name=groupBy]:checked")].map((i) => i.value);
  clear(result, h("p", { class: "muted" }, "Querying…"));
  try {
    const rows = await api("POST", envPath("onhand", "indexquery"), { body: { filters, groupByValues, returnNegative: f.returnNegative.checked } });
    const measures = [...new Set(rows.flatMap((r) => Object.entries(r.quantities || {}).flatMap(([source, m]) => Object.keys(m).map((name) => `${source}/${name}`))))].sort();
    const columns = [
      { label: "Product", value: (r) => r.productId },
      ...groupByValues.map((d) => ({ label: d, value: (r) => r.dimensions?.[d] ?? "—" })),
      ...measures.map((m) => {
        const [source, name] = m.split("/");
        return { label: m, num: true, value: (r) => formatQuantity(r.quantities?.[source]?.[name]) };
      }),
    ];
    clear(result, table(columns, rows, empty("Nothing on hand", "No cache rows match these filters. Post adjustments or on-hand events first.")));
  } catch (error) {
    clear(result, errorBox(error, "The query was refused"));
  }
}
