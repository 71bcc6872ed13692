/**
 * What a tier change does to the two database targets around the move, over
 * the same administrative connections the move uses: measure the source for
 * the preview, make sure the tenant role exists on the target (expand), stop
 * the tenant's writes on the source for the move and let them go again if the
 * change fails before the switch, and remove the tenant from the old target
 * (contract).
 */
import pg from "pg";
import { quoteIdent } from "./inventory.ts";
import type { PostgresEndpoint } from "./types.ts";

/** One admin session on the endpoint (its TLS mode as libpq reads it, a connect timeout), ended after `fn`. */
export async function withAdmin<T>(endpoint: PostgresEndpoint, application: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: endpoint.host, port: endpoint.port, database: endpoint.database, user: endpoint.user, password: endpoint.password,
    ssl: endpoint.sslMode === undefined || endpoint.sslMode === "disable" || endpoint.sslMode === "prefer" ? false : { rejectUnauthorized: endpoint.sslMode === "verify-full" || endpoint.sslMode === "verify-ca" },
    application_name: application,
    connectionTimeoutMillis: (endpoint.connectTimeoutSeconds ?? 10) * 1000,
  });
  // An error event on an idle client (the server went away) must not take the process down; the query reports it.
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Tables, rows and on-disk bytes of the tenant schema on the source, for the
 * preview. Rows are counted exactly (one scan per table): the figure a
 * reviewer approves should be the one verify later checks, not a planner's
 * estimate that is -1 until the table was analysed.
 */
export async function measureSchema(endpoint: PostgresEndpoint, schema: string): Promise<{ tables: number; rows: number; bytes: number } | null> {
  return withAdmin(endpoint, "matih-move-measure", async (c) => {
    const { rows: exists } = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    if (exists.length === 0) return null;
    const { rows: tables } = await c.query<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname COLLATE "C"`, [schema]);
    let rows = 0;
    for (const t of tables) {
      const { rows: [count] } = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(schema)}.${quoteIdent(t.name)}`);
      rows += Number(count!.n);
    }
    return { tables: tables.length, rows, bytes: tables.reduce((n, t) => n + Number(t.bytes), 0) };
  });
}

/**
 * The tenant role on the target, as the program's Role resource leaves it
 * before the move (the move refuses a target without it). Created without
 * login here when missing: the engine that declares the role (with its
 * password) owns the login; this only makes sure ownership can be given.
 */
export async function ensureRole(endpoint: PostgresEndpoint, role: string): Promise<boolean> {
  return withAdmin(endpoint, "matih-move-expand", async (c) => {
    const { rows } = await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (rows.length > 0) return false;
    await c.query(`CREATE ROLE ${quoteIdent(role)} NOLOGIN`);
    return true;
  });
}

/**
 * Stops the tenant's writes on the source for the move: the role's sessions
 * default to read-only transactions and its open sessions are ended, so what
 * the move copies is everything the tenant wrote (a write after the move's
 * snapshot would otherwise be lost at the switch). Applications reconnect
 * and can read; a write fails with SQLSTATE 25006 until the switch points
 * them at the target, or `thawWrites` after a failure. A guard against the
 * applications, not a security boundary (a session may turn it off itself).
 */
export async function freezeWrites(endpoint: PostgresEndpoint, role: string): Promise<number> {
  return withAdmin(endpoint, "matih-move-freeze", async (c) => {
    await c.query(`ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(endpoint.database)} SET default_transaction_read_only = on`);
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND pid <> pg_backend_pid()`,
      [role, endpoint.database]);
    return Number(rows[0]!.n);
  });
}

/** Lets the tenant write on the source again (a change that failed before its switch). */
export async function thawWrites(endpoint: PostgresEndpoint, role: string): Promise<void> {
  await withAdmin(endpoint, "matih-move-thaw", async (c) => {
    await c.query(`ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(endpoint.database)} RESET default_transaction_read_only`);
  });
}

/**
 * Removes the tenant from the old target (contract): its schema with
 * everything in it, its large objects, the write freeze, and on a dedicated
 * server its role. On the shared server the role stays when the tenant
 * still lives there (free ↔ professional never gets here). Idempotent: a
 * contract retried after a failure finds less to remove.
 */
export async function removeTenant(endpoint: PostgresEndpoint, schema: string, role: string): Promise<void> {
  await withAdmin(endpoint, "matih-move-contract", async (c) => {
    await c.query("BEGIN");
    await c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
    const { rows } = await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (rows.length > 0) {
      await c.query(`SELECT lo_unlink(m.oid) FROM pg_largeobject_metadata m JOIN pg_roles r ON r.oid = m.lomowner WHERE r.rolname = $1`, [role]);
      await c.query(`ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(endpoint.database)} RESET ALL`);
      await c.query(`DROP OWNED BY ${quoteIdent(role)}`);
    }
    await c.query("COMMIT");
    // Roles belong to the server, not the database: DROP ROLE fails while it owns objects in another database, which
    // a tenant role never does; if it did, the role stays and the contract still succeeds with its data gone.
    if (rows.length > 0) await c.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`).catch(() => undefined);
  });
}
