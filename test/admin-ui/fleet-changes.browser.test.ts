/// <reference lib="dom" />
/**
 * Fleet changes in the dashboard (issue 23), in headless Chromium against the
 * real service (real PostgreSQL, the render engine): the Reviews page lists a
 * tenant change and a fleet change with the count of both; the fleet change
 * page shows the settings diff and the grouped impact, refuses the proposer's
 * own approval under four eyes and takes another admin's with wave options;
 * the rollout page follows the rollout live to COMPLETED; a rollout halted by
 * failures (the render engine's fault plan) offers Resume, not Pause. A reason
 * holding markup shows as text. Screenshots go to test-artifacts/screenshots.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, probeChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { openPage, poll, signIn, startSite, stopSite, unexpected, type Site } from "../support/dashboard.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";
import { MIXED_PATCH } from "../server/fleet-changes-support.ts";

const postgres = await probePostgres();
const browserProbe = probeChromium();

const ALICE = "fA3kP9wQ2zN7vR5mX1cL8bT4hJ6dG0sY";
const BOB = "fB8nW2qZ5vK1mR7xT3cP9hL4yD6jS0gE";
/** Markup that would make elements (and run) if it were ever parsed as HTML. */
const REASON = `<script>window.__planted = "reason"</script><b>ai-service</b> 2.0.0 & pgbouncer`;

const squash = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();

type App = TestService["app"];
const call = async (app: App, method: "GET" | "POST", url: string, token: string, payload?: object) => {
  const res = await app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  return { status: res.statusCode, body: res.body ? res.json() : null };
};

async function createTenants(app: App, tenants: readonly (readonly [string, string])[]): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const [slug, tier] of tenants) {
    const created = await call(app, "POST", "/api/v1/tenants", ALICE, tenantRequest(slug, tier));
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    ids[slug] = created.body.tenant.id;
  }
  for (const id of Object.values(ids)) expect((await waitForStatus(app, id, settled, 120_000)).status).toBe("ACTIVE");
  return ids;
}

async function propose(app: App, body: object, token = ALICE): Promise<any> {
  const res = await call(app, "POST", "/api/v1/fleet/changes", token, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function waitForRollout(app: App, id: string, done: (r: any) => boolean, timeoutMs = 120_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await call(app, "GET", `/api/v1/fleet/rollouts/${id}`, ALICE)).body;
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`rollout ${id} did not settle; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

/** What planted markup would have made, and whether it ran. */
const planted = (page: Page) => page.evaluate(() => ({
  script: [...document.querySelectorAll("main script")].length,
  b: document.querySelectorAll("main b").length,
  ran: (window as unknown as { __planted?: string }).__planted ?? null,
}));

/** The rollout page's waves as shown: each wave's status and its tenants' slugs and statuses. */
const shownWaves = (page: Page) => page.locator("section.wave").evaluateAll((sections) => sections.map((s) => ({
  number: Number((s as HTMLElement).dataset.wave),
  status: (s as HTMLElement).dataset.status,
  tenants: [...s.querySelectorAll("tbody tr")].map((tr) => ({ slug: (tr as HTMLElement).dataset.slug, status: (tr as HTMLElement).dataset.status })),
})));
const apiWaves = (r: any) => r.waves.map((w: any) => ({ number: w.number, status: w.status, tenants: w.tenants.map((t: any) => ({ slug: t.slug, status: t.status })) }));

const buttonStates = (page: Page) => page.locator(".rollout-controls button").evaluateAll((buttons) =>
  Object.fromEntries(buttons.map((b) => [b.textContent!.trim(), !(b as HTMLButtonElement).disabled])));

describe.skipIf(!postgres.available || !browserProbe.available)("fleet changes and rollouts in the dashboard", { timeout: 400_000 }, () => {
  let site: Site;
  let browser: TestBrowser;
  let ids: Record<string, string>;
  let tenantChange: any;
  let fleetChange: any;

  beforeAll(async () => {
    // A slowed engine (about 6 s a run) so that the rollout's waves can be watched moving; four eyes on.
    site = await startSite({ MATIH_RENDER_PACE: "0.01", MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_REQUIRE_SEPARATE_APPROVER: "true" });
    browser = await launchBrowser();
    const app = site.service.app;
    ids = await createTenants(app, [["fc-solo", "free"], ["fc-one", "free"], ["fc-two", "free"], ["fc-pro", "professional"]]);
    // A tenant change of fc-solo, which the fleet change leaves out.
    const requested = await call(app, "POST", `/api/v1/tenants/${ids["fc-solo"]}/changes`, ALICE, { tier: "professional", reason: "more capacity" });
    expect(requested.status).toBe(202);
    const url = `/api/v1/tenants/${ids["fc-solo"]}/changes/${requested.body.id}`;
    for (let i = 0; i < 600 && (tenantChange?.status ?? "PREVIEWING") === "PREVIEWING"; i++) {
      if (tenantChange) await new Promise((r) => setTimeout(r, 200));
      tenantChange = (await call(app, "GET", url, ALICE)).body;
    }
    expect(tenantChange.status).toBe("PENDING_REVIEW");
    fleetChange = await propose(app, { settings: MIXED_PATCH, reason: REASON, selector: { slugs: ["fc-one", "fc-two", "fc-pro"] } });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stopSite(site);
  });

  it("lists the tenant change and the fleet change on the Reviews page, counted together, the reason as text", async () => {
    const { page, problems } = await openPage(browser, site);
    await signIn(page, BOB);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Reviews/ }).click();
    const rows = page.locator("table.reviews tbody tr");
    await poll(() => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.change))).toEqual([tenantChange.id, fleetChange.id]);
    expect(await page.locator("#pending-reviews").textContent()).toBe("2");
    expect(await page.locator("#pending-reviews").getAttribute("aria-label")).toBe("2 changes await review");
    const fleetRow = page.locator(`tr[data-kind="fleet"]`);
    const cells = Object.fromEntries(await fleetRow.locator("th, td").evaluateAll((cs) => cs.map((c) => [(c as HTMLElement).dataset.label, c.textContent?.replace(/\s+/g, " ").trim()])));
    const groups = fleetChange.preview.groups;
    expect(cells).toMatchObject({
      Tenant: "FLEET 3 tenants", Tier: "all", "Asks for": `Platform settings: ${fleetChange.changedPaths.join(", ")}`, "Requested by": "alice", Reason: REASON,
    });
    expect((await fleetRow.locator(".impact-summary li").allTextContents()).map(squash)).toEqual(groups.map((g: any) => `${g.tenants} ${g.tenants === 1 ? "tenant" : "tenants"}: ${g.summary}`));
    // The professional tenant (its own pool) changes differently from the free ones: two groups.
    expect(groups.map((g: any) => g.tenants)).toEqual([2, 1]);
    expect(await planted(page)).toEqual({ script: 0, b: 0, ran: null });
    // The tenant change's row still reads as before.
    expect(squash(await page.locator(`tr[data-change="${tenantChange.id}"] td[data-label="Asks for"]`).textContent())).toBe("Tier free → professional");
    await screenshot(page, "fleet-01-reviews");
    // A tier filter reaches the fleet change through the tenants it was previewed on.
    await page.getByLabel("Tier", { exact: true }).selectOption("professional");
    await poll(() => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.change))).toEqual([fleetChange.id]);
    expect(await page.locator("#pending-reviews").textContent()).toBe("2");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it("shows the fleet change's diff and groups, refuses its proposer's approval, and follows another admin's rollout live to COMPLETED", async () => {
    // The proposer, alice, may not approve her own change.
    const first = await openPage(browser, site);
    await signIn(first.page, ALICE);
    await first.page.goto(`${site.origin}/admin#/reviews`);
    await first.page.locator(`tr[data-kind="fleet"] a.review-link`).click();
    await poll(() => first.page.evaluate(() => location.hash)).toBe(`#/fleet/changes/${fleetChange.id}`);
    await first.page.getByRole("button", { name: "Approve and roll out" }).click();
    await first.page.getByText("You proposed this fleet change yourself, and this service requires another admin to approve it.").waitFor();
    expect(unexpected(first.problems)).toEqual([]);
    await first.page.close();

    const { page, problems } = await openPage(browser, site);
    await signIn(page, BOB);
    await page.goto(`${site.origin}/admin#/fleet/changes/${fleetChange.id}`);
    await page.getByRole("heading", { level: 1, name: /^Fleet change/ }).waitFor();
    await page.locator(".impact-group").first().waitFor();
    expect(squash(await page.locator("h1").textContent())).toBe("Fleet change PENDING REVIEW");
    expect(await page.locator("#fleet-change-reason").textContent()).toBe(REASON);
    expect(await planted(page)).toEqual({ script: 0, b: 0, ran: null });
    // The patch as settings paths, each old → new (the old from the current version, which it was previewed on).
    const current = (await call(site.service.app, "GET", "/api/v1/platform/settings", BOB)).body;
    expect(current.version).toBe(fleetChange.baseVersion);
    const diff = await page.locator(".settings-diff li").evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.path, li.textContent?.replace(/\s+/g, " ").trim()]));
    // The ai-service tag is not set before (the chart's default applies): it shows as such.
    const before = (v: unknown) => (v === undefined ? "(not set)" : String(v));
    expect(diff).toEqual([
      ["images.tags.ai-service", `images.tags.ai-service: ${before(current.settings.images.tags?.["ai-service"])} → 2.0.0`],
      ["images.pgbouncer", `images.pgbouncer: ${before(current.settings.images.pgbouncer)} → bitnamilegacy/pgbouncer:1.24.2`],
    ]);
    // The groups as the API has them, each with its tenants linked.
    const groups = fleetChange.preview.groups;
    expect((await page.locator(".impact-group .group-line").allTextContents()).map(squash)).toEqual(groups.map((g: any) => `${g.tenants} ${g.tenants === 1 ? "tenant" : "tenants"}: ${g.summary}`));
    expect(await page.locator(".impact-group").nth(0).locator(".slugs a").allTextContents()).toEqual(groups[0].slugs);
    expect(squash(await page.locator("#impact-title").textContent())).toBe("Impact: 3 tenants selected");
    expect(await page.locator("#destructive-tenants").count()).toBe(0);
    // The wave options show their defaults.
    expect(await page.locator(".waves input").evaluateAll((inputs) => inputs.map((i) => [i.id, (i as HTMLInputElement).placeholder]))).toEqual([
      ["wave-canary", "2"], ["wave-growth", "2"], ["wave-concurrency", "4"], ["wave-canaryMaxFailures", "0"], ["wave-waveFailurePercent", "10"],
    ]);
    await screenshot(page, "fleet-02-change");

    // Canary of one, one tenant at a time: three waves (1, 2) to watch.
    await page.getByLabel("Canary size").fill("1");
    await page.getByLabel("Concurrency").fill("1");
    await page.getByRole("button", { name: "Approve and roll out" }).click();
    await poll(() => page.evaluate(() => location.hash)).toMatch(/^#\/fleet\/rollouts\/[0-9a-f-]{36}$/);
    const rolloutId = (await page.evaluate(() => location.hash)).split("/").at(-1)!;
    await page.locator("section.wave").first().waitFor();
    // Recorded in the page from here on: every rollout status shown, and that the document is never reloaded.
    await page.evaluate(() => {
      (window as any).sameDocument = true;
      const seen: string[] = [];
      (window as any).statusesSeen = seen;
      const record = () => {
        const s = document.querySelector(".rollout-status")?.textContent?.trim();
        if (s && seen.at(-1) !== s) seen.push(s);
      };
      record();
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const approved = (await call(site.service.app, "GET", `/api/v1/fleet/rollouts/${rolloutId}`, BOB)).body;
    expect(approved).toMatchObject({ fleetChangeId: fleetChange.id, createdBy: "bob", config: { canary: 1, concurrency: 1, growth: 2 }, waveCount: 2 });
    expect(await buttonStates(page)).toEqual({ Pause: approved.status === "RUNNING", Resume: false, Abort: approved.status === "RUNNING" });
    await screenshot(page, "fleet-03-rollout-running");

    await poll(() => page.locator(".rollout-status").textContent(), 150_000).toBe("COMPLETED");
    expect(await page.evaluate(() => (window as any).statusesSeen)).toEqual(["RUNNING", "COMPLETED"]);
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    const done = await waitForRollout(site.service.app, rolloutId, (r) => r.status === "COMPLETED");
    await poll(() => shownWaves(page)).toEqual(apiWaves(done));
    expect(apiWaves(done).flatMap((w: any) => w.tenants.map((t: any) => t.status))).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
    expect(await buttonStates(page)).toEqual({ Pause: false, Resume: false, Abort: false });
    // Each tenant links to its page; the rollout to its fleet change, which links back.
    const firstTenant = done.waves[0].tenants[0].slug;
    expect(await page.locator(`section.wave[data-wave="1"] a`).first().getAttribute("href")).toBe(`#/tenants/${firstTenant}`);
    await screenshot(page, "fleet-04-rollout-completed");
    // Only the tenant change awaits review now.
    await poll(() => page.locator("#pending-reviews").textContent()).toBe("1");
    await page.locator("a.fleet-change-link").click();
    await page.locator("a.rollout-link").waitFor();
    expect(squash(await page.locator("h1").textContent())).toBe("Fleet change APPROVED");
    expect(await page.locator("a.rollout-link").getAttribute("href")).toBe(`#/fleet/rollouts/${rolloutId}`);
    expect(await page.locator(".decide").count()).toBe(0);
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});

describe.skipIf(!postgres.available || !browserProbe.available)("a halted rollout in the dashboard", { timeout: 400_000 }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let fixed: TestService | undefined;
  let browser: TestBrowser;
  let rolloutId: string;
  let halted: any;
  let origin: string;

  beforeAll(async () => {
    db = await freshDatabase("matih_ui");
    const env = { MATIH_WORKERS: "1", MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}` };
    // As in test/server/fleet-changes-halt.test.ts: provisioned and previewed without faults, ...
    const calm = await startService(db.url, env);
    let changeId: string;
    try {
      await createTenants(calm.app, [["ha-one", "free"], ["ha-two", "free"], ["ha-three", "free"]]);
      changeId = (await propose(calm.app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0" })).id;
    } finally {
      await calm.close();
    }
    // ... approved on a service whose phase 1 fails once per tenant, with one attempt per run, until the canary halts it, ...
    const faulty = await startService(db.url, { ...env, MATIH_MAX_ATTEMPTS: "1", MATIH_RENDER_FAULTS: JSON.stringify({ 1: { failTimes: 1, message: "namespace quota admission webhook timed out" } }) });
    try {
      const approved = await call(faulty.app, "POST", `/api/v1/fleet/changes/${changeId}/approve`, BOB, { waves: { canary: 2, concurrency: 2 } });
      expect(approved.status, JSON.stringify(approved.body)).toBe(202);
      rolloutId = approved.body.id;
      halted = await waitForRollout(faulty.app, rolloutId, (r) => r.status === "HALTED" && r.waves.every((w: any) => w.tenants.every((t: any) => !["PREVIEWING", "APPLYING"].includes(t.status))));
    } finally {
      await faulty.close();
    }
    // ... and shown by a service without them: the fix deployed.
    fixed = await startService(db.url, env);
    await fixed.app.listen({ port: 0, host: "127.0.0.1" });
    origin = `http://127.0.0.1:${(fixed.app.server.address() as { port: number }).port}`;
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await fixed?.close();
    await db?.drop();
  });

  it("shows the halt and its reason, Resume enabled and Pause disabled, and once resumed follows it to COMPLETED", async () => {
    const { page, problems } = await openPage(browser, { origin } as Site);
    await signIn(page, BOB);
    await page.goto(`${origin}/admin#/fleet/rollouts/${rolloutId}`);
    await page.locator("section.wave").first().waitFor();
    expect(squash(await page.locator(".rollout-status").textContent())).toBe("HALTED");
    expect(await page.locator(".halted-reason").textContent()).toBe(halted.haltedReason);
    expect(await buttonStates(page)).toEqual({ Pause: false, Resume: true, Abort: true });
    expect(await shownWaves(page)).toEqual(apiWaves(halted));
    // The failed canary tenants with the engine's reason, the next wave pending.
    const reasons = await page.locator(`section.wave[data-wave="1"] tbody tr td[data-label="Reason"]`).allTextContents();
    expect(reasons).toEqual(halted.waves[0].tenants.map((t: any) => t.reason));
    expect(reasons.some((r) => /admission webhook timed out/.test(r))).toBe(true);
    expect(await page.locator(`section.wave[data-wave="2"]`).getAttribute("data-status")).toBe("pending");
    await screenshot(page, "fleet-05-rollout-halted");
    // Abort asks first; cancelled, nothing changes.
    await page.getByRole("button", { name: "Abort" }).click();
    const dialog = page.getByRole("dialog", { name: "Abort this rollout" });
    expect(squash(await dialog.locator("p").textContent())).toContain(`the ${halted.counts.PENDING} not started are listed as skipped`);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await poll(() => page.locator("dialog").count()).toBe(0);
    expect((await call(fixed!.app, "GET", `/api/v1/fleet/rollouts/${rolloutId}`, BOB)).body.status).toBe("HALTED");

    // Resume: the failed tenants are applied again, and the page follows the rollout to COMPLETED without a reload.
    await page.evaluate(() => { (window as any).sameDocument = true; });
    await page.getByRole("button", { name: "Resume" }).click();
    await poll(() => page.locator(".rollout-status").textContent(), 150_000).toBe("COMPLETED");
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    const done = await waitForRollout(fixed!.app, rolloutId, (r) => r.status === "COMPLETED");
    await poll(() => shownWaves(page)).toEqual(apiWaves(done));
    expect(await buttonStates(page)).toEqual({ Pause: false, Resume: false, Abort: false });
    await screenshot(page, "fleet-06-rollout-resumed");
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });
});
