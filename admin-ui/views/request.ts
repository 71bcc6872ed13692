/**
 * The request form for a new tenant. It checks nothing itself: the API's own
 * validation answers, shown next to the field each problem is about, so the
 * messages are exactly the API's.
 */
import { html, nothing } from "lit-html";
import { live } from "lit-html/directives/live.js";
import type { App, RequestState } from "../app.ts";

type Field = keyof RequestState["values"];

const LABELS: Record<Field, string> = {
  slug: "Slug",
  displayName: "Display name",
  tier: "Tier",
  region: "Region",
  adminEmail: "Admin e-mail",
};

const HINTS: Partial<Record<Field, string>> = {
  slug: "Lowercase letters, digits and hyphens; it names the namespace, database schema and host names.",
  adminEmail: "Receives the completion notification.",
};

export function requestView(app: App) {
  if (!app.isAdmin) {
    return html`<p><a href="#/">← Fleet</a></p><h1 tabindex="-1">Request a tenant</h1>
      <p class="notice notice-bad" role="alert">Requesting a tenant needs an admin token; you are signed in with a read-only one.</p>`;
  }
  const { values, errors, formError, sending } = app.request;
  const set = (field: Field) => (e: Event) => {
    app.request.values = { ...app.request.values, [field]: (e.target as HTMLInputElement | HTMLSelectElement).value };
  };
  const describedBy = (field: Field) => [HINTS[field] ? `${field}-hint` : "", errors[field]?.length ? `${field}-error` : ""].filter(Boolean).join(" ") || nothing;
  const messages = (field: Field) => errors[field]?.length
    ? html`<ul id=${`${field}-error`} class="field-error">${errors[field]!.map((m) => html`<li>${LABELS[field]} ${m}</li>`)}</ul>`
    : nothing;
  const input = (field: Field, type = "text", autocomplete = "off") => html`
    <div class="field ${errors[field]?.length ? "invalid" : ""}">
      <label for=${field}>${LABELS[field]}</label>
      ${HINTS[field] ? html`<p id=${`${field}-hint`} class="hint">${HINTS[field]}</p>` : nothing}
      <input id=${field} name=${field} type=${type} autocomplete=${autocomplete} spellcheck="false" required .value=${live(values[field])} @input=${set(field)}
        aria-invalid=${errors[field]?.length ? "true" : "false"} aria-describedby=${describedBy(field)}>
      ${messages(field)}
    </div>`;
  const select = (field: Field, options: readonly string[]) => html`
    <div class="field ${errors[field]?.length ? "invalid" : ""}">
      <label for=${field}>${LABELS[field]}</label>
      <select id=${field} name=${field} @change=${set(field)} aria-invalid=${errors[field]?.length ? "true" : "false"} aria-describedby=${describedBy(field)}>
        ${options.map((o) => html`<option value=${o} ?selected=${values[field] === o}>${o}</option>`)}
      </select>
      ${messages(field)}
    </div>`;
  const problemCount = Object.values(errors).reduce((n, list) => n + list.length, 0);
  return html`
    <p><a href="#/">← Fleet</a></p>
    <h1 tabindex="-1">Request a tenant</h1>
    <p>Provisioning starts at once and runs the ten phases in order; you can watch it on the tenant's page.</p>
    ${problemCount > 0 || formError ? html`<div class="notice notice-bad" role="alert" id="request-problems">
      <p><strong>The service refused the request${problemCount > 0 ? `: ${problemCount} problem${problemCount === 1 ? "" : "s"}` : ""}.</strong>${formError ? ` ${formError}` : ""}</p>
      ${problemCount > 0 ? html`<ul>${Object.entries(errors).flatMap(([field, list]) => list.map((message) => html`<li><a href=${`#/new`} @click=${(e: Event) => { e.preventDefault(); document.getElementById(field)?.focus(); }}>${LABELS[field as Field]}</a> ${message}</li>`))}</ul>` : nothing}
    </div>` : nothing}
    <form class="request" novalidate @submit=${(e: Event) => { e.preventDefault(); void app.submitRequest(); }}>
      ${input("slug")}
      ${input("displayName", "text", "organization")}
      ${select("tier", app.platform?.tiers ?? ["free", "professional", "enterprise"])}
      ${select("region", app.platform?.regions ?? ["eastus"])}
      ${input("adminEmail", "email", "email")}
      <button type="submit" ?disabled=${sending}>${sending ? "Sending…" : "Request tenant"}</button>
    </form>`;
}
