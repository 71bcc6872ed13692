/**
 * Changes through review, in the tenant view: the request form (admins), the
 * changes awaiting or under way with their previews grouped by phase (each
 * property old → new, destructive resources marked), approve and reject for
 * admins, and the earlier changes folded below.
 */
import { html, nothing } from "lit-html";
import { live } from "lit-html/directives/live.js";
import type { App, TenantState } from "../app.ts";
import { bytes, count, duration, phaseTitle, when } from "../format.ts";
import { isMoving, type ChangeReview } from "../review.ts";
import type { Change, ChangePreview, ReviewedChange, Tenant, TierChangePlan } from "../types.ts";
import { statusBadge, value } from "./parts.ts";

/** What a change asks for, in words. */
export function describeChange(change: Change, tenant: Tenant): string {
  if (change.kind === "teardown") return "Tear down the tenant";
  if (change.kind === "rollback") return `Roll back to the end of phase ${change.target.lastPhase}`;
  if (change.kind === "restore") return "Restore a backup into its database";
  const parts: string[] = [];
  const { tier, lastPhase } = change.requested;
  const undecided = change.status === "PREVIEWING" || change.status === "PENDING_REVIEW";
  if (tier) parts.push(undecided && tier !== tenant.tier ? `Tier ${tenant.tier} → ${tier}` : `Tier ${tier}`);
  if (lastPhase !== undefined) parts.push(`phases 1 to ${lastPhase}`);
  return parts.length === 0 ? "Converge to the recorded spec" : parts.join(", ");
}

/** What the status means for the people reading it. */
function statusSentence(change: Change, now: number) {
  if (change.kind !== "update") return requestSentence(change, now);
  switch (change.status) {
    case "PREVIEWING":
      return html`<p role="status">Previewing: the service is working out what this change would do. Nothing is changed.</p>`;
    case "PENDING_REVIEW": {
      const left = Date.parse(change.expiresAt) - now;
      return left > 0
        ? html`<p>Awaiting review: nothing changes until an admin approves it. The preview is valid for ${duration(left)} more (until ${when(change.expiresAt)}).</p>`
        : html`<p class="notice notice-bad">This preview expired at ${when(change.expiresAt)}: request the change again for a fresh one.</p>`;
    }
    case "APPROVED":
      return html`<p role="status">Approved by ${change.decidedBy}; the update run that applies it is queued.</p>`;
    case "APPLYING":
      return html`<p role="status">Applying the reviewed plan: the tenant is UPDATING.</p>`;
    case "APPLIED":
      return html`<p>Applied ${when(change.appliedAt)}${change.decidedBy ? `, approved by ${change.decidedBy}` : ""}.</p>`;
    case "REJECTED":
      return html`<p>Rejected by ${change.decidedBy ?? "an admin"} ${when(change.decidedAt)}${change.rejectionReason ? html`: “${change.rejectionReason}”` : ""}. Nothing was changed.</p>`;
    case "PREVIEW_FAILED":
      return html`<p class="phase-error"><strong>The preview failed:</strong> ${change.error ?? "no reason given"}. Nothing was changed; request the change again.</p>`;
    case "FAILED":
      return html`<p class="phase-error"><strong>The update failed:</strong> ${change.error ?? "no reason given"}. Retry the tenant to apply this change again.</p>`;
    case "STALE":
      return html`<p>Stale: the tenant changed after this preview, so it no longer shows what would happen. Nothing was changed; request the change again.</p>`;
    case "EXPIRED":
      return html`<p>Expired before it was approved. Nothing was changed; request the change again.</p>`;
    default:
      return nothing;
  }
}

/** A teardown or rollback asked for by one admin: what it waits for, or what came of it. */
function requestSentence(change: Change, now: number) {
  if (change.kind === "restore") return restoreSentence(change, now);
  const act = change.kind === "teardown" ? "teardown" : "rollback";
  switch (change.status) {
    case "PENDING_REVIEW": {
      const left = Date.parse(change.expiresAt) - now;
      return left > 0
        ? html`<p>Awaiting approval by another admin than ${change.createdBy}: this service requires two people for a ${act}. Nothing is removed until then. The request is valid for ${duration(left)} more (until ${when(change.expiresAt)}).</p>`
        : html`<p class="notice notice-bad">This request expired at ${when(change.expiresAt)}: ask for the ${act} again.</p>`;
    }
    case "APPROVED":
      return html`<p>Approved by ${change.decidedBy} ${when(change.decidedAt)}; the ${act} run was queued: follow it in the phases above.</p>`;
    case "REJECTED":
      return html`<p>Rejected by ${change.decidedBy ?? "an admin"} ${when(change.decidedAt)}${change.rejectionReason ? html`: “${change.rejectionReason}”` : ""}. Nothing was removed.</p>`;
    case "STALE":
      return html`<p>Stale: the tenant changed after this was requested. Nothing was removed; ask again if it is still wanted.</p>`;
    case "EXPIRED":
      return html`<p>Expired before it was approved. Nothing was removed.</p>`;
    default:
      return nothing;
  }
}

/** One property's old and new value; the tenant preview shows them as a change's review does. */
export function diffLine(diff: ReviewedChange["diffs"][number]) {
  const added = !("old" in diff) || diff.old === undefined;
  const removed = !("new" in diff) || diff.new === undefined;
  return html`<li><code class="path">${diff.path}</code>: ${added ? html`<span class="muted">(not set)</span>` : value(diff.old)} → ${removed ? html`<span class="muted">(removed)</span>` : value(diff.new)}</li>`;
}

/** The preview of a change: a summary, the destructive resources first if any, then every change grouped by phase. */
export function changePreview(preview: ChangePreview, id: string) {
  const s = preview.changeSummary;
  const destructive = new Set(preview.destructiveResources.map((r) => r.urn));
  const groups = new Map<number, { name: string; changes: ReviewedChange[] }>();
  for (const change of preview.changes) {
    const number = change.phase?.number ?? 0;
    const group = groups.get(number) ?? { name: change.phase?.name ?? "", changes: [] };
    group.changes.push(change);
    groups.set(number, group);
  }
  const ordered = [...groups.entries()].sort(([a], [b]) => (a || 99) - (b || 99));
  return html`<div class="change-preview" id=${`preview-${id}`}>
    <p class="change-summary">${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.same} unchanged.</p>
    ${preview.destructive ? html`<div class="notice notice-bad destructive" role="note">
        <p><strong>Destructive change.</strong> It deletes or replaces resources that hold data or credentials; what they hold is lost unless it has been moved first:</p>
        <ul>${preview.destructiveResources.map((r) => html`<li>${r.op} <strong>${r.urn.slice(r.urn.lastIndexOf("::") + 2)}</strong> (<code>${r.type}</code>)</li>`)}</ul>
      </div>` : nothing}
    ${preview.changes.length === 0 ? html`<p>Nothing to change: the tenant already matches.</p>` : nothing}
    ${ordered.map(([number, group]) => html`<section class="change-phase" data-phase=${number}>
      <h4>${number ? `Phase ${number}. ${phaseTitle(group.name)}` : "Outside the phases"}: ${group.changes.length} change${group.changes.length === 1 ? "" : "s"}</h4>
      <ul class="changes">${group.changes.map((c) => html`<li class="reviewed" data-op=${c.op}>
        <span class="op op-${c.op}">${c.op}</span> <strong>${c.name}</strong> <code>${c.type}</code>
        ${destructive.has(c.urn) ? html`<span class="badge badge-destructive">DESTRUCTIVE</span>` : nothing}
        ${c.diffs.length ? html`<ul class="diffs">${c.diffs.map(diffLine)}</ul>` : nothing}
      </li>`)}</ul>
    </section>`)}
  </div>`;
}

/** What each step of a tier change does (automation/render/tier-change.ts), for the people approving it. */
const TIER_STEP_WORDS: Record<TierChangePlan["steps"][number], [string, string]> = {
  expand: ["Expand", "creates the new database target (server, database, pool, role and schema); the tenant still uses the old one"],
  move: ["Move data", "stops writes on the source and copies the tenant's schema to the new target"],
  verify: ["Verify", "compares every table's row count and checksum on both sides"],
  switch: ["Switch", "points the database credentials at the new target; the workloads of phases 3 to 10 roll onto it"],
  contract: ["Contract", "removes what the new tier no longer has (the old server, or the pool) once every later phase has rolled, then the tenant's data from the old target"],
};
const PLACEMENT_WORDS = { shared: "the shared database server", dedicated: "a dedicated database server" } as const;

/** A tier change's plan: from → to, the steps phase 2 will run, and the data it will move (or why that is not known). */
export function tierChangePlan(change: Change, tenant: Tenant, plan: TierChangePlan) {
  const undecided = change.status === "PREVIEWING" || change.status === "PENDING_REVIEW";
  const from = undecided && tenant.tier !== change.target.tier ? tenant.tier : null;
  return html`<section class="tier-change" aria-labelledby=${`tier-change-${change.id}`}>
    <h4 id=${`tier-change-${change.id}`}>Tier change plan${from ? `: ${from} → ${change.target.tier}` : `: to ${change.target.tier}`}</h4>
    <p class="tier-move">${plan.move
      ? `The tenant's data moves from ${PLACEMENT_WORDS[plan.move.from]} to ${PLACEMENT_WORDS[plan.move.to]}.`
      : "The tenant's data stays on its database server."}</p>
    ${plan.steps.length === 0
      ? html`<p class="tier-steps-none">Phase 2 keeps its database target: it runs no tier change steps.</p>`
      : html`<p>Phase 2 runs these steps, in this order:</p>
        <ol class="tier-steps">${plan.steps.map((step) => html`<li data-step=${step}><strong>${TIER_STEP_WORDS[step]?.[0] ?? step}</strong>: ${TIER_STEP_WORDS[step]?.[1] ?? ""}</li>`)}</ol>`}
    ${plan.data
      ? html`<p class="tier-data"><strong>Data to move:</strong> ${count(plan.data.tables)} ${plan.data.tables === 1 ? "table" : "tables"}, ${count(plan.data.rows)} ${plan.data.rows === 1 ? "row" : "rows"}, ${bytes(plan.data.bytes)} on disk (measured on the source when previewed).</p>`
      : plan.move ? html`<p class="tier-data"><strong>Data to move:</strong> not measured${plan.note ? html`: <span class="tier-note">${plan.note}</span>` : nothing}.</p>`
      : plan.note ? html`<p class="tier-data tier-note">${plan.note}</p>` : nothing}
  </section>`;
}

/** A restore request (always reviewed, performed by its approval): what it waits for, or what came of it. */
function restoreSentence(change: Change, now: number) {
  switch (change.status) {
    case "PENDING_REVIEW": {
      const left = Date.parse(change.expiresAt) - now;
      return left > 0
        ? html`<p>Awaiting review: the backup is restored when an admin approves it${change.requested.skipBackup ? "" : ", after a backup of what it replaces"}. Nothing is changed until then. The request is valid for ${duration(left)} more (until ${when(change.expiresAt)}).</p>`
        : html`<p class="notice notice-bad">This request expired at ${when(change.expiresAt)}: ask for the restore again.</p>`;
    }
    case "APPLIED":
      return html`<p>Restored ${when(change.appliedAt)}${change.decidedBy ? `, approved by ${change.decidedBy}` : ""}.</p>`;
    case "FAILED":
      return html`<p class="phase-error"><strong>The restore failed:</strong> ${change.error ?? "no reason given"}. The tenant's data is as it was.</p>`;
    case "REJECTED":
      return html`<p>Rejected by ${change.decidedBy ?? "an admin"} ${when(change.decidedAt)}${change.rejectionReason ? html`: “${change.rejectionReason}”` : ""}. Nothing was restored.</p>`;
    case "STALE":
      return html`<p>Stale: the tenant changed after this was requested. Nothing was restored; ask again if it is still wanted.</p>`;
    case "EXPIRED":
      return html`<p>Expired before it was approved. Nothing was restored.</p>`;
    default:
      return nothing;
  }
}

/** The backup a restore request names, as it was when asked for. */
function restoredBackup(change: Change) {
  const backup = change.requested.backup;
  if (!backup) return html`backup ${change.requested.backupId ?? "(not named)"}`;
  return html`backup <code>${backup.id}</code> of schema <code>${backup.schemaName}</code>, taken ${when(backup.createdAt)} (${backup.reason}, ${bytes(backup.sizeBytes)})`;
}

function changeItem(app: App, review: ChangeReview, change: Change, now: number) {
  const tenant = app.tenant!.tenant!;
  const notice = review.notice?.changeId === change.id ? review.notice : null;
  const pending = change.status === "PENDING_REVIEW";
  // The change the Reviews page linked to: marked, and brought into view (main.ts) with focus.
  const targeted = app.route.view === "tenant" && app.route.change === change.id;
  return html`<article class=${targeted ? "change change-targeted" : "change"} tabindex=${targeted ? "-1" : nothing} data-change=${change.id} data-status=${change.status} aria-labelledby=${`change-${change.id}-title`}>
    <h3 id=${`change-${change.id}-title`}>${describeChange(change, tenant)} ${statusBadge(change.status)}</h3>
    <dl class="facts">
      <div><dt>Requested by</dt><dd>${change.createdBy}, ${when(change.createdAt)}</dd></div>
      ${change.requested.reason ? html`<div><dt>Reason</dt><dd>${change.requested.reason}</dd></div>` : nothing}
      ${change.kind === "restore" ? html`<div><dt>Restores</dt><dd class="restored-backup">${restoredBackup(change)}</dd></div>
        ${change.requested.replaces ? html`<div><dt>Replaces</dt><dd>${change.requested.replaces}</dd></div>` : nothing}`
        : html`<div><dt>Brings it to</dt><dd>${change.kind === "teardown" ? "nothing: every phase is removed, newest first"
        : change.kind === "rollback" ? `phases 1 to ${change.target.lastPhase}; phases ${change.target.lastPhase + 1} to 10 are removed`
        : `${change.target.tier}, phases 1 to ${change.target.lastPhase}`}</dd></div>`}
    </dl>
    ${statusSentence(change, now)}
    ${notice ? html`<div class="notice notice-${notice.tone}" role=${notice.tone === "bad" ? "alert" : "status"}><p>${notice.text}</p>${notice.detail ? html`<p class="muted-error">The service said: ${notice.detail}</p>` : nothing}</div>` : nothing}
    ${change.preview?.tierChange ? tierChangePlan(change, tenant, change.preview.tierChange) : nothing}
    ${change.preview ? changePreview(change.preview, change.id) : nothing}
    ${app.isAdmin && pending ? html`<div class="buttons">
        <button type="button" ?disabled=${review.busy !== null} @click=${() => review.startApproval(change.id)}>${review.busy === "approve" ? "Approving…" : change.kind !== "update" ? `Approve ${change.kind}` : change.preview?.destructive ? "Approve…" : "Approve and apply"}</button>
        <button type="button" class="secondary" ?disabled=${review.busy !== null} @click=${() => review.startRejection(change.id)}>Reject…</button>
      </div>` : nothing}
  </article>`;
}

function requestForm(app: App, review: ChangeReview, tenant: Tenant, blocked: string | null) {
  const tiers = (app.platform?.tiers ?? ["free", "professional", "enterprise"]).filter((t) => t !== tenant.tier);
  const set = (field: keyof ChangeReview["form"]) => (e: Event) => {
    review.form = { ...review.form, [field]: (e.target as HTMLInputElement | HTMLSelectElement).value };
    app.changed();
  };
  const converge = !review.form.tier && !review.form.lastPhase;
  return html`<form class="change-form" aria-labelledby="change-form-title" @submit=${(e: Event) => { e.preventDefault(); void review.request(); }}>
    <h3 id="change-form-title">Request a change</h3>
    <div class="form-row">
      <div class="field">
        <label for="change-tier">Tier</label>
        <select id="change-tier" @change=${set("tier")}>
          <option value="" ?selected=${review.form.tier === ""}>Keep ${tenant.tier}</option>
          ${tiers.map((t) => html`<option value=${t} ?selected=${review.form.tier === t}>${t}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="change-last-phase">Phases</label>
        <select id="change-last-phase" @change=${set("lastPhase")}>
          <option value="" ?selected=${review.form.lastPhase === ""}>All ten</option>
          ${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => html`<option value=${n} ?selected=${review.form.lastPhase === String(n)}>1 to ${n}</option>`)}
        </select>
      </div>
      <div class="field grow">
        <label for="change-reason">Reason (optional)</label>
        <input id="change-reason" maxlength="1000" autocomplete="off" .value=${live(review.form.reason)} @input=${set("reason")}>
      </div>
      <div class="field">
        <button type="submit" ?disabled=${blocked !== null || review.busy !== null}>${review.busy === "request" ? "Requesting…" : converge ? "Request a converge" : "Request change"}</button>
      </div>
    </div>
    <p class="hint">${blocked ?? (converge
      ? "With tier and phases kept, the change converges the tenant to its recorded spec: its preview shows what would be set back (after drift, say)."
      : "The change is previewed first; nothing happens to the tenant until an admin approves it, and then exactly the reviewed plan is applied.")}</p>
    ${review.notice && review.notice.changeId === null
      ? html`<div class="notice notice-${review.notice.tone}" role=${review.notice.tone === "bad" ? "alert" : "status"}><p>${review.notice.text}</p>${review.notice.detail ? html`<p class="muted-error">The service said: ${review.notice.detail}</p>` : nothing}</div>`
      : nothing}
  </form>`;
}

const OPEN = new Set(["PREVIEWING", "PENDING_REVIEW", "APPROVED", "APPLYING"]);

export function changesSection(app: App, state: TenantState, runActive: boolean, now: number) {
  const review = state.review;
  const tenant = state.tenant!;
  if (!review) return nothing;
  // A change just acted on stays in view with what came of it, whatever its status now.
  // An approved teardown or rollback request is done with: its run is followed in the tenant's status.
  const inView = (c: Change) => (OPEN.has(c.status) && !(c.kind !== "update" && c.status === "APPROVED")) || review.notice?.changeId === c.id;
  const open = review.items.filter(inView);
  const earlier = review.items.filter((c) => !inView(c));
  const blocked = tenant.status !== "ACTIVE"
    ? `A change can be requested once the tenant is ACTIVE (it is ${tenant.status}).`
    : runActive || review.items.some(isMoving)
      ? "A run is in progress for this tenant; a change can be requested once it has finished."
      : null;
  return html`<section class="panel" id="changes" aria-labelledby="changes-title">
    <h2 id="changes-title">Changes through review</h2>
    ${app.isAdmin && tenant.status !== "DELETED" ? requestForm(app, review, tenant, blocked) : nothing}
    ${review.error ? html`<p class="notice notice-bad" role="alert">Could not load the changes: ${review.error}</p>` : nothing}
    ${!review.loaded ? html`<p class="muted">Loading the changes…</p>`
      : review.items.length === 0 ? html`<p class="muted">No change has been requested for this tenant.</p>` : nothing}
    ${open.map((c) => changeItem(app, review, c, now))}
    ${earlier.length ? html`<details class="earlier-changes" ?open=${app.route.view === "tenant" && earlier.some((c) => c.id === (app.route as { change?: string }).change)}>
        <summary>Earlier changes (${earlier.length})</summary>
        ${earlier.map((c) => changeItem(app, review, c, now))}
      </details>` : nothing}
  </section>`;
}

/** The approve (destructive) and reject dialogs; at most one is open. */
export function changeDialogs(app: App, review: ChangeReview) {
  const dialog = review.dialog;
  if (!dialog || !app.isAdmin) return nothing;
  const change = review.get(dialog.changeId);
  if (!change) return nothing;
  const onCancel = (e: Event) => {
    e.preventDefault();
    review.closeDialog();
  };
  if (dialog.kind === "approve") {
    return html`<dialog id="approve-dialog" aria-labelledby="approve-title" @cancel=${onCancel}>
      <form method="dialog" @submit=${(e: Event) => { e.preventDefault(); if (dialog.allowDestructive) void review.approve(change.id, true); }}>
        <h2 id="approve-title">Approve a destructive change</h2>
        <p>Approving applies the reviewed plan, which deletes or replaces:</p>
        <ul>${(change.preview?.destructiveResources ?? []).map((r) => html`<li>${r.op} <strong>${r.urn.slice(r.urn.lastIndexOf("::") + 2)}</strong> (<code>${r.type}</code>)</li>`)}</ul>
        <p>What they hold is lost unless it has been moved first (see “What a tier change does to the tenant's data” in docs/operations.md).</p>
        <label class="check"><input type="checkbox" id="allow-destructive" .checked=${live(dialog.allowDestructive)}
          @change=${(e: Event) => { dialog.allowDestructive = (e.target as HTMLInputElement).checked; app.changed(); }}>
          Allow destructive changes: the data is taken care of</label>
        <div class="buttons">
          <button type="submit" class="danger" ?disabled=${!dialog.allowDestructive}>Approve destructive change</button>
          <button type="button" class="secondary" @click=${() => review.closeDialog()}>Cancel</button>
        </div>
      </form>
    </dialog>`;
  }
  return html`<dialog id="reject-dialog" aria-labelledby="reject-title" @cancel=${onCancel}>
    <form method="dialog" @submit=${(e: Event) => { e.preventDefault(); void review.reject(change.id, dialog.reason); }}>
      <h2 id="reject-title">Reject this change</h2>
      <p>${describeChange(change, app.tenant!.tenant!)}, requested by ${change.createdBy}. Rejecting changes nothing on the tenant.</p>
      <label for="reject-reason">Reason (optional)</label>
      <input id="reject-reason" maxlength="1000" autocomplete="off" .value=${live(dialog.reason)}
        @input=${(e: Event) => { dialog.reason = (e.target as HTMLInputElement).value; }}>
      <div class="buttons">
        <button type="submit" class="danger">Reject change</button>
        <button type="button" class="secondary" @click=${() => review.closeDialog()}>Cancel</button>
      </div>
    </form>
  </dialog>`;
}
