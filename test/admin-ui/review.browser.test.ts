/// <reference lib="dom" />
/**
 * The dashboard's change review and drift history in headless Chromium
 * against the real service: real PostgreSQL, the render engine slowed so
 * that an update can be watched, drift made through the render engine's
 * simulated actual state. Every test saves a screenshot under
 * test-artifacts/screenshots.
 */
import pg from "pg";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

/** Records, in the page, every text the tenant's status badge shows, to see it move without a reload. */
async function recordTenantStatus(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as any).sameDocument = true;
    const seen: string[] = [];
    (window as any).tenantStatuses = seen;
    const record = () => {
      const text = document.querySelector(".tenant-status")?.textContent?.trim();
      if (text && seen.at(-1) !== text) seen.push(text);
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** Every form control in `scope` has a label and every button a name: nothing is announced as a bare "button" or "edit". */
async function unlabelled(scope: Locator): Promise<string[]> {
  return scope.evaluate((root) => {
    const missing: string[] = [];
    for (const control of root.querySelectorAll<HTMLInputElement | HTMLSelectElement>("input, select, textarea")) {
      if (!control.labels || control.labels.length === 0 || !control.labels[0]!.textContent?.trim()) missing.push(control.outerHTML.slice(0, 80));
    }
    for (const button of root.querySelectorAll("button")) if (!button.textContent?.trim()) missing.push(button.outerHTML.slice(0, 80));
    return missing;
  });
}

const normalised = (texts: string[]) => texts.map((t) => t.replace(/\s+/g, " ").trim());

describe.skipIf(!postgres.available || !browserProbe.available)("change review and drift history in a real browser", { timeout: 240_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  const ids: Record<string, string> = {};

  const api = async (method: "GET" | "POST", url: string, payload?: object, token = ADMIN_TOKEN) =>
    site.service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const changesOf = async (slug: string) => (await api("GET", `/api/v1/tenants/${ids[slug]}/changes`)).json().items;
  /** The tenant's newest change, once its preview is done and it awaits review. */
  const reviewable = async (slug: string) => {
    await expect.poll(async () => (await changesOf(slug))[0]?.status, { timeout: 60_000 }).toBe("PENDING_REVIEW");
    return (await changesOf(slug))[0];
  };

  beforeAll(async () => {
    // About 5 s for the ten phases of a run: an update can be watched, a test stays short.
    site = await startSite({ MATIH_RENDER_PACE: "0.008" });
    browser = await launchBrowser();
    for (const slug of ["upgrade", "drifty"]) ids[slug] = (await api("POST", "/api/v1/tenants", tenantRequest(slug, "free"))).json().tenant.id;
    for (const slug of ["upgrade", "drifty"]) expect((await waitForStatus(site.service.app, ids[slug]!, settled)).status).toBe("ACTIVE");
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("requests a tier upgrade, shows its preview grouped by phase, approves it and watches UPDATING → ACTIVE with the new tier without a reload", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/upgrade`);
    const changes = page.locator("#changes");
    await changes.getByText("No change has been requested for this tenant.").waitFor();
    expect(await unlabelled(changes)).toEqual([]);

    // By keyboard: the tier, a reason, Enter.
    await changes.getByLabel("Tier", { exact: true }).focus();
    await changes.getByLabel("Tier", { exact: true }).selectOption("professional");
    await changes.getByLabel("Reason (optional)", { exact: true }).fill("more analysts from March");
    await changes.getByLabel("Reason (optional)", { exact: true }).press("Enter");
    await changes.locator("article.change").first().getByText("PREVIEWING", { exact: true }).waitFor();
    const requested = await reviewable("upgrade");
    expect(requested).toMatchObject({ requested: { tier: "professional", reason: "more analysts from March" }, createdBy: "admin" });
    const article = changes.locator(`article[data-change="${requested.id}"]`);
    // The page follows the change live: from PREVIEWING to awaiting review, no reload.
    await poll(() => article.getAttribute("data-status"), 60_000).toBe("PENDING_REVIEW");
    expect(normalised([await article.locator("h3").textContent() ?? ""])).toEqual(["Tier free → professional PENDING REVIEW"]);
    const s = requested.preview.changeSummary;
    expect(await article.locator(".change-summary").textContent()).toBe(`${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.same} unchanged.`);
    // Grouped by phase, in phase order, each group with the API's changes of that phase.
    const phases = [...new Set<number>(requested.preview.changes.map((c: any) => c.phase.number))];
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(phases.length).toBeGreaterThanOrEqual(4);
    const headings = normalised(await article.locator(".change-phase h4").allTextContents());
    expect(headings.map((h) => Number(/^Phase (\d+)\./.exec(h)?.[1]))).toEqual(phases);
    for (const number of phases) {
      const inPhase = requested.preview.changes.filter((c: any) => c.phase.number === number);
      expect(await article.locator(`.change-phase[data-phase="${number}"] li.reviewed`).count()).toBe(inPhase.length);
    }
    // Each property old → new: the quota grows, the pooler is created, the credentials' values stay secret.
    const quota = article.locator("li.reviewed").filter({ hasText: "namespace-quota" });
    expect(normalised(await quota.locator(".diffs li").allTextContents())).toContain("spec.hard.pods: 20 → 50");
    expect(normalised(await article.locator("li.reviewed").filter({ hasText: "database-pool-service" }).locator(".op").allTextContents())).toEqual(["create"]);
    // The Secret's own entry, by its name (its digest annotation also names it in every reader's diff).
    const credentials = article.locator("li.reviewed").filter({ has: page.locator("strong", { hasText: /-credentials$/ }) }).filter({ has: page.locator("code", { hasText: "kubernetes:core/v1:Secret" }) });
    const secretLines = normalised(await credentials.locator(".diffs li").allTextContents());
    expect(secretLines.length).toBeGreaterThan(0);
    expect(secretLines.filter((l) => !/^stringData\.[A-Z_]+: \[secret\] → \[secret\]$/.test(l))).toEqual([]);
    expect(await article.locator(".badge-destructive").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Approve and apply" }).count()).toBe(1);
    await screenshot(page, "20-change-preview");

    await recordTenantStatus(page);
    const approve = article.getByRole("button", { name: "Approve and apply" });
    await approve.focus();
    await page.keyboard.press("Enter");
    await page.locator(".tenant-status").getByText("ACTIVE").waitFor({ timeout: 90_000 });
    await poll(() => page.evaluate(() => (window as any).tenantStatuses)).toEqual(["ACTIVE", "UPDATING", "ACTIVE"]);
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    await poll(() => page.locator(".summary-facts").textContent()).toContain("Tierprofessional");
    await poll(() => page.locator(`article[data-change="${requested.id}"]`).getAttribute("data-status")).toBe("APPLIED");
    expect(await page.locator(".timeline .badge-succeeded").count()).toBe(10);
    expect(await page.locator(".feed").textContent()).toMatch(/Update succeeded: tenant is ACTIVE/);
    expect((await api("GET", `/api/v1/tenants/${ids.upgrade}`)).json()).toMatchObject({ status: "ACTIVE", tier: "professional" });
    await screenshot(page, "21-change-applied");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("marks a destructive change, asks for “allow destructive changes”, rejects a change with its reason, and puts a refusal in plain words", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/upgrade`);
    const changes = page.locator("#changes");
    await changes.getByLabel("Tier", { exact: true }).selectOption("enterprise");
    await changes.getByRole("button", { name: "Request change" }).click();
    const destructive = await reviewable("upgrade");
    expect(destructive.requested).toEqual({ tier: "enterprise" });
    const pending = changes.locator(`article[data-change="${destructive.id}"][data-status="PENDING_REVIEW"]`);
    await pending.waitFor();
    // Professional to enterprise moves the schema to a dedicated server: the schema is replaced.
    await pending.getByRole("note").getByText("Destructive change.").waitFor();
    const marked = pending.locator("li.reviewed").filter({ has: page.locator(".badge-destructive") });
    expect(normalised(await marked.locator("strong").allTextContents())).toEqual(["database-schema"]);
    expect(await marked.locator(".op").textContent()).toBe("replace");

    await pending.getByRole("button", { name: "Approve…" }).click();
    const dialog = page.getByRole("dialog", { name: "Approve a destructive change" });
    await dialog.waitFor();
    const confirm = dialog.getByRole("button", { name: "Approve destructive change" });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel("Allow destructive changes").check();
    await poll(() => confirm.isEnabled()).toBe(true);
    await screenshot(page, "22-approve-destructive-confirmation", { fullPage: false });
    // Escape cancels: nothing is sent, the change still awaits review.
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect((await changesOf("upgrade"))[0].status).toBe("PENDING_REVIEW");

    await pending.getByRole("button", { name: "Reject…" }).click();
    const reject = page.getByRole("dialog", { name: "Reject this change" });
    await reject.getByLabel("Reason (optional)").fill("not before the data is moved");
    await reject.getByRole("button", { name: "Reject change" }).click();
    const rejected = changes.locator(`article[data-change="${destructive.id}"][data-status="REJECTED"]`);
    await rejected.waitFor();
    expect(await rejected.textContent()).toContain("Rejected by admin");
    expect(await rejected.textContent()).toContain("“not before the data is moved”");
    expect((await changesOf("upgrade"))[0]).toMatchObject({ status: "REJECTED", decidedBy: "admin", rejectionReason: "not before the data is moved", error: null });
    expect((await api("GET", `/api/v1/tenants/${ids.upgrade}`)).json()).toMatchObject({ status: "ACTIVE", tier: "professional" });
    await screenshot(page, "23-change-rejected");

    // A converge whose review window has passed (as if a day went by): the approval is refused, in plain words.
    await changes.getByRole("button", { name: "Request a converge" }).click();
    const convergeChange = await reviewable("upgrade");
    expect(convergeChange.requested).toEqual({});
    const converge = changes.locator(`article[data-change="${convergeChange.id}"]`);
    await poll(() => converge.getAttribute("data-status")).toBe("PENDING_REVIEW");
    expect(await converge.locator("h3").textContent()).toContain("Converge to the recorded spec");
    // In sync already: the preview says there is nothing to change.
    expect(await converge.textContent()).toContain("Nothing to change: the tenant already matches.");
    const db = new pg.Client({ connectionString: site.db.url });
    await db.connect();
    await db.query(`UPDATE tenant_changes SET expires_at = now() - interval '1 minute' WHERE tenant_id = $1 AND status = 'PENDING_REVIEW'`, [ids.upgrade]);
    await db.end();
    await page.reload();
    await page.getByText("Signed in as").waitFor();
    const expired = page.locator(`#changes article[data-change="${convergeChange.id}"]`);
    await expired.getByText("This preview expired at").waitFor();
    await expired.getByRole("button", { name: "Approve and apply" }).click();
    const refused = expired;
    await refused.getByText("This change expired before it was approved. Request it again to get a fresh preview.").waitFor();
    expect(await refused.getByRole("alert").textContent()).toMatch(/The service said: change \S+ expired at/);
    await poll(() => refused.getAttribute("data-status")).toBe("EXPIRED");
    expect((await api("GET", `/api/v1/tenants/${ids.upgrade}`)).json().status).toBe("ACTIVE");
    await screenshot(page, "24-change-refused-expired");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows a read token the changes and their previews, and no way to request, approve or reject", async () => {
    // A change awaiting review, requested through the API.
    const requested = (await api("POST", `/api/v1/tenants/${ids.upgrade}/changes`, { tier: "free", reason: "budget" })).json();
    await expect.poll(async () => (await changesOf("upgrade"))[0].status, { timeout: 60_000 }).toBe("PENDING_REVIEW");
    const { page, problems } = await openPage(browser, site, 390);
    await signIn(page, READ_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/upgrade`);
    const pending = page.locator(`#changes article[data-change="${requested.id}"]`);
    await pending.getByText("PENDING REVIEW").waitFor();
    await pending.locator(".change-phase").first().waitFor();
    expect(normalised(await pending.locator("li.reviewed").filter({ hasText: "namespace-quota" }).locator(".diffs li").allTextContents())).toContain("spec.hard.pods: 50 → 20");
    await page.locator("#drift-history").getByRole("heading", { name: "Drift history" }).waitFor();
    for (const name of ["Approve", "Reject…", "Request change", "Request a converge", "Check every tenant for drift now"]) {
      expect(await page.getByRole("button", { name }).count()).toBe(0);
    }
    expect(await page.locator("#changes form").count()).toBe(0);
    // At 390 px nothing is wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await pending.scrollIntoViewIfNeeded();
    await screenshot(page, "25-read-token-change-390", { fullPage: false });
    expect(unexpected(problems)).toEqual([]);
    await page.close();
    expect((await api("POST", `/api/v1/tenants/${ids.upgrade}/changes/${requested.id}/reject`, {})).statusCode).toBe(200);
  });

  it("shows simulated drift in the history with recorded and actual values and in the fleet, and a converge through review brings the tenant back in sync", async () => {
    // Someone edits the quota by hand, as the render engine's simulated actual state lets a test do.
    const simulated = await api("POST", `/api/v1/tenants/${ids.drifty}/simulated-drift`, { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" });
    expect(simulated.json().resourcesDiffering).toBe(1);
    const { page, problems } = await openPage(browser, site);
    await signIn(page, ADMIN_TOKEN);
    await page.goto(`${site.origin}/admin#/tenants/drifty`);
    const history = page.locator("#drift-history");
    await history.getByText("Not checked yet.").waitFor();
    expect(await unlabelled(history)).toEqual([]);

    await history.getByRole("button", { name: "Check every tenant for drift now" }).click();
    await history.getByText(/Fleet drift check finished: 2 of 2 tenants checked, 1 drifted/).waitFor({ timeout: 60_000 });
    const newest = history.locator("li.drift-check").first();
    await poll(() => newest.getAttribute("data-state")).toBe("DRIFTED");
    expect(await history.locator(".drift-state").textContent()).toMatch(/DRIFTED\s+Resources differ from the recorded state since/);
    const resource = newest.locator(".drifted-resource");
    expect(normalised([await resource.locator("p").first().textContent() ?? ""])).toEqual(["changed namespace-quota kubernetes:core/v1:ResourceQuota · phase 1 Create namespace"]);
    const row = resource.locator("tbody tr");
    expect(await row.count()).toBe(1);
    expect(normalised([await row.locator('[data-label="Property"]').textContent() ?? "", await row.locator('[data-label="Recorded"]').textContent() ?? "", await row.locator('[data-label="Actual"]').textContent() ?? ""]))
      .toEqual(["spec.hard.pods", "20", "99"]);
    // The API says the same.
    const recorded = (await api("GET", `/api/v1/tenants/${ids.drifty}/drift`)).json();
    expect(recorded.items[0].resources[0].differences).toEqual([{ path: "spec.hard.pods", recorded: "20", actual: "99" }]);
    await screenshot(page, "26-drift-history-drifted");

    // The fleet shows it too, and filters by it.
    await page.getByRole("link", { name: "Fleet", exact: true }).click();
    await poll(() => page.locator('tr[data-slug="drifty"] .drift-cell').textContent()).toMatch(/^DRIFTED since /);
    expect(await page.locator('tr[data-slug="upgrade"] .drift-cell').textContent()).toBe("IN SYNC");
    await page.getByLabel("Drift", { exact: true }).selectOption("DRIFTED");
    await poll(() => page.locator("table.fleet tbody th").allTextContents()).toEqual(["drifty"]);
    await screenshot(page, "27-fleet-drifted-filter");
    await page.locator('tr[data-slug="drifty"]').getByRole("link", { name: "drifty" }).click();

    // Remediation through review: the converge's preview sets the quota back; approved, the next check finds the tenant in sync.
    await history.getByRole("button", { name: "Request a converge" }).click();
    const requested = await reviewable("drifty");
    expect(requested.requested).toEqual({ reason: "converge after drift" });
    const converge = page.locator(`#changes article[data-change="${requested.id}"]`);
    await poll(() => converge.getAttribute("data-status")).toBe("PENDING_REVIEW");
    expect(normalised(await converge.locator(".diffs li").allTextContents())).toEqual(["spec.hard.pods: 99 → 20"]);
    await recordTenantStatus(page);
    await converge.getByRole("button", { name: "Approve and apply" }).click();
    // The header says DRIFTED beside ACTIVE for as long as the latest kept check says so: until the check below.
    await poll(() => page.evaluate(() => (window as any).tenantStatuses), 90_000).toEqual(["ACTIVE DRIFTED", "UPDATING", "ACTIVE DRIFTED"]);
    await history.getByRole("button", { name: "Check every tenant for drift now" }).click();
    await history.getByText(/Fleet drift check finished: 2 of 2 tenants checked, 0 drifted/).waitFor({ timeout: 60_000 });
    await poll(() => history.locator("li.drift-check").first().getAttribute("data-state")).toBe("IN_SYNC");
    expect(await history.locator(".drift-state").textContent()).toMatch(/IN SYNC\s+Every resource matches its recorded state since/);
    await poll(() => page.locator(".tenant-status").textContent().then((t) => t?.trim())).toBe("ACTIVE");
    expect(await history.locator("li.drift-check").count()).toBe(2);
    expect((await api("GET", `/api/v1/tenants/${ids.drifty}/drift`)).json()).toMatchObject({ state: "IN_SYNC", driftedSince: null });
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    await screenshot(page, "28-drift-history-back-in-sync");

    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await history.scrollIntoViewIfNeeded();
    await screenshot(page, "29-drift-history-390", { fullPage: false });
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});
