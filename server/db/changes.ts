import { knownSecrets, redactResourceChanges, redactValue } from "../../automation/index.ts";
import type { Tier } from "../../model/tiers.ts";
import type { Queryable } from "./pool.ts";

export const CHANGE_STATUSES = ["PREVIEWING", "PREVIEW_FAILED", "PENDING_REVIEW", "APPROVED", "APPLYING", "APPLIED", "FAILED", "REJECTED", "STALE", "EXPIRED"] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];

/**
 * What approving the change does: `update` applies its previewed plan; with
 * MATIH_REQUIRE_SEPARATE_APPROVER on, `teardown` and `rollback` are those
 * actions asked for by one admin and waiting for another's approval (no
 * preview: they are created PENDING_REVIEW); `restore` is always asked for and
 * reviewed so (four eyes or not), and its approval performs the restore.
 */
export type ChangeKind = "update" | "teardown" | "rollback" | "restore";

/** The backup a restore request names, as it was when asked for (what the reviewer approves). */
export interface RestoreRequestBackup {
  id: string;
  tenantId: string;
  schemaName: string;
  reason: string;
  sizeBytes: number;
  createdAt: string;
}

/** What a change asked for; an empty object converges the tenant to its recorded spec. */
export interface ChangeRequest {
  tier?: Tier;
  lastPhase?: number;
  reason?: string;
  /** A teardown, rollback or restore request asked to go on without its backup. */
  skipBackup?: boolean;
  /** A restore request: the backup to restore. */
  backupId?: string;
  backup?: RestoreRequestBackup;
  /** A restore request: what the restore replaces, in words. */
  replaces?: string;
}

/** One changed property of a resource; secret values read "[secret]". */
export interface ChangeDiff {
  path: string;
  old?: unknown;
  new?: unknown;
}

export interface PreviewedResourceChange {
  urn: string;
  type: string;
  name: string;
  phase: { number: number; name: string } | null;
  op: string;
  diffs: ChangeDiff[];
}

export interface ChangePreview {
  changeSummary: { create: number; update: number; replace: number; delete: number; same: number };
  destructive: boolean;
  /** Why the change is destructive: the stateful resources it deletes or replaces. */
  destructiveResources: { urn: string; type: string; op: string }[];
  changes: PreviewedResourceChange[];
  /** The tier-change steps phase 2 runs and the data it moves (issue 22); absent in previews from before. */
  tierChange?: {
    steps: string[];
    move: { from: string; to: string } | null;
    data: { tables: number; rows: number; bytes: number } | null;
    note?: string;
  };
}

export interface ChangeRow {
  id: string;
  tenantId: string;
  status: ChangeStatus;
  requested: ChangeRequest;
  targetTier: Tier;
  targetPhase: number;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  previewRunId: string | null;
  previewedAt: Date | null;
  preview: ChangePreview | null;
  destructive: boolean | null;
  /** The engine's saved plan reference (SavedPlan without its contents, which are kept apart: findChangePlanContent). */
  plan: unknown;
  error: string | null;
  /** Why an admin rejected it (REJECTED only; null when no reason was given). */
  rejectionReason: string | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  allowDestructive: boolean;
  appliedAt: Date | null;
  kind: ChangeKind;
  /** The teardown or rollback run an approved request queued; null otherwise (a restore has no run). */
  runId: string | null;
}

const COLUMNS = `id, tenant_id AS "tenantId", status, requested, target_tier AS "targetTier", target_phase AS "targetPhase",
  created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt", preview_run_id AS "previewRunId",
  previewed_at AS "previewedAt", preview, destructive, plan, error, rejection_reason AS "rejectionReason", decided_by AS "decidedBy", decided_at AS "decidedAt",
  allow_destructive AS "allowDestructive", applied_at AS "appliedAt", kind, run_id AS "runId"`;

/**
 * A change as read: its preview masked once more, so that a review stored
 * before secrets were masked by value (an old side in clear) is never shown.
 */
function masked(row: ChangeRow | undefined): ChangeRow | undefined {
  if (!row?.preview) return row;
  return { ...row, preview: { ...row.preview, changes: redactResourceChanges(row.preview.changes, knownSecrets()) } };
}

export async function insertChange(
  db: Queryable,
  c: Pick<ChangeRow, "id" | "tenantId" | "requested" | "targetTier" | "targetPhase" | "createdBy"> & { ttlHours: number },
): Promise<ChangeRow> {
  // Both times from the database clock, so that expiry is decided on one clock.
  const { rows } = await db.query(
    `INSERT INTO tenant_changes (id, tenant_id, status, requested, target_tier, target_phase, created_by, created_at, expires_at)
     VALUES ($1, $2, 'PREVIEWING', $3, $4, $5, $6, now(), now() + make_interval(secs => $7)) RETURNING ${COLUMNS}`,
    [c.id, c.tenantId, JSON.stringify(redactValue(c.requested)), c.targetTier, c.targetPhase, c.createdBy, c.ttlHours * 3600],
  );
  return rows[0];
}

/**
 * Records a teardown or rollback asked for under four eyes, or a restore:
 * awaiting review at once (there is nothing to preview), destructive by nature.
 */
export async function insertActionRequest(
  db: Queryable,
  c: Pick<ChangeRow, "id" | "tenantId" | "targetTier" | "targetPhase" | "createdBy" | "requested"> & { kind: Exclude<ChangeKind, "update">; ttlHours: number },
): Promise<ChangeRow> {
  const { rows } = await db.query(
    `INSERT INTO tenant_changes (id, tenant_id, kind, status, requested, target_tier, target_phase, created_by, created_at, expires_at, destructive)
     VALUES ($1, $2, $3, 'PENDING_REVIEW', $4, $5, $6, $7, now(), now() + make_interval(secs => $8), true) RETURNING ${COLUMNS}`,
    [c.id, c.tenantId, c.kind, JSON.stringify(redactValue(c.requested)), c.targetTier, c.targetPhase, c.createdBy, c.ttlHours * 3600],
  );
  return rows[0];
}

/** The tenant's unexpired request of this kind and target awaiting review, if any (so that asking twice does not ask two admins twice). */
export async function findPendingActionRequest(db: Queryable, tenantId: string, kind: Exclude<ChangeKind, "update">, targetPhase: number): Promise<ChangeRow | undefined> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM tenant_changes WHERE tenant_id = $1 AND kind = $2 AND target_phase = $3 AND status = 'PENDING_REVIEW' AND expires_at > now()
     ORDER BY created_at DESC LIMIT 1`,
    [tenantId, kind, targetPhase],
  );
  return rows[0];
}

/** The tenant's unexpired restore request of this backup (and skipBackup) awaiting review, if any. */
export async function findPendingRestoreRequest(db: Queryable, tenantId: string, backupId: string, skipBackup: boolean): Promise<ChangeRow | undefined> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM tenant_changes WHERE tenant_id = $1 AND kind = 'restore' AND status = 'PENDING_REVIEW' AND expires_at > now()
       AND requested ->> 'backupId' = $2 AND coalesce((requested ->> 'skipBackup')::boolean, false) = $3
     ORDER BY created_at DESC LIMIT 1`,
    [tenantId, backupId, skipBackup],
  );
  return rows[0];
}

/** Whether the change's approval window has closed, by the database clock. */
export async function changeExpired(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT expires_at < now() AS expired FROM tenant_changes WHERE id = $1`, [id]);
  return rows[0]?.expired === true;
}

export async function findChange(db: Queryable, tenantId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<ChangeRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM tenant_changes WHERE tenant_id = $1 AND id = $2${options.forUpdate ? " FOR UPDATE" : ""}`, [tenantId, id]);
  return masked(rows[0]);
}

export async function findChangeById(db: Queryable, id: string): Promise<ChangeRow | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM tenant_changes WHERE id = $1`, [id]);
  return masked(rows[0]);
}

export async function listChanges(db: Queryable, tenantId: string, options: { limit: number; offset: number }): Promise<ChangeRow[]> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM tenant_changes WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
    [tenantId, options.limit, options.offset],
  );
  return rows.map((row: ChangeRow) => masked(row)!);
}

export interface ChangeUpdate {
  status?: ChangeStatus;
  previewRunId?: string;
  previewed?: boolean;
  preview?: ChangePreview;
  destructive?: boolean;
  plan?: unknown;
  /** The plan file's contents, kept apart from the reference (never in API answers or listings). */
  planContent?: string | null;
  error?: string | null;
  rejectionReason?: string | null;
  decidedBy?: string;
  allowDestructive?: boolean;
  applied?: boolean;
  runId?: string;
}

export async function updateChange(db: Queryable, id: string, change: ChangeUpdate): Promise<ChangeRow> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  if (change.status !== undefined) sets.push(`status = $${values.push(change.status)}`);
  if (change.previewRunId !== undefined) sets.push(`preview_run_id = $${values.push(change.previewRunId)}`);
  if (change.previewed) sets.push("previewed_at = now()");
  if (change.preview !== undefined) sets.push(`preview = $${values.push(JSON.stringify(change.preview))}::jsonb`);
  if (change.destructive !== undefined) sets.push(`destructive = $${values.push(change.destructive)}`);
  if (change.plan !== undefined) sets.push(`plan = $${values.push(JSON.stringify(change.plan))}::jsonb`);
  if (change.planContent !== undefined) sets.push(`plan_content = $${values.push(change.planContent)}`);
  if (change.error !== undefined) sets.push(`error = $${values.push(redactValue(change.error))}`);
  if (change.rejectionReason !== undefined) sets.push(`rejection_reason = $${values.push(redactValue(change.rejectionReason))}`);
  if (change.decidedBy !== undefined) sets.push(`decided_by = $${values.push(change.decidedBy)}`, "decided_at = now()");
  if (change.allowDestructive !== undefined) sets.push(`allow_destructive = $${values.push(change.allowDestructive)}`);
  if (change.applied) sets.push("applied_at = now()");
  if (change.runId !== undefined) sets.push(`run_id = $${values.push(change.runId)}`);
  const { rows } = await db.query(`UPDATE tenant_changes SET ${sets.join(", ")} WHERE id = $1 RETURNING ${COLUMNS}`, values);
  return masked(rows[0])!;
}

/** The change's saved plan file contents, for the run that applies it; null when none was kept (a plan from before they were). */
export async function findChangePlanContent(db: Queryable, id: string): Promise<string | null> {
  const { rows } = await db.query(`SELECT plan_content AS "content" FROM tenant_changes WHERE id = $1`, [id]);
  return (rows[0]?.content as string | null | undefined) ?? null;
}
