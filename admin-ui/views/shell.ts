/** The frame around every view (header, navigation, live state, sign-out) and the sign-in page. */
import { html, nothing, type TemplateResult } from "lit-html";
import type { App } from "../app.ts";

const LIVE_WORDS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", closed: "Offline" } as const;

/** How many changes await review, beside the Reviews link; nothing until known. */
function reviewCount(pending: number | null) {
  if (pending === null) return nothing;
  return html` <span class=${pending > 0 ? "nav-count nav-count-some" : "nav-count"} id="pending-reviews"
    aria-label=${`${pending} ${pending === 1 ? "change awaits" : "changes await"} review`}>${pending}</span>`;
}

export function shell(app: App, content: TemplateResult) {
  const session = app.session!;
  const current = app.route.view;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">matih <span>tenant provisioning</span></a>
      <nav aria-label="Main">
        <a href="#/" aria-current=${current === "fleet" ? "page" : nothing}>Fleet</a>
        <a href="#/reviews" aria-current=${current === "reviews" ? "page" : nothing}>Reviews${reviewCount(app.reviews?.pending ?? null)}</a>
        ${app.isAdmin ? html`<a href="#/new" aria-current=${current === "request" ? "page" : nothing}>Request a tenant</a>` : nothing}
      </nav>
      <p class="live live-${app.live}" role="status"><span class="dot" aria-hidden="true"></span>${LIVE_WORDS[app.live]}</p>
      <p class="who">Signed in as <strong>${session.principal}</strong> · ${session.scope === "admin" ? "admin" : "read only"}</p>
      <button type="button" class="secondary" @click=${() => app.signOut()}>Sign out</button>
    </header>
    ${session.scope === "read" ? html`<p class="readonly" role="note">Read-only token: you can watch every tenant; requesting, retrying, rolling back and deleting need an admin token.</p>` : nothing}
    <main id="main">${content}</main>`;
}

export function signInPage(app: App) {
  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    void app.signInWith((form.elements.namedItem("token") as HTMLInputElement).value);
  };
  return html`
    <main id="main" class="signin">
      <h1 tabindex="-1">Sign in to the provisioning dashboard</h1>
      <p>Paste the bearer token you were given. It stays in this browser tab only and is forgotten when you close the tab or sign out.</p>
      <form @submit=${submit} novalidate>
        <label for="token">Access token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
          aria-invalid=${app.signIn.error ? "true" : "false"} aria-describedby=${app.signIn.error ? "token-error" : nothing}>
        ${app.signIn.error ? html`<p id="token-error" class="field-error" role="alert">${app.signIn.error}</p>` : nothing}
        <button type="submit" ?disabled=${app.signIn.checking}>${app.signIn.checking ? "Checking…" : "Sign in"}</button>
      </form>
    </main>`;
}
