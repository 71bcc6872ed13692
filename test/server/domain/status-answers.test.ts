/**
 * Kept status answers (server/domain/status-answers.ts) on a real
 * PostgreSQL: sent again only while the rows they were built from stand,
 * built again after any committed write to them, and shared by reads that
 * arrive while one is in flight without ever answering one of them from a
 * snapshot older than its arrival.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import type { Queryable } from "../../../server/db/pool.ts";
import { insertRun, updatePhase, updateRun } from "../../../server/db/runs.ts";
import { statusRowsOf } from "../../../server/db/status.ts";
import { insertTenant, updateTenantStatus } from "../../../server/db/tenants.ts";
import { StatusAnswers } from "../../../server/domain/status-answers.ts";
import { buildStatusView, type StatusView } from "../../../server/domain/status-view.ts";
import { acmeSpec } from "../../support/acme.ts";
import { probePostgres } from "../../support/postgres.ts";
import { eventually } from "../../support/processes.ts";
import { freshDatabase } from "../../support/service.ts";

const postgres = await probePostgres();
const serialize = (view: StatusView) => JSON.stringify(view);

/** A pool whose query results are held back, one call at a time, until released. */
function holdingPool(pool: pg.Pool) {
  const held: { release(): void; fail(error: Error): void }[] = [];
  let holdNext = 0;
  const db: Queryable = {
    query: (async (...args: Parameters<pg.Pool["query"]>) => {
      const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      if (holdNext === 0) return result;
      holdNext -= 1;
      return new Promise((resolve, reject) => held.push({ release: () => resolve(result), fail: reject }));
    }) as Queryable["query"],
  };
  return {
    db,
    /** Holds the results of the next `count` queries (each already answered by the database). */
    hold(count = 1) {
      holdNext += count;
    },
    held,
  };
}

describe.skipIf(!postgres.available)("kept status answers", () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await freshDatabase();
    await migrateDatabase(database.url);
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  /** The answer built now from the rows, as a fresh read would build it. */
  async function fresh(idOrSlug: string): Promise<string | undefined> {
    const rows = await statusRowsOf(pool, idOrSlug);
    return rows && serialize(buildStatusView(rows.tenant, rows.run, rows.phases));
  }

  let tenantId: string;
  let runId: string;
  beforeEach(async () => {
    const spec = acmeSpec("free", { id: randomUUID(), slug: `kept-${randomUUID().slice(0, 8)}` });
    tenantId = (await insertTenant(pool, spec)).id;
    runId = (await insertRun(pool, { id: randomUUID(), tenantId, kind: "provision", maxAttempts: 3, engine: "render", targetPhase: 10, requestedBy: "test" })).id;
  });

  it("sends the built answer again while the tenant, its run and its phases stay as they were", async () => {
    const answers = new StatusAnswers(pool);
    const first = await answers.read(tenantId, serialize);
    expect(first).toBe(await fresh(tenantId));
    const second = await answers.read(tenantId, serialize);
    expect(second).toBe(first);
    expect(answers.stats()).toEqual({ reads: 2, reused: 1, built: 1 });
  });

  it("builds the answer again after any committed write to the tenant, its latest run or one of its phases", async () => {
    const answers = new StatusAnswers(pool);
    await answers.read(tenantId, serialize);
    const writes: [string, () => Promise<unknown>, (view: StatusView) => unknown, unknown][] = [
      ["the run starts", () => updateRun(pool, runId, { status: "RUNNING", attempt: 1, started: true }), (v) => v.run?.status, "RUNNING"],
      ["phase 1 starts", () => updatePhase(pool, runId, 1, { status: "RUNNING", started: true, countAttempt: true }), (v) => v.phases[0]?.status, "RUNNING"],
      ["phase 1 reports progress", () => updatePhase(pool, runId, 1, { status: "RUNNING", resourcesDone: 2, resourcesPending: 3 }), (v) => v.phases[0]?.resources, { done: 2, pending: 3 }],
      ["phase 1 finishes", () => updatePhase(pool, runId, 1, { status: "SUCCEEDED", completed: true }), (v) => v.progress, 10],
      ["the run fails", () => updateRun(pool, runId, { status: "FAILED", error: "phase 2 failed", finished: true }), (v) => v.run?.status, "FAILED"],
      ["the tenant fails", () => updateTenantStatus(pool, tenantId, { status: "FAILED", provisioningError: "phase 2 failed" }), (v) => v.error, "phase 2 failed"],
      ["a retry run is queued", () => insertRun(pool, { id: randomUUID(), tenantId, kind: "retry", maxAttempts: 3, engine: "render", targetPhase: 10, requestedBy: "test" }), (v) => v.run?.kind, "retry"],
    ];
    let built = 1;
    for (const [what, write, read, expected] of writes) {
      await write();
      const answer = await answers.read(tenantId, serialize);
      built += 1;
      expect(answer, what).toBe(await fresh(tenantId));
      expect(read(JSON.parse(answer!) as StatusView), what).toEqual(expected);
      expect(answers.stats().built, what).toBe(built);
    }
  });

  it("keeps the answer through writes that roll back and through inspection runs, which the status does not show", async () => {
    const answers = new StatusAnswers(pool);
    const before = await answers.read(tenantId, serialize);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await updatePhase(client, runId, 1, { status: "FAILED", error: "never committed" });
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    await insertRun(pool, { id: randomUUID(), tenantId, kind: "preview", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "test" });
    expect(await answers.read(tenantId, serialize)).toBe(before);
    expect(answers.stats()).toEqual({ reads: 2, reused: 1, built: 1 });
  });

  it("answers a slug's new tenant once the slug has passed to it, and keeps nothing for a key that finds no tenant", async () => {
    const answers = new StatusAnswers(pool);
    const slug = `moving-${randomUUID().slice(0, 8)}`;
    const old = await insertTenant(pool, acmeSpec("free", { id: randomUUID(), slug }));
    expect(JSON.parse((await answers.read(slug, serialize))!).tenantId).toBe(old.id);
    await updateTenantStatus(pool, old.id, { status: "DELETED", deleted: true });
    const next = await insertTenant(pool, acmeSpec("free", { id: randomUUID(), slug }));
    const answer = await answers.read(slug, serialize);
    expect(JSON.parse(answer!).tenantId).toBe(next.id);
    expect(answer).toBe(await fresh(slug));

    const nobody = `nobody-${randomUUID().slice(0, 8)}`;
    expect(await answers.read(nobody, serialize)).toBeUndefined();
    await insertTenant(pool, acmeSpec("free", { id: randomUUID(), slug: nobody }));
    expect(JSON.parse((await answers.read(nobody, serialize))!).slug).toBe(nobody);
  });

  it("lets reads that arrive while one is in flight share the next query, which sees what committed before they arrived", async () => {
    const holding = holdingPool(pool);
    const answers = new StatusAnswers(holding.db);
    holding.hold();
    // The first read's query has run (its snapshot is taken) but its answer is held back.
    const first = answers.read(tenantId, serialize);
    await eventually(() => holding.held.length === 1, "the first read's query answered and held");
    await updatePhase(pool, runId, 1, { status: "RUNNING", started: true });
    const later = [answers.read(tenantId, serialize), answers.read(tenantId, serialize), answers.read(tenantId, serialize)];
    holding.held[0]!.release();
    const [firstAnswer, ...laterAnswers] = await Promise.all([first, ...later]);
    expect(JSON.parse(firstAnswer!).phases[0].status).toBe("PENDING");
    for (const answer of laterAnswers) {
      expect(answer).toBe(await fresh(tenantId));
      expect(JSON.parse(answer!).phases[0].status).toBe("RUNNING");
    }
    // Four reads, two queries: the first, and one shared by the three that came while it was in flight.
    expect(answers.stats()).toEqual({ reads: 4, reused: 0, built: 2 });
  });

  it("fails only the reads sharing a failed query, and reads afterwards query again", async () => {
    const holding = holdingPool(pool);
    const answers = new StatusAnswers(holding.db);
    holding.hold(2);
    const first = answers.read(tenantId, serialize);
    await eventually(() => holding.held.length === 1, "the first read's query answered and held");
    const sharing = [answers.read(tenantId, serialize), answers.read(tenantId, serialize)];
    holding.held[0]!.fail(new Error("connection terminated"));
    await expect(first).rejects.toThrow("connection terminated");
    await eventually(() => holding.held.length === 2, "the shared read's query answered and held");
    holding.held[1]!.fail(new Error("connection terminated again"));
    for (const read of sharing) await expect(read).rejects.toThrow("connection terminated again");
    expect(await answers.read(tenantId, serialize)).toBe(await fresh(tenantId));
  });
});
