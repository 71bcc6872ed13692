/// <reference lib="dom" />
/**
 * Drift states moving live in the dashboard, in headless Chromium against the
 * real service (real PostgreSQL, the render engine, drift made through its
 * simulated actual state): a one-off "Check drift" in the tenant view is kept
 * in the tenant's drift history, and the fleet view open in another tab moves
 * the tenant's drift column, both without a reload. Every test saves a
 * screenshot under test-artifacts/screenshots.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

/** Marks the document, so that a later check of the mark shows the page was never reloaded. */
const markDocument = (page: Page) => page.evaluate(() => ((window as any).sameDocument = true));
const sameDocument = (page: Page) => page.evaluate(() => (window as any).sameDocument === true);
const normalised = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();

describe.skipIf(!postgres.available || !browserProbe.available)("drift states live in a real browser", { timeout: 240_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  const ids: Record<string, string> = {};

  const api = async (method: "GET" | "POST", url: string, payload?: object, token = ADMIN_TOKEN) =>
    site.service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    site = await startSite({});
    browser = await launchBrowser();
    for (const slug of ["watched", "bystander"]) ids[slug] = (await api("POST", "/api/v1/tenants", tenantRequest(slug, "free"))).json().tenant.id;
    for (const slug of ["watched", "bystander"]) expect((await waitForStatus(site.service.app, ids[slug]!, settled)).status).toBe("ACTIVE");
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("keeps a one-off Check drift in the tenant's history, and the fleet view in another tab moves the tenant's drift column, both without a reload", async () => {
    // Tab 1: the fleet, as an operator watching it (a read token sees drift move too).
    const fleet = await openPage(browser, site);
    await signIn(fleet.page, READ_TOKEN);
    const cell = fleet.page.locator('tr[data-slug="watched"] .drift-cell');
    await poll(() => cell.textContent()).toBe("unchecked");
    await markDocument(fleet.page);

    // Tab 2: the tenant, as an admin about to check it.
    const tenant = await openPage(browser, site);
    await signIn(tenant.page, ADMIN_TOKEN);
    await tenant.page.goto(`${site.origin}/admin#/tenants/watched`);
    const history = tenant.page.locator("#drift-history");
    await history.getByText("Not checked yet.").waitFor();
    await markDocument(tenant.page);

    // Someone edits the quota by hand; the admin checks the tenant.
    expect((await api("POST", `/api/v1/tenants/${ids.watched}/simulated-drift`, { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" })).json().resourcesDiffering).toBe(1);
    await tenant.page.getByRole("button", { name: "Check drift" }).click();
    const result = tenant.page.locator("#drift");
    await poll(() => result.getAttribute("data-recorded")).toBe("true");
    expect(normalised(await result.locator("h2").textContent())).toBe("Drift check (just now, kept in the drift history)");

    // The history has it at the top, as a single check, with both values.
    const newest = history.locator("li.drift-check").first();
    await poll(() => newest.getAttribute("data-state")).toBe("DRIFTED");
    expect(await history.locator("li.drift-check").count()).toBe(1);
    expect(normalised(await newest.locator(".drift-check-head").textContent())).toMatch(/DRIFTED 1 resource differs · single check, /);
    const row = newest.locator(".drifted-resource tbody tr");
    expect([normalised(await row.locator('[data-label="Recorded"]').textContent()), normalised(await row.locator('[data-label="Actual"]').textContent())]).toEqual(["20", "99"]);
    expect(await history.locator(".drift-state").textContent()).toMatch(/DRIFTED\s+Resources differ from the recorded state since/);
    const kept = (await api("GET", `/api/v1/tenants/${ids.watched}/drift`)).json();
    expect(kept.items.map((c: any) => [c.state, c.driftRunId])).toEqual([["DRIFTED", null]]);
    await screenshot(tenant.page, "30-one-off-drift-check-kept");

    // The fleet tab moved on its own: the column, and the counts with it.
    await poll(() => cell.textContent()).toMatch(/^DRIFTED since /);
    expect(await fleet.page.locator('tr[data-slug="bystander"] .drift-cell').textContent()).toBe("unchecked");
    const driftCounts = fleet.page.getByRole("list", { name: "Tenants by latest drift check" }).locator("li");
    await poll(async () => (await driftCounts.allTextContents()).map(normalised)).toEqual(["Latest drift check:", "DRIFTED 1", "IN SYNC 0", "CHECK FAILED 0", "NEVER CHECKED 1"]);
    expect(await sameDocument(fleet.page)).toBe(true);
    await screenshot(fleet.page, "31-fleet-drift-live");

    // Put back by hand and checked elsewhere (the API, not this tab): the tenant tab's history and the fleet tab follow live.
    expect((await api("POST", `/api/v1/tenants/${ids.watched}/simulated-drift`, { kind: "reset" })).statusCode).toBe(200);
    expect((await api("POST", `/api/v1/tenants/${ids.watched}/drift-check`)).json()).toMatchObject({ state: "IN_SYNC", recorded: true });
    await poll(() => history.locator("li.drift-check").count()).toBe(2);
    expect(await newest.getAttribute("data-state")).toBe("IN_SYNC");
    expect(await history.locator(".drift-state").textContent()).toMatch(/IN SYNC\s+Every resource matches its recorded state since/);
    await poll(() => cell.textContent()).toBe("IN SYNC");
    await poll(async () => (await driftCounts.allTextContents()).map(normalised)).toEqual(["Latest drift check:", "DRIFTED 0", "IN SYNC 1", "CHECK FAILED 0", "NEVER CHECKED 1"]);
    expect(await sameDocument(tenant.page)).toBe(true);
    expect(await sameDocument(fleet.page)).toBe(true);
    await screenshot(tenant.page, "32-drift-history-live");

    expect(unexpected(fleet.problems)).toEqual([]);
    expect(unexpected(tenant.problems)).toEqual([]);
    await fleet.page.close();
    await tenant.page.close();
  });

  it("says when a one-off check is not kept, and why", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/bystander`);
    const history = page.locator("#drift-history");
    await history.getByText("Not checked yet.").waitFor();
    // A tenant that is not ACTIVE (FAILED here, set behind the service's back) is checked, and its check is not kept.
    await site.service.app.db.query(`UPDATE tenants SET status = 'FAILED' WHERE id = $1`, [ids.bystander]);
    try {
      await page.getByRole("button", { name: "Check drift" }).click();
      const result = page.locator("#drift");
      await poll(() => result.getAttribute("data-recorded")).toBe("false");
      expect(normalised(await result.locator("h2").textContent())).toBe("Drift check (just now, not kept)");
      expect(normalised(await result.textContent())).toContain("Not kept in the drift history: only an ACTIVE tenant's checks are kept in its drift history; this tenant is FAILED.");
      await screenshot(page, "33-one-off-drift-check-not-kept");
    } finally {
      await site.service.app.db.query(`UPDATE tenants SET status = 'ACTIVE' WHERE id = $1`, [ids.bystander]);
    }
    expect((await api("GET", `/api/v1/tenants/${ids.bystander}/drift`)).json().total).toBe(0);
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});
