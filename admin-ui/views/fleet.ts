/**
 * The fleet: every tenant, a page at a time (the service pages, so a fleet of
 * thousands costs the browser one page of rows), filtered by status, tier and
 * drift, searched by slug, moving live.
 */
import { html, nothing } from "lit-html";
import { repeat } from "lit-html/directives/repeat.js";
import { live } from "lit-html/directives/live.js";
import { PAGE_SIZE, type App } from "../app.ts";
import { count, duration, elapsed, phaseTitle, when } from "../format.ts";
import type { DriftState, FleetItem, TenantStatus } from "../types.ts";
import { phaseBar, statusBadge } from "./parts.ts";

/** Typing in the search box re-reads the page once the typing pauses. */
let searchTimer: number | undefined;

const STATUSES: TenantStatus[] = ["PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"];
const DRIFT_STATES: DriftState[] = ["DRIFTED", "IN_SYNC", "CHECK_FAILED"];
const DRIFT_WORDS: Record<DriftState | "UNCHECKED", string> = { DRIFTED: "Drifted", IN_SYNC: "In sync", CHECK_FAILED: "Check failed", UNCHECKED: "Never checked" };

/** The latest drift check's finding; the time it was last checked as a title. */
function driftCell(t: FleetItem) {
  if (t.status === "DELETED") return "—";
  if (!t.drift) return html`<span class="muted">unchecked</span>`;
  return html`<span title=${`Last checked ${when(t.drift.lastCheckedAt)}`}>${statusBadge(t.drift.state)}</span>${t.drift.state === "DRIFTED" ? html` <span class="muted">since ${when(t.drift.since)}</span>` : nothing}`;
}

function row(app: App, t: FleetItem, now: number) {
  const names = app.platform?.phases.map((p) => p.name) ?? [];
  const running = t.status === "PROVISIONING" || t.status === "UPDATING" || t.status === "DEPROVISIONING";
  return html`<tr data-slug=${t.slug}>
    <th scope="row" data-label="Slug"><a href=${`#/tenants/${encodeURIComponent(t.slug)}`}>${t.slug}</a></th>
    <td data-label="Name">${t.displayName}</td>
    <td data-label="Tier">${t.tier}</td>
    <td data-label="Region">${t.region}</td>
    <td data-label="Status" class="status-cell">${statusBadge(t.status)}</td>
    <td data-label="Phase">${t.currentPhase ? html`<span class="phase-no">${t.currentPhase.number}/10</span> ${phaseTitle(t.currentPhase.name)}` : t.run?.status === "QUEUED" ? "Queued" : t.run?.status === "RUNNING" ? "Starting" : "—"}</td>
    <td data-label="Progress">${phaseBar(t.phases, names)}</td>
    <td data-label="Started">${when(t.startedAt)}</td>
    <td data-label="Duration" class="num">${running ? elapsed(t.startedAt, null, true, now) : duration(t.durationMs)}</td>
    <td data-label="Drift" class="drift-cell">${driftCell(t)}</td>
  </tr>`;
}

export function fleetView(app: App, now: number) {
  const { data, status, tier, drift, search, page, loading, error } = app.fleet;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const first = total === 0 ? 0 : page * PAGE_SIZE + 1;
  const last = Math.min(total, (page + 1) * PAGE_SIZE);
  const counts = data?.countsByStatus ?? {};
  return html`
    <div class="view-head">
      <h1 tabindex="-1">Fleet</h1>
      ${app.isAdmin ? html`<a class="button" href="#/new">Request a tenant</a>` : nothing}
    </div>
    <ul class="counts" aria-label="Tenants by status">
      ${STATUSES.map((s) => html`<li>${statusBadge(s)} <span class="num">${count(counts[s] ?? 0)}</span></li>`)}
    </ul>
    <ul class="counts" aria-label="Tenants by latest drift check">
      <li class="muted">Latest drift check:</li>
      ${DRIFT_STATES.map((s) => html`<li>${statusBadge(s)} <span class="num">${count(data?.countsByDrift?.[s] ?? 0)}</span></li>`)}
      <li>${statusBadge("NEVER_CHECKED")} <span class="num">${count(data?.countsByDrift?.UNCHECKED ?? 0)}</span></li>
    </ul>
    <form class="filters" role="search" @submit=${(e: Event) => e.preventDefault()}>
      <div class="field">
        <label for="filter-search">Search by slug</label>
        <input id="filter-search" type="search" .value=${live(search)} autocomplete="off" spellcheck="false"
          @input=${(e: Event) => {
            const value = (e.target as HTMLInputElement).value;
            window.clearTimeout(searchTimer);
            searchTimer = window.setTimeout(() => app.setFleetFilter({ search: value }), 250);
          }}>
      </div>
      <div class="field">
        <label for="filter-status">Status</label>
        <select id="filter-status" @change=${(e: Event) => app.setFleetFilter({ status: (e.target as HTMLSelectElement).value })}>
          <option value="" ?selected=${status === ""}>All but deleted</option>
          ${STATUSES.map((s) => html`<option value=${s} ?selected=${status === s}>${s}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="filter-tier">Tier</label>
        <select id="filter-tier" @change=${(e: Event) => app.setFleetFilter({ tier: (e.target as HTMLSelectElement).value })}>
          <option value="" ?selected=${tier === ""}>All tiers</option>
          ${(app.platform?.tiers ?? ["free", "professional", "enterprise"]).map((t) => html`<option value=${t} ?selected=${tier === t}>${t}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="filter-drift">Drift</label>
        <select id="filter-drift" @change=${(e: Event) => app.setFleetFilter({ drift: (e.target as HTMLSelectElement).value })}>
          <option value="" ?selected=${drift === ""}>Any</option>
          ${([...DRIFT_STATES, "UNCHECKED"] as const).map((d) => html`<option value=${d} ?selected=${drift === d}>${DRIFT_WORDS[d]}</option>`)}
        </select>
      </div>
    </form>
    ${error ? html`<p class="notice notice-bad" role="alert">Could not load the fleet: ${error}</p>` : nothing}
    <p class="summary" role="status" aria-live="polite">${data ? (total === 0 ? (status || tier || drift || search.trim() ? "No tenant matches." : "No tenants yet.") : `Showing ${count(first)}–${count(last)} of ${count(total)} ${total === 1 ? "tenant" : "tenants"}`) : "Loading the fleet…"}${loading && data ? " · updating…" : ""}</p>
    ${data && data.items.length > 0 ? html`
      <div class="table-wrap">
        <table class="fleet">
          <caption class="visually-hidden">Tenants, newest first, page ${page + 1} of ${pages}</caption>
          <thead><tr>
            <th scope="col">Slug</th><th scope="col">Name</th><th scope="col">Tier</th><th scope="col">Region</th><th scope="col">Status</th>
            <th scope="col">Current phase</th><th scope="col">Progress</th><th scope="col">Started</th><th scope="col" class="num">Duration</th><th scope="col">Drift</th>
          </tr></thead>
          <tbody>${repeat(data.items, (t) => t.id, (t) => row(app, t, now))}</tbody>
        </table>
      </div>` : nothing}
    ${total > PAGE_SIZE ? html`
      <nav class="pager" aria-label="Pages">
        <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => app.setFleetPage(0)}>First</button>
        <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => app.setFleetPage(page - 1)}>Previous</button>
        <span>Page ${count(page + 1)} of ${count(pages)}</span>
        <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => app.setFleetPage(page + 1)}>Next</button>
        <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => app.setFleetPage(pages - 1)}>Last</button>
      </nav>` : nothing}`;
}
