/**
 * A fleet change (issue 23): the settings it changes, each path old → new;
 * its impact on the selected tenants, grouped by identical change, with the
 * destructive, failed and never-provisioned tenants listed apart; and for
 * admins, while it awaits review, approval with the rollout's wave options
 * (the defaults shown) or rejection with a reason. Once approved it links to
 * its rollout. Everything people typed (reason, names) is rendered as text.
 */
import { html, nothing } from "lit-html";
import { live } from "lit-html/directives/live.js";
import type { App } from "../app.ts";
import { count, when } from "../format.ts";
import { WAVE_DEFAULTS, type FleetChangePage, type WaveField } from "../fleet-changes.ts";
import type { FleetChange, FleetChangeGroup } from "../types.ts";
import { statusBadge, value } from "./parts.ts";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The merge patch's leaves as dotted paths: objects merge key by key, anything else (lists too) replaces, null removes. */
export function patchLeaves(patch: Record<string, unknown>, prefix = ""): { path: string; value: unknown }[] {
  return Object.entries(patch).flatMap(([key, v]) => (isObject(v) && Object.keys(v).length > 0 ? patchLeaves(v, `${prefix}${key}.`) : [{ path: `${prefix}${key}`, value: v }]));
}

function at(settings: Record<string, unknown>, path: string): { found: boolean; value?: unknown } {
  let node: unknown = settings;
  for (const key of path.split(".")) {
    if (!isObject(node) || !(key in node)) return { found: false };
    node = node[key];
  }
  return { found: true, value: node };
}

function settingsDiff(change: FleetChange, page: FleetChangePage) {
  // The current version is the "before" only while it is the one the change was previewed on.
  const before = page.current && page.current.version === change.baseVersion ? page.current.settings : null;
  const leaves = patchLeaves(change.settingsPatch);
  return html`<section class="panel" aria-labelledby="settings-diff-title">
    <h2 id="settings-diff-title">Settings it changes</h2>
    <p class="muted">A merge patch of settings version ${change.baseVersion}${change.version ? html`, recorded as version ${change.version}` : nothing}.
      ${before ? nothing : html` The values before are those of version ${change.baseVersion}, no longer the current one: only the new values are shown.`}</p>
    <ul class="diffs settings-diff">${leaves.map((leaf) => {
      const old = before ? at(before, leaf.path) : null;
      return html`<li data-path=${leaf.path}><code class="path">${leaf.path}</code>: ${old === null ? nothing : html`${old.found ? value(old.value) : html`<span class="muted">(not set)</span>`} → `}${leaf.value === null ? html`<span class="muted">(removed)</span>` : value(leaf.value)}</li>`;
    })}</ul>
  </section>`;
}

function slugList(slugs: readonly string[]) {
  const links = slugs.map((s, i) => html`${i > 0 ? ", " : ""}<a href=${`#/tenants/${encodeURIComponent(s)}`}>${s}</a>`);
  return slugs.length > 12 ? html`<details><summary>${count(slugs.length)} tenants</summary><p class="slugs">${links}</p></details>` : html`<p class="slugs">${links}</p>`;
}

function group(g: FleetChangeGroup, i: number) {
  return html`<li class="impact-group" data-group=${i}>
    <p><strong class="group-line">${count(g.tenants)} ${g.tenants === 1 ? "tenant" : "tenants"}: ${g.summary}</strong>${g.destructive ? html` <span class="badge badge-destructive">DESTRUCTIVE</span>` : nothing}</p>
    ${g.changes.length ? html`<ul class="diffs">${g.changes.map((c) => html`<li><span class=${`op op-${c.op}`}>${c.op}</span> ${c.count} <code>${c.type}</code>${c.paths.length ? html`: <span class="muted">${c.paths.join(", ")}</span>` : nothing}</li>`)}</ul>` : nothing}
    ${slugList(g.slugs)}
  </li>`;
}

function impact(change: FleetChange) {
  const p = change.preview;
  return html`<section class="panel" aria-labelledby="impact-title">
    <h2 id="impact-title">Impact: ${count(p.selected)} ${p.selected === 1 ? "tenant" : "tenants"} selected</h2>
    <p class="muted">Selector: ${selectorWords(change)}. Previewed ${when(change.previewedAt)}; tenants with identical changes are grouped, the largest group first.</p>
    ${p.destructive.length ? html`<div class="notice notice-bad destructive" role="note" id="destructive-tenants">
      <p><strong>Destructive on ${count(p.destructive.length)} ${p.destructive.length === 1 ? "tenant" : "tenants"}.</strong> Their change deletes or replaces resources that hold data or credentials:</p>
      <ul>${p.destructive.map((d) => html`<li><a href=${`#/tenants/${encodeURIComponent(d.slug)}`}>${d.slug}</a>: ${d.resources.map((r, i) => html`${i > 0 ? "; " : ""}${r.op} <strong>${r.urn.slice(r.urn.lastIndexOf("::") + 2)}</strong> (<code>${r.type}</code>)`)}</li>`)}</ul>
    </div>` : nothing}
    ${p.groups.length ? html`<ol class="impact-groups">${p.groups.map(group)}</ol>` : html`<p>No tenant was previewed.</p>`}
    ${p.failed.length ? html`<h3>Preview failed</h3><ul class="apart" id="failed-tenants">${p.failed.map((f) => html`<li><a href=${`#/tenants/${encodeURIComponent(f.slug)}`}>${f.slug}</a>: ${f.error}</li>`)}</ul>` : nothing}
    ${p.notPreviewed.length ? html`<h3>Not previewed (never provisioned)</h3><ul class="apart">${p.notPreviewed.map((n) => html`<li><a href=${`#/tenants/${encodeURIComponent(n.slug)}`}>${n.slug}</a> (${n.status})</li>`)}</ul>` : nothing}
  </section>`;
}

function selectorWords(change: FleetChange): string {
  const s = change.selector;
  const parts = [s.tiers?.length ? `tiers ${s.tiers.join(", ")}` : "", s.regions?.length ? `regions ${s.regions.join(", ")}` : "", s.slugs?.length ? `${s.slugs.length} named ${s.slugs.length === 1 ? "tenant" : "tenants"}` : ""].filter(Boolean);
  return parts.length ? parts.join("; ") : "the whole fleet";
}

const WAVE_LABELS: Record<WaveField, [string, string]> = {
  canary: ["Canary size", "Tenants in the first wave"],
  growth: ["Growth", "Each later wave is this many times the one before"],
  concurrency: ["Concurrency", "Tenants previewed or applied at once"],
  canaryMaxFailures: ["Canary failures allowed", "The rollout halts when more canary tenants than this fail"],
  waveFailurePercent: ["Wave failure threshold (%)", "A later wave halts the rollout when more than this share of its tenants fail"],
};

function decide(app: App, page: FleetChangePage, change: FleetChange) {
  const busy = page.busy !== null;
  return html`<section class="panel decide" aria-labelledby="decide-title">
    <h2 id="decide-title">Approve or reject</h2>
    <form class="waves" @submit=${(e: Event) => { e.preventDefault(); void page.approve(); }}>
      <fieldset>
        <legend>Rollout in waves</legend>
        ${(Object.keys(WAVE_DEFAULTS) as WaveField[]).map((field) => html`<div class="field">
          <label for=${`wave-${field}`}>${WAVE_LABELS[field][0]}</label>
          <input id=${`wave-${field}`} type="number" inputmode="decimal" min="0" step="any" placeholder=${String(WAVE_DEFAULTS[field])}
            aria-describedby=${`wave-${field}-hint`} .value=${live(page.waves[field])} @input=${(e: Event) => { page.waves[field] = (e.target as HTMLInputElement).value; }}>
          <p class="hint" id=${`wave-${field}-hint`}>${WAVE_LABELS[field][1]}; default ${WAVE_DEFAULTS[field]}</p>
        </div>`)}
      </fieldset>
      ${change.destructive ? html`<label class="check"><input type="checkbox" .checked=${live(page.allowDestructive)}
        @change=${(e: Event) => { page.allowDestructive = (e.target as HTMLInputElement).checked; app.changed(); }}> Allow destructive changes</label>` : nothing}
      <button type="submit" ?disabled=${busy || (change.destructive && !page.allowDestructive)}>${page.busy === "approve" ? "Approving…" : "Approve and roll out"}</button>
    </form>
    <form class="reject" @submit=${(e: Event) => { e.preventDefault(); void page.reject(); }}>
      <label for="fleet-reject-reason">Reason for rejecting (optional)</label>
      <input id="fleet-reject-reason" maxlength="1000" autocomplete="off" .value=${live(page.rejectReason)} @input=${(e: Event) => { page.rejectReason = (e.target as HTMLInputElement).value; }}>
      <button type="submit" class="secondary" ?disabled=${busy}>${page.busy === "reject" ? "Rejecting…" : "Reject"}</button>
    </form>
  </section>`;
}

function statusSentence(change: FleetChange) {
  switch (change.status) {
    case "PENDING_REVIEW":
      return html`<p>Awaiting review: nothing uses these settings until an admin approves them.</p>`;
    case "APPROVED":
      return html`<p>Approved by ${change.decidedBy ?? "an admin"} ${when(change.decidedAt)}${change.version ? ` as settings version ${change.version}` : ""}.
        ${change.rolloutId ? html`<a class="rollout-link" href=${`#/fleet/rollouts/${encodeURIComponent(change.rolloutId)}`}>Follow its rollout</a>` : nothing}</p>`;
    case "REJECTED":
      return html`<p>Rejected by ${change.decidedBy ?? "an admin"} ${when(change.decidedAt)}${change.rejectionReason ? html`: “<span class="rejection-reason">${change.rejectionReason}</span>”` : ""}. Nothing was changed.</p>`;
    case "STALE":
      return html`<p>Stale: another settings version became current after its preview. Nothing was changed; propose it again.</p>`;
    case "PREVIEWING": {
      // The Pulumi engine previews each tenant's stack in the background; the page reads the change again until done.
      const progress = change.previewProgress;
      return html`<p class="preview-progress" role="status">Previewing in the background${progress ? `: ${count(progress.done)} of ${count(progress.total)} ${progress.total === 1 ? "tenant" : "tenants"} done` : ""}.
        The impact and the review follow once every selected tenant is previewed; this page updates itself.</p>`;
    }
    case "PREVIEW_FAILED":
      return html`<p class="notice notice-bad" role="alert">The preview could not finish${change.previewError ? html`: <span class="preview-error">${change.previewError}</span>` : ""}. Nothing was changed; propose it again.</p>`;
    default:
      return nothing;
  }
}

export function fleetChangeView(app: App) {
  const page = app.fleetChange;
  if (!page || (!page.change && !page.missing && !page.error)) return html`<h1 tabindex="-1">Fleet change</h1><p role="status">Loading…</p>`;
  if (page.missing) return html`<h1 tabindex="-1">Fleet change</h1><p class="notice notice-bad" role="alert">No fleet change ${page.id}.</p><p><a href="#/reviews">Back to the reviews</a></p>`;
  const change = page.change;
  if (!change) return html`<h1 tabindex="-1">Fleet change</h1><p class="notice notice-bad" role="alert">Could not load the fleet change: ${page.error}</p>`;
  return html`
    <p class="crumbs"><a href="#/reviews">Reviews</a></p>
    <div class="view-head"><h1 tabindex="-1">Fleet change ${statusBadge(change.status)}</h1></div>
    <dl class="facts">
      <div><dt>Reason</dt><dd class="reason" id="fleet-change-reason">${change.reason}</dd></div>
      <div><dt>Proposed by</dt><dd>${change.createdBy}, ${when(change.createdAt)}</dd></div>
    </dl>
    ${statusSentence(change)}
    ${page.notice ? html`<div class=${`notice notice-${page.notice.tone}`} role=${page.notice.tone === "bad" ? "alert" : "status"}><p>${page.notice.text}</p>${page.notice.detail ? html`<p class="muted-error">${page.notice.detail}</p>` : nothing}</div>` : nothing}
    ${page.error ? html`<p class="notice notice-bad" role="alert">${page.error}</p>` : nothing}
    ${settingsDiff(change, page)}
    ${change.status === "PREVIEWING" || change.status === "PREVIEW_FAILED" ? nothing : impact(change)}
    ${change.status === "PENDING_REVIEW" && app.isAdmin ? decide(app, page, change) : nothing}`;
}
