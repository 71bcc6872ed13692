/**
 * Replicas of the service started at once on a new database (a Helm install
 * of several replicas, a rolling upgrade) each set up the run queue: its
 * schema, pg-boss's tables and the run queue itself. Unserialised, two
 * `CREATE SCHEMA IF NOT EXISTS` at once fail one of them with a unique
 * violation on pg_namespace, and the replica crashes at start.
 */
import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { RUN_QUEUE, RunQueue } from "../../../server/db/job-queue.ts";
import { QUEUE_SCHEMA } from "../../../server/db/roles.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const pgAvailable = await probePostgres();

describe.skipIf(!pgAvailable.available)("the run queue started by several replicas at once", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("sets up once: every replica starts, with one queue schema and one run queue", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const probe = new pg.Client({ connectionString: db.url });
    await probe.connect();
    cleanup.push(() => probe.end());
    const { rowCount: before } = await probe.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [QUEUE_SCHEMA]);
    expect(before, "a new database has no queue schema yet").toBe(0);

    const replicas = Array.from({ length: 4 }, () => new RunQueue({ databaseUrl: db.url, maxAttempts: 3, retryDelaySeconds: 0, heartbeatSeconds: 10, expireInSeconds: 3600 }));
    for (const queue of replicas) cleanup.push(() => queue.stop(1_000));
    const started = await Promise.allSettled(replicas.map((queue) => queue.start()));
    expect(started.filter((s) => s.status === "rejected").map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);

    const { rows } = await probe.query(`SELECT name, policy FROM ${QUEUE_SCHEMA}.queue WHERE name = $1`, [RUN_QUEUE]);
    expect(rows).toEqual([{ name: RUN_QUEUE, policy: "singleton" }]);
  });
});
