/**
 * The outbox relay: a loop that claims unsent rows of one kind, hands them to
 * a delivery function (Kafka for events, SMTP for mails) and marks them sent.
 *
 * Claim, delivery and mark happen in one database transaction: the rows are
 * locked (FOR UPDATE SKIP LOCKED) so that no two relays, in this process or
 * another, deliver a row at the same time, and the mark commits only after the
 * delivery was acknowledged. A crash between the acknowledgement and the
 * commit rolls the claim back, and the row is delivered again later with the
 * same id: at least once, never lost, duplicates recognisable.
 *
 * Order: only a tenant's earliest unsent row can be claimed (see
 * `claimOutbox`), so a tenant's messages go out in commit order even across a
 * broker outage or several relays.
 *
 * Failures: the claimed rows get `attempts`/`last_error` recorded and back off
 * in this process (exponentially, from `minBackoffMs` to `maxBackoffMs`), while
 * the rest of the outbox keeps flowing. Nothing spins: with nothing deliverable
 * the loop sleeps `pollIntervalMs` (or until `wake()`).
 */
import type pg from "pg";
import { withTransaction } from "../db/pool.ts";
import { claimOutbox, markSent, recordFailure, type OutboxKind, type OutboxRow } from "../db/outbox.ts";

export interface RelayLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutboxRelayOptions {
  pool: pg.Pool;
  kind: OutboxKind;
  /** Delivers the rows, in the order given; resolves once every one is acknowledged, throws otherwise. */
  deliver: (rows: readonly OutboxRow[]) => Promise<void>;
  log: RelayLog;
  /** Rows per transaction (at most one per tenant); default 100. Mails use 1, so each sent mail is marked at once. */
  batchSize?: number;
  /** Sleep when there is nothing to deliver; default 500 ms. */
  pollIntervalMs?: number;
  /** First back-off after a failed delivery; default 500 ms. */
  minBackoffMs?: number;
  /** Longest back-off; default 10 s. */
  maxBackoffMs?: number;
  /** Give a row up after this many failed deliveries; default never (events must not be dropped). */
  giveUpAfter?: number;
  /** Called with the delivered rows after they are marked. */
  onDelivered?: (rows: readonly OutboxRow[]) => void;
  onFailed?: (rows: readonly OutboxRow[], error: Error) => void;
  /**
   * Fault injection for tests: runs after the delivery was acknowledged and
   * before the rows are marked, inside the claiming transaction.
   */
  afterDeliver?: (rows: readonly OutboxRow[]) => Promise<void>;
}

export interface RelayStatus {
  readonly running: boolean;
  /** When the last delivery succeeded. */
  readonly lastDeliveryAt: Date | null;
  /** The last failure, cleared by the next success. */
  readonly lastFailure: { readonly at: Date; readonly message: string } | null;
}

export interface RelayCycle {
  /** Rows claimed in this cycle. */
  readonly claimed: number;
  /** Rows delivered and marked. */
  readonly delivered: number;
  /** The delivery failure, if any. */
  readonly error: Error | null;
}

/** A back-off entry is kept (for its failure count) this long after it ended. */
const FORGET_AFTER_MS = 3_600_000;

export class OutboxRelay {
  private readonly opts: Required<Omit<OutboxRelayOptions, "onDelivered" | "onFailed" | "afterDeliver" | "giveUpAfter">> & Pick<OutboxRelayOptions, "onDelivered" | "onFailed" | "afterDeliver" | "giveUpAfter">;
  /** Rows that failed in this process: id → when they may be tried again and how many failures so far. */
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  private loopPromise: Promise<void> | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private lastDeliveryAt: Date | null = null;
  private lastFailure: { at: Date; message: string } | null = null;

  constructor(options: OutboxRelayOptions) {
    this.opts = {
      batchSize: 100,
      pollIntervalMs: 500,
      minBackoffMs: 500,
      maxBackoffMs: 10_000,
      ...options,
    };
  }

  get kind(): OutboxKind {
    return this.opts.kind;
  }

  status(): RelayStatus {
    return { running: this.loopPromise !== null && !this.stopping, lastDeliveryAt: this.lastDeliveryAt, lastFailure: this.lastFailure };
  }

  /** Starts the loop; a second call does nothing. */
  start(): void {
    if (this.loopPromise) return;
    this.stopping = false;
    this.loopPromise = this.loop();
  }

  /** Stops after the cycle in progress (a delivery in flight finishes and is marked). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loopPromise;
    this.loopPromise = null;
  }

  /** Ends the current sleep: there may be new rows. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * One claim-deliver-mark transaction. Delivery failures are recorded and
   * returned; database failures throw.
   */
  async runOnce(): Promise<RelayCycle> {
    const now = Date.now();
    const waiting: string[] = [];
    for (const [id, b] of this.backoff) {
      if (b.until > now) waiting.push(id);
      // Long past its back-off and not seen failing since: delivered by another process, or gone.
      else if (now - b.until > FORGET_AFTER_MS) this.backoff.delete(id);
    }
    return withTransaction(this.opts.pool, async (db) => {
      const rows = await claimOutbox(db, this.opts.kind, this.opts.batchSize, waiting);
      if (rows.length === 0) return { claimed: 0, delivered: 0, error: null };
      const ids = rows.map((r) => r.id);
      try {
        await this.opts.deliver(rows);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        const givenUp = await recordFailure(db, ids, error.message, this.opts.giveUpAfter);
        if (givenUp.length > 0) this.opts.log.error({ kind: this.opts.kind, ids: givenUp, attempts: this.opts.giveUpAfter }, `gave up delivering after ${this.opts.giveUpAfter} attempts: ${error.message}`);
        this.failed(rows, error);
        return { claimed: rows.length, delivered: 0, error };
      }
      if (this.opts.afterDeliver) await this.opts.afterDeliver(rows);
      await markSent(db, ids);
      this.delivered(rows);
      return { claimed: rows.length, delivered: rows.length, error: null };
    });
  }

  /** Runs cycles until nothing is delivered (tests, shutdown flush); returns how many rows went out. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const cycle = await this.runOnce();
      total += cycle.delivered;
      if (cycle.delivered === 0) return total;
    }
  }

  private delivered(rows: readonly OutboxRow[]): void {
    for (const r of rows) this.backoff.delete(r.id);
    this.lastDeliveryAt = new Date();
    if (this.lastFailure) {
      this.opts.log.info({ kind: this.opts.kind, delivered: rows.length }, `outbox ${this.opts.kind} delivery works again`);
      this.lastFailure = null;
    }
    this.opts.onDelivered?.(rows);
  }

  private failed(rows: readonly OutboxRow[], error: Error): void {
    let longest = 0;
    for (const r of rows) {
      const failures = (this.backoff.get(r.id)?.failures ?? 0) + 1;
      const base = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** (failures - 1));
      const delay = Math.round(base * (0.8 + Math.random() * 0.2));
      longest = Math.max(longest, delay);
      this.backoff.set(r.id, { until: Date.now() + delay, failures });
    }
    // One warning when delivery starts failing; the next success logs the recovery.
    const fresh = this.lastFailure === null;
    this.lastFailure = { at: new Date(), message: error.message };
    const fields = { kind: this.opts.kind, rows: rows.length, retryInMs: longest, err: error.message };
    if (fresh) this.opts.log.warn(fields, `outbox ${this.opts.kind} delivery failed; the rows stay in the outbox and are retried`);
    this.opts.onFailed?.(rows, error);
  }

  private async loop(): Promise<void> {
    let dbFailures = 0;
    while (!this.stopping) {
      let delivered = 0;
      try {
        const cycle = await this.runOnce();
        delivered = cycle.delivered;
        dbFailures = 0;
      } catch (err) {
        dbFailures += 1;
        if (dbFailures === 1) this.opts.log.error({ kind: this.opts.kind, err }, "outbox relay could not use the database; retrying");
        await this.sleep(Math.min(this.opts.maxBackoffMs, this.opts.pollIntervalMs * 2 ** dbFailures));
        continue;
      }
      if (delivered === 0) await this.sleep(this.opts.pollIntervalMs);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
