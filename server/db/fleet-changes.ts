/**
 * Fleet changes and their rollouts (issue 23): the proposed settings version
 * with its preview, the rollout that applies it in waves, and each tenant's
 * place in it. Migration 052.
 */
import { redactValue } from "../../automation/index.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { AUDIT_ACTOR_SETTING } from "./audit.ts";
import type { SettingsVersionRow } from "./platform-settings.ts";
import type { Queryable } from "./pool.ts";

export type FleetChangeStatus = "PREVIEWING" | "PREVIEW_FAILED" | "PENDING_REVIEW" | "APPROVED" | "REJECTED" | "STALE";
export type RolloutStatus = "RUNNING" | "PAUSED" | "HALTED" | "COMPLETED" | "ABORTED";
export type RolloutTenantStatus = "PENDING" | "PREVIEWING" | "APPLYING" | "SUCCEEDED" | "UNCHANGED" | "FAILED" | "SKIPPED" | "HELD";

export interface FleetSelector {
  tiers?: string[];
  regions?: string[];
  slugs?: string[];
}

/** One kind of change to one resource type across a group's tenants. */
export interface GroupChange {
  op: string;
  type: string;
  /** Resources of this type changed this way, per tenant. */
  count: number;
  /** The properties that change (dotted paths), across those resources. */
  paths: string[];
}

export interface PreviewGroup {
  tenants: number;
  slugs: string[];
  /** E.g. "update 3 Release; update 1 ResourceQuota", or "no change". */
  summary: string;
  changeSummary: { create: number; update: number; replace: number; delete: number; same: number };
  changes: GroupChange[];
  destructive: boolean;
}

export interface FleetPreview {
  selected: number;
  groups: PreviewGroup[];
  destructive: { tenantId: string; slug: string; resources: { urn: string; type: string; op: string }[] }[];
  failed: { tenantId: string; slug: string; error: string }[];
  notPreviewed: { tenantId: string; slug: string; status: string }[];
}

/** What the preview found for one selected tenant; a rollout compares the tenant's own preview with `resources`. */
export interface FleetChangeTenant {
  tenantId: string;
  slug: string;
  outcome: "change" | "no-change" | "failed" | "not-previewed";
  group: number | null;
  /** The resources that change, as "op urn", sorted. */
  resources: string[];
}

export interface FleetChangeRow {
  id: string;
  status: FleetChangeStatus;
  patch: Record<string, unknown>;
  settings: PlatformSettings;
  baseVersion: number;
  changedPaths: string[];
  selector: FleetSelector;
  reason: string;
  createdBy: string;
  createdAt: Date;
  /** When its preview started; null while it waits for the preview job. */
  previewedAt: Date | null;
  preview: FleetPreview;
  /** Why a background preview failed (PREVIEW_FAILED). */
  previewError: string | null;
  /** Tenants previewed so far of those selected, while PREVIEWING in the background. */
  previewProgress: { done: number; total: number } | null;
  tenants: FleetChangeTenant[];
  destructive: boolean;
  decidedBy: string | null;
  decidedAt: Date | null;
  rejectionReason: string | null;
  version: number | null;
  rolloutId: string | null;
}

const CHANGE_COLUMNS = `c.id, c.status, c.patch, c.settings, c.base_version AS "baseVersion", c.changed_paths AS "changedPaths", c.selector, c.reason,
  c.created_by AS "createdBy", c.created_at AS "createdAt", c.previewed_at AS "previewedAt", c.preview, c.tenants, c.destructive,
  c.preview_error AS "previewError", c.preview_progress AS "previewProgress",
  c.decided_by AS "decidedBy", c.decided_at AS "decidedAt", c.rejection_reason AS "rejectionReason", c.version,
  (SELECT r.id FROM fleet_rollouts r WHERE r.change_id = c.id) AS "rolloutId"`;

export async function insertFleetChange(
  db: Queryable,
  c: Pick<FleetChangeRow, "id" | "patch" | "settings" | "baseVersion" | "changedPaths" | "selector" | "reason" | "createdBy" | "previewedAt" | "preview" | "tenants" | "destructive">
    & { status?: "PENDING_REVIEW" | "PREVIEWING"; previewProgress?: { done: number; total: number } },
): Promise<FleetChangeRow> {
  await db.query(
    `INSERT INTO fleet_changes (id, status, patch, settings, base_version, changed_paths, selector, reason, created_by, previewed_at, preview, tenants, destructive, preview_progress)
     VALUES ($1, $13, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14)`,
    [c.id, JSON.stringify(c.patch), JSON.stringify(c.settings), c.baseVersion, c.changedPaths, JSON.stringify(c.selector), c.reason, c.createdBy, c.previewedAt,
      JSON.stringify(redactValue(c.preview)), JSON.stringify(c.tenants), c.destructive, c.status ?? "PENDING_REVIEW", c.previewProgress ? JSON.stringify(c.previewProgress) : null],
  );
  return (await findFleetChange(db, c.id))!;
}

export async function findFleetChange(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<FleetChangeRow | undefined> {
  const { rows } = await db.query(`SELECT ${CHANGE_COLUMNS} FROM fleet_changes c WHERE c.id = $1${options.forUpdate ? " FOR UPDATE OF c" : ""}`, [id]);
  return rows[0];
}

/** A background preview starts (again, after a restart): its start time, its count from zero. */
export async function startFleetPreview(db: Queryable, id: string, total: number, options: { resumed?: boolean } = {}): Promise<Date> {
  // Resumed (digests kept from an earlier process): the preview still dates from that start, so that a tenant whose
  // stack changed after it is previewed again at its rollout turn.
  const { rows } = await db.query(
    `UPDATE fleet_changes SET previewed_at = ${options.resumed ? "COALESCE(previewed_at, now())" : "now()"}, preview_progress = $2
      WHERE id = $1 AND status = 'PREVIEWING' RETURNING previewed_at AS "previewedAt"`,
    [id, JSON.stringify({ done: 0, total })],
  );
  return rows[0].previewedAt;
}

/** The digests a background preview kept so far, by slug (a process stopped mid-preview left them). */
export async function fleetPreviewDigests<D>(db: Queryable, id: string): Promise<Map<string, D>> {
  const { rows } = await db.query(`SELECT slug, digest FROM fleet_change_preview_digests WHERE change_id = $1`, [id]);
  return new Map(rows.map((r: { slug: string; digest: D }) => [r.slug, r.digest]));
}

/** Keeps one tenant's digest as soon as it is known; false once the change is no longer PREVIEWING. */
export async function keepFleetPreviewDigest(db: Queryable, id: string, slug: string, digest: unknown): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO fleet_change_preview_digests (change_id, slug, digest)
       SELECT id, $2, $3 FROM fleet_changes WHERE id = $1 AND status = 'PREVIEWING'
     ON CONFLICT (change_id, slug) DO UPDATE SET digest = EXCLUDED.digest`,
    [id, slug, JSON.stringify(digest)],
  );
  return rowCount === 1;
}

/** The digests are spent once the preview has its outcome. */
export async function dropFleetPreviewDigests(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM fleet_change_preview_digests WHERE change_id = $1`, [id]);
}

/** False once the change is no longer PREVIEWING (rejected meanwhile): the preview stops. */
export async function recordFleetPreviewProgress(db: Queryable, id: string, progress: { done: number; total: number }): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE fleet_changes SET preview_progress = $2 WHERE id = $1 AND status = 'PREVIEWING'`, [id, JSON.stringify(progress)]);
  return rowCount === 1;
}

/** The background preview's outcome: the change awaits review with it, or failed with the reason. */
export async function finishFleetPreview(
  db: Queryable, id: string,
  outcome: { preview: FleetPreview; tenants: FleetChangeTenant[]; destructive: boolean } | { error: string },
): Promise<boolean> {
  const { rowCount } = "error" in outcome
    ? await db.query(`UPDATE fleet_changes SET status = 'PREVIEW_FAILED', preview_error = $2 WHERE id = $1 AND status = 'PREVIEWING'`, [id, outcome.error])
    : await db.query(
      `UPDATE fleet_changes SET status = 'PENDING_REVIEW', preview = $2, tenants = $3, destructive = $4,
         preview_progress = jsonb_set(preview_progress, '{done}', preview_progress->'total') WHERE id = $1 AND status = 'PREVIEWING'`,
      [id, JSON.stringify(redactValue(outcome.preview)), JSON.stringify(outcome.tenants), outcome.destructive],
    );
  return rowCount === 1;
}

/** Fleet changes still waiting for their background preview (a process stopped mid-preview). */
export async function previewingFleetChangeIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query(`SELECT id FROM fleet_changes WHERE status = 'PREVIEWING' ORDER BY created_at`);
  return rows.map((r) => r.id);
}

export async function updateFleetChange(db: Queryable, id: string, change: { status: FleetChangeStatus; decidedBy?: string; rejectionReason?: string | null; version?: number }): Promise<void> {
  await db.query(
    `UPDATE fleet_changes SET status = $2, decided_by = COALESCE($3, decided_by), decided_at = CASE WHEN $3::text IS NULL THEN decided_at ELSE now() END,
       rejection_reason = COALESCE($4, rejection_reason), version = COALESCE($5, version) WHERE id = $1`,
    [id, change.status, change.decidedBy ?? null, change.rejectionReason ?? null, change.version ?? null],
  );
}

/**
 * Appends the next platform settings version in the caller's transaction (the
 * approval's), under the same advisory lock as db/platform-settings.ts's
 * writers, so that the version and the approval commit together or not at all.
 */
export async function appendSettingsVersionIn(
  db: Queryable,
  next: { settings: PlatformSettings; createdBy: string; reason: string; changedPaths: string[] },
): Promise<SettingsVersionRow> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('matih.platform_settings_versions'))`);
  const { rows } = await db.query(
    `INSERT INTO platform_settings_versions (version, settings, created_by, reason, changed_paths)
     SELECT COALESCE(max(version), 0) + 1, $1, $2, $3, $4 FROM platform_settings_versions
     RETURNING version, settings, created_at AS "createdAt", created_by AS "createdBy", reason, changed_paths AS "changedPaths"`,
    [JSON.stringify(next.settings), next.createdBy, next.reason, next.changedPaths],
  );
  return rows[0];
}

/** A fleet-wide audit row (no tenant): a fleet change or a rollout; the same actor binding as appendAudit. */
export async function appendFleetAudit(db: Queryable, entry: { actor: string; from: string | null; to: string; message: string; details?: Record<string, unknown> }): Promise<void> {
  const e = redactValue(entry);
  await db.query(
    `INSERT INTO provisioning_audit_logs (tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details)
     VALUES (NULL, NULL, 'fleet', NULL, set_config('${AUDIT_ACTOR_SETTING}', $1::text, true), $2, $3, $4, $5)`,
    [e.actor, e.from, e.to, e.message, JSON.stringify(e.details ?? {})],
  );
}

// Rollouts.

export interface RolloutConfig {
  /** Tenants in the first (canary) wave. */
  canary: number;
  /** Each later wave is this many times the one before. */
  growth: number;
  /** Tenants previewed or applied at once. */
  concurrency: number;
  /** The rollout halts when the canary wave has more failures than this. */
  canaryMaxFailures: number;
  /** A later wave halts the rollout when more than this percentage of its tenants fail. */
  waveFailurePercent: number;
  /** Tenants whose preview deletes or replaces stateful resources may be applied (else held for review). */
  allowDestructive: boolean;
}

export interface RolloutRow {
  id: string;
  changeId: string;
  settingsVersion: number;
  status: RolloutStatus;
  config: RolloutConfig;
  currentWave: number;
  waveCount: number;
  haltedReason: string | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface RolloutTenantRow {
  rolloutId: string;
  tenantId: string;
  slug: string;
  wave: number;
  position: number;
  status: RolloutTenantStatus;
  attempts: number;
  changeId: string | null;
  runId: string | null;
  reason: string | null;
  updatedAt: Date;
}

const ROLLOUT_COLUMNS = `id, change_id AS "changeId", settings_version AS "settingsVersion", status, config, current_wave AS "currentWave", wave_count AS "waveCount",
  halted_reason AS "haltedReason", created_by AS "createdBy", created_at AS "createdAt", updated_at AS "updatedAt", finished_at AS "finishedAt"`;
const TENANT_COLUMNS = `rollout_id AS "rolloutId", tenant_id AS "tenantId", slug, wave, position, status, attempts, change_id AS "changeId", run_id AS "runId", reason, updated_at AS "updatedAt"`;

export async function insertRollout(
  db: Queryable,
  r: Pick<RolloutRow, "id" | "changeId" | "settingsVersion" | "config" | "waveCount" | "createdBy">,
  tenants: { tenantId: string; slug: string; wave: number; position: number }[],
): Promise<RolloutRow> {
  await db.query(
    `INSERT INTO fleet_rollouts (id, change_id, settings_version, status, config, wave_count, created_by) VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6)`,
    [r.id, r.changeId, r.settingsVersion, JSON.stringify(r.config), r.waveCount, r.createdBy],
  );
  await db.query(
    `INSERT INTO fleet_rollout_tenants (rollout_id, tenant_id, slug, wave, position, status)
     SELECT $1, t.tenant_id, t.slug, t.wave, t.position, 'PENDING' FROM unnest($2::uuid[], $3::text[], $4::int[], $5::int[]) AS t(tenant_id, slug, wave, position)`,
    [r.id, tenants.map((t) => t.tenantId), tenants.map((t) => t.slug), tenants.map((t) => t.wave), tenants.map((t) => t.position)],
  );
  return (await findRollout(db, r.id))!;
}

/**
 * The rollout, optionally locked. `skipLocked`: undefined when another
 * transaction holds it (another process is advancing it right now), rather
 * than waiting: of two replicas ticking one rollout, one works and one leaves.
 */
export async function findRollout(db: Queryable, id: string, options: { forUpdate?: boolean; skipLocked?: boolean } = {}): Promise<RolloutRow | undefined> {
  const lock = options.skipLocked ? " FOR UPDATE SKIP LOCKED" : options.forUpdate ? " FOR UPDATE" : "";
  const { rows } = await db.query(`SELECT ${ROLLOUT_COLUMNS} FROM fleet_rollouts WHERE id = $1${lock}`, [id]);
  return rows[0];
}

export async function updateRollout(db: Queryable, id: string, change: { status?: RolloutStatus; currentWave?: number; haltedReason?: string | null; finished?: boolean }): Promise<RolloutRow> {
  const sets = ["updated_at = now()"];
  const values: unknown[] = [id];
  if (change.status !== undefined) sets.push(`status = $${values.push(change.status)}`);
  if (change.currentWave !== undefined) sets.push(`current_wave = $${values.push(change.currentWave)}`);
  if (change.haltedReason !== undefined) sets.push(`halted_reason = $${values.push(change.haltedReason)}`);
  if (change.finished) sets.push("finished_at = now()");
  const { rows } = await db.query(`UPDATE fleet_rollouts SET ${sets.join(", ")} WHERE id = $1 RETURNING ${ROLLOUT_COLUMNS}`, values);
  return rows[0];
}

export async function rolloutTenants(db: Queryable, rolloutId: string, options: { wave?: number; statuses?: RolloutTenantStatus[] } = {}): Promise<RolloutTenantRow[]> {
  const values: unknown[] = [rolloutId];
  const where = ["rollout_id = $1"];
  if (options.wave !== undefined) where.push(`wave = $${values.push(options.wave)}`);
  if (options.statuses) where.push(`status = ANY($${values.push(options.statuses)}::text[])`);
  const { rows } = await db.query(`SELECT ${TENANT_COLUMNS} FROM fleet_rollout_tenants WHERE ${where.join(" AND ")} ORDER BY wave, position`, values);
  return rows;
}

export async function updateRolloutTenant(
  db: Queryable,
  rolloutId: string,
  tenantId: string,
  change: { status: RolloutTenantStatus; changeId?: string | null; runId?: string | null; reason?: string | null; attempt?: boolean },
): Promise<void> {
  const sets = ["status = $3", "updated_at = now()"];
  const values: unknown[] = [rolloutId, tenantId, change.status];
  if (change.changeId !== undefined) sets.push(`change_id = $${values.push(change.changeId)}`);
  if (change.runId !== undefined) sets.push(`run_id = $${values.push(change.runId)}`);
  if (change.reason !== undefined) sets.push(`reason = $${values.push(change.reason === null ? null : redactValue(change.reason))}`);
  if (change.attempt) sets.push("attempts = attempts + 1");
  await db.query(`UPDATE fleet_rollout_tenants SET ${sets.join(", ")} WHERE rollout_id = $1 AND tenant_id = $2`, values);
}

/** Rollouts that may still have work: running ones, and stopped ones whose tenants are still being previewed or applied. */
export async function unfinishedRolloutIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT r.id FROM fleet_rollouts r WHERE r.status = 'RUNNING'
        OR EXISTS (SELECT 1 FROM fleet_rollout_tenants t WHERE t.rollout_id = r.id AND t.status IN ('PREVIEWING', 'APPLYING'))`,
  );
  return rows.map((r: { id: string }) => r.id);
}
