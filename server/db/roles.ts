/**
 * The two database roles. The owner role owns the schema and runs the
 * migrations; the service's role (DATABASE_URL) gets only what the service
 * needs: reading and writing its tables, and on the audit log INSERT and
 * SELECT alone. Since it owns nothing, it cannot TRUNCATE the audit log,
 * disable its triggers, or change session_replication_role. The job queue
 * (pg-boss) keeps its own schema, which the service's role owns, because
 * pg-boss creates partitions as it runs; the start is refused when another
 * role owns that schema or a table in it.
 */
import pg from "pg";

/** The audit log: the service may add and read rows, nothing else. */
const APPEND_ONLY_TABLES = ["provisioning_audit_logs"];
/** node-pg-migrate's bookkeeping: the owner's business alone. */
const OWNER_ONLY_TABLES = ["schema_migrations"];
/** The schema pg-boss keeps its queue in (its default). */
export const QUEUE_SCHEMA = "pgboss";

export class DatabaseRoleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseRoleError";
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: "matih-migrations" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

interface RoleFacts {
  name: string;
  superuser: boolean;
}

async function roleOf(client: pg.Client): Promise<RoleFacts> {
  const { rows } = await client.query(`SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`);
  return rows[0];
}

/**
 * Run by the owner after the migrations: the service's role gets exactly its
 * privileges on the owner's schema (again at every start, so new tables are
 * covered and anything granted by hand beyond that is taken back).
 */
export async function grantServiceRole(ownerUrl: string, serviceUrl: string): Promise<{ owner: string; service: string }> {
  const service = await withClient(serviceUrl, async (client) => {
    const facts = await roleOf(client);
    const queueSchema = await client.query(`SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1`, [QUEUE_SCHEMA]);
    const canCreate = await client.query(`SELECT has_database_privilege(current_database(), 'CREATE') AS ok`);
    // pg-boss attaches a partition per queue to its job table and changes its own tables when it
    // upgrades itself: only their owner may. A schema or table another role owns fails later, mid-run.
    const notOwned = await client.query(
      `SELECT c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind IN ('r', 'p', 'S')
          AND NOT pg_has_role(current_user, c.relowner, 'USAGE')
        ORDER BY c.oid LIMIT 3`,
      [QUEUE_SCHEMA],
    );
    return {
      ...facts,
      queueSchemaOwner: (queueSchema.rows[0]?.owner as string | undefined) ?? null,
      queueTablesNotOwned: notOwned.rows as { name: string; owner: string }[],
      canCreateSchemas: canCreate.rows[0].ok as boolean,
    };
  });
  return withClient(ownerUrl, async (client) => {
    const owner = await roleOf(client);
    if (owner.name === service.name) {
      throw new DatabaseRoleError(`MATIH_MIGRATION_DATABASE_URL and DATABASE_URL both log in as "${service.name}"; DATABASE_URL must use the service's own role, which owns nothing`);
    }
    if (service.superuser) throw new DatabaseRoleError(`DATABASE_URL logs in as "${service.name}", a superuser; the service's role must be an ordinary role`);
    const member = await client.query(`SELECT pg_has_role($1, current_user, 'MEMBER') AS member`, [service.name]);
    if (member.rows[0].member) throw new DatabaseRoleError(`DATABASE_URL's role "${service.name}" is a member of the owner role "${owner.name}", so it could do whatever the owner can; revoke that membership`);
    if (service.queueSchemaOwner === null && !service.canCreateSchemas) {
      throw new DatabaseRoleError(`the job queue needs a schema of its own owned by the service's role; as a superuser run: CREATE SCHEMA ${QUEUE_SCHEMA} AUTHORIZATION ${client.escapeIdentifier(service.name)}`);
    }
    const notOwned = [
      ...(service.queueSchemaOwner !== null && service.queueSchemaOwner !== service.name ? [`the schema (owner "${service.queueSchemaOwner}")`] : []),
      ...service.queueTablesNotOwned.map((t) => `${t.name} (owner "${t.owner}")`),
    ];
    if (notOwned.length > 0) {
      const svc = client.escapeIdentifier(service.name);
      throw new DatabaseRoleError(
        `the job queue's schema ${QUEUE_SCHEMA} and its tables must belong to DATABASE_URL's role "${service.name}" (pg-boss alters them as it runs), but another role owns ${notOwned.join(", ")}; as a superuser run ALTER SCHEMA ${QUEUE_SCHEMA} OWNER TO ${svc} and ALTER … OWNER TO ${svc} for each table, sequence, function and type in it`,
      );
    }
    const schema = (await client.query(`SELECT current_schema() AS name`)).rows[0].name as string;
    const svc = client.escapeIdentifier(service.name);
    const sch = client.escapeIdentifier(schema);
    const statements = [
      `REVOKE ALL ON ALL TABLES IN SCHEMA ${sch} FROM ${svc}`,
      `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${sch} FROM ${svc}`,
      `GRANT USAGE ON SCHEMA ${sch} TO ${svc}`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${sch} TO ${svc}`,
      `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${sch} TO ${svc}`,
      ...APPEND_ONLY_TABLES.map((t) => `REVOKE UPDATE, DELETE ON ${sch}.${client.escapeIdentifier(t)} FROM ${svc}`),
      ...OWNER_ONLY_TABLES.map((t) => `REVOKE ALL ON ${sch}.${client.escapeIdentifier(t)} FROM ${svc}`),
    ];
    await client.query("BEGIN");
    try {
      for (const statement of statements) await client.query(statement);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
    return { owner: owner.name, service: service.name };
  });
}

/**
 * Who owns the audit log, seen from DATABASE_URL's role: nobody yet (a fresh
 * database), that role itself (it migrates, one role), or another role (the
 * owner migrates separately: `npm run migrate`, the entry point's own step
 * before it restarts without the owner's URL, or the embedded database's setup).
 */
export async function auditLogOwnership(serviceUrl: string): Promise<"absent" | "service" | "other"> {
  return withClient(serviceUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT pg_has_role(current_user, tableowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS owns
       FROM pg_tables WHERE tablename = 'provisioning_audit_logs' AND schemaname = current_schema()`,
    );
    if (rows.length === 0) return "absent";
    return rows[0].owns === true ? "service" : "other";
  });
}
