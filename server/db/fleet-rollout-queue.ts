/**
 * The fleet's queues, on the run queue's pg-boss.
 *
 * Rollouts: one job is one pass over a rollout (a "tick"), which queues the
 * next pass while the rollout has work. The job lives in the database, so a
 * rollout goes on after a restart, in whichever process polls first. The
 * `stately` policy keyed by rollout keeps at most one pass queued and one
 * active per rollout; the pass itself takes the rollout's row with SKIP LOCKED
 * (db/fleet-changes.ts), so two processes never advance one rollout at once.
 *
 * Fleet previews: one job previews one fleet change's tenants in the
 * background (engines that preview a stack at a time), keyed by the change.
 */
import type { PgBoss } from "pg-boss";
import type { Queryable } from "./pool.ts";

export const ROLLOUT_QUEUE = "fleet-rollouts";
export const FLEET_PREVIEW_QUEUE = "fleet-previews";

const JOB_OPTIONS = {
  // A pass that fails (the database away for a moment) is tried again, a little later each time.
  retryLimit: 20,
  retryDelay: 2,
  retryBackoff: true,
  heartbeatSeconds: 30,
  expireInSeconds: 600,
};

/** A pg-boss queue of jobs keyed by one id (a rollout, a fleet change), at most one queued and one active per id. */
class KeyedQueue {
  private readonly boss: PgBoss;
  private readonly name: string;
  private readonly options: typeof JOB_OPTIONS;

  constructor(boss: PgBoss, name: string, options: typeof JOB_OPTIONS = JOB_OPTIONS) {
    this.boss = boss;
    this.name = name;
    this.options = options;
  }

  async start(): Promise<void> {
    const existing = await this.boss.getQueue(this.name);
    if (!existing) await this.boss.createQueue(this.name, { policy: "stately", ...this.options });
    else await this.boss.updateQueue(this.name, this.options);
  }

  /**
   * Queues a pass over the rollout, in the caller's transaction when `db` is
   * given, `afterMs` from now. A pass already queued for it makes this one
   * unneeded (pg-boss then answers null), which is fine: one pass sees everything.
   */
  async schedule(id: string, options: { db?: Queryable; afterMs?: number } = {}): Promise<void> {
    const adapter = options.db ? { executeSql: (text: string, values?: unknown[]) => options.db!.query(text, values as unknown[]) } : undefined;
    // `rolloutId` is what rollout jobs were queued with before other queues shared this class.
    await this.boss.send(this.name, { id, rolloutId: id }, {
      ...this.options,
      singletonKey: id,
      ...(options.afterMs ? { startAfter: new Date(Date.now() + options.afterMs) } : {}),
      ...(adapter ? { db: adapter } : {}),
    });
  }

  async work(handler: (id: string) => Promise<void>): Promise<void> {
    await this.boss.work<{ id?: string; rolloutId?: string }>(this.name, { batchSize: 1, localConcurrency: 2, pollingIntervalSeconds: 0.5 }, async ([job]) => {
      const id = job?.data.id ?? job?.data.rolloutId;
      if (id) await handler(id);
    });
  }
}

/** Passes over rollouts. */
export class RolloutQueue extends KeyedQueue {
  constructor(boss: PgBoss) {
    super(boss, ROLLOUT_QUEUE);
  }
}

/**
 * Background previews of fleet changes. One job previews every selected
 * tenant, which on the Pulumi engine takes hours for a large fleet: it may
 * run a day; a process that dies stops its heartbeat, and the job is tried
 * again (from the start) elsewhere.
 */
export class FleetPreviewQueue extends KeyedQueue {
  constructor(boss: PgBoss) {
    super(boss, FLEET_PREVIEW_QUEUE, { ...JOB_OPTIONS, retryLimit: 5, expireInSeconds: 24 * 3600 });
  }
}
