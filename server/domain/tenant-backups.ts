/**
 * What the API asks of backups: a tenant's list, a backup now, and a restore
 * into the tenant's current database. A restore is reviewed like a change
 * (the change service records the request and performs it on approval, with
 * restorable and restoreLocked): it first backs up what it overwrites, so it
 * can itself be undone by restoring that backup.
 */
import type pg from "pg";
import { appendAudit } from "../db/audit.ts";
import { findBackup, listBackups, type BackupRow } from "../db/backups.ts";
import { withTransaction } from "../db/pool.ts";
import { activeRun } from "../db/runs.ts";
import { findTenant, type TenantRow } from "../db/tenants.ts";
import { BackupError, type BackupService } from "./backup-service.ts";
import { ApiError, notFound } from "./errors.ts";
import { withArticle } from "./tenant-status.ts";

export class TenantBackups {
  private readonly pool: pg.Pool;
  private readonly backups: BackupService;

  constructor(deps: { pool: pg.Pool; backups: BackupService }) {
    this.pool = deps.pool;
    this.backups = deps.backups;
  }

  private async tenantOf(db: pg.Pool | pg.PoolClient, idOrSlug: string, forUpdate = false): Promise<TenantRow> {
    const tenant = await findTenant(db, idOrSlug, { forUpdate });
    if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
    return tenant;
  }

  async list(idOrSlug: string, page: { limit: number; offset: number }): Promise<{ items: BackupRow[]; total: number }> {
    const tenant = await this.tenantOf(this.pool, idOrSlug);
    return listBackups(this.pool, tenant.id, page);
  }

  /** A backup now (reason `manual`), recorded and audited; 409 when there is nothing this service can back up. */
  async backupNow(idOrSlug: string, principal: string): Promise<BackupRow> {
    const tenant = await this.tenantOf(this.pool, idOrSlug);
    if (tenant.status === "DELETED") throw new ApiError(409, "invalid_transition", `tenant ${tenant.slug} is DELETED; its database is gone (its backups are listed at /api/v1/tenants/${tenant.id}/backups)`);
    const outcome = await this.take(tenant, "manual", principal);
    if ("none" in outcome) throw new ApiError(409, "nothing_to_back_up", `no backup of ${tenant.slug} was taken: ${outcome.none}`);
    await withTransaction(this.pool, (db) => appendAudit(db, {
      tenantId: tenant.id, entity: "tenant", actor: principal, from: tenant.status, to: tenant.status,
      message: `backup ${outcome.backup.id} of ${outcome.backup.schemaName} taken by ${principal}: ${outcome.backup.sizeBytes} bytes, sha256 ${outcome.backup.sha256}`,
      details: { backupId: outcome.backup.id },
    }));
    return outcome.backup;
  }

  /**
   * The backup `backupId` if it may be restored into `tenant` now (the caller
   * holds the tenant's row lock): the tenant is ACTIVE or FAILED with no run
   * in progress, and the backup is its own or a deleted tenant's, with its
   * file kept. Asked when a restore is requested and again when it is approved.
   */
  async restorable(db: pg.PoolClient, tenant: TenantRow, backupId: string): Promise<BackupRow> {
    if (tenant.status !== "ACTIVE" && tenant.status !== "FAILED") {
      throw new ApiError(409, "invalid_transition", `${withArticle(tenant.status)} tenant cannot be restored: restore an ACTIVE or FAILED tenant (a deleted tenant's backup goes into a new tenant, POST /api/v1/tenants with restoreFrom)`);
    }
    const active = await activeRun(db, tenant.id);
    if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} has a ${active.kind} run in progress; restore once it has finished`);
    const backup = await findBackup(db, backupId);
    if (!backup) throw notFound(`backup "${backupId}"`);
    if (backup.tenantId !== tenant.id) {
      const owner = await findTenant(db, backup.tenantId);
      if (owner?.status !== "DELETED") throw new ApiError(409, "invalid_request", `backup ${backup.id} belongs to tenant ${owner?.slug ?? backup.tenantId}, which is not deleted; a tenant is restored from its own backups or a deleted tenant's`);
    }
    if (backup.removedAt) throw new ApiError(409, "backup_removed", `backup ${backup.id} was removed on ${new Date(backup.removedAt).toISOString()} (retention); choose a newer one`);
    return backup;
  }

  /**
   * Restores `backup` (checked by restorable) into the tenant's current
   * database, in the caller's transaction, which holds the tenant's row lock
   * so that no run starts under the restore. Unless `skipBackup`, the data it
   * overwrites is backed up first. A failure throws 502 (`backup_failed`,
   * `restore_failed`) with the tenant's data as it was.
   */
  async restoreLocked(db: pg.PoolClient, tenant: TenantRow, backup: BackupRow, principal: string, options: { skipBackup?: boolean; note?: string } = {}): Promise<{ backup: BackupRow; safetyBackup: BackupRow | null }> {
    let safetyBackup: BackupRow | null = null;
    if (!options.skipBackup) {
      const outcome = await this.take(tenant, "before-restore", principal, db);
      if ("backup" in outcome) safetyBackup = outcome.backup;
    }
    try {
      await this.backups.restore(tenant, backup);
    } catch (error) {
      if (error instanceof BackupError) throw new ApiError(502, "restore_failed", `${error.message}; the tenant's data is as it was`);
      throw error;
    }
    await appendAudit(db, {
      tenantId: tenant.id, entity: "tenant", actor: principal, from: tenant.status, to: tenant.status,
      message: `backup ${backup.id} (${backup.schemaName}, taken ${new Date(backup.createdAt).toISOString()}) restored by ${principal}; ` +
        (safetyBackup ? `what it replaced is backup ${safetyBackup.id}` : options.skipBackup ? `the request asked to skip the backup of what it replaced (skipBackup)` : "there was nothing to back up first") +
        (options.note ? ` (${options.note})` : ""),
      details: { backupId: backup.id, safetyBackupId: safetyBackup?.id ?? null, ...(options.skipBackup ? { skipBackup: true } : {}) },
    });
    return { backup, safetyBackup };
  }

  private async take(tenant: TenantRow, reason: "manual" | "before-restore", principal: string, db?: pg.PoolClient) {
    try {
      return await this.backups.take(tenant, { reason, principal, ...(db ? { db } : {}) });
    } catch (error) {
      if (error instanceof BackupError) throw new ApiError(502, "backup_failed", `${error.message}${reason === "before-restore" ? `; nothing was restored (ask with {"skipBackup": true} to restore without it)` : ""}`);
      throw error;
    }
  }
}
