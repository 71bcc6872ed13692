import { createHash } from "node:crypto";
import type { Queryable } from "./pool.ts";

/** JSON with object keys sorted at every level: two requests equal by value read the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Requests are compared by value: the same fields in another key order are the same request. */
export function requestHash(body: unknown): string {
  return createHash("sha256").update(canonicalJson(body)).digest("hex");
}

export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  response: unknown;
}

/** How long a key is remembered; after that the same key is a new request. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

/**
 * Claims an idempotency key inside the caller's transaction. `scope` is the
 * caller's token identity, so keys of different callers never meet. A key
 * older than IDEMPOTENCY_KEY_TTL_HOURS counts as new. Returns null when
 * the key is new (the caller goes on and stores its answer with
 * `saveIdempotentResponse` in the same transaction), or the first answer. A
 * concurrent request with the same key waits on the row's lock until the first
 * commits, then sees its answer.
 */
export async function claimIdempotencyKey(db: Queryable, scope: string, key: string, hash: string): Promise<StoredResponse | null> {
  const inserted = await db.query(
    `INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response) VALUES ($1, $2, $3, 0, 'null'::jsonb)
     ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = 0, response = 'null'::jsonb, created_at = now()
       WHERE idempotency_keys.created_at < now() - make_interval(hours => $4)`,
    [scope, key, hash, IDEMPOTENCY_KEY_TTL_HOURS],
  );
  if (inserted.rowCount === 1) return null;
  const { rows } = await db.query(
    `SELECT request_hash AS "requestHash", status_code AS "statusCode", response FROM idempotency_keys WHERE principal = $1 AND key = $2`,
    [scope, key],
  );
  return rows[0];
}

/** Forgets keys past their time; returns how many. */
export async function pruneIdempotencyKeys(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`, [IDEMPOTENCY_KEY_TTL_HOURS]);
  return rowCount ?? 0;
}

export async function saveIdempotentResponse(db: Queryable, scope: string, key: string, statusCode: number, response: unknown): Promise<void> {
  await db.query(`UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE principal = $1 AND key = $2`, [scope, key, statusCode, JSON.stringify(response)]);
}
