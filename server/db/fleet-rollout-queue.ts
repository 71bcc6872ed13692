/**
 * The rollouts' queue, on the run queue's pg-boss: one job is one pass over a
 * rollout (a "tick"), which queues the next pass while the rollout has work.
 * The job lives in the database, so a rollout goes on after a restart, in
 * whichever process polls first. The `stately` policy keyed by rollout keeps
 * at most one pass queued and one active per rollout; the pass itself takes
 * the rollout's row with SKIP LOCKED (db/fleet-changes.ts), so two processes
 * never advance one rollout at once.
 */
import type { PgBoss } from "pg-boss";
import type { Queryable } from "./pool.ts";

export const ROLLOUT_QUEUE = "fleet-rollouts";

const JOB_OPTIONS = {
  // A pass that fails (the database away for a moment) is tried again, a little later each time.
  retryLimit: 20,
  retryDelay: 2,
  retryBackoff: true,
  heartbeatSeconds: 30,
  expireInSeconds: 600,
};

export class RolloutQueue {
  private readonly boss: PgBoss;

  constructor(boss: PgBoss) {
    this.boss = boss;
  }

  async start(): Promise<void> {
    const existing = await this.boss.getQueue(ROLLOUT_QUEUE);
    if (!existing) await this.boss.createQueue(ROLLOUT_QUEUE, { policy: "stately", ...JOB_OPTIONS });
    else await this.boss.updateQueue(ROLLOUT_QUEUE, JOB_OPTIONS);
  }

  /**
   * Queues a pass over the rollout, in the caller's transaction when `db` is
   * given, `afterMs` from now. A pass already queued for it makes this one
   * unneeded (pg-boss then answers null), which is fine: one pass sees everything.
   */
  async schedule(rolloutId: string, options: { db?: Queryable; afterMs?: number } = {}): Promise<void> {
    const adapter = options.db ? { executeSql: (text: string, values?: unknown[]) => options.db!.query(text, values as unknown[]) } : undefined;
    await this.boss.send(ROLLOUT_QUEUE, { rolloutId }, {
      ...JOB_OPTIONS,
      singletonKey: rolloutId,
      ...(options.afterMs ? { startAfter: new Date(Date.now() + options.afterMs) } : {}),
      ...(adapter ? { db: adapter } : {}),
    });
  }

  async work(handler: (rolloutId: string) => Promise<void>): Promise<void> {
    await this.boss.work<{ rolloutId: string }>(ROLLOUT_QUEUE, { batchSize: 1, localConcurrency: 2, pollingIntervalSeconds: 0.5 }, async ([job]) => {
      if (job) await handler(job.data.rolloutId);
    });
  }
}
