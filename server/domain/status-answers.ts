/**
 * The provisioning status as sent, kept per key with the row versions it was
 * built from. Clients poll this read (the seed's polling channel, the
 * dashboard), and between two phase events a tenant's status does not
 * change, yet building it costs a 45-column row, some 25 timestamps parsed
 * and formatted again, and a 2.7 KB serialisation. So a read first asks the
 * database for the versions only (`statusVersionOf`, a few small columns);
 * while they are the ones the kept answer was built from, the kept text is
 * the answer. Any committed write to the tenant, its latest run or that
 * run's phases changes them, whichever process wrote it, so a kept answer is
 * never older than the rows: there is nothing to invalidate by hand.
 *
 * Reads of one key that arrive while a read of it is in flight share the
 * next one, which starts when that one ends: many clients polling one tenant
 * cost one query per round trip, not one each. Every read is still answered
 * from a snapshot taken after it arrived, so a client that saw a write
 * commit never reads the status from before it.
 */
import { LRUCache } from "lru-cache";
import type { Queryable } from "../db/pool.ts";
import { previousWorkerWait } from "../db/job-queue.ts";
import { statusRowsOf, statusVersionOf } from "../db/status.ts";
import { buildStatusView, withPreviousWorkerWait, type StatusView } from "./status-view.ts";

/** How many keys (ids or slugs as asked) keep an answer; about 3 KB each. */
export const KEPT_ANSWERS = 2000;

interface KeptAnswer {
  tenantId: string;
  version: string;
  body: string;
  /** A RUNNING run's job and view: each answer checks whether its worker stopped. */
  running?: { jobId: string; view: StatusView };
}

export interface StatusAnswerCounts {
  /** Reads answered (found or not); those beyond reused + built shared another read's query. */
  reads: number;
  /** Queries whose kept answer was still current. */
  reused: number;
  /** Answers built from the rows. */
  built: number;
}

interface Waiting {
  promise: Promise<string | undefined>;
  resolve(answer: string | undefined): void;
  reject(error: unknown): void;
}

function waiting(): Waiting {
  let resolve!: Waiting["resolve"];
  let reject!: Waiting["reject"];
  const promise = new Promise<string | undefined>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

export class StatusAnswers {
  private readonly db: Queryable;
  private readonly kept: LRUCache<string, KeptAnswer>;
  private readonly counts: StatusAnswerCounts = { reads: 0, reused: 0, built: 0 };
  /** Keys with a read in flight. */
  private readonly inFlight = new Set<string>();
  /** Per key, the reads that arrived while one was in flight: they share the next. */
  private readonly next = new Map<string, Waiting>();

  constructor(db: Queryable, options: { max?: number } = {}) {
    this.db = db;
    this.kept = new LRUCache({ max: options.max ?? KEPT_ANSWERS });
  }

  /**
   * The serialised status of a tenant by id or slug, or undefined if there
   * is none. `serialize` turns a view into the text sent (the route's own
   * response serialiser), so a kept answer is byte for byte what a built one
   * would be; reads that share a query get the first one's, so it must be
   * the same for every read of a key.
   */
  read(idOrSlug: string, serialize: (view: StatusView) => string): Promise<string | undefined> {
    this.counts.reads++;
    if (!this.inFlight.has(idOrSlug)) return this.readInTurn(idOrSlug, serialize);
    let next = this.next.get(idOrSlug);
    if (!next) {
      next = waiting();
      this.next.set(idOrSlug, next);
    }
    return next.promise;
  }

  /** Reads the key now; when done, starts the read the reads that came meanwhile wait for. */
  private async readInTurn(idOrSlug: string, serialize: (view: StatusView) => string): Promise<string | undefined> {
    this.inFlight.add(idOrSlug);
    try {
      return await this.readNow(idOrSlug, serialize);
    } finally {
      const next = this.next.get(idOrSlug);
      if (next) {
        this.next.delete(idOrSlug);
        this.readInTurn(idOrSlug, serialize).then(next.resolve, next.reject);
      } else {
        this.inFlight.delete(idOrSlug);
      }
    }
  }

  private async readNow(idOrSlug: string, serialize: (view: StatusView) => string): Promise<string | undefined> {
    const kept = this.kept.get(idOrSlug);
    if (kept) {
      // A slug can move to a new tenant, so the tenant must match as well as the versions.
      const current = await statusVersionOf(this.db, idOrSlug);
      if (!current) {
        this.kept.delete(idOrSlug);
        return undefined;
      }
      if (current.tenantId === kept.tenantId && current.version === kept.version) {
        this.counts.reused++;
        return this.withWait(kept.body, kept.running, serialize);
      }
    }
    const rows = await statusRowsOf(this.db, idOrSlug);
    if (!rows) {
      this.kept.delete(idOrSlug);
      return undefined;
    }
    const view = buildStatusView(rows.tenant, rows.run, rows.phases);
    const body = serialize(view);
    this.counts.built++;
    const jobId = rows.run?.status === "RUNNING" ? rows.run.jobId : null;
    this.kept.set(idOrSlug, { tenantId: rows.tenant.id, version: rows.version, body, ...(jobId ? { running: { jobId, view } } : {}) });
    return this.withWait(body, jobId ? { jobId, view } : undefined, serialize);
  }

  /**
   * A RUNNING run's answer says when its worker has stopped and how long the run waits for another
   * (time passes while its rows stay the same, so this part is read at every answer, never kept).
   */
  private async withWait(body: string, running: KeptAnswer["running"], serialize: (view: StatusView) => string): Promise<string> {
    if (!running) return body;
    const wait = await previousWorkerWait(this.db, running.jobId);
    return wait ? serialize(withPreviousWorkerWait(running.view, wait)) : body;
  }

  /** How many reads there were, and how many answers were reused and built (the bench and the tests read them). */
  stats(): StatusAnswerCounts {
    return { ...this.counts };
  }
}
