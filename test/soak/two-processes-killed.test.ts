/**
 * Two service processes on one real PostgreSQL share twelve tenants; one is
 * killed with SIGKILL while it is running some of them. The other finishes
 * everything: the killed process's runs are taken over once their heartbeat
 * lapses, and nothing is done or sent twice.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";
import { countRetries, printFigures, requestAllAndWatch, SOAK_PACE, SOAK_TENANTS, soakRequests } from "./helpers.ts";

const available = await probePostgres();

describe.skipIf(!available.available)("two processes on one PostgreSQL, one killed with SIGKILL mid-run", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("completes every tenant once, with the killed process's runs taken over", async () => {
    const db = await freshDatabase("matih_soak");
    cleanup.push(() => db.drop());
    const start = async (name: string): Promise<ServiceProcess> => {
      const dataDir = await mkdtemp(path.join(tmpdir(), `matih-soak-${name}-`));
      cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
      const service = spawnService({
        DATABASE_URL: db.url, MATIH_DATA_DIR: dataDir, PORT: "0", MATIH_ENGINE: "render", MATIH_RENDER_PACE: SOAK_PACE,
        MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_JOB_HEARTBEAT_SECONDS: "10", MATIH_RETRY_DELAY_SECONDS: "1", LOG_LEVEL: "info",
      });
      cleanup.push(() => service.stop("SIGKILL"));
      await service.listening();
      return service;
    };
    // Migrations take an advisory lock, so both may start together.
    const [survivor, victim] = await Promise.all([start("a"), start("b")]);
    const survivorUrl = await survivor.listening();

    const observer = new pg.Client({ connectionString: db.url });
    await observer.connect();
    cleanup.push(() => observer.end());
    let killedAt = -1;
    let runningAtKill = 0;
    const started = Date.now();
    const watched = await requestAllAndWatch(() => survivorUrl, ADMIN_TOKEN, soakRequests("crash"), {
      timeoutMs: 300_000,
      onTick: async () => {
        if (killedAt >= 0) return;
        // Both processes run two at a time: once four runs are RUNNING, the victim holds two of them.
        const { rows } = await observer.query("SELECT count(*)::int AS n FROM provisioning_runs WHERE status = 'RUNNING'");
        if (rows[0].n >= 4) {
          runningAtKill = rows[0].n;
          await victim.stop("SIGKILL");
          killedAt = Date.now() - started;
        }
      },
    });
    const { retries, audits } = await countRetries(survivorUrl, ADMIN_TOKEN, watched.ids);
    const takeovers = [...audits.values()].flat().filter((a) => a.entity === "run" && /taking over from a worker that stopped/.test(a.message)).length;
    printFigures("two-processes-sigkill", { tenants: SOAK_TENANTS, allActiveMs: watched.allActiveMs, statusReads: watched.statusReads, status5xx: watched.status5xx, retries, killedAtMs: killedAt, runningAtKill, takeovers });

    expect(killedAt, "the victim was never killed: fewer than four runs were ever RUNNING at once").toBeGreaterThan(0);
    expect(watched.serverErrors).toEqual([]);
    expect(watched.allActiveMs, JSON.stringify([...watched.last.values()].map((s) => [s.slug, s.status, s.error]))).toBeGreaterThan(0);
    // The kill interrupted runs in flight, and the survivor took them over.
    expect(takeovers).toBeGreaterThanOrEqual(1);
    for (const id of watched.ids) {
      const audit = audits.get(id)!;
      expect(audit.filter((a) => a.entity === "tenant" && a.to === "ACTIVE")).toHaveLength(1);
    }
    const mails = await observer.query("SELECT tenant_id, count(*)::int AS n FROM outbox WHERE kind = 'email' AND type = 'provisioning-completed' GROUP BY tenant_id");
    expect(mails.rows).toHaveLength(SOAK_TENANTS);
    expect(mails.rows.every((r) => r.n === 1)).toBe(true);
    const failedMails = await observer.query("SELECT count(*)::int AS n FROM outbox WHERE kind = 'email' AND type <> 'provisioning-completed'");
    expect(failedMails.rows[0].n).toBe(0);
    expect(await survivor.stop("SIGTERM")).toBe(0);
  }, 420_000);
});
