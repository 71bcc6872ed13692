/**
 * A rollout (issue 23): its state and wave, each wave with its tenants (each
 * linking to its tenant page), the held and skipped tenants with their
 * reasons, and for admins pause, resume and abort, each enabled only in the
 * states the service accepts it in. It moves live with the fleet stream.
 */
import { html, nothing } from "lit-html";
import { repeat } from "lit-html/directives/repeat.js";
import type { App } from "../app.ts";
import { count, when } from "../format.ts";
import type { RolloutPage } from "../fleet-changes.ts";
import type { FleetRollout, RolloutStatus, RolloutTenant, RolloutWave } from "../types.ts";
import { statusBadge } from "./parts.ts";

/** Where each control applies (server/domain/fleet-rollout.ts refuses it elsewhere with invalid_transition). */
const CONTROLS: Record<"pause" | "resume" | "abort", ReadonlySet<RolloutStatus>> = {
  pause: new Set(["RUNNING"]),
  resume: new Set(["PAUSED", "HALTED"]),
  abort: new Set(["RUNNING", "PAUSED", "HALTED"]),
};

const STATUS_WORDS: Record<RolloutStatus, string> = {
  RUNNING: "Running: tenants are previewed and applied wave by wave.",
  PAUSED: "Paused: no tenant starts until it is resumed.",
  HALTED: "Halted: too many tenants failed; nothing starts until it is resumed (the failed tenants are applied again) or aborted.",
  COMPLETED: "Completed: every wave is done.",
  ABORTED: "Aborted: no tenant starts any more; the settings version stays current.",
};

const tenantLink = (t: RolloutTenant) => html`<a href=${`#/tenants/${encodeURIComponent(t.slug)}`}>${t.slug}</a>`;

function tenantRows(tenants: readonly RolloutTenant[], withWave: boolean) {
  return html`<table class="rollout-tenants">
    <thead><tr><th scope="col">Tenant</th>${withWave ? html`<th scope="col">Wave</th>` : nothing}<th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Reason</th></tr></thead>
    <tbody>${repeat(tenants, (t) => t.tenantId, (t) => html`<tr data-slug=${t.slug} data-status=${t.status}>
      <th scope="row" data-label="Tenant">${tenantLink(t)}</th>
      ${withWave ? html`<td data-label="Wave">${t.wave}</td>` : nothing}
      <td data-label="Status">${statusBadge(t.status)}</td>
      <td data-label="Attempts" class="num">${t.attempts}</td>
      <td data-label="Reason" class="reason">${t.reason ?? html`<span class="muted">—</span>`}</td>
    </tr>`)}</tbody>
  </table>`;
}

function countsLine(counts: Record<string, number>) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([s, n], i) => html`${i > 0 ? ", " : ""}${count(n)} ${s.toLowerCase()}`) : "no tenants";
}

function wave(w: RolloutWave) {
  return html`<section class="panel wave" data-wave=${w.number} data-status=${w.status} aria-labelledby=${`wave-${w.number}`}>
    <h3 id=${`wave-${w.number}`}>Wave ${w.number}${w.number === 1 ? " (canary)" : ""} ${statusBadge(w.status)}</h3>
    <p class="muted">${count(w.tenants.length)} ${w.tenants.length === 1 ? "tenant" : "tenants"}: ${countsLine(w.counts)}</p>
    ${w.tenants.length ? tenantRows(w.tenants, false) : nothing}
  </section>`;
}

function controls(page: RolloutPage, r: FleetRollout) {
  const button = (verb: "pause" | "resume" | "abort", label: string, busyLabel: string, cls = "secondary") => html`<button type="button" class=${cls}
    ?disabled=${page.busy !== null || !CONTROLS[verb].has(r.status)} @click=${() => (verb === "abort" ? page.askAbort(true) : void page.control(verb))}>${page.busy === verb ? busyLabel : label}</button>`;
  return html`<div class="actions rollout-controls" role="group" aria-label="Rollout controls">
    ${button("pause", "Pause", "Pausing…")}${button("resume", "Resume", "Resuming…")}${button("abort", "Abort", "Aborting…", "danger")}
  </div>
  ${page.confirmingAbort ? abortDialog(page, r) : nothing}`;
}

function abortDialog(page: RolloutPage, r: FleetRollout) {
  const cancel = () => page.askAbort(false);
  const pending = r.counts.PENDING ?? 0;
  return html`<dialog id="abort-dialog" aria-labelledby="abort-title" @cancel=${(e: Event) => { e.preventDefault(); cancel(); }}>
    <form method="dialog" @submit=${(e: Event) => { e.preventDefault(); void page.control("abort"); }}>
      <h2 id="abort-title">Abort this rollout</h2>
      <p>No tenant starts any more: the ${count(pending)} not started are listed as skipped, and those under way finish. Settings version ${r.settingsVersion} stays current; the tenants not on it show in the fleet as behind.</p>
      <div class="buttons">
        <button type="submit" class="danger">Abort the rollout</button>
        <button type="button" class="secondary" @click=${cancel}>Cancel</button>
      </div>
    </form>
  </dialog>`;
}

export function rolloutView(app: App) {
  const page = app.rollout;
  if (!page || (!page.rollout && !page.missing && !page.error)) return html`<h1 tabindex="-1">Rollout</h1><p role="status">Loading…</p>`;
  if (page.missing) return html`<h1 tabindex="-1">Rollout</h1><p class="notice notice-bad" role="alert">No rollout ${page.id}.</p>`;
  const r = page.rollout;
  if (!r) return html`<h1 tabindex="-1">Rollout</h1><p class="notice notice-bad" role="alert">Could not load the rollout: ${page.error}</p>`;
  const c = r.config;
  return html`
    <p class="crumbs"><a href=${`#/fleet/changes/${encodeURIComponent(r.fleetChangeId)}`} class="fleet-change-link">Its fleet change</a></p>
    <div class="view-head"><h1 tabindex="-1">Rollout of settings version ${r.settingsVersion} <span class="rollout-status">${statusBadge(r.status)}</span></h1></div>
    <p role="status" class="rollout-sentence">${STATUS_WORDS[r.status]} Wave <span class="current-wave">${r.currentWave}</span> of ${r.waveCount}.</p>
    ${r.haltedReason ? html`<p class="notice notice-bad halted-reason" role="alert">${r.haltedReason}</p>` : nothing}
    ${app.isAdmin ? controls(page, r) : nothing}
    ${page.notice ? html`<div class=${`notice notice-${page.notice.tone}`} role=${page.notice.tone === "bad" ? "alert" : "status"}><p>${page.notice.text}</p>${page.notice.detail ? html`<p class="muted-error">${page.notice.detail}</p>` : nothing}</div>` : nothing}
    <dl class="facts">
      <div><dt>Approved by</dt><dd>${r.createdBy}, ${when(r.createdAt)}</dd></div>
      <div><dt>Waves</dt><dd>canary ${c.canary}, growth ${c.growth}, concurrency ${c.concurrency}, canary failures allowed ${c.canaryMaxFailures}, wave failure threshold ${c.waveFailurePercent} %${c.allowDestructive ? ", destructive changes allowed" : ""}</dd></div>
      <div><dt>Tenants</dt><dd class="rollout-counts">${countsLine(r.counts)}</dd></div>
      ${r.finishedAt ? html`<div><dt>Finished</dt><dd>${when(r.finishedAt)}</dd></div>` : nothing}
    </dl>
    ${r.waves.map(wave)}
    ${r.held.length ? html`<section class="panel held" aria-labelledby="held-title">
      <h2 id="held-title">Held: ${count(r.held.length)}</h2>
      <p class="muted">Their stack moved since the fleet preview, or their own preview differs: each one's change awaits review on the <a href="#/reviews">Reviews</a> page.</p>
      ${tenantRows(r.held, true)}
    </section>` : nothing}
    ${r.skipped.length ? html`<section class="panel skipped" aria-labelledby="skipped-title">
      <h2 id="skipped-title">Skipped: ${count(r.skipped.length)}</h2>
      ${tenantRows(r.skipped, true)}
    </section>` : nothing}`;
}
