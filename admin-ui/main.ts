/**
 * Entry point: one App, rendered into <div id="app"> whenever its state
 * changes (at most once per frame), and the hash as the router.
 */
import { render } from "lit-html";
import { App } from "./app.ts";
import { fleetView } from "./views/fleet.ts";
import { requestView } from "./views/request.ts";
import { shell, signInPage } from "./views/shell.ts";
import { tenantView } from "./views/tenant.ts";

const root = document.getElementById("app")!;
// lit-html adds to what is there: the "Loading" text goes first.
root.replaceChildren();
let scheduled = false;

function draw(): void {
  scheduled = false;
  const now = Date.now();
  if (!app.session) {
    render(signInPage(app), root);
  } else {
    const route = app.route;
    const content = route.view === "tenant" ? tenantView(app) : route.view === "request" ? requestView(app) : fleetView(app, now);
    render(shell(app, content), root);
  }
  // Modal dialogs are opened by the DOM API, which makes the rest of the page inert and traps focus.
  const dialog = root.querySelector("dialog");
  if (dialog && !dialog.open) dialog.showModal();
  if (app.focusHeading) {
    app.focusHeading = false;
    root.querySelector<HTMLElement>("h1")?.focus();
    if (!app.session) root.querySelector<HTMLInputElement>("#token")?.focus();
  }
}

function requestRender(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(draw);
}

const app = new App(requestRender);
app.route = App.parseRoute(location.hash);
window.addEventListener("hashchange", () => app.navigate(location.hash));
// Durations of running tenants count up.
window.setInterval(() => {
  if (app.session && app.route.view !== "request") requestRender();
}, 1000);
void app.resume();
