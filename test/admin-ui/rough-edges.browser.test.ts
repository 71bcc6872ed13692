/// <reference lib="dom" />
/**
 * Rough edges a new user met in the dashboard: the audit log paged, a drifted
 * tenant's header saying so, one name for "no drift" (IN SYNC), never-checked
 * tenants counted, an update's own run times, and disabled buttons that look
 * disabled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

describe.skipIf(!postgres.available || !browserProbe.available)("the dashboard's rough edges, smoothed", { timeout: 240_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  const api = (method: "GET" | "POST", url: string, payload?: object) => site.service.app.inject({ method, url, headers: auth(), ...(payload ? { payload } : {}) });
  let auditTotal = 0;

  beforeAll(async () => {
    site = await startSite({});
    browser = await launchBrowser();
    for (const slug of ["edges", "calm", "fresh"]) {
      const created = await api("POST", "/api/v1/tenants", tenantRequest(slug));
      expect(created.statusCode, created.body).toBe(202);
      expect((await waitForStatus(site.service.app, slug, settled)).status).toBe("ACTIVE");
    }
    // An update: its preview's and its apply's rows take the audit log past one page.
    const change = (await api("POST", "/api/v1/tenants/edges/changes", { tier: "professional" })).json();
    for (let i = 0; i < 400 && (await api("GET", `/api/v1/tenants/edges/changes/${change.id}`)).json().status === "PREVIEWING"; i++) await new Promise((r) => setTimeout(r, 150));
    expect((await api("POST", `/api/v1/tenants/edges/changes/${change.id}/approve`, {})).statusCode).toBe(202);
    await waitForStatus(site.service.app, "edges", (s) => s.run?.kind === "update" && settled(s));
    // Then it drifts, and a kept check says so.
    expect((await api("POST", "/api/v1/tenants/edges/simulated-drift", { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" })).statusCode).toBe(200);
    expect((await api("POST", "/api/v1/tenants/edges/drift-check")).json()).toMatchObject({ state: "DRIFTED", recorded: true });
    auditTotal = (await api("GET", "/api/v1/tenants/edges/audit?limit=1000")).json().items.length;
    expect(auditTotal).toBeGreaterThan(50);
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("pages the audit log, newest first, and shows a drifted ACTIVE tenant as DRIFTED in its header", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/edges`);
    await poll(() => page.locator(".audit tbody tr").count()).toBe(50);
    const pager = page.getByRole("navigation", { name: "Audit log pages" });
    await poll(() => pager.textContent()).toContain(`Page 1 of 2 (${auditTotal} entries)`);
    const newest = await page.locator(".audit tbody tr").first().textContent();
    await pager.getByRole("button", { name: "Older" }).click();
    await poll(() => page.locator(".audit tbody tr").count()).toBe(auditTotal - 50);
    expect(await pager.textContent()).toContain("Page 2 of 2");
    expect(await pager.getByRole("button", { name: "Older" }).isDisabled()).toBe(true);
    // The oldest entry is the request that created the tenant.
    expect(await page.locator(".audit tbody tr").last().textContent()).toContain("tenant edges requested");
    await pager.getByRole("button", { name: "Newest" }).click();
    await poll(() => page.locator(".audit tbody tr").first().textContent()).toBe(newest);

    const header = page.locator(".tenant-status");
    await poll(() => header.textContent()).toContain("DRIFTED");
    expect(await header.textContent()).toContain("ACTIVE");
    // The facts give the update's own run, not the first provisioning's.
    const facts = await page.locator(".summary-facts").textContent();
    expect(facts).toContain("Last run started");
    expect(facts).toContain("update, succeeded");
    await screenshot(page, "edges-audit-pages");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("draws a disabled button grey and dashed, with a not-allowed pointer, unlike an enabled one of its kind", async () => {
    const { page } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/calm`);
    const retry = page.getByRole("button", { name: "Retry" });
    await retry.waitFor();
    expect(await retry.isDisabled()).toBe(true);
    const look = (selector: string) => page.locator(selector).first().evaluate((e) => {
      const s = getComputedStyle(e);
      return { background: s.backgroundColor, border: s.borderTopStyle, cursor: s.cursor, opacity: s.opacity };
    });
    const disabled = await look("button:disabled:not(.secondary):not(.danger)");
    const enabled = await look("a.button, button:enabled:not(.secondary):not(.danger)");
    expect(disabled).toEqual({ background: "rgb(234, 238, 242)", border: "dashed", cursor: "not-allowed", opacity: "1" });
    expect(enabled.background).not.toBe(disabled.background);
    expect(enabled.border).toBe("solid");
    await page.close();
  });

  it("names a check that found nothing IN SYNC, and counts tenants never checked", async () => {
    const { page } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/calm`);
    await page.getByRole("button", { name: "Check drift" }).click();
    await poll(() => page.locator("main").textContent()).toContain("Every resource matches its recorded state");
    const main = (await page.locator("main").textContent()) ?? "";
    expect(main).toContain("IN SYNC");
    expect(main).not.toContain("NO DRIFT");

    await page.goto(`${site.origin}/admin#/`);
    const counts = page.getByRole("list", { name: "Tenants by latest drift check" });
    // fresh was never checked; edges drifted; calm's one-off check was kept IN SYNC.
    await poll(() => counts.textContent().then((t) => (t ?? "").replace(/\s+/g, " "))).toContain("NEVER CHECKED 1");
    const words = ((await counts.textContent()) ?? "").replace(/\s+/g, " ");
    expect(words).toContain("DRIFTED 1");
    expect(words).toContain("IN SYNC 1");
    await page.close();
  });
});
