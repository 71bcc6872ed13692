import type { Queryable } from "./pool.ts";

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

/** Appends to provisioning_audit_logs (a trigger refuses updates and deletes). */
export async function appendAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO provisioning_audit_logs (tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
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
