/**
 * The record of tenant backups (migration 019): what was dumped, why, where
 * it is kept and until when, with its size and sha256. The file itself lives
 * in the backup store (domain/backup-store.ts).
 */
import type { Queryable } from "./pool.ts";

export type BackupReason = "teardown" | "rollback" | "destructive-change" | "manual" | "before-restore";

export interface BackupRow {
  id: string;
  tenantId: string;
  runId: string | null;
  reason: BackupReason;
  requestedBy: string;
  schemaName: string;
  source: string;
  store: "local" | "azure";
  location: string;
  sizeBytes: number;
  sha256: string;
  createdAt: Date;
  expiresAt: Date;
  removedAt: Date | null;
}

const COLUMNS = `id, tenant_id AS "tenantId", run_id AS "runId", reason, requested_by AS "requestedBy", schema_name AS "schemaName", source, store, location,
  size_bytes::float8 AS "sizeBytes", sha256, created_at AS "createdAt", expires_at AS "expiresAt", removed_at AS "removedAt"`;

export async function insertBackup(db: Queryable, row: Omit<BackupRow, "createdAt" | "expiresAt" | "removedAt"> & { retentionDays: number }): Promise<BackupRow> {
  const { rows } = await db.query(
    `INSERT INTO tenant_backups (id, tenant_id, run_id, reason, requested_by, schema_name, source, store, location, size_bytes, sha256, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(days => $12)) RETURNING ${COLUMNS}`,
    [row.id, row.tenantId, row.runId, row.reason, row.requestedBy, row.schemaName, row.source, row.store, row.location, row.sizeBytes, row.sha256, row.retentionDays],
  );
  return rows[0];
}

/** A tenant's backups, newest first. */
export async function listBackups(db: Queryable, tenantId: string, options: { limit: number; offset: number }): Promise<{ items: BackupRow[]; total: number }> {
  const { rows } = await db.query(`SELECT ${COLUMNS}, count(*) OVER ()::int AS total FROM tenant_backups WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`, [tenantId, options.limit, options.offset]);
  const total = rows[0]?.total ?? (await db.query(`SELECT count(*)::int AS n FROM tenant_backups WHERE tenant_id = $1`, [tenantId])).rows[0].n;
  return { items: rows.map(({ total: _, ...r }) => r as BackupRow), total };
}

export async function findBackup(db: Queryable, id: string): Promise<BackupRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM tenant_backups WHERE id = $1`, [id]);
  return rows[0];
}

/** Whether the run already has its backup (an attempt after a failed one does not take another). */
export async function backupOfRun(db: Queryable, runId: string): Promise<BackupRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM tenant_backups WHERE run_id = $1 ORDER BY created_at DESC LIMIT 1`, [runId]);
  return rows[0];
}

/** Backups past their retention whose file is still kept. */
export async function expiredBackups(db: Queryable, limit = 100): Promise<BackupRow[]> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM tenant_backups WHERE removed_at IS NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1`, [limit]);
  return rows;
}

export async function markBackupRemoved(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE tenant_backups SET removed_at = now() WHERE id = $1 AND removed_at IS NULL`, [id]);
}

/** A pending restore of a new tenant from a backup (restoreFrom). */
export async function insertRestoreRequest(db: Queryable, tenantId: string, backupId: string, requestedBy: string): Promise<void> {
  await db.query(`INSERT INTO tenant_restores (tenant_id, backup_id, requested_by) VALUES ($1, $2, $3)`, [tenantId, backupId, requestedBy]);
}

export async function pendingRestoreOf(db: Queryable, tenantId: string): Promise<{ backupId: string; requestedBy: string } | undefined> {
  const { rows } = await db.query(`SELECT backup_id AS "backupId", requested_by AS "requestedBy" FROM tenant_restores WHERE tenant_id = $1 AND restored_at IS NULL`, [tenantId]);
  return rows[0];
}

export async function markRestored(db: Queryable, tenantId: string): Promise<void> {
  await db.query(`UPDATE tenant_restores SET restored_at = now() WHERE tenant_id = $1`, [tenantId]);
}
