/**
 * Entry point: one App, rendered into <div id="app"> whenever its state
 * changes (at most once per frame), and the hash as the router.
 */
import { render } from "lit-html";
import { App } from "./app.ts";
import { fleetView } from "./views/fleet.ts";
import { fleetChangeView } from "./views/fleet-change.ts";
import { requestView } from "./views/request.ts";
import { rolloutView } from "./views/rollout.ts";
import { reviewsView } from "./views/reviews.ts";
import { shell, signInPage } from "./views/shell.ts";
import { tenantView } from "./views/tenant.ts";

const root = document.getElementById("app")!;
// lit-html adds to what is there: the "Loading" text goes first.
root.replaceChildren();
let scheduled = false;
/** The linked change last brought into view, so that later renders leave the scroll position alone. */
let shownChange: string | null = null;

function draw(): void {
  scheduled = false;
  const now = Date.now();
  if (!app.session) {
    render(signInPage(app), root);
  } else {
    const route = app.route;
    const content = route.view === "tenant" ? tenantView(app) : route.view === "request" ? requestView(app) : route.view === "reviews" ? reviewsView(app, now)
      : route.view === "fleet-change" ? fleetChangeView(app) : route.view === "rollout" ? rolloutView(app) : fleetView(app, now);
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
  // A change the Reviews page linked to: brought into view and focused once, when it first appears.
  const route = app.route;
  if (route.view === "tenant" && route.change && shownChange !== `${route.slug}/${route.change}`) {
    const article = root.querySelector<HTMLElement>(`article.change-targeted`);
    if (article) {
      shownChange = `${route.slug}/${route.change}`;
      article.focus({ preventScroll: true });
      article.scrollIntoView({ block: "start" });
    }
  } else if (route.view !== "tenant" || !route.change) {
    shownChange = null;
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
