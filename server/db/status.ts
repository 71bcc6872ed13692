/**
 * The provisioning status read (GET /api/v1/tenants/{id}/provisioning/status,
 * the seed's polling channel and the dashboard's main read) in one query: the
 * tenant, its latest run that changes infrastructure, and that run's phases.
 * It answers exactly what findTenant + latestRun + phasesOf answer one after
 * another (test/server/status-read.test.ts compares them), in one round trip
 * and one snapshot, so a read can no longer see a run's row and phases from
 * two different moments.
 *
 * What it costs is what a client polling it costs (docs/performance.md):
 * - one row, the phases as a JSON array, so the tenant's and the run's
 *   columns are sent and parsed once rather than once per phase;
 * - the phases' timestamps travel as Postgres's own text for them and are
 *   parsed by the driver's own parser, so they are the very Dates the
 *   separate queries gave;
 * - a prepared statement per connection, planned once, not at every read;
 * - the tenant's and the run's column names overlap (id, status,
 *   started_at...), so the row is read as an array and cut at two marker
 *   columns; every value keeps the type the separate queries give it;
 * - the row versions the answer was read from, in the same snapshot, so that
 *   a built answer can be kept and sent again for as long as a much smaller
 *   query (`statusVersionOf`) finds the same versions
 *   (domain/status-answers.ts).
 */
import pg from "pg";
import type { Queryable } from "./pool.ts";
import { CHANGING_KINDS, RUN_COLUMNS, type PhaseRow, type RunRow } from "./runs.ts";
import { COLUMNS as TENANT_COLUMNS, lookupKind, tenantLookup, type TenantRow } from "./tenants.ts";

export interface StatusRows {
  tenant: TenantRow;
  run: RunRow | undefined;
  phases: PhaseRow[];
  /** The row versions the answer was read from (see `StatusVersion`). */
  version: string;
}

/**
 * Which row versions a status answer is built from: the tenant row's, its
 * latest changing run's (and that run's id) and its phase rows'. Every
 * committed write to one of them gives that row a new xmin (the writing
 * transaction's id), so two reads that see the same version see the very same
 * rows, and the same answer; a cached answer is checked against it.
 */
export interface StatusVersion {
  tenantId: string;
  version: string;
}

const RUN_MARK = "status:run";
const PHASES_MARK = "status:phases";
/** Columns that carry row versions: read into the version, never into a row. */
const VERSION_PREFIX = "status:v-";


/** A phase row as JSON, under PhaseRow's names; timestamps as text (parsed below). */
const PHASE_JSON = `json_build_object('runId', run_id, 'number', number, 'name', name, 'status', status, 'attempts', attempts,
  'startedAt', started_at::text, 'completedAt', completed_at::text, 'error', error, 'resourcesDone', resources_done, 'resourcesPending', resources_pending, 'steps', steps)`;

const TENANT_XMIN = `xmin AS "${VERSION_PREFIX}tenant"`;
const RUN_XMIN = `xmin AS "${VERSION_PREFIX}run"`;
const PHASE_XMINS = `string_agg(xmin::text, '.' ORDER BY number) AS "${VERSION_PREFIX}phases"`;
const VERSION = `concat_ws(':', t."${VERSION_PREFIX}tenant", r.id, r."${VERSION_PREFIX}run", p."${VERSION_PREFIX}phases")`;

/** The tenant (t), its latest run that changes infrastructure (r) and that run's phases (p), each with the given columns. */
const statusFrom = (tenant: string, runColumns: string, phaseColumns?: string) => `
  FROM (${tenant}) t
  LEFT JOIN LATERAL (
    SELECT ${runColumns}, ${RUN_XMIN} FROM provisioning_runs
    WHERE tenant_id = t.id AND kind = ANY($2::text[])
    ORDER BY created_at DESC, id DESC LIMIT 1
  ) r ON true
  LEFT JOIN LATERAL (SELECT ${phaseColumns ? `${phaseColumns}, ` : ""}${PHASE_XMINS} FROM run_phases WHERE run_id = r.id) p ON true`;

const statusQuery = (key: "id" | "slug") => `
  SELECT t.*, NULL AS "${RUN_MARK}", r.*, NULL AS "${PHASES_MARK}", p.phases, ${VERSION} AS "${VERSION_PREFIX}all"
  ${statusFrom(tenantLookup(key, `${TENANT_COLUMNS}, ${TENANT_XMIN}`), RUN_COLUMNS, `json_agg(${PHASE_JSON} ORDER BY number) AS phases`)}`;

const versionQuery = (key: "id" | "slug") => `
  SELECT t.id, ${VERSION} AS version
  ${statusFrom(tenantLookup(key, `id, ${TENANT_XMIN}`), "id")}`;

const BY_ID = { name: "matih-status-by-id", text: statusQuery("id") };
const BY_SLUG = { name: "matih-status-by-slug", text: statusQuery("slug") };
const VERSION_BY_ID = { name: "matih-status-version-by-id", text: versionQuery("id") };
const VERSION_BY_SLUG = { name: "matih-status-version-by-slug", text: versionQuery("slug") };
const parseTimestamp = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date;

type PhaseJson = Omit<PhaseRow, "startedAt" | "completedAt"> & { startedAt: string | null; completedAt: string | null };

export async function statusRowsOf(db: Queryable, idOrSlug: string): Promise<StatusRows | undefined> {
  const query = lookupKind(idOrSlug) === "id" ? BY_ID : BY_SLUG;
  const result = await db.query({ ...query, values: [idOrSlug, CHANGING_KINDS], rowMode: "array" });
  const row = result.rows[0] as unknown[] | undefined;
  if (!row) return undefined;
  const names = result.fields.map((f) => f.name);
  const runAt = names.indexOf(RUN_MARK);
  const phasesAt = names.indexOf(PHASES_MARK);
  const part = (from: number, to: number) => {
    const object: Record<string, unknown> = {};
    for (let i = from; i < to; i++) if (!names[i]!.startsWith(VERSION_PREFIX)) object[names[i]!] = row[i];
    return object;
  };
  const version = row[names.length - 1] as string;
  const tenant = part(0, runAt) as unknown as TenantRow;
  const run = part(runAt + 1, phasesAt) as unknown as RunRow;
  // A LEFT JOIN that found nothing gives nulls; an id is never null in a row that exists.
  if (run.id === null) return { tenant, run: undefined, phases: [], version };
  const phases = ((row[phasesAt + 1] ?? []) as PhaseJson[]).map((p): PhaseRow => ({
    ...p,
    startedAt: p.startedAt === null ? null : parseTimestamp(p.startedAt),
    completedAt: p.completedAt === null ? null : parseTimestamp(p.completedAt),
  }));
  return { tenant, run, phases, version };
}

/** The row versions of a tenant's status answer (see `StatusVersion`), without reading the answer. */
export async function statusVersionOf(db: Queryable, idOrSlug: string): Promise<StatusVersion | undefined> {
  const query = lookupKind(idOrSlug) === "id" ? VERSION_BY_ID : VERSION_BY_SLUG;
  const result = await db.query<{ id: string; version: string }>({ ...query, values: [idOrSlug, CHANGING_KINDS] });
  const row = result.rows[0];
  return row && { tenantId: row.id, version: row.version };
}
