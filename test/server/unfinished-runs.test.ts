/**
 * A run whose last attempt ends without a result (its worker killed, or an
 * exception) must not leave the tenant PROVISIONING for good: the run and the
 * tenant fail in one transaction with the audit row, event and mail, and
 * retry, rollback and delete work again.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { insertRun } from "../../server/db/runs.ts";
import { RunSweeper } from "../../server/runs/run-sweeper.ts";
import { spawnReplica } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pgProbe = await probePostgres();

async function failureRecords(databaseUrl: string, tenantId: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const runs = (await client.query(`SELECT status, error FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'provision'`, [tenantId])).rows;
    const outbox = (await client.query(`SELECT kind, type FROM outbox WHERE tenant_id = $1 ORDER BY seq`, [tenantId])).rows;
    const audit = (await client.query(`SELECT entity, from_status AS "from", to_status AS "to" FROM provisioning_audit_logs WHERE tenant_id = $1 AND entity = 'tenant' ORDER BY id`, [tenantId])).rows;
    return { runs, outbox, audit };
  } finally {
    await client.end();
  }
}

describe.skipIf(!pgProbe.available)("a run whose last attempt ends without a result", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("fails the run and the tenant when the worker is killed during phase 2 of the only attempt, and delete works again", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const childDir = await mkdtemp(path.join(tmpdir(), "matih-child-"));
    cleanup.push(() => rm(childDir, { recursive: true, force: true }));
    // The API process runs no jobs; the child runs them and is killed.
    const api: TestService = await startService(db.url, { MATIH_WORKER: "false", MATIH_JOB_HEARTBEAT_SECONDS: "10", MATIH_MAX_ATTEMPTS: "1" });
    cleanup.push(() => api.close());
    const child = spawnReplica(db.url, childDir, { MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RENDER_PACE: "0.05", MATIH_MAX_ATTEMPTS: "1" });
    cleanup.push(() => child.stop("SIGKILL"));

    const tenant = (await api.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("lastgasp") })).json().tenant;
    await waitForStatus(api.app, tenant.id, (s) => s.phases[1].status === "RUNNING", 90_000)
      .catch((error) => { throw new Error(`${error.message}\nworker output: ${child.output().slice(-2000)}`); });
    await child.stop("SIGKILL");

    const final = await waitForStatus(api.app, tenant.id, settled, 120_000);
    expect(final.status).toBe("FAILED");
    expect(final.run.status).toBe("FAILED");
    expect(final.error).toMatch(/^the last attempt ended without a result \(its worker stopped or failed unexpectedly.*\); no attempt is left$/);
    const records = await failureRecords(db.url, tenant.id);
    expect(records.runs).toEqual([{ status: "FAILED", error: final.error }]);
    expect(records.outbox).toEqual([{ kind: "event", type: "tenant.provisioning_failed" }, { kind: "email", type: "provisioning-failed" }]);
    expect(records.audit.at(-1)).toEqual({ entity: "tenant", from: "PROVISIONING", to: "FAILED" });

    const del = await api.app.inject({ method: "DELETE", url: `/api/v1/tenants/${tenant.id}`, headers: auth() });
    expect(del.statusCode).toBe(202);
  }, 240_000);

  it("fails the run and the tenant when the only attempt throws, hides the exception, and a retry then provisions it", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = await startService(db.url, { MATIH_MAX_ATTEMPTS: "1" });
    cleanup.push(() => service.close());
    const engine = service.app.engine as { provision: (...args: any[]) => Promise<unknown> };
    const real = engine.provision.bind(engine);
    engine.provision = async () => {
      throw new TypeError("cannot read properties of undefined (reading 'secretThing')");
    };
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("thrown") })).json().tenant;
    const final = await waitForStatus(service.app, tenant.id, settled, 60_000);
    expect(final.status).toBe("FAILED");
    expect(final.error).toBe(`the last attempt stopped on an unexpected error (details in the service log under run ${final.run.id})`);
    const records = await failureRecords(db.url, tenant.id);
    expect(records.runs).toEqual([{ status: "FAILED", error: final.error }]);
    expect(records.outbox).toEqual([{ kind: "event", type: "tenant.provisioning_failed" }, { kind: "email", type: "provisioning-failed" }]);
    expect(JSON.stringify(records)).not.toContain("secretThing");

    engine.provision = real;
    const retry = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/provisioning/retry`, headers: auth() });
    expect(retry.statusCode).toBe(202);
    expect((await waitForStatus(service.app, tenant.id, settled, 60_000)).status).toBe("ACTIVE");
  }, 120_000);
  it("fails an update whose only attempt throws through the same path: tenant and change FAILED, tenant.update_failed, and a retry applies the change", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = await startService(db.url, { MATIH_MAX_ATTEMPTS: "1" });
    cleanup.push(() => service.close());
    const app = service.app;
    const tenant = (await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("upthrown") })).json().tenant;
    expect((await waitForStatus(app, tenant.id, settled, 60_000)).status).toBe("ACTIVE");
    const change = (await app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { tier: "professional" } })).json();
    const deadline = Date.now() + 60_000;
    let reviewed: any;
    while (Date.now() < deadline) {
      reviewed = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${change.id}`, headers: auth() })).json();
      if (reviewed.status !== "PREVIEWING") break;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(reviewed.status).toBe("PENDING_REVIEW");

    const engine = app.engine as { provision: (...args: any[]) => Promise<unknown> };
    const real = engine.provision.bind(engine);
    engine.provision = async () => {
      throw new TypeError("cannot read properties of undefined (reading 'secretThing')");
    };
    expect((await app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${change.id}/approve`, headers: auth(), payload: {} })).statusCode).toBe(202);
    const final = await waitForStatus(app, tenant.id, (s) => s.run?.kind === "update" && settled(s), 60_000);
    expect(final.status).toBe("FAILED");
    expect(final.error).toBe(`the last attempt stopped on an unexpected error (details in the service log under run ${final.run.id})`);
    const failed = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${change.id}`, headers: auth() })).json();
    expect(failed.status).toBe("FAILED");
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const types = (await client.query(`SELECT type FROM outbox WHERE tenant_id = $1 ORDER BY seq`, [tenant.id])).rows.map((r) => r.type);
      expect(types).toContain("tenant.update_failed");
      expect(types).not.toContain("tenant.provisioning_failed");
      const updates = (await client.query(`SELECT status FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'update'`, [tenant.id])).rows;
      expect(updates).toEqual([{ status: "FAILED" }]);
    } finally {
      await client.end();
    }

    engine.provision = real;
    expect((await app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/provisioning/retry`, headers: auth() })).statusCode).toBe(202);
    const retried = await waitForStatus(app, tenant.id, (s) => s.status !== "FAILED" && settled(s), 60_000);
    expect(retried.status).toBe("ACTIVE");
    expect((await app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json()).toMatchObject({ status: "ACTIVE", tier: "professional" });
  }, 180_000);
  it("sweeps an update run and a change's preview run whose jobs ended without them: the update fails tenant and change, the preview fails only the change", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const waitChange = async (app: TestService["app"], tenantId: string, changeId: string, done: (c: any) => boolean) => {
      const deadline = Date.now() + 60_000;
      let last: any;
      while (Date.now() < deadline) {
        last = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes/${changeId}`, headers: auth() })).json();
        if (done(last)) return last;
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`change did not settle: ${JSON.stringify(last)}`);
    };
    // A process with workers provisions two tenants and previews a change to the first.
    const calm = await startService(db.url, { MATIH_MAX_ATTEMPTS: "1" });
    const first = (await calm.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("swept-update") })).json().tenant;
    const second = (await calm.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("swept-preview") })).json().tenant;
    expect((await waitForStatus(calm.app, first.id, settled, 60_000)).status).toBe("ACTIVE");
    expect((await waitForStatus(calm.app, second.id, settled, 60_000)).status).toBe("ACTIVE");
    const change = (await calm.app.inject({ method: "POST", url: `/api/v1/tenants/${first.id}/changes`, headers: auth(), payload: { tier: "professional" } })).json();
    expect((await waitChange(calm.app, first.id, change.id, (c) => c.status !== "PREVIEWING")).status).toBe("PENDING_REVIEW");
    await calm.close();

    // An API-only process queues the update and a second change's preview; no worker ever runs them.
    const api = await startService(db.url, { MATIH_WORKER: "false", MATIH_MAX_ATTEMPTS: "1" });
    cleanup.push(() => api.close());
    expect((await api.app.inject({ method: "POST", url: `/api/v1/tenants/${first.id}/changes/${change.id}/approve`, headers: auth(), payload: {} })).statusCode).toBe(202);
    const previewed = await api.app.inject({ method: "POST", url: `/api/v1/tenants/${second.id}/changes`, headers: auth(), payload: { tier: "professional" } });
    expect(previewed.statusCode).toBe(202);

    // Their jobs failed without a result (a worker killed on the last attempt).
    const queue = { jobState: async () => ({ state: "failed", retryCount: 0, output: { message: "worker killed" } }) };
    const warnings: string[] = [];
    const sweeper = new RunSweeper({ pool: api.app.db, queue: queue as never, executor: api.app.executor, log: { warn: (_o, msg) => void warnings.push(msg) } });
    expect(await sweeper.sweep()).toBe(2);

    const updated = await waitForStatus(api.app, first.id, settled, 10_000);
    expect(updated).toMatchObject({ status: "FAILED", run: { kind: "update", status: "FAILED" } });
    expect((await waitChange(api.app, first.id, change.id, () => true)).status).toBe("FAILED");
    const other = await waitChange(api.app, second.id, previewed.json().id, () => true);
    expect(other.status).toBe("PREVIEW_FAILED");
    expect(other.error).toMatch(/^the last attempt ended without a result/);
    expect((await api.app.inject({ method: "GET", url: `/api/v1/tenants/${second.id}`, headers: auth() })).json().status).toBe("ACTIVE");
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const types = (await client.query(`SELECT tenant_id AS "tenantId", type FROM outbox WHERE type LIKE 'tenant.%failed' ORDER BY seq`)).rows;
      expect(types).toEqual([{ tenantId: first.id, type: "tenant.update_failed" }]);
    } finally {
      await client.end();
    }
    // Nothing is left to sweep.
    expect(await sweeper.sweep()).toBe(0);
  }, 180_000);

  it("fails a preview left RUNNING by a stopped process once it is past the engine's time limit, and leaves a recent one alone", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = await startService(db.url);
    cleanup.push(() => service.close());
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("lost-preview") })).json().tenant;
    expect((await waitForStatus(service.app, tenant.id, settled, 60_000)).status).toBe("ACTIVE");
    // Two inspections as a process killed during them leaves them: RUNNING, one started two hours ago, one a minute ago.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanup.push(() => client.end());
    const old = await insertRun(client, { id: randomUUID(), tenantId: tenant.id, kind: "preview", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
    const recent = await insertRun(client, { id: randomUUID(), tenantId: tenant.id, kind: "drift", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
    await client.query(`UPDATE provisioning_runs SET started_at = now() - interval '2 hours' WHERE id = $1`, [old.id]);
    await client.query(`UPDATE provisioning_runs SET started_at = now() - interval '1 minute' WHERE id = $1`, [recent.id]);

    // The service's own sweep (every 5 s, with the default limit of an hour and five minutes) finds it.
    const statusOf = async (id: string) => (await client.query(`SELECT status FROM provisioning_runs WHERE id = $1`, [id])).rows[0].status;
    for (const deadline = Date.now() + 20_000; (await statusOf(old.id)) === "RUNNING" && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 200));
    const rows = (await client.query(`SELECT id, status, error, completed_at IS NOT NULL AS finished FROM provisioning_runs WHERE id = ANY($1) ORDER BY started_at`, [[old.id, recent.id]])).rows;
    expect(rows).toEqual([
      { id: old.id, status: "FAILED", error: "the process running this preview stopped before it finished", finished: true },
      { id: recent.id, status: "RUNNING", error: null, finished: false },
    ]);
    const audit = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit?limit=1000`, headers: auth() })).json().items;
    expect(audit.filter((a: any) => a.details?.runId === old.id).map((a: any) => [a.actor, a.from, a.to, a.message])).toEqual([["system", "RUNNING", "FAILED", "preview failed: the process running this preview stopped before it finished"]]);
    // The tenant was never touched; a sweep with a limit of 30 s takes the recent one too, and then finds nothing.
    expect((await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json().status).toBe("ACTIVE");
    const noJobs = { jobState: async () => { throw new Error("an inspection has no job to look up"); } };
    const warnings: string[] = [];
    const sweeper = new RunSweeper({ pool: service.app.db, queue: noJobs as never, executor: service.app.executor, log: { warn: (_o, msg) => void warnings.push(msg) }, inspectionLimitMs: 30_000 });
    expect(await sweeper.sweep()).toBe(1);
    expect(warnings).toEqual(["failed an inspection run whose process stopped"]);
    expect(await statusOf(recent.id)).toBe("FAILED");
    expect((await client.query(`SELECT error FROM provisioning_runs WHERE id = $1`, [recent.id])).rows[0].error).toBe("the process running this drift check stopped before it finished");
    expect(await sweeper.sweep()).toBe(0);
  }, 120_000);
});
