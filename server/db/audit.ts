import { redactValue } from "../../automation/index.ts";
import { createHash } from "node:crypto";
import type pg from "pg";
import type { Queryable } from "./pool.ts";

/** The transaction setting the audit log's trigger takes the actor from (see migration 015). */
export const AUDIT_ACTOR_SETTING = "matih.audit_actor";

export interface AuditEntry {
  tenantId: string;
  runId?: string | null;
  entity: "tenant" | "phase" | "run" | "change";
  phase?: number | null;
  actor: string;
  from: string | null;
  to: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface AuditRow extends Required<Omit<AuditEntry, "details">> {
  id: number;
  details: Record<string, unknown>;
  createdAt: Date;
}

/**
 * Appends to provisioning_audit_logs (a trigger refuses updates and deletes).
 * The row is kept for good, so known secret values are masked before it is written.
 * The database sets the time, the login and the hash chain; the actor goes in
 * through `matih.audit_actor`, bound to the transaction by the very statement
 * that inserts the row (the VALUES row is computed before the row's trigger
 * runs), and the trigger refuses a row whose actor is not the bound one.
 */
export async function appendAudit(db: Queryable, entry: AuditEntry): Promise<void> {
  const e = redactValue(entry);
  await db.query(
    `INSERT INTO provisioning_audit_logs (tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details)
     VALUES ($1, $2, $3, $4, set_config('${AUDIT_ACTOR_SETTING}', $5::text, true), $6, $7, $8, $9)`,
    [e.tenantId, e.runId ?? null, e.entity, e.phase ?? null, e.actor, e.from, e.to, e.message, JSON.stringify(e.details ?? {})],
  );
}

export async function listAudit(db: Queryable, tenantId: string, options: { afterId?: number; limit: number }): Promise<AuditRow[]> {
  const { rows } = await db.query(
    `SELECT id::int AS id, tenant_id AS "tenantId", run_id AS "runId", entity, phase, actor, from_status AS "from", to_status AS "to",
            message, details, created_at AS "createdAt"
     FROM provisioning_audit_logs WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
    [tenantId, options.afterId ?? 0, options.limit],
  );
  return rows;
}

/** The first row's previous hash. */
const GENESIS = Buffer.alloc(32);

/**
 * A row's canonical text, exactly as the sealing trigger hashes it (migration
 * 015, provisioning_audit_logs_digest), written out here rather than calling
 * that function, so that a replaced function cannot make a changed row pass.
 */
const CANONICAL = `jsonb_build_array(chain_seq, id, tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), db_user)::text`;

export interface AuditChainHead {
  chainSeq: number;
  id: number;
  /** Hex SHA-256. */
  hash: string;
}

export interface AuditChainReport {
  /** True when every row checks out (and the exported head, when given, is still in the chain). */
  ok: boolean;
  /** Rows that checked out, in chain order, before the first broken one. */
  rows: number;
  /** The last row that checked out: export its chainSeq and hash to check later that nothing up to it was rewritten. */
  head: AuditChainHead | null;
  /** The first row that does not check out, and why; null when ok. `id` is null when the break is not a row (the chain ends too early). */
  broken: { id: number | null; chainSeq: number | null; reason: string } | null;
}

export interface VerifyOptions {
  /** A head exported earlier: the row at its chainSeq must still carry its hash. */
  anchor?: { chainSeq: number; hash: string };
  /** Rows read per query; default 2000. */
  batch?: number;
}

interface ChainRow {
  row_id: string;
  seq: string;
  prev_hash: Buffer;
  hash: Buffer;
  canonical: string;
}

/**
 * Walks the audit log's hash chain in chain order, recomputing every hash, and
 * reports the first row that does not check out: a sequence gap (rows
 * removed), a previous hash other than the row before's (a row before it
 * changed, removed or inserted), or a hash that does not match the row's
 * contents (the row changed). One REPEATABLE READ snapshot, so rows added
 * while it runs are neither half-seen nor mistaken for a break.
 */
export async function verifyAuditChain(pool: pg.Pool, options: VerifyOptions = {}): Promise<AuditChainReport> {
  const batch = options.batch ?? 2000;
  const anchor = options.anchor ? { chainSeq: options.anchor.chainSeq, hash: options.anchor.hash.toLowerCase() } : null;
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    let rows = 0;
    let previous: { seq: number; id: number; hash: Buffer } | null = null;
    const report = (broken: AuditChainReport["broken"]): AuditChainReport => ({
      ok: broken === null,
      rows,
      head: previous ? { chainSeq: previous.seq, id: previous.id, hash: previous.hash.toString("hex") } : null,
      broken,
    });
    // A row forged with its chain columns empty (their constraints dropped first) is outside the walk below.
    const outside = await client.query<{ id: string }>(
      `SELECT id::text FROM provisioning_audit_logs WHERE chain_seq IS NULL OR prev_hash IS NULL OR hash IS NULL ORDER BY id LIMIT 1`,
    );
    if (outside.rows[0]) {
      return report({ id: Number(outside.rows[0].id), chainSeq: null, reason: "it has no place in the chain (no sequence number or hash): it was written with the sealing trigger off" });
    }
    let after = "-9223372036854775808";
    for (;;) {
      const { rows: page } = await client.query<ChainRow>(
        // (Aliases other than the column names: ORDER BY chain_seq must sort the bigint, not its text.)
        `SELECT id::text AS row_id, chain_seq::text AS seq, prev_hash, hash, ${CANONICAL} AS canonical
           FROM provisioning_audit_logs WHERE chain_seq > $1::bigint ORDER BY chain_seq LIMIT $2`,
        [after, batch],
      );
      for (const row of page) {
        const id = Number(row.row_id);
        const seq = Number(row.seq);
        const expectedSeq: number = (previous?.seq ?? 0) + 1;
        if (seq !== expectedSeq) {
          const reason = seq > expectedSeq
            ? `${seq - expectedSeq} row(s) before it are missing: the chain goes from ${expectedSeq - 1} to ${seq}`
            : `its sequence number ${seq} is out of order (${expectedSeq} expected)`;
          return report({ id, chainSeq: seq, reason });
        }
        if (!row.prev_hash.equals(previous?.hash ?? GENESIS)) {
          const reason = previous
            ? `its previous hash is not the hash of the row before it (id ${previous.id}): that row was changed, or rows between them were removed or inserted`
            : "its previous hash is not the chain's start: rows before it were removed, or it was put there";
          return report({ id, chainSeq: seq, reason });
        }
        const computed = createHash("sha256").update(row.prev_hash).update(Buffer.from(row.canonical, "utf8")).digest();
        if (!computed.equals(row.hash)) return report({ id, chainSeq: seq, reason: "its hash does not match its contents: the row was changed after it was written" });
        if (anchor && seq === anchor.chainSeq && row.hash.toString("hex") !== anchor.hash) {
          return report({ id, chainSeq: seq, reason: "its hash is not the exported head's: the chain was rewritten from this row or before" });
        }
        rows += 1;
        previous = { seq, id, hash: row.hash };
      }
      if (page.length < batch) break;
      after = String(previous!.seq);
    }
    if (anchor && (previous?.seq ?? 0) < anchor.chainSeq) {
      return report({ id: null, chainSeq: anchor.chainSeq, reason: `the chain ends at ${previous?.seq ?? 0}, before the exported head's row ${anchor.chainSeq}: rows were removed from its end` });
    }
    return report(null);
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}
