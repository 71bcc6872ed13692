/**
 * Drift in the tenant view: the history of drift checks (what fleet drift
 * runs and one-off checks found, newest first, each drifted resource with
 * its recorded and actual values), and for admins a fleet drift run now and a
 * converge change when the tenant has drifted. The history is read again
 * whenever the fleet stream says a check of the tenant was kept.
 */
import { html, nothing } from "lit-html";
import type { App, TenantState } from "../app.ts";
import { duration, phaseTitle, when } from "../format.ts";
import type { DriftCheck, DriftedResource } from "../types.ts";
import { statusBadge, value } from "./parts.ts";

const name = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** One drifted resource: what kind of drift, and each property's recorded and actual value. */
export function driftedResource(resource: DriftedResource) {
  const differences = resource.differences ?? [];
  return html`<div class="drifted-resource" data-urn=${resource.urn}>
    <p><span class="op op-${resource.drift}">${resource.drift}</span> <strong>${name(resource.urn)}</strong> <code>${resource.type}</code>${resource.phase
      ? html` <span class="muted">· phase ${resource.phase.number} ${phaseTitle(resource.phase.name)}</span>` : nothing}</p>
    ${resource.drift === "gone"
      ? html`<p class="muted">The resource no longer exists, though the stack records it; converging creates it again.</p>`
      : differences.length > 0
        ? html`<div class="table-wrap"><table class="drift-values">
            <caption class="visually-hidden">Recorded and actual values of ${name(resource.urn)}</caption>
            <thead><tr><th scope="col">Property</th><th scope="col">Recorded</th><th scope="col">Actual</th></tr></thead>
            <tbody>${differences.map((d) => html`<tr>
              <th scope="row" data-label="Property"><code>${d.path}</code></th>
              <td data-label="Recorded">${value(d.recorded)}</td>
              <td data-label="Actual">${d.actual === null || d.actual === undefined ? html`<span class="muted">(not set)</span>` : value(d.actual)}</td>
            </tr>`)}</tbody>
          </table></div>`
        : resource.properties.length > 0 ? html`<p class="muted">Differs in ${resource.properties.join(", ")}.</p>` : nothing}
  </div>`;
}

function checkItem(check: DriftCheck) {
  return html`<li class="drift-check" data-state=${check.state}>
    <p class="drift-check-head"><time datetime=${check.checkedAt}>${when(check.checkedAt)}</time> ${statusBadge(check.state)}
      <span class="muted">${check.state === "DRIFTED" ? `${check.resources.length} resource${check.resources.length === 1 ? " differs" : "s differ"} · ` : ""}${check.driftRunId ? "fleet drift run" : "single check"}, ${duration(check.durationMs)}</span></p>
    ${check.state === "CHECK_FAILED" ? html`<p class="phase-error"><strong>The check could not run:</strong> ${check.reason ?? "no reason given"}</p>` : nothing}
    ${check.state === "DRIFTED" ? check.resources.map(driftedResource) : nothing}
  </li>`;
}

/** The tenant's state in words: since when it has been in sync, drifted, or not checkable. */
function stateLine(history: NonNullable<TenantState["history"]>["history"]) {
  if (!history || history.state === null) {
    return html`<p class="drift-state">Not checked yet. Fleet drift runs check every ACTIVE tenant on the service's schedule (hourly unless configured otherwise); a one-off check (Check drift) is kept here too.</p>`;
  }
  const since = history.since ? ` since ${when(history.since)}` : "";
  const words = {
    IN_SYNC: `Every resource matches its recorded state${since}.`,
    DRIFTED: `Resources differ from the recorded state${history.driftedSince ? ` since ${when(history.driftedSince)}` : since}. A converge change sets them back, through review.`,
    CHECK_FAILED: `The latest check could not run${since}; the state before it is in the history below.`,
  }[history.state];
  return html`<p class="drift-state">${statusBadge(history.state)} ${words}</p>`;
}

export function driftHistorySection(app: App, state: TenantState, canConverge: boolean) {
  const drift = state.history;
  if (!drift) return nothing;
  const history = drift.history;
  const run = drift.run;
  const running = run && (run.status === "QUEUED" || run.status === "RUNNING");
  return html`<section class="panel" id="drift-history" aria-labelledby="drift-history-title">
    <h2 id="drift-history-title">Drift history</h2>
    ${stateLine(history)}
    ${app.isAdmin ? html`<div class="buttons">
        <button type="button" class="secondary" ?disabled=${drift.busy} @click=${() => drift.checkFleet()}>${drift.busy ? "Checking the fleet…" : "Check every tenant for drift now"}</button>
        ${history?.state === "DRIFTED" && state.review
          ? html`<button type="button" ?disabled=${!canConverge || state.review.busy !== null} @click=${() => void state.review!.request({ reason: "converge after drift" })}>Request a converge</button>`
          : nothing}
      </div>` : nothing}
    ${running ? html`<p role="status" class="muted">Fleet drift run ${run.status.toLowerCase()}: ${run.checked} of ${run.total} tenants checked${run.skipped ? `, ${run.skipped} busy (checked later)` : ""}.</p>` : nothing}
    ${drift.notice ? html`<div class="notice notice-${drift.notice.tone}" role=${drift.notice.tone === "bad" ? "alert" : "status"}><p>${drift.notice.text}</p>${drift.notice.detail ? html`<p class="muted-error">The service said: ${drift.notice.detail}</p>` : nothing}</div>` : nothing}
    ${drift.error ? html`<p class="notice notice-bad" role="alert">Could not load the drift history: ${drift.error}</p>` : nothing}
    ${!history ? html`<p class="muted">Loading the drift history…</p>`
      : history.items.length === 0 ? html`<p class="muted">No drift check has been recorded for this tenant.</p>`
      : html`<ol class="drift-checks" aria-label="Drift checks, newest first">${history.items.map(checkItem)}</ol>
        <p class="muted">${history.items.length} of ${history.total} check${history.total === 1 ? "" : "s"} shown.</p>
        ${history.total > history.items.length ? html`<button type="button" class="secondary" @click=${() => drift.showOlder()}>Show older checks</button>` : nothing}`}
  </section>`;
}
