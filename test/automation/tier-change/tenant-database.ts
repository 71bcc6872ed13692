/**
 * A tenant's database as the tier-change tests need it on real PostgreSQL
 * servers (the render engine's in tier-change.test.ts, the Pulumi engine's in
 * ../pulumi/tier-change-move.test.ts): an endpoint on this machine's server,
 * a schema with rows owned by the tenant's role as provisioning and the
 * applications leave it, what is in it, and whether the tenant can write.
 */
import pg from "pg";
import { tableChecksums, type PostgresEndpoint } from "../../../automation/data-move/index.ts";
import { TEST_DATABASE_URL } from "../../support/postgres.ts";

/** The test PostgreSQL (TEST_DATABASE_URL), on another database of it. */
export function localEndpoint(database: string): PostgresEndpoint {
  const local = new URL(TEST_DATABASE_URL);
  return {
    host: local.hostname, port: Number(local.port || 5432), database,
    user: decodeURIComponent(local.username), password: local.password ? decodeURIComponent(local.password) : undefined, sslMode: "disable",
  };
}

export async function withClient<T>(endpoint: PostgresEndpoint, fn: (c: pg.Client) => Promise<T>, database = endpoint.database): Promise<T> {
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The tenant's role and schema with `customers` rows and `events` rows referencing them, owned by the role. */
export async function seedTenantSchema(endpoint: PostgresEndpoint, schema: string, rows: { customers: number; events: number }): Promise<void> {
  await withClient(endpoint, async (c) => {
    await c.query(`CREATE ROLE ${schema} LOGIN`);
    await c.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${schema}`);
    await c.query(`SET ROLE ${schema}`);
    await c.query(`CREATE TABLE ${schema}.customers (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL, balance numeric(12,2), tags jsonb)`);
    await c.query(`INSERT INTO ${schema}.customers (name, created_at, balance, tags)
      SELECT 'customer ' || i, timestamptz '2026-01-01 00:00:00+00' + i * interval '37 minutes', (i % 1000) + 0.25, jsonb_build_object('i', i) FROM generate_series(1, ${rows.customers}) i`);
    await c.query(`CREATE TABLE ${schema}.events (customer_id bigint REFERENCES ${schema}.customers (id), kind text, at timestamptz)`);
    await c.query(`INSERT INTO ${schema}.events SELECT (i % ${rows.customers}) + 1, 'kind-' || (i % 5), timestamptz '2026-02-01 00:00:00+00' FROM generate_series(1, ${rows.events}) i`);
    await c.query("RESET ROLE");
  });
}

/** Each table's rows and checksum, or null when the schema is not there. */
export async function schemaState(endpoint: PostgresEndpoint, schema: string) {
  return withClient(endpoint, async (c) => {
    const { rows } = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    return rows.length === 0 ? null : await tableChecksums(c, schema);
  });
}

/** The tenant can write there: no read-only default left on its role, and an insert as the role goes through. */
export async function writable(endpoint: PostgresEndpoint, schema: string): Promise<boolean> {
  return withClient(endpoint, async (c) => {
    const { rows } = await c.query(
      `SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1 AND array_to_string(s.setconfig, ',') LIKE '%read_only%'`, [schema]);
    if (rows[0].n !== 0) return false;
    await c.query("BEGIN");
    await c.query(`SET LOCAL ROLE ${schema}`);
    await c.query(`INSERT INTO ${schema}.customers (name, created_at) VALUES ('probe', now())`);
    await c.query("ROLLBACK");
    return true;
  });
}
