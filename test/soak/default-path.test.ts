/**
 * The README's main job under real use: `npm start` with nothing configured
 * (no DATABASE_URL: the embedded PostgreSQL), twelve tenants of every tier
 * requested at once, status read throughout; then a restart keeps them, and a
 * reviewed change to every tenant at once is previewed, approved and applied.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { api, countRetries, printFigures, requestAllAndWatch, SOAK_PACE, SOAK_TENANTS, soakRequests } from "./helpers.ts";

async function mailsByRecipient(dataDir: string): Promise<Map<string, string[]>> {
  const dir = path.join(dataDir, "mail");
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".eml"));
  const byTo = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(path.join(dir, file), "utf8");
    const to = /^To: (.+)$/m.exec(text)?.[1]?.trim() ?? "?";
    const subject = /^Subject: (.+)$/m.exec(text)?.[1]?.trim() ?? "?";
    byTo.set(to, [...(byTo.get(to) ?? []), subject]);
  }
  return byTo;
}

describe("the default path (`npm start`, nothing configured) under twelve tenants at once", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("brings every tenant to ACTIVE on its first attempt with no 5xx, one audit trail and one mail each, keeps them across a restart, then applies a reviewed change to all of them at once", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-soak-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    // Only what the README's "Run the service" needs: where to keep data and which port, plus the render engine's pace.
    const env = { MATIH_DATA_DIR: dataDir, PORT: "0", MATIH_ENGINE: "render", MATIH_RENDER_PACE: SOAK_PACE, LOG_LEVEL: "warn" };
    const unset = ["DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS", "MATIH_WORKER_CONCURRENCY", "MATIH_MAX_ATTEMPTS", "MATIH_RETRY_DELAY_SECONDS"];
    const start = (): ServiceProcess => {
      const service = spawnService({ ...env, LOG_LEVEL: "info" }, { via: "npm", unset });
      cleanup.push(() => service.stop("SIGKILL"));
      return service;
    };

    const first = start();
    const url = await first.listening();
    const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
    const requests = soakRequests("soak");
    const watched = await requestAllAndWatch(() => url, token, requests, { timeoutMs: 240_000 });
    const { retries, audits } = await countRetries(url, token, watched.ids);
    printFigures("default-path", { tenants: SOAK_TENANTS, allActiveMs: watched.allActiveMs, statusReads: watched.statusReads, status5xx: watched.status5xx, retries });

    expect(watched.serverErrors).toEqual([]);
    expect(watched.allActiveMs, JSON.stringify([...watched.last.values()].map((s) => [s.slug, s.status, s.error]))).toBeGreaterThan(0);
    for (const id of watched.ids) {
      const status = watched.last.get(id);
      expect(status.status, status.slug).toBe("ACTIVE");
      expect(status.run.attempt, `${status.slug} took more than one attempt`).toBe(1);
      expect(status.phases.map((p: any) => p.status)).toEqual(Array(10).fill("SUCCEEDED"));
      const audit = audits.get(id)!;
      expect(audit.filter((a) => a.entity === "tenant" && a.to === "ACTIVE"), status.slug).toHaveLength(1);
      expect(audit.filter((a) => a.entity === "tenant" && a.to === "PROVISIONING"), status.slug).toHaveLength(1);
      for (let n = 1; n <= 10; n++) expect(audit.filter((a) => a.entity === "phase" && a.phase === n && a.to === "SUCCEEDED"), `${status.slug} phase ${n}`).toHaveLength(1);
    }
    expect(retries).toBe(0);

    // One completion mail per tenant admin, written by the outbox relay.
    const deadline = Date.now() + 30_000;
    let mails = await mailsByRecipient(dataDir);
    while ([...mails.values()].flat().length < SOAK_TENANTS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      mails = await mailsByRecipient(dataDir);
    }
    for (const r of requests) expect(mails.get(r.adminEmail), r.adminEmail).toEqual([`Your matih tenant is ready: ${r.displayName}`]);
    expect([...mails.values()].flat()).toHaveLength(SOAK_TENANTS);

    // A restart (SIGTERM, then `npm start` again) keeps every tenant and sends nothing twice.
    expect([0, "SIGTERM"]).toContain(await first.stop("SIGTERM"));
    const second = start();
    const url2 = await second.listening();
    const listed = await api.call(`${url2}/api/v1/tenants?limit=50`, token);
    expect(listed.status).toBe(200);
    expect(listed.body.total).toBe(SOAK_TENANTS);
    expect(listed.body.items.map((t: any) => t.id).sort()).toEqual([...watched.ids].sort());
    expect(listed.body.items.every((t: any) => t.status === "ACTIVE")).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect([...(await mailsByRecipient(dataDir)).values()].flat()).toHaveLength(SOAK_TENANTS);

    // Then a change to every tenant at once, through review: free ones up to professional, professional
    // ones down to free, enterprise ones converged to their recorded spec; all previewed, then all approved.
    const target = (tier: string) => (tier === "free" ? { tier: "professional" } : tier === "professional" ? { tier: "free" } : {});
    const changeStarted = Date.now();
    const changes = await Promise.all(requests.map(async (r, i) => {
      const res = await api.call(`${url2}/api/v1/tenants/${watched.ids[i]}/changes`, token, { method: "POST", body: { ...target(r.tier), reason: "soak" } });
      expect(res.status, `${r.slug}: ${JSON.stringify(res.body)}`).toBe(202);
      return res.body.id as string;
    }));
    const changeOf = async (i: number) => (await api.call(`${url2}/api/v1/tenants/${watched.ids[i]}/changes/${changes[i]}`, token)).body;
    const settle = async (done: (c: any) => boolean) => {
      const until = Date.now() + 180_000;
      for (;;) {
        const all = await Promise.all(requests.map((_, i) => changeOf(i)));
        if (all.every(done) || Date.now() > until) return all;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const reviewed = await settle((c) => c.status !== "PREVIEWING");
    expect(reviewed.map((c) => c.status)).toEqual(Array(SOAK_TENANTS).fill("PENDING_REVIEW"));
    const approvals = await Promise.all(requests.map((_, i) => api.call(`${url2}/api/v1/tenants/${watched.ids[i]}/changes/${changes[i]}/approve`, token, { method: "POST", body: {} })));
    expect(approvals.map((a) => a.status)).toEqual(Array(SOAK_TENANTS).fill(202));
    const applied = await settle((c) => !["APPROVED", "APPLYING"].includes(c.status));
    printFigures("default-path-changes", { tenants: SOAK_TENANTS, previewedAndAppliedMs: Date.now() - changeStarted });
    expect(applied.map((c) => c.status)).toEqual(Array(SOAK_TENANTS).fill("APPLIED"));
    const afterChanges = (await api.call(`${url2}/api/v1/tenants?limit=50`, token)).body.items as any[];
    for (const [i, r] of requests.entries()) {
      const tenant = afterChanges.find((t) => t.id === watched.ids[i]);
      expect([tenant.slug, tenant.status, tenant.tier]).toEqual([r.slug, "ACTIVE", target(r.tier).tier ?? r.tier]);
    }
    const mailUntil = Date.now() + 30_000;
    let updateMails = 0;
    while (updateMails < SOAK_TENANTS && Date.now() < mailUntil) {
      await new Promise((r) => setTimeout(r, 250));
      updateMails = [...(await mailsByRecipient(dataDir)).values()].flat().filter((subject) => subject.startsWith("Your matih tenant was updated")).length;
    }
    expect(updateMails).toBe(SOAK_TENANTS);
    expect([0, "SIGTERM"]).toContain(await second.stop("SIGTERM"));
  }, 420_000);
});
