/**
 * The embedded database's two roles, the same split an operator sets up for
 * an external PostgreSQL (see roles.ts): `matih_owner` owns the schema and runs
 * the migrations; `matih_service` is what the service logs in as, owns nothing
 * but the job queue's schema, and gets its privileges from the owner at every
 * start. The cluster's bootstrap superuser (`matih`) only administers: it
 * creates the roles, and it is the login the migrations use, acting as
 * `matih_owner` (SET ROLE), so that the owner needs no password and cannot log
 * in at all. Then it is locked out itself (lockOutSuperuser) until the next
 * start gives it a password again (embedded.ts).
 *
 * A data directory created before the split has every object owned by the
 * superuser, and the service logged in as it. The first start after the
 * change hands the schema's objects to the owner and the queue's to the
 * service's role, in one transaction, keeping every row and queued job.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { QUEUE_SCHEMA } from "./roles.ts";

export const EMBEDDED_OWNER_ROLE = "matih_owner";
export const EMBEDDED_SERVICE_ROLE = "matih_service";
/** The schema the migrations create their tables in. */
const APP_SCHEMA = "public";

/** Neither role may do more than a plain role; re-applied at every start in case someone widened them by hand. */
const PLAIN = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT";

/**
 * A SCRAM-SHA-256 verifier of `password` (RFC 5802/7677, PostgreSQL's stored
 * format), so that the password itself never appears in a statement the
 * server might log; what `\password` in psql does.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

const ident = (client: pg.Client, value: string) => client.escapeIdentifier(value);

async function ensureRole(client: pg.Client, role: string, login: string): Promise<void> {
  const { rowCount } = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
  if (rowCount === 0) await client.query(`CREATE ROLE ${ident(client, role)}`);
  await client.query(`ALTER ROLE ${ident(client, role)} ${PLAIN} ${login}`);
}

/**
 * Gives every object in `schema` owned by `from` (and the schema itself, when
 * `from` owns it) to `to`. REASSIGN OWNED would do it in one statement, but
 * PostgreSQL refuses it for the bootstrap superuser, which owns the system
 * catalogs too. Indexes, identity sequences, row types and array types follow
 * their table or type. Anything of a kind not handled here is named in the
 * error rather than left behind.
 */
async function handOver(client: pg.Client, schema: string, from: string, to: string): Promise<void> {
  const target = ident(client, to);
  const relations = await client.query<{ name: string; relkind: string }>(
    `SELECT c.oid::regclass::text AS name, c.relkind FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND c.relowner = $2::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
      ORDER BY c.oid`,
    [schema, from],
  );
  const alterRelation: Record<string, string> = { r: "TABLE", p: "TABLE", v: "VIEW", m: "MATERIALIZED VIEW", f: "FOREIGN TABLE", c: "TYPE" };
  for (const r of relations.rows) await client.query(`ALTER ${alterRelation[r.relkind]} ${r.name} OWNER TO ${target}`);
  // Sequences not owned by a column (those moved with their table above).
  const sequences = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND c.relowner = $2::regrole AND c.relkind = 'S'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))`,
    [schema, from],
  );
  for (const s of sequences.rows) await client.query(`ALTER SEQUENCE ${s.name} OWNER TO ${target}`);
  const routines = await client.query<{ name: string }>(`SELECT p.oid::regprocedure::text AS name FROM pg_proc p WHERE p.pronamespace = $1::regnamespace AND p.proowner = $2::regrole`, [schema, from]);
  for (const p of routines.rows) await client.query(`ALTER ROUTINE ${p.name} OWNER TO ${target}`);
  // Enums, domains and ranges (a range takes its multirange along; row and array types follow their owner).
  const types = await client.query<{ name: string }>(
    `SELECT t.oid::regtype::text AS name FROM pg_type t WHERE t.typnamespace = $1::regnamespace AND t.typowner = $2::regrole AND t.typtype IN ('e', 'd', 'r') AND t.typrelid = 0`,
    [schema, from],
  );
  for (const t of types.rows) await client.query(`ALTER TYPE ${t.name} OWNER TO ${target}`);
  const owner = await client.query<{ owner: string }>(`SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1`, [schema]);
  if (owner.rows[0]?.owner === from) await client.query(`ALTER SCHEMA ${ident(client, schema)} OWNER TO ${target}`);

  const left = await client.query<{ what: string }>(
    `SELECT 'relation ' || c.oid::regclass::text AS what FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relowner = $2::regrole
     UNION ALL SELECT 'routine ' || p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = $1::regnamespace AND p.proowner = $2::regrole
     UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t WHERE t.typnamespace = $1::regnamespace AND t.typowner = $2::regrole
     UNION ALL SELECT 'schema ' || n.nspname FROM pg_namespace n WHERE n.oid = $1::regnamespace AND n.nspowner = $2::regrole`,
    [schema, from],
  );
  if (left.rows.length > 0) {
    throw new Error(`could not hand ${left.rows.map((r) => r.what).slice(0, 5).join(", ")} in schema ${schema} from ${from} to ${to}; give it to ${to} by hand (ALTER … OWNER TO ${to}) and start again`);
  }
}

/**
 * Run as the bootstrap superuser on the service's database, at every start:
 * creates or corrects both roles, sets the service role's password (the one
 * in its 0600 file), makes the owner the database's owner and hands over what
 * an earlier version left owned by the superuser. Idempotent; one transaction.
 */
export async function ensureEmbeddedRoles(superuserUrl: string, servicePassword: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl, application_name: "matih-embedded-roles" });
  await client.connect();
  try {
    const superuser = (await client.query<{ name: string }>(`SELECT current_user AS name`)).rows[0]!.name;
    const database = (await client.query<{ name: string }>(`SELECT current_database() AS name`)).rows[0]!.name;
    await client.query("BEGIN");
    try {
      await ensureRole(client, EMBEDDED_OWNER_ROLE, "NOLOGIN");
      await ensureRole(client, EMBEDDED_SERVICE_ROLE, `LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(servicePassword))}`);
      // The service's role must not reach the owner's privileges through membership (nor the superuser's).
      for (const granted of [EMBEDDED_OWNER_ROLE, superuser]) {
        const { rowCount } = await client.query(`SELECT 1 FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole`, [granted, EMBEDDED_SERVICE_ROLE]);
        if (rowCount) await client.query(`REVOKE ${ident(client, granted)} FROM ${ident(client, EMBEDDED_SERVICE_ROLE)}`);
      }
      await client.query(`ALTER DATABASE ${ident(client, database)} OWNER TO ${ident(client, EMBEDDED_OWNER_ROLE)}`);
      await handOver(client, APP_SCHEMA, superuser, EMBEDDED_OWNER_ROLE);
      const queue = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [QUEUE_SCHEMA]);
      if (queue.rowCount === 0) await client.query(`CREATE SCHEMA ${ident(client, QUEUE_SCHEMA)} AUTHORIZATION ${ident(client, EMBEDDED_SERVICE_ROLE)}`);
      else await handOver(client, QUEUE_SCHEMA, superuser, EMBEDDED_SERVICE_ROLE);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  } finally {
    await client.end();
  }
}

/**
 * Takes the superuser's password away (the last step of every start's setup):
 * no password at all, so no login over the network succeeds, whatever file or
 * memory someone reads. Single-user mode, which needs the data directory's
 * owner, gives it one again at the next start.
 */
export async function lockOutSuperuser(superuserUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl, application_name: "matih-embedded-roles" });
  await client.connect();
  try {
    await client.query(`ALTER ROLE CURRENT_USER PASSWORD NULL`);
  } finally {
    await client.end();
  }
}
