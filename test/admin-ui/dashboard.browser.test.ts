/// <reference lib="dom" />
/**
 * The admin dashboard in headless Chromium against the real service: real
 * PostgreSQL, the render engine slowed (MATIH_RENDER_PACE) so that progress
 * can be watched, a fault plan where a failure is needed. Every test saves a
 * screenshot under test-artifacts/screenshots.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, sameOrigin, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const pg = await probePostgres();
const browserProbe = probeChromium();
const NO_IP = "no external IP assigned to ingress-nginx-controller within 600s";

// Generous limits: the machine's cores are shared, and a slow run must not read as a broken dashboard.
describe.skipIf(!pg.available || !browserProbe.available)("the admin dashboard in a real browser", { timeout: 180_000 }, () => {
  let site: Site;
  let faulty: Site;
  let browser: TestBrowser;

  beforeAll(async () => {
    // About 5 s for the ten phases: slow enough to see each one, fast enough for a test.
    site = await startSite({ MATIH_RENDER_PACE: "0.008" });
    // Phase 6 fails once; one attempt per run, so the run fails and waits for an operator's retry.
    faulty = await startSite({ MATIH_RENDER_PACE: "0.004", MATIH_MAX_ATTEMPTS: "1", MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 1, message: NO_IP } }) });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
    await stopSite(faulty);
  });

  it("refuses a wrong token with a clear message and keeps nothing", async () => {
    const { page, problems } = await openPage(browser, site);
    await page.getByLabel("Access token").fill("not-the-right-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("The service refused this token");
    expect(await page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    expect(await page.getByLabel("Access token").getAttribute("aria-invalid")).toBe("true");
    await poll(() => page.getByText("Signed in as").count()).toBe(0);
    await screenshot(page, "01-wrong-token");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("signs in by keyboard with a bearer token kept in sessionStorage only, survives a reload and signs out", async () => {
    const { page, problems, requests } = await openPage(browser, site);
    // The token field has focus on arrival: type and press Enter.
    await poll(() => page.evaluate(() => document.activeElement?.id)).toBe("token");
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.getByText("Signed in as").waitFor();
    expect(await page.locator("header").textContent()).toContain("admin");
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([ADMIN_TOKEN]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await browser.context.cookies()).toEqual([]);
    await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
    await page.reload();
    await page.getByText("Signed in as").waitFor();
    await screenshot(page, "02-signed-in-empty-fleet");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Access token").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // Everything the page loaded came from the service; the WebSocket carried the token in its query.
    expect(sameOrigin(site, requests)).toEqual([]);
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows the API's validation messages by field, then requests a tenant and watches its bar advance phase by phase to ACTIVE without a reload", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.getByRole("link", { name: "Request a tenant" }).first().click();
    await page.getByRole("heading", { name: "Request a tenant" }).waitFor();

    const bad = { slug: "9-Bad--slug", displayName: "Bad Slug Ltd", tier: "professional", region: "westeurope", adminEmail: "not-an-address" };
    await page.getByLabel("Slug", { exact: true }).fill(bad.slug);
    await page.getByLabel("Display name").fill(bad.displayName);
    await page.getByLabel("Tier").selectOption(bad.tier);
    await page.getByLabel("Region").selectOption(bad.region);
    await page.getByLabel("Admin e-mail").fill(bad.adminEmail);
    await page.getByRole("button", { name: "Request tenant" }).click();
    await page.locator("#slug-error").waitFor();
    // The very messages the API gives for the same request, each under its own field.
    const api = (await site.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: bad })).json();
    expect(api.code).toBe("invalid_request");
    const byField = (field: string) => api.details.filter((d: any) => d.field === field).map((d: any) => d.message);
    expect(byField("slug").length).toBeGreaterThan(0);
    expect(byField("adminEmail")).toEqual(["must be an e-mail address"]);
    expect(await page.locator("#slug-error li").allTextContents()).toEqual(byField("slug").map((m: string) => `Slug ${m}`));
    expect(await page.locator("#adminEmail-error li").allTextContents()).toEqual(["Admin e-mail must be an e-mail address"]);
    expect(await page.locator("#displayName-error").count()).toBe(0);
    expect(await page.getByLabel("Slug", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("Slug", { exact: true }).getAttribute("aria-describedby")).toContain("slug-error");
    await screenshot(page, "03-request-form-errors");

    await page.getByLabel("Slug", { exact: true }).fill("acme");
    await page.getByLabel("Display name").fill("Acme Analytics");
    await page.getByLabel("Admin e-mail").fill("ops@acme.example");
    await page.getByRole("button", { name: "Request tenant" }).click();
    await page.getByRole("heading", { name: /Acme Analytics/ }).waitFor();

    // To the fleet, through the page's own link: the same document from here on.
    await page.getByRole("link", { name: "Fleet", exact: true }).click();
    const row = page.locator('tr[data-slug="acme"]');
    await row.waitFor();
    await page.evaluate(() => {
      (window as any).sameDocument = true;
      const seen: number[] = [];
      (window as any).barSteps = seen;
      const record = () => {
        const bar = document.querySelector('tr[data-slug="acme"] .bar');
        const done = bar ? Number(bar.getAttribute("data-done")) : -1;
        if (done >= 0 && seen.at(-1) !== done) seen.push(done);
      };
      record();
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await poll(() => page.evaluate(() => (window as any).barSteps.at(-1) ?? 0)).toBeGreaterThanOrEqual(2);
    await screenshot(page, "04-fleet-while-provisioning");
    await row.getByText("ACTIVE").waitFor({ timeout: 60_000 });
    const steps: number[] = await page.evaluate(() => (window as any).barSteps);
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    expect(steps.at(-1)).toBe(10);
    // Several steps in between, always forward: the bar moved phase by phase, not in one jump.
    expect(steps.length).toBeGreaterThanOrEqual(4);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(await row.locator(".bar").getAttribute("aria-label")).toBe("10 of 10 phases done");
    await screenshot(page, "05-fleet-active");

    await row.getByRole("link", { name: "acme" }).click();
    await page.getByRole("heading", { name: "Outputs" }).waitFor();
    await poll(() => page.locator(".outputs").textContent()).toContain("acme");
    expect(await page.locator(".timeline .phase").count()).toBe(10);
    expect(await page.locator(".timeline .badge-succeeded").count()).toBe(10);
    // The audit log loads after the outputs: wait for its rows rather than counting what is there so far.
    await poll(() => page.locator(".audit tbody tr").count()).toBeGreaterThan(20);
    await screenshot(page, "06-tenant-active");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows phase 6's failure in plain words, and Retry brings the tenant to ACTIVE", async () => {
    const created = (await faulty.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("flaky", "enterprise") })).json().tenant;
    const { page, problems } = await openPage(browser, faulty);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${faulty.origin}/admin#/tenants/flaky`);
    const alert = page.locator("#tenant-error");
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(new RegExp(`Phase 6 Deploy ingress controller failed:\\s*${NO_IP}`));
    expect(await page.locator('.phase[data-phase="6"] .phase-error').textContent()).toContain(NO_IP);
    expect(await page.locator(".tenant-status").textContent()).toContain("FAILED");
    await screenshot(page, "07-tenant-failed-phase-6");

    await page.getByRole("button", { name: "Retry" }).click();
    await page.locator(".tenant-status").getByText("ACTIVE").waitFor({ timeout: 60_000 });
    expect(await page.locator("#tenant-error").count()).toBe(0);
    expect(await page.locator(".feed").textContent()).toMatch(/Watching live: retry run (queued|running)/);
    expect(await page.locator(".feed").textContent()).toMatch(/Phase 6 Deploy ingress controller succeeded/);
    const status = await waitForStatus(faulty.service.app, created.id, settled);
    expect(status).toMatchObject({ status: "ACTIVE", run: { kind: "retry", status: "SUCCEEDED" } });
    await screenshot(page, "08-tenant-retried-active");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("rolls a failed tenant back to a chosen phase after confirmation", async () => {
    // The fault plan fails phase 6 once per tenant: this one fails too.
    const created = (await faulty.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("rewind") })).json().tenant;
    await waitForStatus(faulty.service.app, created.id, settled);
    const { page, problems } = await openPage(browser, faulty);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${faulty.origin}/admin#/tenants/rewind`);
    await page.locator("#tenant-error").waitFor();
    await page.getByRole("button", { name: "Roll back…" }).click();
    const dialog = page.getByRole("dialog", { name: "Roll rewind back" });
    await dialog.waitFor();
    // Escape cancels: nothing is sent.
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Roll back…" }).click();
    await dialog.getByLabel("Keep phases 1 to").selectOption("3");
    await poll(() => dialog.textContent()).toContain("Phases 4 to 10 will be removed");
    await screenshot(page, "09-rollback-confirmation");
    await dialog.getByRole("button", { name: "Roll back to phase 3" }).click();
    await expect.poll(async () => (await waitForStatus(faulty.service.app, created.id, settled)).run.kind, { timeout: 60_000 }).toBe("rollback");
    await expect.poll(() => page.locator(".timeline .badge-rolled-back").count(), { timeout: 60_000 }).toBe(3);
    const status = await waitForStatus(faulty.service.app, created.id, settled);
    expect(status.phases.map((p: any) => p.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "ROLLED_BACK", "ROLLED_BACK", "ROLLED_BACK", "PENDING", "PENDING", "PENDING", "PENDING"]);
    await page.locator(".tenant-status").getByText("FAILED").waitFor();
    await screenshot(page, "10-rolled-back");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("previews the changes grouped by phase with changes first, and checks drift", async () => {
    const { page, problems } = await openPage(browser, faulty);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${faulty.origin}/admin#/tenants/rewind`);
    await page.getByRole("button", { name: "Preview changes" }).click();
    const preview = page.locator("#preview");
    await preview.waitFor();
    // Phases 4 to 10 are missing after the roll back: they come first, each with its creations; 1 to 3 follow, unchanged.
    const groups = (await preview.locator("details.preview-group summary").allTextContents()).map((g) => g.replace(/\s+/g, " ").trim());
    const phaseGroups = groups.filter((g) => g.startsWith("Phase "));
    expect(phaseGroups.map((g) => g.match(/^Phase (\d+)/)?.[1])).toEqual(["4", "5", "6", "7", "8", "9", "10", "1", "2", "3"]);
    expect(phaseGroups.slice(0, 7).every((g) => /: \d+ changes? \(/.test(g))).toBe(true);
    expect(phaseGroups.slice(7).every((g) => g.includes(": no changes"))).toBe(true);
    // Within a group, what changes comes before what stays the same.
    for (const group of await preview.locator("details.preview-group").all()) {
      const ops = await group.locator(".op").allTextContents();
      const unchanged = (o: string) => o === "same" || o === "read";
      expect(ops).toEqual([...ops.filter((o) => !unchanged(o)), ...ops.filter(unchanged)]);
    }
    // Groups with changes are open; unchanged ones are folded.
    expect(await preview.locator("details.preview-group[open]").count()).toBe(groups.filter((g) => /\d+ changes?/.test(g)).length);
    await screenshot(page, "11-preview");

    await page.getByRole("button", { name: "Check drift" }).click();
    await page.locator("#drift").waitFor();
    expect(await page.locator("#drift").textContent()).toMatch(/Every resource matches|differ/);
    await screenshot(page, "12-drift-check");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("gives a read token everything to see and no action", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, READ_TOKEN);
    expect(await page.locator("header").textContent()).toContain("read only");
    await page.getByRole("note").getByText("Read-only token").waitFor();
    await page.locator('tr[data-slug="acme"]').waitFor();
    expect(await page.getByRole("link", { name: "Request a tenant" }).count()).toBe(0);
    await page.locator('tr[data-slug="acme"]').getByRole("link", { name: "acme" }).click();
    await page.getByRole("heading", { name: "Phases" }).waitFor();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    expect(await page.getByRole("heading", { name: "Actions" }).count()).toBe(0);
    for (const name of ["Retry", "Roll back…", "Delete…", "Preview changes", "Check drift"]) {
      expect(await page.getByRole("button", { name }).count()).toBe(0);
    }
    await screenshot(page, "13-read-token-tenant");
    await page.goto(`${site.origin}/admin#/new`);
    await page.getByRole("alert").getByText("needs an admin token").waitFor();
    expect(await page.getByRole("button", { name: "Request tenant" }).count()).toBe(0);
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("deletes a tenant only after its slug is typed, and shows it DELETED", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/acme`);
    await page.getByRole("button", { name: "Delete…" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete acme" });
    const confirm = dialog.getByRole("button", { name: "Delete acme" });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel("Type acme to confirm").fill("acm");
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel("Type acme to confirm").fill("acme");
    await poll(() => confirm.isEnabled()).toBe(true);
    await screenshot(page, "14-delete-confirmation");
    await confirm.click();
    await page.locator(".tenant-status").getByText("DELETED").waitFor({ timeout: 60_000 });
    expect(await page.locator(".timeline .badge-rolled-back").count()).toBe(10);
    expect(await page.locator(".feed").textContent()).toContain("Teardown succeeded: tenant is DELETED");
    await screenshot(page, "15-deleted");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("pages through 1,000 tenants, filters them and searches by slug, at 1280 and 390 px wide", async () => {
    const before = (await faulty.service.app.inject({ method: "GET", url: "/api/v1/fleet?limit=1", headers: auth() })).json().total;
    const all = (1000 + before).toLocaleString("en-US");
    // 1,000 tenants straight into the database, as a busy fleet would have them.
    const seed = new (await import("pg")).default.Client({ connectionString: faulty.db.url });
    await seed.connect();
    await seed.query(`
      INSERT INTO tenants (id, slug, display_name, tier, region, admin_email, requested_by, requested_at, status, provisioning_started_at, created_at)
      SELECT gen_random_uuid(), 'fleet-' || lpad(n::text, 4, '0'), 'Fleet tenant ' || n, (ARRAY['free','professional','enterprise'])[1 + n % 3], 'eastus',
             'ops@fleet' || n || '.example', 'seed', now() - n * interval '1 minute', (ARRAY['ACTIVE','ACTIVE','ACTIVE','FAILED'])[1 + n % 4],
             now() - n * interval '1 minute', now() - n * interval '1 minute'
      FROM generate_series(1, 1000) AS n`);
    await seed.end();
    const { page, problems } = await openPage(browser, faulty);
    await signIn(page, ADMIN_TOKEN);
    const summary = page.locator("p.summary");
    await poll(() => summary.textContent()).toBe(`Showing 1–50 of ${all} tenants`);
    // One page of rows in the document, however large the fleet.
    expect(await page.locator("table.fleet tbody tr").count()).toBe(50);
    await page.getByRole("button", { name: "Last" }).click();
    await poll(() => summary.textContent()).toBe(`Showing ${(Math.floor((999 + before) / 50) * 50 + 1).toLocaleString("en-US")}–${all} of ${all} tenants`);
    await page.getByLabel("Tier").selectOption("enterprise");
    await poll(() => summary.textContent()).toMatch(/^Showing 1–50 of 33\d tenants$/);
    await page.getByLabel("Status", { exact: true }).selectOption("FAILED");
    await poll(() => summary.textContent()).toMatch(/^Showing 1–50 of \d+ tenants$/);
    const statuses = await page.locator("table.fleet tbody .status-cell").allTextContents();
    expect(new Set(statuses.map((s) => s.trim()))).toEqual(new Set(["FAILED"]));
    await page.getByLabel("Status", { exact: true }).selectOption("");
    await page.getByLabel("Tier").selectOption("");
    await page.getByLabel("Search by slug").fill("fleet-099");
    await poll(() => summary.textContent()).toBe("Showing 1–10 of 10 tenants");
    expect(await page.locator("table.fleet tbody th").allTextContents()).toEqual(
      ["0990", "0991", "0992", "0993", "0994", "0995", "0996", "0997", "0998", "0999"].map((n) => `fleet-${n}`),
    );
    await page.getByLabel("Search by slug").fill("");
    await poll(() => summary.textContent()).toBe(`Showing 1–50 of ${all} tenants`);
    await screenshot(page, "16-fleet-1000-tenants-1280");

    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing wider than the screen: no sideways scrolling on a phone.
    await poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // The first screens of a long page: the filters and the first tenants as cards.
    await screenshot(page, "17-fleet-390", { fullPage: false });
    await page.goto(`${faulty.origin}/admin#/tenants/flaky`);
    await page.getByRole("heading", { name: "Phases" }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "18-tenant-390", { fullPage: false });
    await page.getByRole("heading", { name: "Phases" }).scrollIntoViewIfNeeded();
    await page.evaluate(() => document.getElementById("timeline-title")?.scrollIntoView());
    await screenshot(page, "19-tenant-390-phases", { fullPage: false });
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});
