// Start-up: connection dialog (function key + environment, asked once), navigation, page routing (#/page).
import { connection, isConnected, saveConnection } from "./api.js";
import { clear, empty, h } from "./ui.js";

const PAGES = {
  adjustments: () => import("./pages/adjustments.js"),
  onhand: () => import("./pages/onhand.js"),
  configuration: () => import("./pages/configuration.js"),
  erp: () => import("./pages/erp.js"),
  reconciliation: () => import("./pages/reconciliation.js"),
  levels: () => import("./pages/levels.js"),
};

const main = document.getElementById("page");
const dialog = document.getElementById("connection-dialog");
const form = document.getElementById("connection-form");

function showConnection() {
  const c = connection();
  form.elements.key.value = c.key;
  form.elements.environment.value = c.environment;
  dialog.showModal();
}

form.addEventListener("submit", () => {
  saveConnection(form.elements.key.value.trim(), form.elements.environment.value.trim(), form.elements.remember.checked);
  render();
});
dialog.addEventListener("cancel", (event) => {
  if (!isConnected()) event.preventDefault(); // nothing works without a key: keep asking
});
document.getElementById("connection-button").addEventListener("click", showConnection);

function route() {
  const [name, ...rest] = window.location.hash.replace(/^#\/?/, "").split("/");
  return { name: PAGES[name] ? name : "adjustments", args: rest.map(decodeURIComponent) };
}

let renders = 0;

async function render() {
  const ticket = ++renders;
  delete main.dataset.ready;
  const { name, args } = route();
  for (const link of document.querySelectorAll(".sidenav a")) {
    link.classList.toggle("active", link.dataset.page === name);
  }
  const chip = document.getElementById("env-chip");
  chip.textContent = isConnected() ? `Environment: ${connection().environment}` : "not connected";
  if (!isConnected()) {
    clear(main, empty("Not connected", "Enter the function key and the environment to start.",
      h("p", {}, h("button", { type: "button", class: "primary", onclick: showConnection }, "Connect"))));
    if (!dialog.open) showConnection();
    return;
  }
  const module = await PAGES[name]();
  if (ticket !== renders) return; // another navigation started meanwhile: it draws the page
  clear(main);
  await module.render(main, args);
  if (ticket !== renders) return;
  main.dataset.ready = window.location.hash || "#/"; // the page is drawn (tests and screen readers wait on it)
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", render);
render();
