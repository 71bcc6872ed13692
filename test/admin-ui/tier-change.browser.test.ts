/// <reference lib="dom" />
/**
 * A tier change in the dashboard, in headless Chromium against the real
 * service (real PostgreSQL, the render engine slowed so that an update can be
 * watched): the change's review shows the tier-change plan, the tenant page
 * shows phase 2's sub-steps as the update runs, and the Reviews page lists
 * what awaits review across the fleet, filtered, with its count in the header
 * following approvals in this tab and in another. Screenshots go to
 * test-artifacts/screenshots.
 */
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

const ALICE = "tC4nW8qZ2vX6mR1bY9kL3pH7dJ5sF0gA";
const BOB = "gK7mB2xQ9wN4rT6zV1cP8hL3yD5jS0fE";

const squash = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();
const texts = async (locator: Locator) => (await locator.allTextContents()).map(squash);

/**
 * Records, in the page, which sub-steps of phase 2 the timeline showed while
 * the tenant was UPDATING: rows that appear before the run ends can only have
 * come from the live stream (the page reads the status again only when it ends).
 */
async function recordStepsWhileUpdating(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as any).sameDocument = true;
    const seen = new Set<string>();
    (window as any).stepsWhileUpdating = seen;
    const record = () => {
      if (!document.querySelector(".tenant-status")?.textContent?.includes("UPDATING")) return;
      for (const row of document.querySelectorAll<HTMLElement>('.phase[data-phase="2"] table.sub-steps tr[data-step]')) seen.add(`${row.dataset.step}:${row.dataset.status}`);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

describe.skipIf(!postgres.available || !browserProbe.available)("tier changes and the Reviews page in a real browser", { timeout: 300_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  const ids: Record<string, string> = {};

  const api = async (method: "GET" | "POST", url: string, payload?: object, token = ALICE) =>
    site.service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const statusOf = async (slug: string) => (await api("GET", `/api/v1/tenants/${ids[slug]}/provisioning/status`)).json();
  /** Requests a change and waits until its preview is done and it awaits review. */
  const requestReviewable = async (slug: string, body: object, token = ALICE) => {
    const requested = await api("POST", `/api/v1/tenants/${ids[slug]}/changes`, body, token);
    expect(requested.statusCode, requested.body).toBe(202);
    const url = `/api/v1/tenants/${ids[slug]}/changes/${requested.json().id}`;
    await expect.poll(async () => (await api("GET", url)).json().status, { timeout: 90_000 }).toBe("PENDING_REVIEW");
    return (await api("GET", url)).json();
  };
  /** The id of the tenant's latest run, to tell the next one from it. */
  const latestRun = async (slug: string): Promise<string | null> => (await statusOf(slug)).run?.id ?? null;
  /** Waits for an update run other than `before` (the one a change's approval queued) to end, and answers the tenant's status then. */
  const updated = async (slug: string, before: string | null) =>
    waitForStatus(site.service.app, ids[slug]!, (s) => s.run?.kind === "update" && s.run.id !== before && settled(s), 120_000);

  /** The tenant page's rows for phase 2's sub-steps, as the page shows them. */
  const shownSteps = (page: Page) => page.locator('.phase[data-phase="2"] table.sub-steps tbody tr').evaluateAll((rows) => rows.map((r) => ({
    step: (r as HTMLElement).dataset.step,
    status: (r as HTMLElement).dataset.status,
    badge: r.querySelector('[data-label="Status"]')?.textContent?.trim(),
    message: r.querySelector(".step-message")?.textContent,
    at: r.querySelector("time")?.getAttribute("datetime"),
    time: r.querySelector("time")?.textContent?.trim(),
    data: r.querySelector(".step-data")?.textContent?.replace(/\s+/g, " ").trim(),
  })));
  /** What the page should show for the API's steps: the same steps in the same order, word for word. */
  const expectedSteps = (steps: any[]) => steps.map((s) => ({
    step: s.step, status: s.status, badge: s.status.toUpperCase(), message: s.message, at: s.at, time: expect.stringMatching(/^\d\d:\d\d:\d\d$/),
    data: s.data ? expect.stringMatching(new RegExp(`^${s.data.tables} tables?, ${s.data.rows} rows?, `)) : "—",
  }));

  beforeAll(async () => {
    // About 12 s for the ten phases of a run: phase 2's sub-steps come several seconds before an update ends.
    site = await startSite({ MATIH_RENDER_PACE: "0.02", MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}` });
    browser = await launchBrowser();
    for (const [slug, tier] of [["mover", "free"], ["north", "free"], ["south", "professional"]] as const) {
      const created = await api("POST", "/api/v1/tenants", tenantRequest(slug, tier));
      expect(created.statusCode, created.body).toBe(202);
      ids[slug] = created.json().tenant.id;
    }
    for (const slug of ["mover", "north", "south"]) expect((await waitForStatus(site.service.app, ids[slug]!, settled, 120_000)).status).toBe("ACTIVE");
  });

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("free → professional: the review shows the tier-change plan; after approval phase 2 shows the API's sub-steps, live", async () => {
    const change = await requestReviewable("mover", { tier: "professional" });
    const plan = change.preview.tierChange;
    // Both tiers keep the schema on the shared server: the data does not move, the Secret switches to the pool.
    expect(plan).toMatchObject({ move: null, data: null });
    expect(plan.steps).toEqual(expect.arrayContaining(["expand", "switch"]));

    const { page, problems } = await openPage(browser, site);
    await signIn(page, BOB);
    await page.goto(`${site.origin}/admin#/tenants/mover`);
    const article = page.locator(`#changes article[data-change="${change.id}"]`);
    const planBox = article.locator(".tier-change");
    await planBox.waitFor();
    expect(squash(await planBox.locator("h4").textContent())).toBe("Tier change plan: free → professional");
    expect(squash(await planBox.locator(".tier-move").textContent())).toBe("The tenant's data stays on its database server.");
    expect(await planBox.locator(".tier-steps li").evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset.step))).toEqual(plan.steps);
    expect((await texts(planBox.locator(".tier-steps li strong")))).toEqual(plan.steps.map((s: string) => ({ expand: "Expand", move: "Move data", verify: "Verify", switch: "Switch", contract: "Contract" })[s]));
    // Nothing moves, so no data figures.
    expect(await planBox.locator(".tier-data").count()).toBe(0);
    // Before the change runs, no phase shows sub-steps.
    expect(await page.locator("table.sub-steps").count()).toBe(0);
    await planBox.evaluate((box) => box.closest("article")!.scrollIntoView({ block: "start" }));
    await screenshot(page, "tier-change-01-plan", { fullPage: false });

    await recordStepsWhileUpdating(page);
    const before = await latestRun("mover");
    await article.getByRole("button", { name: "Approve and apply" }).click();
    const after = await updated("mover", before);
    expect(after).toMatchObject({ status: "ACTIVE", run: { kind: "update", status: "SUCCEEDED" } });
    const steps = after.phases[1].steps;
    expect(steps.map((s: any) => s.step)).toEqual(plan.steps);
    expect(steps.every((s: any) => s.status === "succeeded" && s.message.length > 0)).toBe(true);
    await page.locator(".tenant-status").getByText("ACTIVE").waitFor({ timeout: 60_000 });
    await poll(() => shownSteps(page)).toEqual(expectedSteps(steps));
    // Phase 2 only: no other phase has sub-steps.
    expect(await page.locator("table.sub-steps").count()).toBe(1);
    expect(after.phases.filter((p: any) => p.steps.length > 0).map((p: any) => p.number)).toEqual([2]);
    // Live: phase 2's steps showed while the tenant was still UPDATING, and the feed told them. A step "started" is
    // only ever seen on the stream's phase-step messages: phase 2's own transitions carry its steps only as they end.
    const whileUpdating: string[] = await page.evaluate(() => [...(window as any).stepsWhileUpdating]);
    expect(whileUpdating).toEqual(expect.arrayContaining(["expand:started", "expand:succeeded", "switch:succeeded"]));
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    const feed = squash(await page.locator(".feed").textContent());
    for (const s of steps) expect(feed).toContain(`Phase 2 ${s.step} succeeded: ${s.message}`);
    await page.locator('.phase[data-phase="2"]').scrollIntoViewIfNeeded();
    await screenshot(page, "tier-change-02-sub-steps", { fullPage: false });
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("professional → enterprise: the plan says the data moves and why it is not measured; move and verify show as skipped with the engine's reason", async () => {
    const change = await requestReviewable("mover", { tier: "enterprise" });
    const plan = change.preview.tierChange;
    expect(plan).toMatchObject({ steps: ["expand", "move", "verify", "switch", "contract"], move: { from: "shared", to: "dedicated" }, data: null, note: expect.any(String) });

    const { page, problems } = await openPage(browser, site);
    await signIn(page, BOB);
    await page.goto(`${site.origin}/admin#/tenants/mover`);
    const article = page.locator(`#changes article[data-change="${change.id}"]`);
    const planBox = article.locator(".tier-change");
    await planBox.waitFor();
    expect(squash(await planBox.locator("h4").textContent())).toBe("Tier change plan: professional → enterprise");
    expect(squash(await planBox.locator(".tier-move").textContent())).toBe("The tenant's data moves from the shared database server to a dedicated database server.");
    expect(await planBox.locator(".tier-steps li").evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset.step))).toEqual(plan.steps);
    expect(squash(await planBox.locator(".tier-data").textContent())).toBe(`Data to move: not measured: ${plan.note}.`);
    await planBox.evaluate((box) => box.closest("article")!.scrollIntoView({ block: "start" }));
    await screenshot(page, "tier-change-03-plan-with-move", { fullPage: false });

    // The schema is replaced on the dedicated server: a destructive change, approved through its dialog.
    await recordStepsWhileUpdating(page);
    const before = await latestRun("mover");
    await article.getByRole("button", { name: "Approve…" }).click();
    const dialog = page.getByRole("dialog", { name: "Approve a destructive change" });
    await dialog.getByLabel("Allow destructive changes").check();
    await dialog.getByRole("button", { name: "Approve destructive change" }).click();
    const after = await updated("mover", before);
    expect(after).toMatchObject({ status: "ACTIVE", run: { kind: "update", status: "SUCCEEDED" } });
    const steps = after.phases[1].steps;
    expect(steps.map((s: any) => s.step)).toEqual(plan.steps);
    // The default (render) engine has no tenant database: it says so rather than pretending to copy.
    for (const name of ["move", "verify"]) expect(steps.find((s: any) => s.step === name)).toMatchObject({ status: "skipped", message: expect.stringMatching(/\S/) });
    await page.locator(".tenant-status").getByText("ACTIVE").waitFor({ timeout: 60_000 });
    await poll(() => shownSteps(page)).toEqual(expectedSteps(steps));
    const whileUpdating: string[] = await page.evaluate(() => [...(window as any).stepsWhileUpdating]);
    expect(whileUpdating).toEqual(expect.arrayContaining(["move:skipped", "verify:skipped"]));
    // Contract runs after phase 10, when phase 2 sends no more transitions: only its phase-step messages can show it before the run ends.
    expect(whileUpdating.filter((s) => s.startsWith("contract:"))).not.toEqual([]);
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    const move = steps.find((s: any) => s.step === "move");
    expect(squash(await page.locator(".feed").textContent())).toContain(`Phase 2 move skipped: ${move.message}`);
    expect(await page.locator(".summary-facts").textContent()).toContain("Tierenterprise");
    await page.locator('.phase[data-phase="2"]').scrollIntoViewIfNeeded();
    await screenshot(page, "tier-change-04-sub-steps-skipped", { fullPage: false });
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("lists two tenants' pending changes on the Reviews page with the count in the header, filters them, and drops the count when one is approved", async () => {
    const north = await requestReviewable("north", { tier: "professional", reason: "more analysts" }, ALICE);
    const south = await requestReviewable("south", { reason: "check after the incident" }, BOB);
    const northBefore = await latestRun("north");

    // A read-only tab on the Reviews page, to see the count follow an approval made elsewhere.
    const watcher = await openPage(browser, site);
    await signIn(watcher.page, READ_TOKEN);
    await watcher.page.goto(`${site.origin}/admin#/reviews`);
    await poll(() => watcher.page.locator("#pending-reviews").textContent()).toBe("2");
    await watcher.page.evaluate(() => { (window as any).sameDocument = true; });

    const { page, problems } = await openPage(browser, site);
    await signIn(page, ALICE);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Reviews/ }).click();
    await page.getByRole("heading", { level: 1, name: "Reviews" }).waitFor();
    const rows = page.locator("table.reviews tbody tr");
    const slugs = () => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.slug));
    await poll(slugs).toEqual(["north", "south"]);
    expect(await page.locator("#pending-reviews").textContent()).toBe("2");
    expect(await page.locator("#pending-reviews").getAttribute("aria-label")).toBe("2 changes await review");
    const cells = (slug: string) => rows.filter({ has: page.locator(`th`, { hasText: slug }) }).locator("td").evaluateAll((tds) =>
      Object.fromEntries(tds.map((td) => [(td as HTMLElement).dataset.label, td.textContent?.replace(/\s+/g, " ").trim()])));
    expect(await cells("north")).toMatchObject({ Tier: "free", "Asks for": "Tier free → professional", "Requested by": "alice", Reason: "more analysts" });
    expect(await cells("south")).toMatchObject({ Tier: "professional", "Asks for": "Converge to the recorded spec", "Requested by": "bob", Reason: "check after the incident" });
    const s = north.preview.changeSummary;
    expect((await cells("north")).Preview).toBe(`${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete`);
    expect(squash(await page.locator(".summary").textContent())).toBe("Showing 1–2 of 2 changes awaiting review");
    await screenshot(page, "tier-change-05-reviews");

    // Requested by bob: south only; the header still counts the whole fleet's.
    await page.getByLabel("Requested by").fill("bob");
    await poll(slugs).toEqual(["south"]);
    expect(squash(await page.locator(".summary").textContent())).toBe("Showing 1–1 of 1 change awaiting review");
    expect(await page.locator("#pending-reviews").textContent()).toBe("2");
    await page.getByLabel("Requested by").fill("");
    await poll(slugs).toEqual(["north", "south"]);
    // Tier free (the tenant's current tier): north only.
    await page.getByLabel("Tier", { exact: true }).selectOption("free");
    await poll(slugs).toEqual(["north"]);
    await screenshot(page, "tier-change-06-reviews-filtered");

    // The link opens north's change review, brought into view and focused.
    await rows.filter({ hasText: "north" }).getByRole("link", { name: "Tier free → professional" }).click();
    await poll(() => page.evaluate(() => location.hash)).toBe(`#/tenants/north/changes/${north.id}`);
    const article = page.locator(`article.change-targeted[data-change="${north.id}"]`);
    await article.waitFor();
    await poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.change)).toBe(north.id);
    await article.locator(".tier-change").waitFor();
    await screenshot(page, "tier-change-07-linked-review", { fullPage: false });
    await article.getByRole("button", { name: "Approve and apply" }).click();
    await poll(() => page.locator("#pending-reviews").textContent()).toBe("1");
    expect(await page.locator("#pending-reviews").getAttribute("aria-label")).toBe("1 change awaits review");
    // The other tab follows without a reload: the count and the list.
    await poll(() => watcher.page.locator("#pending-reviews").textContent()).toBe("1");
    await poll(() => watcher.page.locator("table.reviews tbody tr").evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.slug))).toEqual(["south"]);
    expect(await watcher.page.evaluate(() => (window as any).sameDocument)).toBe(true);
    // At 390 px wide the table becomes cards and nothing scrolls sideways.
    await watcher.page.setViewportSize({ width: 390, height: 900 });
    await poll(() => watcher.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(watcher.page, "tier-change-08-reviews-after-approval-390px");

    // Back on the Reviews page: the tier filter is kept, and nothing free awaits review any more.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Reviews/ }).click();
    await page.getByText("No change awaiting review matches.").waitFor();
    await page.getByLabel("Tier", { exact: true }).selectOption("");
    await poll(slugs).toEqual(["south"]);
    expect((await api("GET", "/api/v1/changes?status=PENDING_REVIEW")).json()).toMatchObject({ total: 1, items: [{ id: south.id }] });
    expect((await updated("north", northBefore)).status).toBe("ACTIVE");
    expect((await api("GET", `/api/v1/tenants/${ids.north}`)).json().tier).toBe("professional");
    expect(unexpected(problems)).toEqual([]);
    expect(unexpected(watcher.problems)).toEqual([]);
    await page.close();
    await watcher.page.close();
  });
});
