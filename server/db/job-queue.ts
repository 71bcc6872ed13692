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

export class RunQueue {
  readonly boss: PgBoss;
  private readonly options: RunQueueOptions;

  constructor(options: RunQueueOptions) {
    this.options = options;
    // The schema is created in start() only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE
    // privilege on the database even when the schema exists, and the service's role may lack it.
    const cron = options.scheduleCheckSeconds ? { cronMonitorIntervalSeconds: options.scheduleCheckSeconds, cronWorkerIntervalSeconds: Math.min(options.scheduleCheckSeconds, 5) } : {};
    this.boss = new PgBoss({ connectionString: options.databaseUrl, max: 4, application_name: "matih-run-queue", monitorIntervalSeconds: 5, schema: QUEUE_SCHEMA, createSchema: false, ...cron } as ConstructorParameters<typeof PgBoss>[0]);
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
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: "matih-run-queue" });
    await client.connect();
    try {
      const { rowCount } = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [QUEUE_SCHEMA]);
      if (rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(QUEUE_SCHEMA)}`);
    } finally {
      await client.end();
    }
    await this.boss.start();
    const existing = await this.boss.getQueue(RUN_QUEUE);
    if (!existing) await this.boss.createQueue(RUN_QUEUE, { policy: "singleton", ...this.jobOptions });
    else await this.boss.updateQueue(RUN_QUEUE, this.jobOptions);
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
