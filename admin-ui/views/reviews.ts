/**
 * The Reviews page: every change awaiting review across the fleet, oldest
 * first (the longest waiting on top), filtered by tier and requester, a page
 * at a time: tenant changes, each linking to its tenant's change review, and
 * fleet changes (platform settings for many tenants), each linking to its
 * fleet change page, where they are approved or rejected.
 */
import { html, nothing } from "lit-html";
import { live } from "lit-html/directives/live.js";
import { repeat } from "lit-html/directives/repeat.js";
import type { App } from "../app.ts";
import { count, duration, when } from "../format.ts";
import { REVIEW_PAGE_SIZE, type ReviewQueue } from "../review-queue.ts";
import type { FleetReviewItem, ReviewQueueItem, TenantReviewItem } from "../types.ts";

/** Typing in a text filter re-reads the page once the typing pauses. */
let typingTimer: number | undefined;

/** What the change asks for, in words, as the tenant's change review says it. */
function asks(item: TenantReviewItem): string {
  if (item.action === "teardown") return "Tear down the tenant";
  if (item.action === "rollback") return `Roll back to the end of phase ${item.target.lastPhase}`;
  if (item.action === "restore") return "Restore a backup into its database";
  const parts: string[] = [];
  if (item.target.tier !== item.tenant.tier) parts.push(`Tier ${item.tenant.tier} → ${item.target.tier}`);
  if (item.target.lastPhase < 10) parts.push(`phases 1 to ${item.target.lastPhase}`);
  return parts.length === 0 ? "Converge to the recorded spec" : parts.join(", ");
}

function preview(item: TenantReviewItem) {
  if (item.action === "restore") return html`<span class="muted">none: the backup is named in the change</span>`;
  if (item.action !== "update") return html`<span class="muted">none: a request for another admin's approval</span>`;
  const s = item.changeSummary;
  return html`${s ? `${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete` : "—"}${item.destructive
    ? html` <span class="badge badge-destructive">DESTRUCTIVE</span>` : nothing}`;
}

/** A fleet change: the settings it changes, and its impact as the groups' sizes and summaries ("2 tenants: update 1 Release"). */
function fleetRow(item: FleetReviewItem) {
  const link = `#/fleet/changes/${encodeURIComponent(item.id)}`;
  const tiers = item.selector.tiers?.length ? item.selector.tiers.join(", ") : "all";
  const paths = item.changedPaths.length > 3 ? `${item.changedPaths.slice(0, 3).join(", ")} and ${item.changedPaths.length - 3} more` : item.changedPaths.join(", ");
  return html`<tr data-change=${item.id} data-kind="fleet">
    <th scope="row" data-label="Tenant"><span class="badge badge-fleet">FLEET</span> ${count(item.tenants)} ${item.tenants === 1 ? "tenant" : "tenants"}</th>
    <td data-label="Tier">${tiers}</td>
    <td data-label="Asks for"><a href=${link} class="review-link">Platform settings: ${paths}</a></td>
    <td data-label="Preview"><ul class="impact-summary">${item.groups.map((g) => html`<li>${count(g.tenants)} ${g.tenants === 1 ? "tenant" : "tenants"}: ${g.summary}</li>`)}${item.failedTenants
      ? html`<li class="muted">${count(item.failedTenants)} failed to preview</li>` : nothing}</ul>${item.destructive
      ? html` <span class="badge badge-destructive">DESTRUCTIVE</span> <span class="muted">on ${count(item.destructiveTenants)}</span>` : nothing}</td>
    <td data-label="Requested by">${item.requestedBy}</td>
    <td data-label="Reason" class="reason">${item.reason}</td>
    <td data-label="Requested">${when(item.createdAt)}</td>
    <td data-label="Valid for" title="Until another settings version becomes current">until another version</td>
  </tr>`;
}

function row(item: ReviewQueueItem, now: number) {
  if (item.kind === "fleet") return fleetRow(item);
  const left = Date.parse(item.expiresAt) - now;
  const link = `#/tenants/${encodeURIComponent(item.tenant.slug)}/changes/${encodeURIComponent(item.id)}`;
  return html`<tr data-change=${item.id} data-slug=${item.tenant.slug}>
    <th scope="row" data-label="Tenant"><a href=${`#/tenants/${encodeURIComponent(item.tenant.slug)}`}>${item.tenant.slug}</a></th>
    <td data-label="Tier">${item.tenant.tier}</td>
    <td data-label="Asks for"><a href=${link} class="review-link">${asks(item)}</a></td>
    <td data-label="Preview">${preview(item)}</td>
    <td data-label="Requested by">${item.requestedBy}</td>
    <td data-label="Reason" class="reason">${item.reason ?? html`<span class="muted">—</span>`}</td>
    <td data-label="Requested">${when(item.createdAt)}</td>
    <td data-label="Valid for" title=${`Until ${when(item.expiresAt)}`}>${left > 0 ? duration(left) : "expired"}</td>
  </tr>`;
}

function filters(app: App, queue: ReviewQueue) {
  const typed = (field: "requestedBy" | "tenant") => (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(() => queue.setFilter({ [field]: value }), 300);
  };
  return html`<form class="filters reviews-filters" role="search" aria-label="Filter the reviews" @submit=${(e: Event) => e.preventDefault()}>
    <div class="field">
      <label for="reviews-tier">Tier</label>
      <select id="reviews-tier" @change=${(e: Event) => queue.setFilter({ tier: (e.target as HTMLSelectElement).value })}>
        <option value="" ?selected=${queue.filters.tier === ""}>All tiers</option>
        ${(app.platform?.tiers ?? ["free", "professional", "enterprise"]).map((t) => html`<option value=${t} ?selected=${queue.filters.tier === t}>${t}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="reviews-requested-by">Requested by</label>
      <input id="reviews-requested-by" type="search" .value=${live(queue.filters.requestedBy)} autocomplete="off" spellcheck="false"
        aria-describedby="reviews-requested-by-hint" @input=${typed("requestedBy")}>
      <p class="hint" id="reviews-requested-by-hint">The requester's exact name</p>
    </div>
    <div class="field">
      <label for="reviews-tenant">Tenant</label>
      <input id="reviews-tenant" type="search" .value=${live(queue.filters.tenant)} autocomplete="off" spellcheck="false"
        aria-describedby="reviews-tenant-hint" @input=${typed("tenant")}>
      <p class="hint" id="reviews-tenant-hint">Its exact slug</p>
    </div>
  </form>`;
}

export function reviewsView(app: App, now: number) {
  const queue = app.reviews;
  if (!queue) return html`<h1 tabindex="-1">Reviews</h1><p role="status">Loading…</p>`;
  const { data, page, loading, error } = queue;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / REVIEW_PAGE_SIZE));
  const first = total === 0 ? 0 : page * REVIEW_PAGE_SIZE + 1;
  const last = Math.min(total, (page + 1) * REVIEW_PAGE_SIZE);
  return html`
    <div class="view-head"><h1 tabindex="-1">Reviews</h1></div>
    <p class="muted">Changes awaiting review across the fleet, the longest waiting first: changes to one tenant, and fleet changes to the platform settings of many. Open one to see its whole preview${app.isAdmin ? " and approve or reject it" : ""}. The tenant and tier filters keep the fleet changes that reach that tenant, or a tenant on that tier.</p>
    ${filters(app, queue)}
    ${error ? html`<p class="notice notice-bad" role="alert">Could not load the reviews: ${error}</p>` : nothing}
    <p class="summary" role="status" aria-live="polite">${data
      ? total === 0 ? (queue.filtered ? "No change awaiting review matches." : "Nothing awaits review.")
        : `Showing ${count(first)}–${count(last)} of ${count(total)} ${total === 1 ? "change" : "changes"} awaiting review`
      : "Loading the reviews…"}${loading && data ? " · updating…" : ""}</p>
    ${data && data.items.length > 0 ? html`<div class="table-wrap">
      <table class="reviews">
        <caption class="visually-hidden">Changes awaiting review, oldest first, page ${page + 1} of ${pages}</caption>
        <thead><tr>
          <th scope="col">Tenant</th><th scope="col">Tier</th><th scope="col">Asks for</th><th scope="col">Preview</th>
          <th scope="col">Requested by</th><th scope="col">Reason</th><th scope="col">Requested</th><th scope="col">Valid for</th>
        </tr></thead>
        <tbody>${repeat(data.items, (i) => i.id, (i) => row(i, now))}</tbody>
      </table>
    </div>` : nothing}
    ${total > REVIEW_PAGE_SIZE ? html`<nav class="pager" aria-label="Review pages">
      <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => queue.setPage(0)}>First</button>
      <button type="button" class="secondary" ?disabled=${page === 0} @click=${() => queue.setPage(page - 1)}>Previous</button>
      <span>Page ${count(page + 1)} of ${count(pages)}</span>
      <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => queue.setPage(page + 1)}>Next</button>
      <button type="button" class="secondary" ?disabled=${page >= pages - 1} @click=${() => queue.setPage(pages - 1)}>Last</button>
    </nav>` : nothing}`;
}
