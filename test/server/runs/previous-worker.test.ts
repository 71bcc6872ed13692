import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SUPERVISE_SECONDS } from "../../../server/db/job-queue.ts";
import { spawnReplica } from "../../support/entry-point.ts";
import { probePostgres } from "../../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../../support/service.ts";

const pg = await probePostgres();
const HEARTBEAT_SECONDS = 10;

describe.skipIf(!pg.available)("a run whose worker died, before another takes it over", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("says in the status and the log that it waits for the previous worker to time out, and how long at most", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const childDir = await mkdtemp(path.join(tmpdir(), "matih-stalled-"));
    cleanup.push(() => rm(childDir, { recursive: true, force: true }));
    // The API process runs no jobs, but sweeps (and logs) like every process; the child runs the job and is killed.
    const logLines: string[] = [];
    const api: TestService = await startService(db.url, { MATIH_WORKER: "false", MATIH_JOB_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS) }, { logLines });
    cleanup.push(() => api.close());
    const child = spawnReplica(db.url, childDir, { MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RENDER_PACE: "0.03", MATIH_RETRY_DELAY_SECONDS: "0", MATIH_JOB_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS) });
    cleanup.push(() => child.stop("SIGKILL"));

    const tenant = (await api.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("stalled") })).json().tenant;
    const running = await waitForStatus(api.app, tenant.id, (s) => s.phases.some((p: any) => p.status === "RUNNING"), 90_000);
    // A live worker: nothing is waited for.
    expect(running.waiting).toBeNull();
    await child.stop("SIGKILL");

    const stalled = await waitForStatus(api.app, tenant.id, (s) => s.waiting !== null, 60_000);
    expect(stalled.run.status).toBe("RUNNING");
    expect(stalled.waiting.reason).toBe("previous-worker");
    expect(stalled.waiting.upToSeconds).toBeGreaterThan(0);
    expect(stalled.waiting.upToSeconds).toBeLessThanOrEqual(HEARTBEAT_SECONDS + SUPERVISE_SECONDS + 1);
    expect(stalled.waiting.message).toMatch(new RegExp(`^the worker running this provision stopped \\(no heartbeat since .+\\): waiting for the previous worker to time out, up to ${stalled.waiting.upToSeconds} s, before another takes the run over$`));
    expect(Date.parse(stalled.waiting.lastHeartbeatAt)).toBeLessThan(Date.now());

    // The sweep logs it once, with the same bound.
    await expect.poll(() => logLines.filter((l) => l.includes("waiting for the previous worker to time out")).length, { timeout: 30_000 }).toBe(1);
    const logged = JSON.parse(logLines.find((l) => l.includes("waiting for the previous worker to time out"))!);
    expect(logged).toMatchObject({ level: 40, runId: stalled.run.id, kind: "provision", attempt: 1 });
    expect(logged.upToSeconds).toBeLessThanOrEqual(HEARTBEAT_SECONDS + SUPERVISE_SECONDS + 1);

    // Another worker takes it over once the dead one timed out; then nothing is waited for.
    const rescuer = await startService(db.url, { MATIH_JOB_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS) });
    cleanup.push(() => rescuer.close());
    const final = await waitForStatus(api.app, tenant.id, settled, 150_000);
    expect(final).toMatchObject({ status: "ACTIVE", waiting: null, run: { attempt: 2 } });
  }, 300_000);
});
