/**
 * The outbox table: rows are written by `enqueueOutbox` in the transaction of
 * the state change that causes them, then claimed, marked sent and read by the
 * relays and the events API.
 */
import { randomUUID } from "node:crypto";
import { redactValue } from "../../automation/index.ts";
import type { Queryable } from "./pool.ts";

export type OutboxKind = "event" | "email";

export interface OutboxMessage {
  kind: OutboxKind;
  tenantId: string | null;
  /** Event type (`tenant.provisioned`) or mail template (`provisioning-completed`). */
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Adds a message in the caller's transaction; it is sent only if that
 * transaction commits. Known secret values are masked in the payload here,
 * once: every delivery of the row (event or mail) is then the same.
 */
export async function enqueueOutbox(db: Queryable, message: OutboxMessage): Promise<string> {
  const id = randomUUID();
  await db.query(`INSERT INTO outbox (id, kind, tenant_id, type, payload) VALUES ($1, $2, $3, $4, $5)`, [id, message.kind, message.tenantId, message.type, JSON.stringify(redactValue(message.payload))]);
  return id;
}

export interface OutboxRow {
  /** Stable across re-sends: the CloudEvents id, the mail's Message-ID. */
  readonly id: string;
  /** Commit-order sequence; a tenant's rows are sent in this order. */
  readonly seq: number;
  readonly kind: OutboxKind;
  readonly tenantId: string | null;
  readonly type: string;
  readonly payload: Record<string, unknown>;
  readonly createdAt: Date;
  readonly sentAt: Date | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

interface RawRow {
  id: string;
  seq: string | number;
  kind: OutboxKind;
  tenant_id: string | null;
  type: string;
  payload: Record<string, unknown>;
  created_at: Date;
  sent_at: Date | null;
  attempts: number;
  last_error: string | null;
}

const COLUMNS = "o.id, o.seq, o.kind, o.tenant_id, o.type, o.payload, o.created_at, o.sent_at, o.attempts, o.last_error";

const toRow = (r: RawRow): OutboxRow => ({
  id: r.id,
  seq: Number(r.seq),
  kind: r.kind,
  tenantId: r.tenant_id,
  type: r.type,
  payload: r.payload,
  createdAt: r.created_at,
  sentAt: r.sent_at,
  attempts: r.attempts,
  lastError: r.last_error,
});

const MAX_ERROR_LENGTH = 1000;

/**
 * Locks up to `limit` unsent rows of `kind` for the caller's transaction, in
 * `seq` order. Only a tenant's earliest unsent row is eligible: while an
 * earlier row of the same tenant is unsent (waiting, backing off, or locked by
 * another relay, which SKIP LOCKED passes over but the NOT EXISTS still sees),
 * the tenant's later rows wait, so no failure or concurrent relay can reorder
 * a tenant's messages. Rows in `exclude` (backing off in this process) are not
 * taken. Rows without a tenant have no order among themselves.
 */
export async function claimOutbox(db: Queryable, kind: OutboxKind, limit: number, exclude: readonly string[] = []): Promise<OutboxRow[]> {
  const { rows } = await db.query<RawRow>(
    `SELECT ${COLUMNS}
       FROM outbox o
      WHERE o.kind = $1
        AND o.sent_at IS NULL AND o.failed_at IS NULL
        AND NOT (o.id = ANY($3::uuid[]))
        AND NOT EXISTS (
              SELECT 1 FROM outbox p
               WHERE p.kind = o.kind AND p.sent_at IS NULL AND p.failed_at IS NULL AND p.tenant_id = o.tenant_id AND p.seq < o.seq)
      ORDER BY o.seq
      LIMIT $2
        FOR UPDATE OF o SKIP LOCKED`,
    [kind, limit, exclude],
  );
  return rows.map(toRow);
}

/** Marks rows delivered (in the claiming transaction, so the mark commits only with the claim). */
export async function markSent(db: Queryable, ids: readonly string[]): Promise<void> {
  await db.query(`UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::uuid[])`, [ids]);
}

/**
 * Records a failed delivery attempt; the rows stay unsent. With `giveUpAfter`,
 * a row that has now failed that many times is given up (`failed_at` set) and
 * no longer holds back its tenant's later rows. Returns the ids given up.
 */
export async function recordFailure(db: Queryable, ids: readonly string[], error: string, giveUpAfter?: number): Promise<string[]> {
  const message = error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}…` : error;
  const { rows } = await db.query<{ id: string; failed: boolean }>(
    `UPDATE outbox SET attempts = attempts + 1, last_error = $2,
            failed_at = CASE WHEN $3::int IS NOT NULL AND attempts + 1 >= $3::int THEN now() ELSE NULL END
      WHERE id = ANY($1::uuid[]) RETURNING id, failed_at IS NOT NULL AS failed`,
    [ids, message, giveUpAfter ?? null],
  );
  return rows.filter((r) => r.failed).map((r) => r.id);
}

/** Unsent rows by kind. */
export async function outboxBacklog(db: Queryable): Promise<Record<OutboxKind, number>> {
  const { rows } = await db.query<{ kind: OutboxKind; n: string }>(`SELECT kind, count(*) AS n FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL GROUP BY kind`);
  const backlog: Record<OutboxKind, number> = { event: 0, email: 0 };
  for (const r of rows) backlog[r.kind] = Number(r.n);
  return backlog;
}

export interface EventQuery {
  /** Rows with a larger seq than this. */
  after: number;
  limit: number;
  type?: string | undefined;
  tenantId?: string | undefined;
}

/** Event rows (sent or not) in seq order, for the events API. Mail rows are never listed: they hold addresses. */
export async function listEvents(db: Queryable, query: EventQuery): Promise<OutboxRow[]> {
  const { rows } = await db.query<RawRow>(
    `SELECT ${COLUMNS}
       FROM outbox o
      WHERE o.kind = 'event' AND o.seq > $1
        AND ($3::text IS NULL OR o.type = $3)
        AND ($4::uuid IS NULL OR o.tenant_id = $4)
      ORDER BY o.seq
      LIMIT $2`,
    [query.after, query.limit, query.type ?? null, query.tenantId ?? null],
  );
  return rows.map(toRow);
}
