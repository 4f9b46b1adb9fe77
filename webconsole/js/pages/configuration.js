// Configuration: the environment's inventory configuration (or the default), edited as JSON, saved with the
// API's validation messages shown line by line; back to the default with one confirmed click.
import { api, envPath } from "../api.js";
import { badge, busy, clear, errorBox, h, success, toast } from "../ui.js";
import { jsonEditor } from "./editor.js";

export async function render(root) {
  const state = h("span");
  const editor = jsonEditor({ samples: [["sample configuration", "configuration.json"]], rows: 24 });
  const message = h("div", { id: "config-message" });
  const summary = h("div", { class: "cards" });

  async function load() {
    clear(message);
    try {
      const answer = await api("GET", envPath("configuration"));
      editor.area.value = JSON.stringify(answer.configuration, null, 2);
      clear(state, answer.isDefault ? badge("default (from app settings)", "") : badge("saved for this environment", "ok"));
      describe(summary, answer.configuration);
    } catch (error) {
      clear(message, errorBox(error, "Could not read the configuration"));
    }
  }

  const save = h("button", { type: "button", class: "primary", id: "save-config" }, "Save");
  save.addEventListener("click", () => busy(save, async () => {
    clear(message);
    try {
      const answer = await api("PUT", envPath("configuration"), { body: editor.text() });
      editor.area.value = JSON.stringify(answer.configuration, null, 2);
      clear(state, badge("saved for this environment", "ok"));
      describe(summary, answer.configuration);
      clear(message, success("Saved. New lines are checked against this configuration from now on."));
    } catch (error) {
      clear(message, errorBox(error, "Not saved"));
    }
  }));
  const reset = h("button", { type: "button", class: "danger" }, "Reset to default");
  reset.addEventListener("click", () => busy(reset, async () => {
    if (!window.confirm("Delete this environment's configuration and use the default from the app settings?")) return;
    try {
      await api("DELETE", envPath("configuration"));
      toast("The environment uses the default configuration again.");
      await load();
    } catch (error) {
      clear(message, errorBox(error, "Not reset"));
    }
  }));

  root.append(
    h("h1", {}, "Configuration ", state),
    h("p", { class: "page-intro" }, "Data sources and their physical measures, dimension mappings, calculated measures and offset rules of this environment. Lines and events are checked against it."),
    summary,
    h("div", { class: "panel" }, editor.node, h("div", { class: "actions" }, reset, h("button", { type: "button", onclick: load }, "Discard changes"), save)),
    message);
  await load();
}

function describe(node, config) {
  const card = (label, value) => h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  clear(node,
    card("Data sources", (config.dataSources || []).length),
    card("Calculated measures", (config.calculatedMeasures || []).length),
    card("Offset rules", (config.offsets || []).length));
}
