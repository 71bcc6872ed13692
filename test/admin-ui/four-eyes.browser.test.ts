/// <reference lib="dom" />
/**
 * The dashboard under four eyes (MATIH_REQUIRE_SEPARATE_APPROVER), in headless
 * Chromium against the real service: one admin's Delete only asks, the page
 * says so and lists the request with the tenant's changes, and another admin
 * approves it there, after which the teardown runs. Screenshots go to
 * test-artifacts/screenshots.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

const ALICE = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
const BOB = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";

describe.skipIf(!postgres.available || !browserProbe.available)("the dashboard when a second admin must approve", { timeout: 240_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  let tenantId: string;

  beforeAll(async () => {
    site = await startSite({ MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_REQUIRE_SEPARATE_APPROVER: "true" });
    browser = await launchBrowser();
    tenantId = (await site.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(ALICE), payload: tenantRequest("pair") })).json().tenant.id;
    expect((await waitForStatus(site.service.app, tenantId, settled)).status).toBe("ACTIVE");
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("shows one admin's Delete as a request awaiting another admin, whose approval tears the tenant down", async () => {
    const first = await openPage(browser, site);
    await signIn(first.page, ALICE);
    await first.page.goto(`${site.origin}/admin#/tenants/pair`);
    await first.page.getByRole("button", { name: "Delete…" }).click();
    const dialog = first.page.getByRole("dialog", { name: "Delete pair" });
    await dialog.getByLabel("Type pair to confirm").fill("pair");
    await dialog.getByRole("button", { name: "Delete pair" }).click();

    // Nothing is torn down: the page says who must approve, and lists the request with the changes.
    await first.page.getByText(/^Delete requested, not started: this service needs a second admin\. It waits for admin or bob to approve it under “Changes through review”/).waitFor();
    const request = first.page.locator('#changes article.change[data-status="PENDING_REVIEW"]');
    await request.waitFor();
    expect((await request.locator("h3").textContent())?.replace(/\s+/g, " ").trim()).toBe("Tear down the tenant PENDING REVIEW");
    expect(await request.textContent()).toContain("Awaiting approval by another admin than alice");
    expect(await first.page.locator(".tenant-status").textContent()).toContain("ACTIVE");
    await screenshot(first.page, "40-four-eyes-delete-requested");
    // The requester's own approval is refused in plain words.
    await request.getByRole("button", { name: "Approve teardown" }).click();
    await request.getByText("You requested this change yourself, and this service requires another admin to approve it.").waitFor();
    expect(unexpected(first.problems)).toEqual([]);
    await first.page.close();

    // Another admin, in a tab of their own, approves it; the page follows the teardown to DELETED.
    const second = await openPage(browser, site);
    await signIn(second.page, BOB);
    await second.page.goto(`${site.origin}/admin#/tenants/pair`);
    const pending = second.page.locator('#changes article.change[data-status="PENDING_REVIEW"]');
    await pending.getByRole("button", { name: "Approve teardown" }).click();
    await second.page.locator(".tenant-status").getByText("DELETED").waitFor({ timeout: 90_000 });
    await poll(() => second.page.locator("#changes").textContent()).toContain("Approved: the teardown run is queued.");
    const changes = (await site.service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes`, headers: auth(BOB) })).json().items;
    expect(changes[0]).toMatchObject({ kind: "teardown", status: "APPROVED", createdBy: "alice", decidedBy: "bob" });
    await screenshot(second.page, "41-four-eyes-delete-approved");
    expect(unexpected(second.problems)).toEqual([]);
    await second.page.close();
  });
});
