// A JSON editor for request bodies: a textarea, the samples shipped with the app, and a syntax check that
// names the line and column before anything is sent.
import { h, sampleText } from "../ui.js";

export function jsonEditor({ samples = [], rows = 18, initial = "" } = {}) {
  const area = h("textarea", { class: "code", rows, spellcheck: "false", "aria-label": "JSON body" });
  area.value = initial;
  const note = h("span", { class: "muted", "aria-live": "polite" });
  const sampleButtons = samples.map(([label, file]) =>
    h("button", {
      type: "button", class: "small", dataset: { sample: file },
      onclick: async () => {
        area.value = await sampleText(file);
        note.textContent = `Loaded ${label}. Edit it or send it as it is.`;
      },
    }, `Load ${label}`),
  );
  const check = () => {
    try {
      JSON.parse(area.value);
      note.textContent = "Valid JSON.";
      return true;
    } catch (error) {
      note.textContent = `Not valid JSON: ${position(area.value, error)}`;
      return false;
    }
  };
  const node = h("div", {},
    h("div", { class: "toolbar" }, sampleButtons,
      h("button", { type: "button", class: "small", onclick: check }, "Check JSON"), note),
    area);
  return { node, area, check, text: () => area.value };
}

function position(text, error) {
  const match = /position (\d+)/.exec(error.message);
  if (!match) return error.message;
  const before = text.slice(0, Number(match[1])).split("\n");
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}
