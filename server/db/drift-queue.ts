/**
 * The fleet drift runs' queue, on the run queue's pg-boss. Its singleton
 * policy lets one fleet-run job be active at a time across every process,
 * and the schedule (MATIH_DRIFT_SCHEDULE) is pg-boss's own: one row in the
 * database, evaluated by whichever process's cron monitor claims the pass,
 * so a fleet of service processes sends one job per occurrence, not one each.
 */
import type { PgBoss } from "pg-boss";
import type { Queryable } from "./pool.ts";

export const DRIFT_QUEUE = "drift-fleet-runs";

export interface DriftJobData {
  /** The run to work on; absent for a scheduled job, which starts a run of its own. */
  runId?: string;
}

export interface DriftJob {
  id: string;
  data: DriftJobData;
  createdOn: Date;
}

const JOB_OPTIONS = {
  retryLimit: 5,
  retryDelay: 30,
  retryBackoff: true,
  // A fleet run checks every tenant; a worker that stops heart-beating hands it to another process.
  heartbeatSeconds: 30,
  expireInSeconds: 6 * 3600,
};

export class DriftQueue {
  private readonly boss: PgBoss;

  constructor(boss: PgBoss) {
    this.boss = boss;
  }

  /** Creates the queue and sets the schedule: a cron expression, or null to have none. */
  async start(schedule: string | null): Promise<void> {
    const existing = await this.boss.getQueue(DRIFT_QUEUE);
    if (!existing) await this.boss.createQueue(DRIFT_QUEUE, { policy: "singleton", ...JOB_OPTIONS });
    else await this.boss.updateQueue(DRIFT_QUEUE, JOB_OPTIONS);
    if (schedule === null) await this.boss.unschedule(DRIFT_QUEUE);
    else await this.boss.schedule(DRIFT_QUEUE, schedule, {}, { ...JOB_OPTIONS, tz: "UTC" });
  }

  /** Enqueues a run's job in the caller's transaction. */
  async enqueue(db: Queryable, runId: string): Promise<string> {
    const adapter = { executeSql: (text: string, values?: unknown[]) => db.query(text, values as unknown[]) };
    const id = await this.boss.send(DRIFT_QUEUE, { runId } satisfies DriftJobData, { ...JOB_OPTIONS, db: adapter });
    if (!id) throw new Error(`the queue refused the job of fleet drift run ${runId}`);
    return id;
  }

  async work(handler: (job: DriftJob) => Promise<void>): Promise<void> {
    await this.boss.work<DriftJobData>(DRIFT_QUEUE, { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true }, async ([job]) => {
      if (job) await handler(job as unknown as DriftJob);
    });
  }
}
