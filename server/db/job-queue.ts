/**
 * The durable run queue: pg-boss in the service's database. One queue holds
 * every run that changes a tenant's infrastructure; its singleton policy keyed
 * by tenant lets only one of a tenant's jobs be active at a time, retries back
 * off exponentially, and a job whose worker stops heart-beating is failed and
 * retried by whichever process polls next.
 */
import { PgBoss } from "pg-boss";
import pg from "pg";
import type { Queryable } from "./pool.ts";
import { QUEUE_SCHEMA } from "./roles.ts";

export const RUN_QUEUE = "tenant-runs";

export interface RunJobData {
  runId: string;
  tenantId: string;
}

/**
 * One attempt of a run's job as the worker hands it over. `signal` is
 * pg-boss's own (v12 sets `job.signal` on every fetched job): it aborts when a
 * heartbeat finds the job no longer active under this worker's claim (its
 * heartbeat lapsed and it was failed, to be retried, here or in another
 * process), when the job outlives `expireInSeconds`, and when `stop()` gives
 * up waiting for it. Whatever the attempt still does then is for nothing:
 * another attempt owns the run.
 */
export interface RunJob {
  id: string;
  data: RunJobData;
  retryCount: number;
  retryLimit: number;
  signal?: AbortSignal;
}

export interface RunQueueOptions {
  databaseUrl: string;
  maxAttempts: number;
  retryDelaySeconds: number;
  heartbeatSeconds: number;
  /** A job running longer than this is failed (and retried); above the engine's own time limit. */
  expireInSeconds: number;
  /** How often a process looks at the queue's schedules (pg-boss cron monitor); default 30 s. */
  scheduleCheckSeconds?: number;
  onError?: (error: Error) => void;
}

/**
 * How often pg-boss looks for jobs whose worker stopped heart-beating (its
 * supervise interval, set here rather than left to its default so that the
 * wait a status reports names its source).
 */
export const SUPERVISE_SECONDS = 60;

/** A run's job whose worker stopped: since when, and how long at most until another attempt takes it (or it fails). */
export interface PreviousWorkerWait {
  /** Null once the job was failed for it and waits for its retry (pg-boss clears it then). */
  lastHeartbeatAt: Date | null;
  upToSeconds: number;
}

/**
 * Whether the worker holding a run's job has stopped, read from pg-boss's job
 * row. A live worker refreshes the job's heartbeat every half heartbeat
 * period; one three quarters of a period old means the worker is gone (a
 * crash, a SIGKILL, a restart). Its job is then failed once the period has
 * passed and pg-boss's supervisor next looks (SUPERVISE_SECONDS), and retried
 * after the retry delay (with backoff, at most twice the delay per attempt so
 * far); a job already failed that way and waiting for its retry counts down
 * to its start. Null when the worker is alive or the job is not waiting.
 */
export async function previousWorkerWait(db: Queryable, jobId: string): Promise<PreviousWorkerWait | null> {
  const { rows } = await db.query(
    `SELECT heartbeat_on AS "lastHeartbeatAt",
       ceil(extract(epoch FROM (CASE
         WHEN state = 'active' THEN heartbeat_on + (heartbeat_seconds + $3::int) * interval '1 second'
           + (CASE WHEN retry_count >= retry_limit THEN 0
                   WHEN NOT retry_backoff THEN retry_delay
                   ELSE LEAST(COALESCE(retry_delay_max, 2147483647), GREATEST(retry_delay, 1) * 2 ^ LEAST(16, retry_count + 1)) END) * interval '1 second'
         ELSE start_after END - now())))::int AS "upToSeconds"
     FROM ${QUEUE_SCHEMA}.job
     WHERE name = $1 AND id = $2 AND heartbeat_seconds IS NOT NULL
       AND ((state = 'active' AND heartbeat_on < now() - heartbeat_seconds * 0.75 * interval '1 second')
         OR (state IN ('retry', 'created') AND output->'value'->>'message' = 'job heartbeat timeout'))`,
    [RUN_QUEUE, jobId, SUPERVISE_SECONDS],
  );
  const row = rows[0] as { lastHeartbeatAt: Date | null; upToSeconds: number } | undefined;
  // Past the bound (the supervisor is a moment late, or the next poll is due): say a second, never zero or less.
  return row ? { lastHeartbeatAt: row.lastHeartbeatAt, upToSeconds: Math.max(1, row.upToSeconds) } : null;
}

export class RunQueue {
  readonly boss: PgBoss;
  private readonly options: RunQueueOptions;

  constructor(options: RunQueueOptions) {
    this.options = options;
    // The schema is created in start() only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE
    // privilege on the database even when the schema exists, and the service's role may lack it.
    const cron = options.scheduleCheckSeconds ? { cronMonitorIntervalSeconds: options.scheduleCheckSeconds, cronWorkerIntervalSeconds: Math.min(options.scheduleCheckSeconds, 5) } : {};
    this.boss = new PgBoss({ connectionString: options.databaseUrl, max: 4, application_name: "matih-run-queue", monitorIntervalSeconds: 5, superviseIntervalSeconds: SUPERVISE_SECONDS, schema: QUEUE_SCHEMA, createSchema: false, ...cron } as ConstructorParameters<typeof PgBoss>[0]);
    this.boss.on("error", (error: Error) => options.onError?.(error));
  }

  private get jobOptions() {
    return {
      retryLimit: this.options.maxAttempts - 1,
      retryDelay: this.options.retryDelaySeconds,
      retryBackoff: this.options.retryDelaySeconds > 0,
      heartbeatSeconds: this.options.heartbeatSeconds,
      expireInSeconds: this.options.expireInSeconds,
    };
  }

  async start(): Promise<void> {
    // Replicas starting at once on a new database would race: CREATE SCHEMA IF NOT EXISTS is not safe
    // against a concurrent one (a unique violation on pg_namespace), nor is "no queue yet, create it".
    // One session-level advisory lock serialises the whole set-up; it is released with the session.
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: "matih-run-queue" });
    await client.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [`matih:${QUEUE_SCHEMA}:set-up`]);
      const { rowCount } = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [QUEUE_SCHEMA]);
      if (rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(QUEUE_SCHEMA)}`);
      await this.boss.start();
      const existing = await this.boss.getQueue(RUN_QUEUE);
      if (!existing) await this.boss.createQueue(RUN_QUEUE, { policy: "singleton", ...this.jobOptions });
      else await this.boss.updateQueue(RUN_QUEUE, this.jobOptions);
    } finally {
      await client.end();
    }
  }

  /**
   * Enqueues a run's job inside the caller's transaction, so the job exists if
   * and only if the run row does.
   */
  async enqueue(db: Queryable, data: RunJobData): Promise<string> {
    const adapter = { executeSql: (text: string, values?: unknown[]) => db.query(text, values as unknown[]) };
    const id = await this.boss.send(RUN_QUEUE, data as unknown as object, { ...this.jobOptions, singletonKey: data.tenantId, db: adapter });
    if (!id) throw new Error(`the queue refused a job for tenant ${data.tenantId}`);
    return id;
  }

  async work(concurrency: number, handler: (job: RunJob) => Promise<void>): Promise<void> {
    await this.boss.work<RunJobData>(
      RUN_QUEUE,
      { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 0.5, includeMetadata: true },
      async ([job]) => {
        // includeMetadata: the job carries its retryLimit too.
        if (job) await handler({ id: job.id, data: job.data, retryCount: job.retryCount, retryLimit: (job as unknown as { retryLimit: number }).retryLimit, signal: job.signal });
      },
    );
  }

  /**
   * The state of a run's job (`created`, `retry`, `active`, `completed`,
   * `cancelled`, `failed`) with its failure output, or null when the queue no
   * longer has it. Read in the caller's transaction when `db` is given.
   */
  async jobState(jobId: string, db?: Queryable): Promise<{ state: string; retryCount: number; output: unknown } | null> {
    const adapter = db ? { executeSql: (text: string, values?: unknown[]) => db.query(text, values as unknown[]) } : undefined;
    const job = await this.boss.getJobById(RUN_QUEUE, jobId, adapter ? { db: adapter } : {});
    return job ? { state: job.state, retryCount: job.retryCount, output: job.output } : null;
  }

  async depth(): Promise<{ queued: number; active: number }> {
    const queue = await this.boss.getQueue(RUN_QUEUE);
    const q = queue as unknown as { queuedCount?: number; activeCount?: number } | null;
    return { queued: q?.queuedCount ?? 0, active: q?.activeCount ?? 0 };
  }

  /** Stops taking jobs; running ones get `timeoutMs` to finish, then are left to expire and be retried elsewhere. */
  async stop(timeoutMs: number): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: timeoutMs });
  }
}
