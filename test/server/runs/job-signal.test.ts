/**
 * What pg-boss does to a run's job whose heartbeat lapsed while its handler
 * still runs (a database failover stops every heartbeat for half a minute):
 * another process's supervisor fails it, the queue retries it, and this
 * worker's next heartbeat finds the job no longer active under its claim and
 * aborts `job.signal`. The run queue hands that signal to its handler, which
 * stops the run's engine operation with it (run-executor).
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { RUN_QUEUE, RunQueue, type RunJob } from "../../../server/db/job-queue.ts";
import { QUEUE_SCHEMA } from "../../../server/db/roles.ts";
import { probePostgres } from "../../support/postgres.ts";
import { eventually } from "../../support/processes.ts";
import { freshDatabase } from "../../support/service.ts";

const pgAvailable = await probePostgres();

describe.skipIf(!pgAvailable.available)("a run job whose heartbeat lapses", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("has its signal aborted in the handler once the queue has failed it for the lapse and retried it, and the retry gets a signal of its own", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const queue = new RunQueue({ databaseUrl: db.url, maxAttempts: 3, retryDelaySeconds: 0, heartbeatSeconds: 10, expireInSeconds: 3600 });
    await queue.start();
    cleanup.push(() => queue.stop(1_000));
    const pool = new pg.Pool({ connectionString: db.url });
    cleanup.push(() => pool.end());

    const jobId = await queue.enqueue(pool, { runId: randomUUID(), tenantId: randomUUID() });
    const deliveries: { job: RunJob; abortedOnEntry: boolean }[] = [];
    await queue.work(2, async (job) => {
      deliveries.push({ job, abortedOnEntry: job.signal?.aborted ?? true });
      if (deliveries.length === 1) {
        // The first attempt's `pulumi up`: it runs until its signal says stop (60 s at most, so a broken test ends).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          job.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    });
    await eventually(() => deliveries.length === 1, "the job is delivered", 15_000);
    const first = deliveries[0]!;
    expect(first.job.id).toBe(jobId);
    expect(first.job.retryCount).toBe(0);
    expect(first.job.signal).toBeInstanceOf(AbortSignal);
    expect(first.abortedOnEntry).toBe(false);

    // The heartbeat lapses (its refresh could not reach the database), and another process's supervisor fails the job for it.
    await pool.query(`UPDATE ${QUEUE_SCHEMA}.job SET heartbeat_on = now() - interval '1 hour' WHERE id = $1`, [jobId]);
    const supervisor = new RunQueue({ databaseUrl: db.url, maxAttempts: 3, retryDelaySeconds: 0, heartbeatSeconds: 10, expireInSeconds: 3600 });
    await supervisor.start();
    cleanup.push(() => supervisor.stop(1_000));
    await supervisor.boss.supervise(RUN_QUEUE);

    // This worker's next heartbeat (every half heartbeat, 5 s) finds its claim gone and aborts the handler's signal.
    await eventually(() => first.job.signal!.aborted, "the first attempt's signal is aborted", 20_000);
    expect(String((first.job.signal!.reason as Error).message)).toMatch(/no longer active under this worker's claim/);
    // The queue retried the job: a new attempt, with a signal of its own.
    await eventually(() => deliveries.length === 2, "the job is delivered again", 20_000);
    expect(deliveries[1]!.job.id).toBe(jobId);
    expect(deliveries[1]!.job.retryCount).toBe(1);
    expect(deliveries[1]!.abortedOnEntry).toBe(false);
  }, 60_000);
});
