/**
 * Versioned platform settings (issue 23): one row per version, the newest is
 * current. Writers serialise on a transaction-scoped advisory lock, so two
 * processes seeding (or recording) at once never both take the same number;
 * the primary key on `version` backs that up.
 */
import type pg from "pg";
import type { PlatformSettings } from "../../model/settings.ts";
import { withTransaction, type Queryable } from "./pool.ts";

export interface SettingsVersionRow {
  version: number;
  settings: PlatformSettings;
  createdAt: Date;
  createdBy: string;
  reason: string;
  /** Dotted paths that differ from the version before; empty for version 1. */
  changedPaths: string[];
}

const COLUMNS = `version, settings, created_at AS "createdAt", created_by AS "createdBy", reason, changed_paths AS "changedPaths"`;
/** Held for the writing transaction only; the same key in every process. */
const WRITE_LOCK = `SELECT pg_advisory_xact_lock(hashtext('matih.platform_settings_versions'))`;

/** The current (newest) version, or undefined before the first is seeded. Read per operation: no cache to go stale. */
export async function currentSettingsVersion(db: Queryable): Promise<SettingsVersionRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM platform_settings_versions ORDER BY version DESC LIMIT 1`);
  return rows[0];
}

export async function listSettingsVersions(db: Queryable, page: { limit: number; offset: number }): Promise<{ items: SettingsVersionRow[]; total: number }> {
  const [items, total] = await Promise.all([
    db.query(`SELECT ${COLUMNS} FROM platform_settings_versions ORDER BY version DESC LIMIT $1 OFFSET $2`, [page.limit, page.offset]),
    db.query(`SELECT count(*)::int AS n FROM platform_settings_versions`),
  ]);
  return { items: items.rows, total: total.rows[0].n };
}

export interface NewSettingsVersion {
  settings: PlatformSettings;
  createdBy: string;
  reason: string;
}

/**
 * Inserts version 1 unless some version exists. Returns the current version
 * and whether this call created it; of several processes starting at once,
 * exactly one seeds and the others read its row.
 */
export async function seedSettingsVersion(pool: pg.Pool, first: NewSettingsVersion): Promise<{ current: SettingsVersionRow; seeded: boolean }> {
  return withTransaction(pool, async (db) => {
    await db.query(WRITE_LOCK);
    const existing = await currentSettingsVersion(db);
    if (existing) return { current: existing, seeded: false };
    const { rows } = await db.query(
      `INSERT INTO platform_settings_versions (version, settings, created_by, reason, changed_paths) VALUES (1, $1, $2, $3, '{}') RETURNING ${COLUMNS}`,
      [JSON.stringify(first.settings), first.createdBy, first.reason],
    );
    return { current: rows[0], seeded: true };
  });
}

/**
 * Appends the next version. `changedPaths` compares it with the version it
 * follows, read under the lock, so the summary is always against its real
 * predecessor. Refuses (returns `unchanged`) settings equal to the current ones.
 */
export async function appendSettingsVersion(
  pool: pg.Pool,
  next: NewSettingsVersion,
  changedPaths: (previous: PlatformSettings | undefined, next: PlatformSettings) => string[],
): Promise<{ recorded: SettingsVersionRow } | { unchanged: SettingsVersionRow }> {
  return withTransaction(pool, async (db) => {
    await db.query(WRITE_LOCK);
    const previous = await currentSettingsVersion(db);
    const paths = changedPaths(previous?.settings, next.settings);
    if (previous && paths.length === 0) return { unchanged: previous };
    const { rows } = await db.query(
      `INSERT INTO platform_settings_versions (version, settings, created_by, reason, changed_paths) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [(previous?.version ?? 0) + 1, JSON.stringify(next.settings), next.createdBy, next.reason, paths],
    );
    return { recorded: rows[0] };
  });
}

/** The tenant now runs on this settings version (inside the transaction that marks its run succeeded). */
export async function markTenantSettingsApplied(db: Queryable, tenantId: string, version: number): Promise<void> {
  await db.query(`UPDATE tenants SET settings_version = $2, settings_applied_at = now() WHERE id = $1`, [tenantId, version]);
}

/** Each tenant's recorded settings version and when it was applied (null: never since versions exist). */
export async function tenantSettingsVersions(db: Queryable, tenantIds: readonly string[]): Promise<Map<string, { version: number | null; appliedAt: Date | null }>> {
  if (tenantIds.length === 0) return new Map();
  const { rows } = await db.query(`SELECT id, settings_version AS version, settings_applied_at AS "appliedAt" FROM tenants WHERE id = ANY($1::uuid[])`, [tenantIds]);
  return new Map(rows.map((r: { id: string; version: number | null; appliedAt: Date | null }) => [r.id, { version: r.version, appliedAt: r.appliedAt }]));
}

/** SQL condition (on `tenants`): the tenant was not last applied with the current version. */
export const BEHIND_CURRENT_SETTINGS = `tenants.settings_version IS DISTINCT FROM (SELECT max(version) FROM platform_settings_versions)`;
