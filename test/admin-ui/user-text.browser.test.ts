/// <reference lib="dom" />
/**
 * Text people typed (a display name, an admin e-mail, a change's reason, a
 * rejection's reason) and text an engine sent back (a phase's error) shows in
 * the dashboard as text, wherever it appears: markup planted in it comes out
 * literally, and no element, attribute or handler is made from it. And the
 * actions that only apply to a FAILED tenant (Retry, Roll back) are disabled
 * on an ACTIVE one. A pending change's reason shows as text on the Reviews
 * page too.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

// Each would make an element (and, without the CSP, run a handler) if it were ever parsed as HTML.
const NAME = `<img src=x onerror="window.__planted='name'"><b>Bold</b> & Sons`;
const EMAIL = `<b>ops</b>@hostile.example`;
const ERROR = `<img src=x onerror="window.__planted='error'"><b>no external IP</b> within 600s`;
const REASON = `<img src=x onerror="window.__planted='reason'"><b>bigger</b> please`;
const REJECTION = `<svg onload="window.__planted='rejection'"></svg><b>not now</b>`;

/** What the document holds that planted markup would have made. */
async function planted(page: Page) {
  return page.evaluate(() => ({
    img: document.querySelectorAll("img").length,
    b: document.querySelectorAll("b").length,
    svg: document.querySelectorAll("svg").length,
    // Any on* attribute anywhere: the dashboard binds its listeners with lit, never as attributes.
    handlers: [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName}.${a.name}`)),
    ran: (window as unknown as { __planted?: string }).__planted ?? null,
  }));
}
const NOTHING_PLANTED = { img: 0, b: 0, svg: 0, handlers: [], ran: null };
const text = (page: Page, selector: string) => page.locator(selector).first().textContent().then((t) => (t ?? "").replace(/\s+/g, " "));

describe.skipIf(!postgres.available || !browserProbe.available)("user text in the dashboard, and the actions of an ACTIVE tenant", { timeout: 240_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  const ids: Record<string, string> = {};
  const api = (method: "GET" | "POST", url: string, payload?: object) => site.service.app.inject({ method, url, headers: auth(), ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    // Phase 6 fails twice for every tenant with ERROR as its message; one attempt per run.
    site = await startSite({ MATIH_RENDER_PACE: "0.004", MATIH_MAX_ATTEMPTS: "1", MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 2, message: ERROR } }) });
    browser = await launchBrowser();
    const hostile = await api("POST", "/api/v1/tenants", tenantRequest("hostile", "free", { displayName: NAME, adminEmail: EMAIL }));
    expect(hostile.statusCode, hostile.body).toBe(202);
    ids.hostile = hostile.json().tenant.id;
    ids.calm = (await api("POST", "/api/v1/tenants", tenantRequest("calm"))).json().tenant.id;
    expect((await waitForStatus(site.service.app, ids.hostile!, settled)).status).toBe("FAILED");
    // calm: fails twice, then a second retry brings it to ACTIVE.
    expect((await waitForStatus(site.service.app, ids.calm!, settled)).status).toBe("FAILED");
    for (const expected of ["FAILED", "ACTIVE"]) {
      const retry = await api("POST", `/api/v1/tenants/${ids.calm}/provisioning/retry`);
      expect(retry.statusCode, retry.body).toBe(202);
      const runId = retry.json().run.id;
      expect(runId).toEqual(expect.any(String));
      expect((await waitForStatus(site.service.app, ids.calm!, (s) => s.run?.id === runId && settled(s))).status).toBe(expected);
    }
    // A change to calm with a reason, rejected with a reason.
    const change = await api("POST", `/api/v1/tenants/${ids.calm}/changes`, { tier: "professional", reason: REASON });
    expect(change.statusCode, change.body).toBe(202);
    let status = "";
    for (const deadline = Date.now() + 60_000; status !== "PENDING_REVIEW" && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      status = (await api("GET", `/api/v1/tenants/${ids.calm}/changes/${change.json().id}`)).json().status;
    }
    expect(status).toBe("PENDING_REVIEW");
    const rejected = await api("POST", `/api/v1/tenants/${ids.calm}/changes/${change.json().id}/reject`, { reason: REJECTION });
    expect(rejected.statusCode, rejected.body).toBe(200);
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("shows a planted display name as text in the fleet", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    const name = page.locator('tr[data-slug="hostile"] td[data-label="Name"]');
    await name.waitFor();
    expect(await name.textContent()).toBe(NAME);
    expect(await planted(page)).toEqual(NOTHING_PLANTED);
    await screenshot(page, "user-text-01-fleet");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows the display name, e-mail and the engine's error as text in the heading, facts, alert, timeline, audit log and live feed", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/hostile`);
    await page.locator("#tenant-error").waitFor();
    expect(await text(page, "h1")).toBe(`${NAME} hostile`);
    expect(await page.locator(".summary-facts").getByText(EMAIL, { exact: true }).count()).toBe(1);
    expect(await text(page, "#tenant-error")).toContain(`Deploy ingress controller failed: ${ERROR}`);
    expect(await text(page, '.phase[data-phase="6"] .phase-error')).toContain(ERROR);
    await poll(() => text(page, ".audit")).toContain(ERROR);
    // A retry fails the same way while the page watches: the live feed carries the error too.
    await page.getByRole("button", { name: "Retry" }).click();
    await poll(() => text(page, ".feed"), 60_000).toContain(`Retry failed: tenant is FAILED — `);
    expect(await text(page, ".feed")).toContain(ERROR);
    expect(await planted(page)).toEqual(NOTHING_PLANTED);
    await screenshot(page, "user-text-02-tenant");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows a change's reason and its rejection's reason as text", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/calm`);
    const changes = page.locator("#changes");
    await poll(() => text(page, "#changes")).toContain(REJECTION);
    expect(await changes.getByText(REASON, { exact: true }).count()).toBe(1);
    expect(await text(page, "#changes")).toContain(`: “${REJECTION}”. Nothing was changed.`);
    await poll(() => text(page, ".audit")).toContain(REJECTION);
    expect(await planted(page)).toEqual(NOTHING_PLANTED);
    await screenshot(page, "user-text-03-change-reasons");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("disables Retry and Roll back on an ACTIVE tenant, and leaves Delete, Preview and Check drift enabled", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/calm`);
    await page.locator(".tenant-status").getByText("ACTIVE").waitFor();
    const button = (name: string) => page.locator(".actions").getByRole("button", { name, exact: true });
    await button("Retry").waitFor();
    const state = async () => Object.fromEntries(await Promise.all(
      ["Retry", "Roll back…", "Delete…", "Preview changes", "Check drift"].map(async (name) => [name, await button(name).isDisabled()]),
    ));
    await poll(state).toEqual({ Retry: true, "Roll back…": true, "Delete…": false, "Preview changes": false, "Check drift": false });
    expect(await text(page, ".actions")).toContain("Retry and roll back apply to a failed tenant.");
    // A click on the disabled button sends nothing.
    await button("Retry").click({ force: true });
    expect((await api("GET", `/api/v1/tenants/${ids.calm}/provisioning/status`)).json()).toMatchObject({ status: "ACTIVE", run: { kind: "retry", status: "SUCCEEDED" } });
    await screenshot(page, "user-text-04-active-actions");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows a pending change's reason as text on the Reviews page and in the header's count, and follows its link to the review", async () => {
    const change = await api("POST", `/api/v1/tenants/${ids.calm}/changes`, { tier: "professional", reason: REASON });
    expect(change.statusCode, change.body).toBe(202);
    await expect.poll(async () => (await api("GET", `/api/v1/tenants/${ids.calm}/changes/${change.json().id}`)).json().status, { timeout: 60_000 }).toBe("PENDING_REVIEW");
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/reviews`);
    const row = page.locator(`table.reviews tr[data-change="${change.json().id}"]`);
    await row.waitFor();
    expect(await row.locator('td[data-label="Reason"]').textContent()).toBe(REASON);
    expect(await page.locator("#pending-reviews").textContent()).toBe("1");
    expect(await planted(page)).toEqual(NOTHING_PLANTED);
    await screenshot(page, "user-text-05-reviews");
    await row.getByRole("link", { name: "Tier free → professional" }).click();
    const article = page.locator(`article.change-targeted[data-change="${change.json().id}"]`);
    await article.locator(".tier-change").waitFor();
    expect(await article.getByText(REASON, { exact: true }).count()).toBe(1);
    expect(await planted(page)).toEqual(NOTHING_PLANTED);
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});
