// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The Reviews page: how many changes await review and which are shown, each
 * tenant change with what it asks for (linking to its review), its preview's
 * counts and validity, each fleet change with its settings and impact, the
 * filters as chosen, the pager, and a reason shown as text.
 */
import "./utc.ts";
import { render } from "lit-html"; import { describe, expect, it, vi } from "vitest";
import { ReviewQueue } from "../../../admin-ui/review-queue.ts";
import type { FleetReviewItem, ReviewQueuePage, TenantReviewItem } from "../../../admin-ui/types.ts";
import { reviewsView } from "../../../admin-ui/views/reviews.ts";
import { all, button, buttons, CHANGE_ID, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, T2, TENANT_ID, text } from "./support.ts";

const NOW = Date.parse("2026-12-07T11:15:00.000Z");

const tenantItem = (over: Partial<TenantReviewItem> = {}): TenantReviewItem => ({
  kind: "tenant", id: CHANGE_ID, action: "update", status: "PENDING_REVIEW",
  tenant: { id: TENANT_ID, slug: "acme", tier: "professional", status: "ACTIVE" }, target: { tier: "enterprise", lastPhase: 10 },
  requestedBy: "bob", reason: "more capacity", createdAt: T2, expiresAt: "2026-12-08T10:15:00.000Z", destructive: false,
  changeSummary: { create: 4, update: 2, replace: 1, delete: 3, same: 40 }, href: "/api/v1/tenants/x/changes/y", ...over,
});

const fleetItem = (over: Partial<FleetReviewItem> = {}): FleetReviewItem => ({
  kind: "fleet", id: "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d", status: "PENDING_REVIEW", requestedBy: "alice", reason: "ai-service 2.0.0", createdAt: T2,
  changedPaths: ["images.tags.ai-service"], selector: {}, tenants: 4,
  groups: [{ tenants: 3, summary: "update 1 Release", destructive: false }, { tenants: 1, summary: "no change", destructive: false }],
  destructive: false, destructiveTenants: 0, failedTenants: 0, rolloutId: null, href: "/api/v1/fleet/changes/x", ...over,
});

/** The queue as the page reads it; built without its constructor, which starts reading the service at once. */
function queue(data: ReviewQueuePage | null, over: Partial<ReviewQueue> = {}): ReviewQueue {
  const q = Object.create(ReviewQueue.prototype) as ReviewQueue;
  return Object.assign(q, { pending: data?.total ?? null, filters: { tier: "", requestedBy: "", tenant: "" }, page: 0, data, loading: false, error: null }, over);
}

const pageOf = (items: ReviewQueuePage["items"], total = items.length): ReviewQueuePage => ({ items, total, limit: 25, offset: 0 });

function view(q: ReviewQueue | null, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  app.reviews = q;
  return { app, root: mount(reviewsView(app, NOW)) };
}

const row = (root: HTMLElement, id = CHANGE_ID) => one(root, `tr[data-change='${id}']`);
const cells = (tr: Element) => all(tr, "th, td").map((c) => text(c));

describe("the review queue", () => {
  it("counts what awaits review and what is shown", () => {
    expect(text(one(view(queue(pageOf([tenantItem()]))).root, "p.summary"))).toBe("Showing 1–1 of 1 change awaiting review");
    expect(text(one(view(queue(pageOf([tenantItem()], 60), { page: 1 })).root, "p.summary"))).toBe("Showing 26–50 of 60 changes awaiting review");
    expect(text(one(view(queue(pageOf([tenantItem()], 60), { page: 2 })).root, "p.summary"))).toBe("Showing 51–60 of 60 changes awaiting review");
    expect(text(one(view(queue(pageOf([]))).root, "p.summary"))).toBe("Nothing awaits review.");
    expect(text(one(view(queue(pageOf([]), { filters: { tier: "free", requestedBy: "", tenant: "" } })).root, "p.summary"))).toBe("No change awaiting review matches.");
    expect(text(one(view(queue(pageOf([]), { loading: true })).root, "p.summary"))).toBe("Nothing awaits review. · updating…");
    expect(text(one(view(queue(null, { loading: true })).root, "p.summary"))).toBe("Loading the reviews…");
  });

  it("shows a tenant change: tenant, tier, what it asks, preview counts, who, why, when and for how long", () => {
    const { root } = view(queue(pageOf([tenantItem()])));
    const tr = row(root);
    expect(tr.dataset.slug).toBe("acme");
    expect(cells(tr)).toEqual(["acme", "professional", "Tier professional → enterprise", "4 to create, 2 to update, 1 to replace, 3 to delete", "bob", "more capacity", "Dec 7, 2026, 10:15:00 AM", "23 h 0 min"]);
    expect(one(tr, "th a").getAttribute("href")).toBe("#/tenants/acme");
    expect(one(tr, "a.review-link").getAttribute("href")).toBe(`#/tenants/acme/changes/${CHANGE_ID}`);
    expect(all(tr, "td").at(-1)!.getAttribute("title")).toBe("Until Dec 8, 2026, 10:15:00 AM");
    expect(text(one(root, "caption"))).toBe("Changes awaiting review, oldest first, page 1 of 1");
  });

  it("words what each change asks for", () => {
    const asks = (over: Partial<TenantReviewItem>) => cells(row(view(queue(pageOf([tenantItem(over)]))).root))[2];
    expect(asks({ target: { tier: "enterprise", lastPhase: 6 } })).toBe("Tier professional → enterprise, phases 1 to 6");
    expect(asks({ target: { tier: "professional", lastPhase: 6 } })).toBe("phases 1 to 6");
    expect(asks({ target: { tier: "professional", lastPhase: 10 } })).toBe("Converge to the recorded spec");
    expect(asks({ action: "teardown" })).toBe("Tear down the tenant");
    expect(asks({ action: "rollback", target: { tier: "professional", lastPhase: 3 } })).toBe("Roll back to the end of phase 3");
    expect(asks({ action: "restore", target: { tier: "enterprise", lastPhase: 6 } })).toBe("Restore a backup into its database");
  });

  it("marks a destructive preview, says a request has none, and an expired one", () => {
    const preview = (over: Partial<TenantReviewItem>) => cells(row(view(queue(pageOf([tenantItem(over)]))).root))[3];
    expect(preview({ destructive: true })).toBe("4 to create, 2 to update, 1 to replace, 3 to delete DESTRUCTIVE");
    expect(preview({ changeSummary: null, destructive: null })).toBe("—");
    expect(preview({ action: "teardown" })).toBe("none: a request for another admin's approval");
    expect(preview({ action: "restore", destructive: true })).toBe("none: the backup is named in the change");
    expect(cells(row(view(queue(pageOf([tenantItem({ expiresAt: "2026-12-07T11:00:00.000Z" })]))).root)).at(-1)).toBe("expired");
    expect(cells(row(view(queue(pageOf([tenantItem({ reason: null })]))).root))[5]).toBe("—");
  });

  it("shows a fleet change: tenants, tiers, settings, impact, who and why", () => {
    const id = "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d";
    const { root } = view(queue(pageOf([fleetItem()])));
    const tr = row(root, id);
    expect(tr.dataset.kind).toBe("fleet");
    expect(cells(tr)).toEqual(["FLEET 4 tenants", "all", "Platform settings: images.tags.ai-service", "3 tenants: update 1 Release 1 tenant: no change", "alice", "ai-service 2.0.0", "Dec 7, 2026, 10:15:00 AM", "until another version"]);
    expect(one(tr, "a.review-link").getAttribute("href")).toBe(`#/fleet/changes/${id}`);
    expect(all(tr, "td").at(-1)!.getAttribute("title")).toBe("Until another settings version becomes current");
  });

  it("shortens a long list of settings, and names tiers, failures and destructive tenants", () => {
    const id = "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d";
    const tr = row(view(queue(pageOf([fleetItem({
      tenants: 1, selector: { tiers: ["free", "professional"] }, changedPaths: ["a", "b", "c", "d", "e"], failedTenants: 2, destructive: true, destructiveTenants: 1,
      groups: [{ tenants: 1, summary: "replace 1 Server", destructive: true }],
    })]))).root, id);
    expect(cells(tr)).toEqual(["FLEET 1 tenant", "free, professional", "Platform settings: a, b, c and 2 more", "1 tenant: replace 1 Server 2 failed to preview DESTRUCTIVE on 1", "alice", "ai-service 2.0.0", "Dec 7, 2026, 10:15:00 AM", "until another version"]);
    expect(cells(row(view(queue(pageOf([fleetItem({ changedPaths: ["a", "b", "c"] })]))).root, id))[2]).toBe("Platform settings: a, b, c");
  });

  it("shows reasons and names as text", () => {
    const { root } = view(queue(pageOf([tenantItem({ reason: PLANTED, requestedBy: PLANTED }), fleetItem({ reason: PLANTED })])));
    expect(all(root, "td.reason").map((td) => text(td))).toEqual([PLANTED, PLANTED]);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("offers approving in its words to admins only", () => {
    expect(text(one(view(queue(pageOf([]))).root, ".view-head + p"))).toContain("Open one to see its whole preview and approve or reject it.");
    expect(text(one(view(queue(pageOf([])), "read").root, ".view-head + p"))).toContain("Open one to see its whole preview. The tenant");
  });

  it("says while loading and when the reviews could not be read", () => {
    expect(text(view(null).root)).toBe("Reviews Loading…");
    const error = one(view(queue(null, { error: "timeout" })).root, ".notice-bad");
    expect(text(error)).toBe("Could not load the reviews: timeout");
    expect(error.getAttribute("role")).toBe("alert");
  });
});

describe("the filters", () => {
  it("show the filters as chosen", () => {
    const { root } = view(queue(pageOf([]), { filters: { tier: "enterprise", requestedBy: "bob", tenant: "acme" } }));
    expect(all<HTMLOptionElement>(root, "#reviews-tier option").map((o) => [text(o), o.hasAttribute("selected")])).toEqual([["All tiers", false], ["free", false], ["professional", false], ["enterprise", true]]);
    expect(one<HTMLInputElement>(root, "#reviews-requested-by").value).toBe("bob");
    expect(one<HTMLInputElement>(root, "#reviews-tenant").value).toBe("acme");
    expect(one(view(queue(pageOf([]))).root, "#reviews-tier option").hasAttribute("selected")).toBe(true);
  });

  it("filter by tier at once, and by requester or tenant once typing pauses", async () => {
    const q = queue(pageOf([]));
    const filters: unknown[] = [];
    q.setFilter = (f) => void filters.push(f);
    const { root } = view(q);
    const tier = one<HTMLSelectElement>(root, "#reviews-tier");
    tier.value = "free";
    tier.dispatchEvent(new Event("change"));
    expect(filters).toEqual([{ tier: "free" }]);
    const by = one<HTMLInputElement>(root, "#reviews-requested-by");
    by.value = "bob";
    by.dispatchEvent(new Event("input"));
    await vi.waitFor(() => expect(filters).toHaveLength(2));
    const tenant = one<HTMLInputElement>(root, "#reviews-tenant");
    tenant.value = "acme";
    tenant.dispatchEvent(new Event("input"));
    await vi.waitFor(() => expect(filters).toHaveLength(3));
    expect(filters).toEqual([{ tier: "free" }, { requestedBy: "bob" }, { tenant: "acme" }]);
  });
});

describe("the pager", () => {
  it("appears past one page, its buttons enabled where there is a page to go to", () => {
    expect(all(view(queue(pageOf([tenantItem()], 25))).root, "nav.pager")).toHaveLength(0);
    const first = one(view(queue(pageOf([tenantItem()], 26))).root, "nav.pager");
    expect(text(one(first, "span"))).toBe("Page 1 of 2");
    expect(buttons(first)).toEqual(["First (disabled)", "Previous (disabled)", "Next", "Last"]);
    expect(buttons(one(view(queue(pageOf([tenantItem()], 60), { page: 1 })).root, "nav.pager"))).toEqual(["First", "Previous", "Next", "Last"]);
    expect(buttons(one(view(queue(pageOf([tenantItem()], 60), { page: 2 })).root, "nav.pager"))).toEqual(["First", "Previous", "Next (disabled)", "Last (disabled)"]);
    expect(text(one(view(queue(pageOf([tenantItem()], 60), { page: 1 })).root, "caption"))).toBe("Changes awaiting review, oldest first, page 2 of 3");
  });

  it("asks for the page pressed", () => {
    const q = queue(pageOf([tenantItem()], 60), { page: 1 });
    const pages: number[] = [];
    q.setPage = (p) => void pages.push(p);
    const { root } = view(q);
    for (const label of ["First", "Previous", "Next", "Last"]) button(root, label).click();
    expect(pages).toEqual([0, 0, 2, 2]);
  });
});

describe("the filter form", () => {
  it("is not sent anywhere on Enter", () => {
    expect(fire(one(view(queue(pageOf([]))).root, "form.reviews-filters"), "submit").defaultPrevented).toBe(true);
  });
});

describe("edges", () => {
  it("counts a change expiring right now as expired", () => {
    const { root } = view(queue(pageOf([tenantItem({ expiresAt: new Date(NOW).toISOString() })])));
    expect(cells(row(root)).at(-1)).toBe("expired");
  });

  it("offers the default tiers without the platform's", () => {
    const app = signedIn();
    app.platform = null;
    app.reviews = queue(pageOf([]));
    expect(all<HTMLOptionElement>(mount(reviewsView(app, NOW)), "#reviews-tier option").map((o) => o.value)).toEqual(["", "free", "professional", "enterprise"]);
  });
});

describe("more edges", () => {
  it("shows no table for an empty page", () => {
    expect(all(view(queue(pageOf([]))).root, "table")).toHaveLength(0);
  });

  it("filters once for a burst of typing, with the last text", async () => {
    const q = queue(pageOf([]));
    const filters: unknown[] = [];
    q.setFilter = (f) => void filters.push(f);
    const { root } = view(q);
    const by = one<HTMLInputElement>(root, "#reviews-requested-by");
    for (const typed of ["b", "bo", "bob"]) {
      by.value = typed;
      by.dispatchEvent(new Event("input"));
    }
    await vi.waitFor(() => expect(filters).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(filters).toEqual([{ requestedBy: "bob" }]);
  });

  it("keeps each change's row when the queue moves", () => {
    const app = signedIn();
    app.reviews = queue(pageOf([tenantItem({ id: "a" }), tenantItem({ id: "b" })]));
    const root = mount(reviewsView(app, NOW));
    const a = one(root, "tr[data-change=a]");
    app.reviews = queue(pageOf([tenantItem({ id: "b" }), tenantItem({ id: "a" })]));
    render(reviewsView(app, NOW), root);
    expect(all(root, "tbody tr").map((r) => r.dataset.change)).toEqual(["b", "a"]);
    expect(one(root, "tr[data-change=a]")).toBe(a);
  });
});
