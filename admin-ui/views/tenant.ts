/**
 * One tenant: its ten phases as a timeline, the live feed of its current run,
 * its changes through review, its drift history, its outputs and audit log,
 * and for admins the actions (retry, roll back, delete, preview, drift check,
 * request, approve and reject changes).
 */
import { html, nothing } from "lit-html";
import { live } from "lit-html/directives/live.js";
import { shortName, type App, type TenantState } from "../app.ts";
import { bytes, clock, count, duration, elapsed, phaseTitle, plainError, when, words } from "../format.ts";
import type { DriftResult, Phase, PhaseStep, PreviewChange, PreviewResult, ProvisioningStatus, Tenant } from "../types.ts";
import { changeDialogs, changesSection, diffLine } from "./changes.ts";
import { driftedResource, driftHistorySection } from "./drift.ts";
import { phaseBar, statusBadge } from "./parts.ts";

const RUN_STATES = new Set(["QUEUED", "RUNNING"]);

function errorText(error: string) {
  const plain = plainError(error);
  return html`<p class="phase-error"><strong>What went wrong:</strong> ${plain.message}${plain.resource
    ? html`<br><span class="muted-error">Resource: ${plain.resource.name} (<code>${plain.resource.type}</code>)</span>` : nothing}</p>`;
}

function phaseItem(app: App, phase: Phase) {
  const summary = app.platform?.phases.find((p) => p.number === phase.number)?.summary ?? "";
  const running = phase.status === "RUNNING";
  return html`<li class="phase phase-${phase.status.toLowerCase().replace("_", "-")}" data-phase=${phase.number}>
    <span class="phase-marker" aria-hidden="true">${phase.number}</span>
    <div class="phase-body">
      <h3><span class="visually-hidden">Phase </span>${phase.number}. ${phaseTitle(phase.name)} ${statusBadge(phase.status)}</h3>
      <p class="muted">${summary}</p>
      <dl class="facts">
        <div><dt>Attempts</dt><dd>${phase.attempts}</dd></div>
        <div><dt>Started</dt><dd>${phase.startedAt ? clock(phase.startedAt) : "—"}</dd></div>
        <div><dt>Duration</dt><dd>${running ? elapsed(phase.startedAt, null, true) : duration(phase.durationMs)}</dd></div>
        <div><dt>Resources</dt><dd>${phase.resources.done} done, ${phase.resources.pending} pending</dd></div>
      </dl>
      ${phase.error ? errorText(phase.error) : nothing}
      ${phase.steps?.length ? subSteps(phase) : nothing}
    </div>
  </li>`;
}

export const STEP_WORDS: Record<PhaseStep["step"], string> = {
  expand: "Expand",
  move: "Move data",
  verify: "Verify",
  switch: "Switch",
  contract: "Contract",
};

/** What a move copied or a verify checked; "—" for a step that moves no data or has not said yet. */
function stepData(step: PhaseStep) {
  if (!step.data) return "—";
  const { tables, rows } = step.data;
  return html`${count(tables)} ${tables === 1 ? "table" : "tables"}, ${count(rows)} ${rows === 1 ? "row" : "rows"}, <span title=${`${count(step.data.bytes)} bytes`}>${bytes(step.data.bytes)}</span>`;
}

/** A phase's sub-steps as last reported (their status badges are their own: a phase's SUCCEEDED badge counts phases) (a tier change's in phase 2), one row each, in the order they first ran. */
function subSteps(phase: Phase) {
  return html`<div class="table-wrap sub-steps-wrap"><table class="sub-steps" data-phase=${phase.number}>
    <caption>Tier change steps</caption>
    <thead><tr><th scope="col">Step</th><th scope="col">Status</th><th scope="col">What happened</th><th scope="col">Time</th><th scope="col">Data</th></tr></thead>
    <tbody>${phase.steps.map((s) => html`<tr data-step=${s.step} data-status=${s.status}>
      <th scope="row" data-label="Step">${STEP_WORDS[s.step] ?? s.step}</th>
      <td data-label="Status"><span class=${`badge step-status step-status-${s.status}`}>${s.status.toUpperCase()}</span></td>
      <td data-label="What happened" class="step-message">${s.message}</td>
      <td data-label="Time"><time datetime=${s.at} title=${when(s.at)}>${clock(s.at)}</time></td>
      <td data-label="Data" class="step-data">${stepData(s)}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

/** The outputs people look for first; the rest follow in the order the program returns them. */
const KEY_OUTPUTS = ["namespace", "databaseSchema", "zoneName", "loadBalancerIp"];

function outputsSection(tenant: Tenant, live: boolean) {
  const outputs = tenant.outputs ?? {};
  const urls = (outputs.urls ?? {}) as Record<string, string>;
  const rest = Object.entries(outputs)
    .filter(([k]) => k !== "urls")
    .sort(([a], [b]) => (KEY_OUTPUTS.includes(a) ? KEY_OUTPUTS.indexOf(a) : 99) - (KEY_OUTPUTS.includes(b) ? KEY_OUTPUTS.indexOf(b) : 99));
  if (Object.keys(urls).length === 0 && rest.length === 0) {
    return html`<p class="muted">No outputs yet: they are recorded when provisioning finishes.</p>`;
  }
  const show = (value: unknown) => (Array.isArray(value) ? value.join(", ") : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));
  return html`<dl class="outputs">
    ${Object.entries(urls).map(([name, url]) => html`<div><dt>${words(name)} URL</dt><dd>${live ? html`<a href=${url} rel="noreferrer noopener" target="_blank">${url}</a>` : html`<code>${url}</code>`}</dd></div>`)}
    ${rest.map(([name, value]) => html`<div><dt>${words(name)}</dt><dd><code>${show(value)}</code></dd></div>`)}
  </dl>`;
}

/** Audit entries per page: a tenant that lived through many updates has thousands. */
export const AUDIT_PAGE_SIZE = 50;

/** The entries of page `page` (0 = newest), newest first, and how many pages there are; a page past the end shows the last. */
export function auditPageOf<T>(entries: readonly T[], page: number, size = AUDIT_PAGE_SIZE): { items: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(entries.length / size));
  const at = Math.min(Math.max(0, page), pages - 1);
  const newestFirst = [...entries].reverse();
  return { items: newestFirst.slice(at * size, (at + 1) * size), page: at, pages };
}

function auditSection(app: App, state: TenantState) {
  if (state.audit.length === 0) return html`<p class="muted">No entries yet.</p>`;
  const { items, page, pages } = auditPageOf(state.audit, state.auditPage);
  return html`<div class="table-wrap"><table class="audit">
    <caption class="visually-hidden">Audit log, newest first</caption>
    <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">What</th><th scope="col">Change</th><th scope="col">Message</th></tr></thead>
    <tbody>${items.map((a) => html`<tr>
      <td data-label="Time">${when(a.createdAt)}</td>
      <td data-label="Actor">${a.actor}</td>
      <td data-label="What">${a.entity}${a.phase ? ` ${a.phase}` : ""}</td>
      <td data-label="Change">${a.from ? `${a.from} → ` : ""}${a.to}</td>
      <td data-label="Message">${a.message}</td>
    </tr>`)}</tbody>
  </table></div>
  ${pages > 1 ? html`<nav class="pager" aria-label="Audit log pages">
    <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => app.setAuditPage(0)}>Newest</button>
    <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => app.setAuditPage(page - 1)}>Newer</button>
    <span>Page ${page + 1} of ${pages} (${state.audit.length} entries)</span>
    <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => app.setAuditPage(page + 1)}>Older</button>
    <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => app.setAuditPage(pages - 1)}>Oldest</button>
  </nav>` : nothing}`;
}

/** The answer's phase groups, phases with changes first, and in each the changes before what stays the same. */
export function previewGroups(preview: PreviewResult) {
  // A read looks a resource up; like "same", it changes nothing.
  const changed = (c: PreviewChange) => c.op !== "same" && c.op !== "read";
  return preview.phases
    .map((g) => ({ ...g, changes: [...g.changes].sort((a, b) => Number(changed(b)) - Number(changed(a))), changed: g.changes.filter(changed).length }))
    .sort((a, b) => Number(b.changed > 0) - Number(a.changed > 0) || (a.number || 99) - (b.number || 99));
}

function previewSection(preview: PreviewResult) {
  const s = preview.changeSummary;
  const groups = previewGroups(preview);
  return html`<section class="panel" aria-labelledby="preview-title" id="preview">
    <h2 id="preview-title">Preview (nothing was changed)</h2>
    <p>${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.same} unchanged · ${preview.engine} engine, ${duration(preview.durationMs)}</p>
    ${groups.map((g) => html`<details class="preview-group" ?open=${g.changed > 0} data-changed=${g.changed}>
      <summary>${g.number ? `Phase ${g.number}. ${phaseTitle(g.name)}` : "Outside the phases"}: ${g.changed > 0 ? `${g.changed} change${g.changed === 1 ? "" : "s"}` : "no changes"} <span class="muted">(${g.changes.length} resources)</span></summary>
      <ul class="changes">${g.changes.map((c) => html`<li><span class="op op-${c.op}">${c.op}</span> <code>${c.type}</code> ${shortName(c.urn)}${c.replaceReasons.length ? html` <span class="muted">(replaced because of ${c.replaceReasons.join(", ")})</span>` : nothing}${c.diffs.length ? html`<ul class="diffs">${c.diffs.map(diffLine)}</ul>` : nothing}</li>`)}</ul>
    </details>`)}
  </section>`;
}

/** A one-off check's answer; an ACTIVE tenant's check is kept in the drift history below, anything else says why not. */
function driftSection(drift: DriftResult) {
  return html`<section class="panel" aria-labelledby="drift-title" id="drift" data-recorded=${String(drift.recorded)}>
    <h2 id="drift-title">Drift check (just now${drift.recorded ? ", kept in the drift history" : ", not kept"})</h2>
    ${drift.drifted.length === 0
      ? html`<p>${statusBadge("IN_SYNC")} Every resource matches its recorded state (${drift.engine} engine, ${duration(drift.durationMs)}).</p>`
      : html`<p>${statusBadge("DRIFTED")} ${drift.drifted.length} resource${drift.drifted.length === 1 ? " differs" : "s differ"} from the recorded state:</p>
        ${drift.drifted.map(driftedResource)}`}
    <p class="muted">${drift.recorded
      ? "The drift history below keeps this check, as it keeps what fleet drift runs find."
      : `Not kept in the drift history: ${drift.notRecordedReason ?? "no reason given"}.`}</p>
  </section>`;
}

/** The admin's actions; never shown for a DELETED tenant (tenantView), so none of them considers that status. */
function actions(app: App, state: TenantState, tenant: Tenant, status: ProvisioningStatus) {
  const running = status.run !== null && RUN_STATES.has(status.run.status);
  const busy = state.busy !== null;
  const reason = running ? "A run is in progress; actions wait for it to finish." : "";
  const can = {
    retry: tenant.status === "FAILED" && !running,
    rollback: tenant.status === "FAILED" && !running && status.phases.some((p) => p.status === "SUCCEEDED" && p.number < 10),
    remove: (tenant.status === "ACTIVE" || tenant.status === "FAILED") && !running,
  };
  return html`<section class="panel actions" aria-labelledby="actions-title">
    <h2 id="actions-title">Actions</h2>
    <div class="buttons">
      <button type="button" ?disabled=${!can.retry || busy} @click=${() => app.retry()}>${state.busy === "Retry" ? "Retrying…" : "Retry"}</button>
      <button type="button" class="secondary" ?disabled=${!can.rollback || busy} @click=${() => app.openDialog("rollback")}>Roll back…</button>
      <button type="button" class="danger" ?disabled=${!can.remove || busy} @click=${() => app.openDialog("delete")}>Delete…</button>
      <button type="button" class="secondary" ?disabled=${busy} @click=${() => app.runPreview()}>${state.busy === "Preview" ? "Previewing…" : "Preview changes"}</button>
      <button type="button" class="secondary" ?disabled=${busy} @click=${() => app.runDriftCheck()}>${state.busy === "Drift check" ? "Checking…" : "Check drift"}</button>
    </div>
    <p class="muted">${reason || (tenant.status === "FAILED" ? "Retry continues from the failed phase; roll back removes the phases after the one you choose." : "Retry and roll back apply to a failed tenant.")}</p>
  </section>`;
}

function dialogs(app: App, state: TenantState, tenant: Tenant, status: ProvisioningStatus) {
  const close = () => app.closeDialog();
  const onCancel = (e: Event) => {
    e.preventDefault();
    close();
  };
  if (state.dialog === "rollback") {
    const options = status.phases.filter((p) => p.number < 10 && p.status === "SUCCEEDED");
    return html`<dialog id="rollback-dialog" aria-labelledby="rollback-title" @cancel=${onCancel}>
      <form method="dialog" @submit=${(e: Event) => { e.preventDefault(); void app.confirmRollback(); }}>
        <h2 id="rollback-title">Roll ${tenant.slug} back</h2>
        <label for="rollback-target">Keep phases 1 to</label>
        <select id="rollback-target" @change=${(e: Event) => { state.rollbackTarget = Number((e.target as HTMLSelectElement).value); app.changed(); }}>
          ${options.map((p) => html`<option value=${p.number} ?selected=${p.number === state.rollbackTarget}>${p.number}. ${phaseTitle(p.name)}</option>`)}
        </select>
        <p>Phases ${state.rollbackTarget + 1} to 10 will be removed, newest first. The tenant stays FAILED until it is retried.</p>
        <div class="buttons">
          <button type="submit" class="danger">Roll back to phase ${state.rollbackTarget}</button>
          <button type="button" class="secondary" @click=${close}>Cancel</button>
        </div>
      </form>
    </dialog>`;
  }
  if (state.dialog === "delete") {
    const matches = state.deleteConfirmation === tenant.slug;
    return html`<dialog id="delete-dialog" aria-labelledby="delete-title" @cancel=${onCancel}>
      <form method="dialog" @submit=${(e: Event) => { e.preventDefault(); void app.confirmDelete(); }}>
        <h2 id="delete-title">Delete ${tenant.slug}</h2>
        <p>Every phase is torn down in reverse order: the tenant's services, data and DNS are removed. This cannot be undone.</p>
        <label for="delete-confirmation">Type <strong>${tenant.slug}</strong> to confirm</label>
        <input id="delete-confirmation" autocomplete="off" spellcheck="false" .value=${live(state.deleteConfirmation)}
          @input=${(e: Event) => { state.deleteConfirmation = (e.target as HTMLInputElement).value; app.changed(); }}>
        <div class="buttons">
          <button type="submit" class="danger" ?disabled=${!matches}>Delete ${tenant.slug}</button>
          <button type="button" class="secondary" @click=${close}>Cancel</button>
        </div>
      </form>
    </dialog>`;
  }
  return nothing;
}

export function tenantView(app: App) {
  const state = app.tenant;
  if (!state) return html`<h1 tabindex="-1">Loading…</h1>`;
  if (state.missing) {
    return html`<p><a href="#/">← Fleet</a></p><h1 tabindex="-1">No tenant “${state.slug}”</h1><p>The service has no live tenant with this slug.</p>`;
  }
  const { tenant, status } = state;
  if (!tenant || !status) {
    return html`<p><a href="#/">← Fleet</a></p><h1 tabindex="-1">${state.slug}</h1>${state.error ? html`<p class="notice notice-bad" role="alert">${state.error}</p>` : html`<p role="status">Loading…</p>`}`;
  }
  const running = status.run !== null && RUN_STATES.has(status.run.status);
  const failedPhase = status.phases.find((p) => p.status === "FAILED");
  return html`
    <p><a href="#/">← Fleet</a></p>
    <div class="view-head">
      <h1 tabindex="-1">${tenant.displayName} <span class="slug">${tenant.slug}</span></h1>
      <span class="tenant-status">${statusBadge(tenant.status)}${tenant.status === "ACTIVE" && state.history?.history?.state === "DRIFTED"
        ? html` ${statusBadge("DRIFTED")}` : nothing}</span>
    </div>
    <dl class="facts summary-facts">
      <div><dt>Tier</dt><dd>${tenant.tier}</dd></div>
      <div><dt>Region</dt><dd>${tenant.region}</dd></div>
      <div><dt>Admin</dt><dd>${tenant.adminEmail}</dd></div>
      <div><dt>Requested by</dt><dd>${tenant.requestedBy}</dd></div>
      ${status.run?.startedAt
        // The latest run's own times: after an update, the update's, not the first provisioning's.
        ? html`<div><dt>Last run started</dt><dd>${when(status.run.startedAt)}</dd></div>
          <div><dt>Last run took</dt><dd>${running ? elapsed(status.run.startedAt, null, true) : duration(status.run.durationMs)}</dd></div>`
        : html`<div><dt>Started</dt><dd>${when(status.startedAt)}</dd></div>
          <div><dt>Duration</dt><dd>${elapsed(status.startedAt, status.completedAt ?? (running ? null : tenant.updatedAt), running)}</dd></div>`}
      <div><dt>Run</dt><dd>${status.run ? `${status.run.kind}, ${status.run.status.toLowerCase()}, attempt ${status.run.attempt} of ${status.run.maxAttempts}` : "—"}</dd></div>
      <div><dt>Progress</dt><dd>${phaseBar(status.phases.map((p) => p.status), status.phases.map((p) => p.name))} <span class="num">${status.progress}%</span></dd></div>
    </dl>
    ${status.waiting ? html`<p class="notice notice-wait" role="status" id="run-waiting">No progress: ${status.waiting.message}.</p>` : nothing}
    ${tenant.status === "FAILED" && (status.error || failedPhase)
      ? html`<div class="notice notice-bad" role="alert" id="tenant-error">
          <p><strong>${failedPhase ? `Phase ${failedPhase.number} ${phaseTitle(failedPhase.name)} failed` : "Not provisioned"}:</strong>
          ${failedPhase?.error ? plainError(failedPhase.error).message : status.error}</p>
          ${app.isAdmin ? html`<p class="muted-error">${failedPhase ? "Retry continues from this phase; the phases before it stay as they are." : "Retry provisions the remaining phases."}</p>` : nothing}
        </div>`
      : nothing}
    ${state.notice ? html`<p class="notice notice-${state.notice.tone}" role=${state.notice.tone === "bad" ? "alert" : "status"}>${state.notice.text}</p>` : nothing}
    ${app.isAdmin && tenant.status !== "DELETED" ? actions(app, state, tenant, status) : nothing}
    ${state.preview ? previewSection(state.preview) : nothing}
    ${state.drift ? driftSection(state.drift) : nothing}
    ${changesSection(app, state, running, Date.now())}
    <div class="columns">
      <section class="panel" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Phases</h2>
        <ol class="timeline">${status.phases.map((p) => phaseItem(app, p))}</ol>
      </section>
      <div class="side">
        <section class="panel" aria-labelledby="feed-title">
          <h2 id="feed-title">Live feed ${state.watching ? html`<span class="badge badge-running">LIVE</span>` : html`<span class="muted">(no run in progress)</span>`}</h2>
          ${state.feed.length === 0
            ? html`<p class="muted">Transitions appear here as they happen.</p>`
            : html`<ol class="feed" aria-live="polite" aria-relevant="additions">${state.feed.map((f) => html`<li class="feed-${f.tone}"><time>${clock(f.at)}</time> ${f.text}</li>`)}</ol>`}
        </section>
        <section class="panel" aria-labelledby="outputs-title">
          <h2 id="outputs-title">Outputs</h2>
          ${tenant.status === "DELETED"
            ? html`<p class="muted">Removed with the tenant. The last recorded values, for reference:</p>${outputsSection(tenant, false)}`
            : outputsSection(tenant, true)}
        </section>
      </div>
    </div>
    ${tenant.status !== "DELETED" ? driftHistorySection(app, state, tenant.status === "ACTIVE" && !running) : nothing}
    <section class="panel" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      ${auditSection(app, state)}
    </section>
    ${app.isAdmin ? dialogs(app, state, tenant, status) : nothing}
    ${state.review ? changeDialogs(app, state.review) : nothing}`;
}
