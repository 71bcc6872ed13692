/**
 * The fleet at a glance: one page of tenants with each one's latest
 * infrastructure run and its phases and its latest drift state, in four
 * queries whatever the page size (tenants, their latest runs, those runs'
 * phases, their drift), and the count of tenants per status and per drift
 * state.
 */
import type { DriftState } from "./drift.ts";
import { BEHIND_CURRENT_SETTINGS, tenantSettingsVersions } from "./platform-settings.ts";
import type { Queryable } from "./pool.ts";
import { PHASE_COLUMNS, RUN_COLUMNS, type PhaseRow, type RunRow } from "./runs.ts";
import { COLUMNS as TENANT_COLUMNS, type TenantRow } from "./tenants.ts";

export interface FleetFilter {
  status?: string;
  tier?: string;
  /** Part of the slug, matched case-insensitively. */
  search?: string;
  /** The latest drift check's state; UNCHECKED: never checked. */
  drift?: DriftState | "UNCHECKED";
  /** Only tenants not last applied with the current platform settings version (never applied ones included). */
  behind?: boolean;
  limit: number;
  offset: number;
}

/** What the latest drift check of a tenant found, and since when that has been so. */
export interface FleetDrift {
  state: DriftState;
  since: Date;
  lastCheckedAt: Date;
}

export interface FleetPage {
  entries: { tenant: TenantRow; run: RunRow | undefined; phases: PhaseRow[]; drift: FleetDrift | undefined; settings: { version: number | null; appliedAt: Date | null } }[];
  /** The current platform settings version; null before the first is seeded. */
  currentSettingsVersion: number | null;
  total: number;
  countsByStatus: Record<string, number>;
  /** Tenants that are not deleted, per latest drift state; never checked ones under UNCHECKED. */
  countsByDrift: Record<string, number>;
}

/** `%` and `_` in what a user types are literal characters, not wildcards. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export async function fleetPage(db: Queryable, filter: FleetFilter): Promise<FleetPage> {
  const where: string[] = [];
  const values: unknown[] = [];
  // Deleted tenants are history: they show only when asked for by status.
  if (filter.status) where.push(`status = $${values.push(filter.status)}`);
  else where.push("status <> 'DELETED'");
  if (filter.tier) where.push(`tier = $${values.push(filter.tier)}`);
  if (filter.search) where.push(`slug ILIKE $${values.push(likePattern(filter.search))}`);
  if (filter.drift === "UNCHECKED") where.push("NOT EXISTS (SELECT 1 FROM tenant_drift d WHERE d.tenant_id = tenants.id)");
  else if (filter.drift) where.push(`EXISTS (SELECT 1 FROM tenant_drift d WHERE d.tenant_id = tenants.id AND d.state = $${values.push(filter.drift)})`);
  if (filter.behind) where.push(BEHIND_CURRENT_SETTINGS);
  const clause = `WHERE ${where.join(" AND ")}`;
  const [total, page, counts, driftCounts] = await Promise.all([
    db.query(`SELECT count(*)::int AS n FROM tenants ${clause}`, values),
    db.query(
      `SELECT ${TENANT_COLUMNS} FROM tenants ${clause} ORDER BY created_at DESC, id DESC LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
      [...values, filter.limit, filter.offset],
    ),
    db.query(`SELECT status, count(*)::int AS n FROM tenants GROUP BY status`),
    // Never-checked tenants are counted too (UNCHECKED, as the drift filter names them): a fleet of
    // mostly unchecked tenants must not read as mostly in sync.
    db.query(`SELECT COALESCE(d.state, 'UNCHECKED') AS state, count(*)::int AS n FROM tenants t LEFT JOIN tenant_drift d ON d.tenant_id = t.id WHERE t.status <> 'DELETED' GROUP BY 1`),
  ]);
  const tenants: TenantRow[] = page.rows;
  const ids = tenants.map((t) => t.id);
  const runs: RunRow[] = ids.length === 0 ? [] : (await db.query(
    `SELECT DISTINCT ON (tenant_id) ${RUN_COLUMNS} FROM provisioning_runs
      WHERE tenant_id = ANY($1::uuid[]) AND kind IN ('provision', 'retry', 'rollback', 'teardown', 'update')
      ORDER BY tenant_id, created_at DESC, id DESC`,
    [ids],
  )).rows;
  const phases: PhaseRow[] = runs.length === 0 ? [] : (await db.query(
    `SELECT ${PHASE_COLUMNS} FROM run_phases WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, number`,
    [runs.map((r) => r.id)],
  )).rows;
  const drifts: (FleetDrift & { tenantId: string })[] = ids.length === 0 ? [] : (await db.query(
    `SELECT tenant_id AS "tenantId", state, state_since AS since, last_checked_at AS "lastCheckedAt" FROM tenant_drift WHERE tenant_id = ANY($1::uuid[])`,
    [ids],
  )).rows;
  const [settingsByTenant, current] = await Promise.all([
    tenantSettingsVersions(db, ids),
    db.query(`SELECT max(version) AS version FROM platform_settings_versions`),
  ]);
  const runByTenant = new Map(runs.map((r) => [r.tenantId, r]));
  const driftByTenant = new Map(drifts.map(({ tenantId, ...drift }) => [tenantId, drift]));
  const phasesByRun = new Map<string, PhaseRow[]>();
  for (const phase of phases) phasesByRun.set(phase.runId, [...(phasesByRun.get(phase.runId) ?? []), phase]);
  return {
    entries: tenants.map((tenant) => {
      const run = runByTenant.get(tenant.id);
      return { tenant, run, phases: run ? phasesByRun.get(run.id) ?? [] : [], drift: driftByTenant.get(tenant.id), settings: settingsByTenant.get(tenant.id) ?? { version: null, appliedAt: null } };
    }),
    total: total.rows[0].n,
    countsByStatus: Object.fromEntries(counts.rows.map((r: { status: string; n: number }) => [r.status, r.n])),
    countsByDrift: Object.fromEntries(driftCounts.rows.map((r: { state: string; n: number }) => [r.state, r.n])),
    currentSettingsVersion: current.rows[0].version ?? null,
  };
}
