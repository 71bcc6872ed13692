// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The fleet page: counts by status and drift, one row per tenant (link,
 * name as text, status badge, current phase, the phase bar, duration, drift),
 * the summary line, the filters as chosen, and the pager's buttons enabled
 * only where there is a page to go to.
 */
import "./utc.ts";
import { render } from "lit-html"; import { describe, expect, it, vi } from "vitest";
import type { FleetItem, FleetPage } from "../../../admin-ui/types.ts";
import { fleetView } from "../../../admin-ui/views/fleet.ts";
import type { FleetState } from "../../../admin-ui/app.ts";
import { all, button, buttons, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, RUN_ID, signedIn, T0, T1, T2, TENANT_ID, text } from "./support.ts";

const NOW = Date.parse("2026-12-07T09:10:00.000Z");

const item = (over: Partial<FleetItem> = {}): FleetItem => ({
  id: TENANT_ID, slug: "acme", displayName: "Acme Corp", tier: "professional", region: "eastus", status: "ACTIVE",
  run: { id: RUN_ID, kind: "provision", status: "SUCCEEDED", attempt: 1, maxAttempts: 3, targetPhase: 10 },
  currentPhase: { number: 10, name: "SETUP_OBSERVABILITY" }, progress: 100, phases: Array.from({ length: 10 }, () => "SUCCEEDED" as const),
  startedAt: T0, completedAt: T1, durationMs: 252_000, error: null, drift: { state: "IN_SYNC", since: T1, lastCheckedAt: T2 }, settingsVersion: 2, settingsAppliedAt: T1, ...over,
});

const data = (items: FleetItem[], over: Partial<FleetPage> = {}): FleetPage => ({
  items, total: items.length, limit: 50, offset: 0, countsByStatus: {}, currentSettingsVersion: 2, countsByDrift: {}, ...over,
});

function view(fleet: Partial<FleetState>, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  app.fleet = { ...app.fleet, ...fleet };
  return { app, root: mount(fleetView(app, NOW)) };
}

const cells = (row: Element) => all(row, "th, td").map((c) => text(c));

describe("the fleet page", () => {
  it("counts tenants by status and by latest drift check", () => {
    const { root } = view({ data: data([item()], { countsByStatus: { ACTIVE: 1200, FAILED: 2 }, countsByDrift: { DRIFTED: 3, IN_SYNC: 7, UNCHECKED: 4 } }) });
    const [byStatus, byDrift] = all(root, "ul.counts");
    expect(byStatus!.getAttribute("aria-label")).toBe("Tenants by status");
    expect(all(byStatus!, "li").map((li) => text(li))).toEqual(["PROVISIONING 0", "ACTIVE 1,200", "UPDATING 0", "FAILED 2", "DEPROVISIONING 0", "DELETED 0"]);
    expect(all(byDrift!, "li").map((li) => text(li))).toEqual(["Latest drift check:", "DRIFTED 3", "IN SYNC 7", "CHECK FAILED 0", "NEVER CHECKED 4"]);
  });

  it("counts nothing before the first page arrives", () => {
    const { root } = view({ data: null });
    expect(all(all(root, "ul.counts")[1]!, "li").map((li) => text(li))).toEqual(["Latest drift check:", "DRIFTED 0", "IN SYNC 0", "CHECK FAILED 0", "NEVER CHECKED 0"]);
    expect(text(one(root, "p.summary"))).toBe("Loading the fleet…");
    expect(all(root, "table")).toHaveLength(0);
  });

  it("shows one row per tenant: link, name, tier, region, status, phase, bar, start, duration, drift", () => {
    const { root } = view({ data: data([item()]) });
    const row = one(root, "tbody tr");
    expect(row.dataset.slug).toBe("acme");
    expect(cells(row)).toEqual(["acme", "Acme Corp", "professional", "eastus", "ACTIVE", "10/10 Setup observability", "", "Dec 7, 2026, 09:00:00 AM", "4 min 12 s", "IN SYNC"]);
    expect(one(row, "th a").getAttribute("href")).toBe("#/tenants/acme");
    expect(one(row, ".bar").getAttribute("aria-label")).toBe("10 of 10 phases done");
    expect(one(row, ".step").getAttribute("title")).toBe("1 Create namespace: done");
    expect(one(row, ".drift-cell span").getAttribute("title")).toBe("Last checked Dec 7, 2026, 10:15:00 AM");
    expect(text(one(root, "caption"))).toBe("Tenants, newest first, page 1 of 1");
  });

  it("shows a name as text and encodes a slug in its link", () => {
    const { root } = view({ data: data([item({ displayName: PLANTED, slug: "a/b" })]) });
    expect(cells(one(root, "tbody tr"))[1]).toBe(PLANTED);
    expect(one(root, "tbody th a").getAttribute("href")).toBe("#/tenants/a%2Fb");
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("says a run is queued or starting before its first phase, and counts up a running tenant's time", () => {
    const rows = view({ data: data([
      item({ id: "1", status: "PROVISIONING", currentPhase: null, run: { id: RUN_ID, kind: "provision", status: "QUEUED", attempt: 1, maxAttempts: 3, targetPhase: 10 }, durationMs: null }),
      item({ id: "2", status: "UPDATING", currentPhase: null, run: { id: RUN_ID, kind: "update", status: "RUNNING", attempt: 1, maxAttempts: 3, targetPhase: 10 }, durationMs: null }),
      item({ id: "3", status: "DEPROVISIONING", currentPhase: null, run: null, durationMs: null }),
      item({ id: "4", status: "FAILED", currentPhase: { number: 4, name: "CONFIGURE_NETWORKING" }, durationMs: 90_000, startedAt: null }),
    ]) }).root;
    const shown = all(rows, "tbody tr").map((r) => { const c = cells(r); return [c[5], c[7], c[8]]; });
    expect(shown).toEqual([["Queued", "Dec 7, 2026, 09:00:00 AM", "10 min 0 s"], ["Starting", "Dec 7, 2026, 09:00:00 AM", "10 min 0 s"], ["—", "Dec 7, 2026, 09:00:00 AM", "10 min 0 s"], ["4/10 Configure networking", "—", "1 min 30 s"]]);
  });

  it("shows a tenant's drift: unchecked, drifted since when, and none for a deleted one", () => {
    const { root } = view({ data: data([
      item({ id: "1", drift: null }),
      item({ id: "2", drift: { state: "DRIFTED", since: T1, lastCheckedAt: T2 } }),
      item({ id: "3", status: "DELETED", drift: { state: "IN_SYNC", since: T1, lastCheckedAt: T2 } }),
      item({ id: "4", drift: { state: "CHECK_FAILED", since: T1, lastCheckedAt: T2 } }),
    ]) });
    expect(all(root, ".drift-cell").map((c) => text(c))).toEqual(["unchecked", "DRIFTED since Dec 7, 2026, 09:04:12 AM", "—", "CHECK FAILED"]);
  });

  it("offers requesting a tenant to admins only", () => {
    expect(one(view({ data: data([]) }).root, "a.button").getAttribute("href")).toBe("#/new");
    expect(all(view({ data: data([]) }, "read").root, "a.button")).toHaveLength(0);
  });
});

describe("the summary line", () => {
  it("says which tenants are shown, or that there are none", () => {
    expect(text(one(view({ data: data([item()]) }).root, "p.summary"))).toBe("Showing 1–1 of 1 tenant");
    expect(text(one(view({ data: data([item()], { total: 120 }), page: 1 }).root, "p.summary"))).toBe("Showing 51–100 of 120 tenants");
    expect(text(one(view({ data: data([item()], { total: 120 }), page: 2 }).root, "p.summary"))).toBe("Showing 101–120 of 120 tenants");
    expect(text(one(view({ data: data([]) }).root, "p.summary"))).toBe("No tenants yet.");
    expect(text(one(view({ data: data([]), loading: true }).root, "p.summary"))).toBe("No tenants yet. · updating…");
    expect(text(one(view({ data: null, loading: true }).root, "p.summary"))).toBe("Loading the fleet…");
  });

  it("says no tenant matches when a filter is set", () => {
    for (const filter of [{ status: "FAILED" }, { tier: "free" }, { drift: "DRIFTED" }, { search: "zzz" }]) {
      expect(text(one(view({ data: data([]), ...filter }).root, "p.summary"))).toBe("No tenant matches.");
    }
    expect(text(one(view({ data: data([]), search: "   " }).root, "p.summary"))).toBe("No tenants yet.");
  });

  it("shows a load error", () => {
    const error = one(view({ data: null, error: "timeout" }).root, ".notice-bad");
    expect(text(error)).toBe("Could not load the fleet: timeout");
    expect(error.getAttribute("role")).toBe("alert");
  });
});

describe("the filters", () => {
  it("show the filters as chosen", () => {
    const { root } = view({ data: data([]), status: "FAILED", tier: "enterprise", drift: "UNCHECKED", search: "ac" });
    const chosen = (id: string) => all<HTMLOptionElement>(root, `#${id} option`).filter((o) => o.hasAttribute("selected")).map((o) => `${o.value}=${text(o)}`);
    expect(chosen("filter-status")).toEqual(["FAILED=FAILED"]);
    expect(chosen("filter-tier")).toEqual(["enterprise=enterprise"]);
    expect(chosen("filter-drift")).toEqual(["UNCHECKED=Never checked"]);
    expect(one<HTMLInputElement>(root, "#filter-search").value).toBe("ac");
    expect(all<HTMLOptionElement>(root, "#filter-drift option").map((o) => text(o))).toEqual(["Any", "Drifted", "In sync", "Check failed", "Never checked"]);
    expect(all<HTMLOptionElement>(root, "#filter-status option").map((o) => text(o))).toEqual(["All but deleted", "PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"]);
    expect(all<HTMLOptionElement>(root, "#filter-tier option").map((o) => text(o))).toEqual(["All tiers", "free", "professional", "enterprise"]);
  });

  it("choose the first option when nothing is filtered", () => {
    const { root } = view({ data: data([]) });
    expect(all<HTMLOptionElement>(root, "select option").filter((o) => o.hasAttribute("selected")).map((o) => text(o))).toEqual(["All but deleted", "All tiers", "Any"]);
  });

  it("filter when a choice is made, and search once typing pauses", async () => {
    const { app, root } = view({ data: data([]) });
    const filters: unknown[] = [];
    app.setFleetFilter = (f) => void filters.push(f);
    for (const [id, value] of [["filter-status", "FAILED"], ["filter-tier", "free"], ["filter-drift", "DRIFTED"]] as const) {
      const select = one<HTMLSelectElement>(root, `#${id}`);
      select.value = value;
      select.dispatchEvent(new Event("change"));
    }
    const search = one<HTMLInputElement>(root, "#filter-search");
    search.value = "acm";
    search.dispatchEvent(new Event("input"));
    search.value = "acme";
    search.dispatchEvent(new Event("input"));
    expect(filters).toEqual([{ status: "FAILED" }, { tier: "free" }, { drift: "DRIFTED" }]);
    await vi.waitFor(() => expect(filters).toHaveLength(4));
    expect(filters[3]).toEqual({ search: "acme" });
  });
});

describe("the pager", () => {
  it("appears past one page, its buttons enabled where there is a page to go to", () => {
    expect(all(view({ data: data([item()], { total: 50 }) }).root, "nav.pager")).toHaveLength(0);
    const first = one(view({ data: data([item()], { total: 51 }) }).root, "nav.pager");
    expect(text(one(first, "span"))).toBe("Page 1 of 2");
    expect(buttons(first)).toEqual(["First (disabled)", "Previous (disabled)", "Next", "Last"]);
    expect(buttons(one(view({ data: data([item()], { total: 150 }), page: 1 }).root, "nav.pager"))).toEqual(["First", "Previous", "Next", "Last"]);
    expect(buttons(one(view({ data: data([item()], { total: 150 }), page: 2 }).root, "nav.pager"))).toEqual(["First", "Previous", "Next (disabled)", "Last (disabled)"]);
    expect(text(one(view({ data: data([item()], { total: 150 }), page: 1 }).root, "caption"))).toBe("Tenants, newest first, page 2 of 3");
  });

  it("asks for the page pressed", () => {
    const { app, root } = view({ data: data([item()], { total: 150 }), page: 1 });
    const pages: number[] = [];
    app.setFleetPage = (p) => void pages.push(p);
    for (const label of ["First", "Previous", "Next", "Last"]) button(root, label).click();
    expect(pages).toEqual([0, 0, 2, 2]);
  });
});

describe("the filter form", () => {
  it("is not sent anywhere on Enter", () => {
    expect(fire(one(view({ data: data([]) }).root, "form.filters"), "submit").defaultPrevented).toBe(true);
  });
});

describe("edges", () => {
  it("titles the bar's steps by number alone without the platform's phases", () => {
    const app = signedIn();
    app.platform = null;
    app.fleet = { ...app.fleet, data: data([item()]) };
    expect(one(mount(fleetView(app, NOW)), "tbody .step").getAttribute("title")).toBe("1 : done");
  });
});

describe("more edges", () => {
  it("offers the default tiers without the platform's, and counts no drift without the API's drift counts", () => {
    const app = signedIn();
    app.platform = null;
    app.fleet = { ...app.fleet, data: { ...data([]), countsByDrift: undefined as unknown as Record<string, number> } };
    const root = mount(fleetView(app, NOW));
    expect(all<HTMLOptionElement>(root, "#filter-tier option").map((o) => o.value)).toEqual(["", "free", "professional", "enterprise"]);
    expect(all(all(root, "ul.counts")[1]!, "li").map((li) => text(li))).toEqual(["Latest drift check:", "DRIFTED 0", "IN SYNC 0", "CHECK FAILED 0", "NEVER CHECKED 0"]);
  });

  it("shows no table for an empty page", () => {
    expect(all(view({ data: data([]) }).root, "table")).toHaveLength(0);
  });

  it("keeps each tenant's row when the page moves", () => {
    const app = signedIn();
    app.fleet = { ...app.fleet, data: data([item({ id: "1", slug: "alpha" }), item({ id: "2", slug: "bravo" })]) };
    const root = mount(fleetView(app, NOW));
    const alpha = one(root, "tr[data-slug=alpha]");
    app.fleet = { ...app.fleet, data: data([item({ id: "2", slug: "bravo" }), item({ id: "1", slug: "alpha" })]) };
    render(fleetView(app, NOW), root);
    expect(all(root, "tbody tr").map((r) => r.dataset.slug)).toEqual(["bravo", "alpha"]);
    expect(one(root, "tr[data-slug=alpha]")).toBe(alpha);
  });
});
