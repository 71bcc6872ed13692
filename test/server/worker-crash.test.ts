import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnReplica } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("a worker process that dies mid-run", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("leaves a run that another process completes, with no phase run twice after it succeeded", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const childDir = await mkdtemp(path.join(tmpdir(), "matih-child-"));
    cleanup.push(() => rm(childDir, { recursive: true, force: true }));

    // The API process takes requests but runs no jobs; the child process runs them.
    const api: TestService = await startService(db.url, { MATIH_WORKER: "false", MATIH_JOB_HEARTBEAT_SECONDS: "10" });
    cleanup.push(() => api.close());
    const child = spawnReplica(db.url, childDir, { MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RENDER_PACE: "0.03", MATIH_RETRY_DELAY_SECONDS: "0" });
    cleanup.push(() => child.stop("SIGKILL"));

    const tenant = (await api.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("phoenix") })).json().tenant;
    const midway = await waitForStatus(api.app, tenant.id, (s) => s.phases.filter((p: any) => p.status === "SUCCEEDED").length >= 3 && s.phases.some((p: any) => p.status === "RUNNING"), 90_000)
      .catch((error) => { throw new Error(`${error.message}\nworker output: ${child.output().slice(-2000)}`); });
    await child.stop("SIGKILL");
    const doneBeforeKill = midway.phases.filter((p: any) => p.status === "SUCCEEDED").map((p: any) => p.number);
    const runningAtKill = midway.phases.find((p: any) => p.status === "RUNNING").number;

    // A second worker: it takes the job once the dead one's heartbeat has lapsed.
    const rescuer = await startService(db.url, { MATIH_JOB_HEARTBEAT_SECONDS: "10" });
    cleanup.push(() => rescuer.close());
    const final = await waitForStatus(api.app, tenant.id, settled, 120_000);

    expect(final.status).toBe("ACTIVE");
    expect(final.run.attempt).toBe(2);
    for (const n of doneBeforeKill) expect(final.phases[n - 1], `phase ${n}`).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(final.phases[runningAtKill - 1]).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
    expect(final.phases.every((p: any) => p.status === "SUCCEEDED")).toBe(true);

    const audit = (await api.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items;
    expect(audit.some((a: any) => a.entity === "run" && /taking over from a worker that stopped/.test(a.message))).toBe(true);
    for (const n of doneBeforeKill) {
      expect(audit.filter((a: any) => a.entity === "phase" && a.phase === n && a.to === "SUCCEEDED"), `phase ${n} succeeded once`).toHaveLength(1);
    }
  }, 240_000);
});
