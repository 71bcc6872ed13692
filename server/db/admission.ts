/**
 * What the limits on tenants and pending runs count (domain/admission.ts
 * decides), and the lock that makes counting and inserting one step. Counts
 * are taken in the transaction that inserts, after the lock, so that two
 * requests (in one process or in two replicas) never both see room for one.
 */
import { CHANGING_KINDS } from "./runs.ts";
import type { Queryable } from "./pool.ts";

/**
 * Advisory lock keys (two int4s). "mati" is the service's class (backend-claim.ts
 * holds id 1); id 2 is admission for the whole service. Per principal the class
 * is "matp" and the id the principal's hash: a collision only makes two
 * principals wait for each other, never lets either past its limit.
 */
const SERVICE_CLASS = 0x6d617469;
const ADMISSION_ID = 2;
const PRINCIPAL_CLASS = 0x6d617470;

/**
 * Serialises admission until the transaction ends, for the whole service or
 * for one principal (so that, with per-principal limits alone, principals do
 * not wait for each other). Held to the commit, so the next holder's count,
 * a statement of its own taken after the lock, sees what this one inserted.
 */
export async function lockAdmission(db: Queryable, scope: { principal: string } | "service"): Promise<void> {
  if (scope === "service") await db.query("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", [SERVICE_CLASS, ADMISSION_ID]);
  else await db.query("SELECT pg_advisory_xact_lock($1::int4, hashtext($2))", [PRINCIPAL_CLASS, scope.principal]);
}

/** Tenants not yet DELETED (a tenant being torn down still counts), of one principal or of all. */
export async function liveTenantCount(db: Queryable, principal?: string): Promise<number> {
  const { rows } = principal === undefined
    ? await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tenants WHERE status <> 'DELETED'`)
    : await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tenants WHERE status <> 'DELETED' AND requested_by = $1`, [principal]);
  return rows[0]!.n;
}

/** The predicate of the index provisioning_runs_one_active, spelled the same so that the planner can use it. */
const PENDING = `status IN ('QUEUED', 'RUNNING') AND (kind IN (${CHANGING_KINDS.map((k) => `'${k}'`).join(", ")}) OR change_id IS NOT NULL)`;

/**
 * Runs waiting in the queue or running, of one principal (who requested or
 * approved them) or of all: the runs the one-run-per-tenant index counts (it
 * serves this count too). Previews and drift checks asked for over the API
 * run in the request and are not queued, so they are not counted.
 */
export async function pendingRunCount(db: Queryable, principal?: string): Promise<number> {
  const { rows } = principal === undefined
    ? await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM provisioning_runs WHERE ${PENDING}`)
    : await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM provisioning_runs WHERE ${PENDING} AND requested_by = $1`, [principal]);
  return rows[0]!.n;
}
