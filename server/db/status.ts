/**
 * The provisioning status read (GET /api/v1/tenants/{id}/provisioning/status,
 * the seed's polling channel and the dashboard's main read) in one query: the
 * tenant, its latest run that changes infrastructure, and that run's phases.
 * It answers exactly what findTenant + latestRun + phasesOf answer one after
 * another (test/server/status-read.test.ts compares them), in one round trip
 * and one snapshot, so a read can no longer see a run's row and phases from
 * two different moments.
 *
 * The three parts come back side by side in rows of one phase each. Their
 * column names overlap (id, status, started_at...), so the rows are read as
 * arrays and cut at two marker columns; every value keeps the type the
 * separate queries give it (dates as Date, counts as numbers).
 */
import type { Queryable } from "./pool.ts";
import { CHANGING_KINDS, PHASE_COLUMNS, RUN_COLUMNS, type PhaseRow, type RunRow } from "./runs.ts";
import { COLUMNS as TENANT_COLUMNS, type TenantRow, UUID } from "./tenants.ts";

export interface StatusRows {
  tenant: TenantRow;
  run: RunRow | undefined;
  phases: PhaseRow[];
}

const RUN_MARK = "status:run";
const PHASES_MARK = "status:phases";

/** The tenant by id, or by slug as findTenant chooses (the live one, else the latest deleted one). */
const TENANT_BY_ID = `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1::uuid`;
const TENANT_BY_SLUG = `SELECT ${TENANT_COLUMNS} FROM tenants WHERE slug = $1 ORDER BY (status = 'DELETED'), created_at DESC, id DESC LIMIT 1`;

const statusQuery = (tenant: string) => `
  SELECT t.*, NULL AS "${RUN_MARK}", r.*, NULL AS "${PHASES_MARK}", p.*
  FROM (${tenant}) t
  LEFT JOIN LATERAL (
    SELECT ${RUN_COLUMNS} FROM provisioning_runs
    WHERE tenant_id = t.id AND kind = ANY($2::text[])
    ORDER BY created_at DESC, id DESC LIMIT 1
  ) r ON true
  LEFT JOIN LATERAL (SELECT ${PHASE_COLUMNS} FROM run_phases WHERE run_id = r.id) p ON true
  ORDER BY p.number`;

const BY_ID = statusQuery(TENANT_BY_ID);
const BY_SLUG = statusQuery(TENANT_BY_SLUG);

export async function statusRowsOf(db: Queryable, idOrSlug: string): Promise<StatusRows | undefined> {
  const result = await db.query({ text: UUID.test(idOrSlug) ? BY_ID : BY_SLUG, values: [idOrSlug, CHANGING_KINDS], rowMode: "array" });
  if (result.rows.length === 0) return undefined;
  const names = result.fields.map((f) => f.name);
  const runAt = names.indexOf(RUN_MARK);
  const phasesAt = names.indexOf(PHASES_MARK);
  const part = (row: unknown[], from: number, to: number) => {
    const object: Record<string, unknown> = {};
    for (let i = from; i < to; i++) object[names[i]!] = row[i];
    return object;
  };
  const first = result.rows[0] as unknown[];
  const tenant = part(first, 0, runAt) as unknown as TenantRow;
  const run = part(first, runAt + 1, phasesAt) as unknown as RunRow;
  // A LEFT JOIN that found nothing gives nulls; an id is never null in a row that exists.
  const hasRun = run.id !== null;
  const phases = hasRun
    ? result.rows.map((row) => part(row as unknown[], phasesAt + 1, names.length) as unknown as PhaseRow).filter((p) => p.runId !== null)
    : [];
  return { tenant, run: hasRun ? run : undefined, phases };
}
