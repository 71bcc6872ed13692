/**
 * The move of a tier change: one tenant schema copied from a source database
 * to a target database on another server, then verified, while the source
 * keeps serving. Steps (each named in a failure):
 *
 * - preflight: both servers answer; the client tools can dump the source
 *   (pg_dump refuses servers newer than itself) and the target is not older
 *   than the source (a dump is only meant to load into the same or a newer
 *   major version); the tenant role (and the schema's owner) exist on the
 *   target; the target schema is absent, or left marked by an earlier failed
 *   move (then removed). A schema there without the marker is refused.
 * - snapshot: a read-only REPEATABLE READ transaction on the source exports
 *   its snapshot. pg_dump reads that snapshot, and so do the source-side
 *   checksums and the large-object copy, so everything describes one instant
 *   even while the tenant keeps writing.
 * - prepare-target: the schema is created on the target, owned as on the
 *   source, with the incomplete marker as its comment, committed before any
 *   data arrives: whatever happens next, the target schema says it is not
 *   a finished copy until the finish step clears the marker.
 * - copy: pg_dump (custom format, the schema only) into a private temporary
 *   directory, then pg_restore in one transaction into the marked schema
 *   (tables, data through COPY, indexes, constraints, views, functions,
 *   triggers, sequences with their values, owners and grants). A cut
 *   connection or a failing write rolls the whole restore back.
 * - large-objects: the tenant role's large objects, copied under the same
 *   OIDs (columns refer to them by OID) with their owner and grants, in one
 *   transaction. They are not in the dump: pg_dump with --schema leaves large
 *   objects out, and with --blobs it would take every large object of the
 *   database, other tenants' included.
 * - verify: per table, row count and checksum on both sides (inventory.ts);
 *   the same tables; owners and grants; each sequence at least at the
 *   source's value; each large object's size, digest, owner and grants.
 * - finish: the marker is replaced by the source schema's own comment.
 *
 * On failure after prepare-target the target is cleaned (the marked schema
 * dropped, the large objects this move created unlinked); if the target
 * cannot be reached for that, it stays marked and the error says so. The
 * source is only ever read.
 *
 * Writes made to the source after the snapshot are not in the copy: the
 * switch step must stop writes (or move again) before it points the tenant
 * at the target: a tier change (automation/render/tier-change.ts) stops the
 * tenant's writes on the source before it calls this (targets.ts).
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { clientBinDir, libpqEnv, runTool, toolMajorVersion } from "./client-tools.ts";
import {
  largeObjectGrants, largeObjectsOf, privileges, quoteIdent, readLargeObject, sequenceValues, tableChecksums, useStableTextSettings,
} from "./inventory.ts";
import { DatabaseMoveError, type MoveReport, type MoveStep, type PostgresEndpoint, type TableReport, type TargetState } from "./types.ts";
import { inventoryDifferences, type Inventory, type LargeObjectInventory } from "./verify.ts";

/** The comment an unfinished copy carries on the target, followed by a JSON note of when and from where. */
export const INCOMPLETE_MARKER = "matih:move-incomplete";

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export interface MoveRequest {
  readonly source: PostgresEndpoint;
  readonly target: PostgresEndpoint;
  /** The tenant schema, `tenant_<slug>`; the same name on the target. */
  readonly schema: string;
  /** The tenant role; it must exist on the target already (the expand step creates it with its password). */
  readonly role: string;
  /** Directory of pg_dump and pg_restore; default MATIH_PG_BIN, else /usr/lib/postgresql/15/bin. */
  readonly clientBinDir?: string;
  /** Where the dump is kept while it is restored (a private directory is made inside); default the OS temporary directory. */
  readonly workDir?: string;
  readonly signal?: AbortSignal;
  /** Called as each step starts. */
  readonly onStep?: (step: MoveStep) => void;
}

const ignore = () => undefined;

function connect(endpoint: PostgresEndpoint, application: string): pg.Client {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    password: endpoint.password,
    ssl: endpoint.sslMode === undefined || endpoint.sslMode === "disable" || endpoint.sslMode === "prefer" ? false
      : { rejectUnauthorized: endpoint.sslMode === "verify-full" || endpoint.sslMode === "verify-ca" },
    application_name: application,
    connectionTimeoutMillis: (endpoint.connectTimeoutSeconds ?? 10) * 1000,
  });
  // A connection cut while idle is reported as an 'error' event; unhandled, it would end the process. The next query fails instead.
  client.on("error", ignore);
  return client;
}

async function serverMajor(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(rows[0]!.v) / 10000);
}

async function schemaInfo(client: pg.Client, schema: string): Promise<{ owner: string; comment: string | null } | null> {
  const { rows } = await client.query<{ owner: string; comment: string | null }>(
    "SELECT pg_get_userbyid(nspowner) AS owner, obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = $1", [schema]);
  return rows[0] ?? null;
}

async function roleExists(client: pg.Client, role: string): Promise<boolean> {
  const { rowCount } = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
  return rowCount === 1;
}

const isMarker = (comment: string | null | undefined) => typeof comment === "string" && comment.startsWith(INCOMPLETE_MARKER);

/**
 * Removes what a move wrote to the target: the schema, only while it carries
 * the marker, and the given large objects (or, for the leftovers of an
 * earlier move, all the role's), only those the tenant role owns.
 */
async function removeFromTarget(target: PostgresEndpoint, schema: string, role: string, largeObjects: readonly number[] | "all-of-role"): Promise<void> {
  const client = connect(target, "matih-move-cleanup");
  await client.connect();
  try {
    await client.query("BEGIN");
    const info = await schemaInfo(client, schema);
    if (info && !isMarker(info.comment)) throw new Error(`schema ${schema} on the target no longer carries the move's marker; left alone`);
    if (info) await client.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
    const owned = `m.lomowner = (SELECT oid FROM pg_roles WHERE rolname = $1)`;
    if (largeObjects === "all-of-role") await client.query(`SELECT lo_unlink(m.oid) FROM pg_largeobject_metadata m WHERE ${owned}`, [role]);
    else if (largeObjects.length > 0) await client.query(`SELECT lo_unlink(m.oid) FROM pg_largeobject_metadata m WHERE ${owned} AND m.oid = ANY($2::oid[])`, [role, largeObjects]);
    await client.query("COMMIT");
  } finally {
    await client.end().catch(ignore);
  }
}

/** pg_restore's table of contents without the schema's own entry and comment: the schema is created (and marked) beforehand. */
export function restoreList(toc: string, schema: string): string {
  const own = new RegExp(`^\\d+; \\d+ \\d+ (SCHEMA - ${schema}|COMMENT - SCHEMA ${schema}) `);
  return toc.split("\n").filter((line) => !own.test(line)).join("\n");
}

export async function moveTenantSchema(request: MoveRequest): Promise<MoveReport> {
  const started = performance.now();
  const { schema, role } = request;
  const steps: Partial<Record<MoveStep, number>> = {};
  let step: MoveStep = "preflight";
  let stepStarted = started;
  const enter = (next: MoveStep) => {
    steps[step] = Math.round(performance.now() - stepStarted);
    request.signal?.throwIfAborted();
    step = next;
    stepStarted = performance.now();
    request.onStep?.(next);
  };
  request.onStep?.("preflight");
  if (!IDENTIFIER.test(schema) || !IDENTIFIER.test(role)) {
    throw new DatabaseMoveError("preflight", "untouched", "schema and role must be lowercase PostgreSQL identifiers");
  }

  const binDir = clientBinDir(request.clientBinDir);
  const source = connect(request.source, "matih-move-source");
  const target = connect(request.target, "matih-move-target");
  let targetWritten = false;
  let createdLargeObjects: number[] = [];
  let workDir: string | null = null;
  try {
    // preflight
    await source.connect();
    await target.connect();
    const versions = { source: await serverMajor(source), target: await serverMajor(target), client: await toolMajorVersion(binDir, "pg_dump") };
    if (versions.client < versions.source) {
      throw new Error(`pg_dump ${versions.client} (${binDir}) cannot dump a PostgreSQL ${versions.source} server; set MATIH_PG_BIN to client tools of version ${versions.source} or newer`);
    }
    if (versions.target < versions.source) {
      throw new Error(`the target runs PostgreSQL ${versions.target}, older than the source's ${versions.source}; a dump is only meant to load into the same or a newer major version`);
    }
    const sourceSchema = await schemaInfo(source, schema);
    if (!sourceSchema) throw new Error(`schema ${schema} does not exist on the source`);
    for (const needed of new Set([role, sourceSchema.owner])) {
      if (!(await roleExists(target, needed))) throw new Error(`role ${needed} does not exist on the target (the expand step creates the tenant role before the move)`);
    }
    const existing = await schemaInfo(target, schema);
    if (existing && !isMarker(existing.comment)) {
      throw new Error(`schema ${schema} already exists on the target and is not left from an unfinished move; refusing to overwrite it`);
    }
    if (existing) {
      // From here on a failure leaves (at worst) what was already there: a marked schema.
      targetWritten = true;
      await removeFromTarget(request.target, schema, role, "all-of-role");
    }

    enter("snapshot");
    await source.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await useStableTextSettings(source);
    const { rows: [snap] } = await source.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
    const sequences = await sequenceValues(source, schema);

    enter("prepare-target");
    targetWritten = true;
    const note = JSON.stringify({ startedAt: new Date().toISOString(), from: `${request.source.host}:${request.source.port}/${request.source.database}` });
    await target.query("BEGIN");
    await target.query(`CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${quoteIdent(sourceSchema.owner)}`);
    await target.query(`COMMENT ON SCHEMA ${quoteIdent(schema)} IS ${pg.escapeLiteral(`${INCOMPLETE_MARKER} ${note}`)}`);
    await target.query("COMMIT");

    enter("copy");
    workDir = await mkdtemp(path.join(request.workDir ?? tmpdir(), "matih-move-"));
    const archive = path.join(workDir, `${schema}.dump`);
    await runTool(binDir, "pg_dump", [
      "--format=custom", `--schema=${schema}`, `--snapshot=${snap!.id}`, `--file=${archive}`,
      // Tablespaces, publications and security labels belong to the server, not the tenant; the target's own apply.
      "--no-tablespaces", "--no-publications", "--no-subscriptions", "--no-security-labels",
    ], libpqEnv(request.source, "matih-move-dump"), request.signal);
    const archiveBytes = (await stat(archive)).size;
    const { stdout: toc } = await runTool(binDir, "pg_restore", ["--list", archive], libpqEnv(request.target, "matih-move-list"), request.signal);
    const list = path.join(workDir, "restore.list");
    await writeFile(list, restoreList(toc, schema), { mode: 0o600 });
    await runTool(binDir, "pg_restore", [
      "--single-transaction", "--exit-on-error", "--no-tablespaces", `--use-list=${list}`, `--dbname=${request.target.database}`, archive,
    ], libpqEnv(request.target, "matih-move-restore"), request.signal);

    enter("large-objects");
    const largeObjects = await largeObjectsOf(source, role);
    const sourceDigests = new Map<number, { bytes: number; sha256: string }>();
    await target.query("BEGIN");
    for (const oid of largeObjects) {
      // Same OID, as columns refer to it. Another owner's object under that OID (another tenant's on a shared server)
      // stops the move: nothing is overwritten (lo_create would refuse it too, less clearly).
      const { rows: taken } = await target.query<{ owner: string }>("SELECT pg_get_userbyid(lomowner) AS owner FROM pg_largeobject_metadata WHERE oid = $1::oid", [oid]);
      if (taken.length > 0) throw new Error(`large object ${oid} already exists on the target (owned by ${taken[0]!.owner}); the tenant's columns refer to it by that OID`);
      await target.query("SELECT lo_create($1::oid)", [oid]);
      sourceDigests.set(oid, await readLargeObject(source, oid, async (chunk, offset) => {
        await target.query("SELECT lo_put($1::oid, $2::bigint, $3::bytea)", [oid, offset, chunk]);
      }));
      await target.query(`ALTER LARGE OBJECT ${oid} OWNER TO ${quoteIdent(role)}`);
      for (const g of await largeObjectGrants(source, oid)) {
        await target.query(`GRANT ${g.privilege} ON LARGE OBJECT ${oid} TO ${g.grantee === "PUBLIC" ? "PUBLIC" : quoteIdent(g.grantee)}`);
      }
    }
    createdLargeObjects = largeObjects;
    await target.query("COMMIT");
    const largeObjectBytes = [...sourceDigests.values()].reduce((n, d) => n + d.bytes, 0);

    enter("verify");
    // A grant of ALL on a source before 17 becomes ALL including MAINTAIN on a target of 17 or later: not a difference.
    const newerPrivileges = versions.source < 17 && versions.target >= 17 ? ["MAINTAIN"] : [];
    const largeObjectsOn = async (client: pg.Client, oids: readonly number[]) => {
      const out = new Map<number, LargeObjectInventory>();
      for (const oid of oids) {
        const { rows } = await client.query<{ owner: string }>("SELECT pg_get_userbyid(lomowner) AS owner FROM pg_largeobject_metadata WHERE oid = $1::oid", [oid]);
        if (rows.length === 0) continue;
        const digest = client === source ? sourceDigests.get(oid)! : await readLargeObject(client, oid);
        const grants = (await largeObjectGrants(client, oid)).map((g) => `${g.grantee}=${g.privilege}`);
        out.set(oid, { ...digest, owner: rows[0]!.owner, grants });
      }
      return out;
    };
    const sourceInventory: Inventory = {
      tables: await tableChecksums(source, schema),
      privileges: await privileges(source, schema),
      sequences,
      largeObjects: await largeObjectsOn(source, largeObjects),
    };
    await useStableTextSettings(target);
    const targetInventory: Inventory = {
      tables: await tableChecksums(target, schema),
      privileges: await privileges(target, schema, newerPrivileges),
      sequences: await sequenceValues(target, schema),
      largeObjects: await largeObjectsOn(target, largeObjects),
    };
    const problems = inventoryDifferences(sourceInventory, targetInventory);
    if (problems.length > 0) throw new Error(`verification found ${problems.length} difference(s): ${problems.slice(0, 10).join("; ")}`);

    enter("finish");
    await source.query("COMMIT");
    await target.query(`COMMENT ON SCHEMA ${quoteIdent(schema)} IS ${sourceSchema.comment === null ? "NULL" : pg.escapeLiteral(sourceSchema.comment)}`);
    steps.finish = Math.round(performance.now() - stepStarted);

    const tables: TableReport[] = [...sourceInventory.tables];
    return {
      schema,
      tables,
      sequences,
      largeObjects: { count: largeObjects.length, bytes: largeObjectBytes },
      rows: tables.reduce((n, t) => n + t.rows, 0),
      bytesMoved: archiveBytes + largeObjectBytes,
      durationMs: Math.round(performance.now() - started),
      steps,
      versions,
    };
  } catch (error) {
    let state: TargetState = "untouched";
    let cleanupNote = "";
    if (targetWritten) {
      try {
        await removeFromTarget(request.target, schema, role, createdLargeObjects);
        state = "cleaned";
      } catch (cleanupError) {
        state = "marked-incomplete";
        cleanupNote = `; cleaning the target failed (${(cleanupError as Error).message}), its schema keeps the "${INCOMPLETE_MARKER}" comment and the next move removes it`;
      }
    }
    throw new DatabaseMoveError(step, state, `${(error as Error).message}${cleanupNote}`, { cause: error });
  } finally {
    await source.end().catch(ignore);
    await target.end().catch(ignore);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}
