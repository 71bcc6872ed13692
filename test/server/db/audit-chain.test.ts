/**
 * The audit log nobody can rewrite unnoticed (migration 015): the database
 * sets each row's time and login and seals it into a hash chain; the actor is
 * the one bound to the transaction; and the verification names the first row
 * that was changed, removed or inserted behind the triggers' back, which is
 * exactly what a superuser in replica mode (session_replication_role, which
 * skips every trigger) can do.
 */
import { randomUUID } from "node:crypto";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { appendAudit, listAudit, verifyAuditChain } from "../../../server/db/audit.ts";
import { knownMigrations, migrateDatabase } from "../../../server/db/migrate.ts";
import { createPool, withTransaction } from "../../../server/db/pool.ts";
import { insertRun } from "../../../server/db/runs.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const pgProbe = await probePostgres();

type Db = Awaited<ReturnType<typeof freshDatabase>>;

describe.skipIf(!pgProbe.available)("the audit log's hash chain", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  async function database(): Promise<{ db: Db; pool: pg.Pool }> {
    const db = await freshDatabase("matih_chain");
    cleanup.push(() => db.drop());
    const pool = createPool(db.url, 10);
    cleanup.push(() => pool.end());
    return { db, pool };
  }

  async function insertTenant(db: pg.Pool | pg.Client): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO tenants (id, slug, display_name, tier, region, admin_email, requested_by, status)
       VALUES ($1, $2, 'Chain Inc', 'free', 'eastus', 'admin@chain.example', 'admin', 'ACTIVE')`,
      [id, `chain-${id.slice(0, 8)}`],
    );
    return id;
  }

  /** A migrated database with a tenant and `n` audit rows written as the service writes them. */
  async function chainOf(n: number): Promise<{ db: Db; pool: pg.Pool; tenantId: string; ids: number[] }> {
    const { db, pool } = await database();
    await migrateDatabase(db.url);
    const tenantId = await insertTenant(pool);
    for (let i = 0; i < n; i++) {
      await appendAudit(pool, { tenantId, entity: "tenant", actor: i % 2 ? "alice" : "tenant-service", from: null, to: "ACTIVE", message: `step ${i} ✓`, details: { i, nested: { list: [1, 2.5, "x"] } } });
    }
    const { rows } = await pool.query(`SELECT id::int AS id FROM provisioning_audit_logs ORDER BY chain_seq`);
    return { db, pool, tenantId, ids: rows.map((r) => r.id as number) };
  }

  /** Runs `sql` as the superuser with every trigger skipped, as replica mode allows. */
  async function behindTheTriggers(url: string, ...statements: string[]): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("SET session_replication_role = replica");
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
  }

  it("seals every row: the database sets time, login and chain, and the verification passes and gives the head", async () => {
    const { db, pool, tenantId } = await chainOf(4);
    // A past created_at and a made-up chain in the insert itself are overwritten by the trigger.
    await pool.query(
      `INSERT INTO provisioning_audit_logs (tenant_id, entity, actor, to_status, message, created_at, chain_seq, prev_hash, hash, db_user)
       VALUES ($1, 'tenant', set_config('matih.audit_actor', 'alice', true), 'ACTIVE', 'backdated?', '2001-01-01T00:00:00Z', 1, '\\x00', '\\x00', 'somebody')`,
      [tenantId],
    );
    const { rows } = await pool.query(`SELECT chain_seq::int AS seq, created_at, db_user, encode(hash, 'hex') AS hash, prev_hash FROM provisioning_audit_logs ORDER BY chain_seq`);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    const last = rows.at(-1)!;
    expect(Date.now() - new Date(last.created_at).getTime()).toBeLessThan(60_000);
    expect(last.db_user).toBe(new URL(db.url).username);
    expect(rows[0]!.prev_hash.equals(Buffer.alloc(32))).toBe(true);
    // Time order is chain order.
    for (let i = 1; i < rows.length; i++) expect(new Date(rows[i]!.created_at).getTime()).toBeGreaterThanOrEqual(new Date(rows[i - 1]!.created_at).getTime());

    const report = await verifyAuditChain(pool);
    expect(report).toEqual({ ok: true, rows: 5, head: { chainSeq: 5, id: expect.any(Number), hash: last.hash }, broken: null });
  });

  it("refuses a row without a bound actor, or naming another actor than the bound one; the binding ends with its transaction", async () => {
    const { pool, tenantId } = await chainOf(1);
    const insert = (client: pg.PoolClient | pg.Pool, actor: string) =>
      client.query(`INSERT INTO provisioning_audit_logs (tenant_id, entity, actor, to_status, message) VALUES ($1, 'tenant', $2, 'ACTIVE', 'forged?')`, [tenantId, actor]);
    await expect(insert(pool, "mallory")).rejects.toThrow(/no actor is bound to this transaction/);
    await expect(withTransaction(pool, async (client) => {
      await client.query(`SELECT set_config('matih.audit_actor', 'alice', true)`);
      await insert(client, "mallory");
    })).rejects.toThrow(`the row names actor "mallory", but the actor bound to this transaction is "alice"`);
    const client = await pool.connect();
    try {
      await appendAudit(client, { tenantId, entity: "tenant", actor: "alice", from: null, to: "ACTIVE", message: "bound for this statement only" });
      await expect(insert(client, "alice")).rejects.toThrow(/no actor is bound/);
    } finally {
      client.release();
    }
    expect((await verifyAuditChain(pool)).rows).toBe(2);
  });

  it("keeps one unbroken chain while many connections append at once", async () => {
    const { pool, tenantId } = await chainOf(0);
    const writers = Array.from({ length: 8 }, (_, w) => (async () => {
      for (let i = 0; i < 15; i++) {
        await withTransaction(pool, async (client) => {
          await appendAudit(client, { tenantId, entity: "run", actor: `writer-${w}`, from: null, to: "QUEUED", message: `${w}/${i} a` });
          await appendAudit(client, { tenantId, entity: "run", actor: `writer-${w}`, from: "QUEUED", to: "RUNNING", message: `${w}/${i} b` });
        });
      }
    })());
    await Promise.all(writers);
    const report = await verifyAuditChain(pool, { batch: 37 });
    expect(report).toMatchObject({ ok: true, rows: 240, head: { chainSeq: 240 }, broken: null });
    // A transaction's rows sit next to each other in the chain: writers took turns until each commit.
    const { rows } = await pool.query(`SELECT message FROM provisioning_audit_logs ORDER BY chain_seq`);
    for (let i = 0; i < rows.length; i += 2) expect(rows[i + 1]!.message.replace(/ b$/, " a")).toBe(rows[i]!.message);
  }, 60_000);

  it("chains the rows already there when the migration runs, in id order, and leaves them append-only", async () => {
    const { db, pool } = await database();
    const before = (await knownMigrations()).indexOf("1700000000015_audit-chain");
    expect(before).toBeGreaterThan(0);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await runner({ dbClient: client, dir: "server/migrations", direction: "up", migrationsTable: "schema_migrations", count: before, log: () => undefined, verbose: false, singleTransaction: true });
      const tenantId = await insertTenant(client);
      for (let i = 0; i < 5; i++) {
        await client.query(
          `INSERT INTO provisioning_audit_logs (tenant_id, entity, actor, to_status, message, details, created_at) VALUES ($1, 'tenant', $2, 'ACTIVE', $3, $4, $5)`,
          [tenantId, `old-${i}`, `before the chain "${i}" \\ ü`, JSON.stringify({ i, deep: { a: [null, true, 1.5] } }), new Date(Date.UTC(2023, 0, 1 + i, 12, 0, 0, 123))],
        );
      }
    } finally {
      await client.end();
    }
    await migrateDatabase(db.url);
    const { rows } = await pool.query(`SELECT id::int AS id, chain_seq::int AS seq, db_user FROM provisioning_audit_logs ORDER BY id`);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rows.every((r) => r.db_user === null)).toBe(true);
    expect(await verifyAuditChain(pool)).toMatchObject({ ok: true, rows: 5, head: { chainSeq: 5, id: rows[4]!.id } });
    await expect(pool.query(`UPDATE provisioning_audit_logs SET message = 'rewritten'`)).rejects.toThrow(/append-only/);
    await expect(pool.query(`DELETE FROM provisioning_audit_logs`)).rejects.toThrow(/append-only/);
  });

  it("names a row changed behind the triggers' back", async () => {
    const { db, pool, ids } = await chainOf(6);
    await behindTheTriggers(db.url, `UPDATE provisioning_audit_logs SET message = 'nothing happened' WHERE id = ${ids[2]}`);
    expect(await verifyAuditChain(pool)).toMatchObject({
      ok: false,
      rows: 2,
      head: { chainSeq: 2, id: ids[1] },
      broken: { id: ids[2], chainSeq: 3, reason: "its hash does not match its contents: the row was changed after it was written" },
    });
  });

  it("names the row after one deleted behind the triggers' back, also when the rest were renumbered", async () => {
    const { db, pool, ids } = await chainOf(6);
    await behindTheTriggers(db.url, `DELETE FROM provisioning_audit_logs WHERE id = ${ids[2]}`);
    expect((await verifyAuditChain(pool)).broken).toEqual({ id: ids[3], chainSeq: 4, reason: "1 row(s) before it are missing: the chain goes from 2 to 4" });
    await behindTheTriggers(db.url, `UPDATE provisioning_audit_logs SET chain_seq = chain_seq - 1 WHERE chain_seq > 3`);
    expect((await verifyAuditChain(pool)).broken).toEqual({
      id: ids[3],
      chainSeq: 3,
      reason: `its previous hash is not the hash of the row before it (id ${ids[1]}): that row was changed, or rows between them were removed or inserted`,
    });
  });

  it("names the row after one inserted in the middle, even a forged row with a correct hash of its own", async () => {
    const { db, pool, tenantId, ids } = await chainOf(6);
    // Make room at 4, then forge a row there chained to row 3 with the trigger's own digest.
    await behindTheTriggers(
      db.url,
      `UPDATE provisioning_audit_logs SET chain_seq = -chain_seq WHERE chain_seq >= 4`,
      `UPDATE provisioning_audit_logs SET chain_seq = -chain_seq + 1 WHERE chain_seq < 0`,
      `INSERT INTO provisioning_audit_logs (tenant_id, entity, actor, to_status, message, chain_seq, prev_hash, hash)
       SELECT '${tenantId}', 'tenant', 'alice', 'DELETED', 'forged', 4, hash, '\\x00' FROM provisioning_audit_logs WHERE chain_seq = 3`,
      `UPDATE provisioning_audit_logs l SET hash = provisioning_audit_logs_digest(l.prev_hash, l) WHERE chain_seq = 4`,
    );
    const forged = (await pool.query(`SELECT id::int AS id FROM provisioning_audit_logs WHERE chain_seq = 4`)).rows[0].id as number;
    const report = await verifyAuditChain(pool);
    expect(report.head).toMatchObject({ chainSeq: 4, id: forged });
    expect(report.broken).toEqual({
      id: ids[3],
      chainSeq: 5,
      reason: `its previous hash is not the hash of the row before it (id ${forged}): that row was changed, or rows between them were removed or inserted`,
    });
  });

  it("names a row forged outside the chain (its constraints dropped first)", async () => {
    const { db, pool, tenantId } = await chainOf(2);
    await behindTheTriggers(
      db.url,
      `ALTER TABLE provisioning_audit_logs ALTER COLUMN chain_seq DROP NOT NULL, ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL`,
      `INSERT INTO provisioning_audit_logs (tenant_id, entity, actor, to_status, message) VALUES ('${tenantId}', 'tenant', 'alice', 'DELETED', 'outside')`,
    );
    const outside = (await pool.query(`SELECT id::int AS id FROM provisioning_audit_logs WHERE chain_seq IS NULL`)).rows[0].id as number;
    expect((await verifyAuditChain(pool)).broken).toMatchObject({ id: outside, chainSeq: null, reason: expect.stringMatching(/no place in the chain/) });
  });

  it("needs an exported head to see rows removed from the end, or the whole chain rewritten from a point", async () => {
    const { db, pool, ids } = await chainOf(6);
    const exported = (await verifyAuditChain(pool)).head!;
    expect(await verifyAuditChain(pool, { anchor: exported })).toMatchObject({ ok: true, rows: 6 });

    // The newest row removed: the chain that is left is whole, so only the exported head shows the loss.
    await behindTheTriggers(db.url, `DELETE FROM provisioning_audit_logs WHERE id = ${ids[5]}`);
    expect((await verifyAuditChain(pool)).ok).toBe(true);
    expect(await verifyAuditChain(pool, { anchor: exported })).toMatchObject({
      ok: false,
      broken: { id: null, chainSeq: 6, reason: "the chain ends at 5, before the exported head's row 6: rows were removed from its end" },
    });

    // Row 3 changed and every hash from it on recomputed (what a superuser can do): consistent, except with the head.
    const exportedAt5 = (await verifyAuditChain(pool)).head!;
    await behindTheTriggers(
      db.url,
      `UPDATE provisioning_audit_logs SET message = 'nothing happened' WHERE id = ${ids[2]}`,
      `DO $$ DECLARE r provisioning_audit_logs; prev bytea; BEGIN
         SELECT hash INTO prev FROM provisioning_audit_logs WHERE chain_seq = 2;
         FOR r IN SELECT * FROM provisioning_audit_logs WHERE chain_seq >= 3 ORDER BY chain_seq LOOP
           UPDATE provisioning_audit_logs SET prev_hash = prev, hash = provisioning_audit_logs_digest(prev, r) WHERE id = r.id RETURNING hash INTO prev;
         END LOOP; END $$`,
    );
    expect((await verifyAuditChain(pool)).ok).toBe(true);
    expect((await verifyAuditChain(pool, { anchor: { chainSeq: exportedAt5.chainSeq, hash: exportedAt5.hash.toUpperCase() } })).broken).toEqual({
      id: ids[4],
      chainSeq: 5,
      reason: "its hash is not the exported head's: the chain was rewritten from this row or before",
    });
  });
  it("keeps a row's run and phase, and lists a tenant's rows in order after a given id, as many as asked for", async () => {
    const { pool, tenantId, ids } = await chainOf(3);
    const run = await insertRun(pool, { id: randomUUID(), tenantId, kind: "provision", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "alice" });
    await appendAudit(pool, { tenantId, runId: run.id, entity: "phase", phase: 4, actor: "tenant-service", from: "RUNNING", to: "SUCCEEDED", message: "phase 4 done" });
    const other = await insertTenant(pool);
    await appendAudit(pool, { tenantId: other, entity: "tenant", actor: "bob", from: null, to: "ACTIVE", message: "someone else's" });

    const all = await listAudit(pool, tenantId, { limit: 100 });
    expect(all.map((r) => r.id)).toEqual([...ids, all[3]!.id]);
    expect(all[3]).toEqual({
      id: expect.any(Number), tenantId, runId: run.id, entity: "phase", phase: 4, actor: "tenant-service", from: "RUNNING", to: "SUCCEEDED",
      message: "phase 4 done", details: {}, createdAt: expect.any(Date),
    });
    expect(all[0]).toMatchObject({ runId: null, phase: null, actor: "tenant-service", from: null, to: "ACTIVE", message: "step 0 ✓", details: { i: 0, nested: { list: [1, 2.5, "x"] } } });
    expect((await listAudit(pool, tenantId, { afterId: ids[0], limit: 2 })).map((r) => r.id)).toEqual([ids[1], ids[2]]);
    expect(await listAudit(pool, tenantId, { afterId: all[3]!.id, limit: 10 })).toEqual([]);
  });

  it("reads the chain in one snapshot: a row appended while the walk pages through is neither counted nor a break", async () => {
    const { db, pool, tenantId } = await chainOf(5);
    // A pool of its own whose walk appends a row right after reading its first page (of two rows).
    const walking = new pg.Pool({ connectionString: db.url, max: 1 });
    cleanup.push(() => walking.end());
    const client = await walking.connect();
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    let pages = 0;
    client.query = (async (...args: unknown[]) => {
      const result = await query(...args);
      if (String(args[0]).includes("ORDER BY chain_seq LIMIT") && ++pages === 1) {
        await appendAudit(pool, { tenantId, entity: "tenant", actor: "carol", from: null, to: "ACTIVE", message: "during the walk" });
      }
      return result;
    }) as typeof client.query;
    client.release();
    const report = await verifyAuditChain(walking, { batch: 2 });
    expect(pages).toBe(3);
    expect(report).toMatchObject({ ok: true, rows: 5, head: { chainSeq: 5 }, broken: null });
    expect(await verifyAuditChain(pool)).toMatchObject({ ok: true, rows: 6 });
  });

  it("names a first row whose previous hash is not the chain's start, and a sequence number met twice", async () => {
    const { db, pool, ids } = await chainOf(4);
    await behindTheTriggers(db.url, `UPDATE provisioning_audit_logs SET prev_hash = '\\x01' WHERE id = ${ids[0]}`);
    expect(await verifyAuditChain(pool)).toEqual({
      ok: false, rows: 0, head: null,
      broken: { id: ids[0], chainSeq: 1, reason: "its previous hash is not the chain's start: rows before it were removed, or it was put there" },
    });

    const second = await chainOf(4);
    await behindTheTriggers(second.db.url, `DROP INDEX provisioning_audit_logs_chain`, `UPDATE provisioning_audit_logs SET chain_seq = 2 WHERE id = ${second.ids[2]}`);
    const report = await verifyAuditChain(second.pool);
    expect(report.rows).toBe(2);
    expect(report.broken).toMatchObject({ chainSeq: 2, reason: "its sequence number 2 is out of order (3 expected)" });
  });

  it("reports an empty chain against an exported head as rows removed from its end", async () => {
    const { pool } = await chainOf(0);
    expect(await verifyAuditChain(pool)).toEqual({ ok: true, rows: 0, head: null, broken: null });
    expect(await verifyAuditChain(pool, { anchor: { chainSeq: 3, hash: "ab".repeat(32) } })).toEqual({
      ok: false, rows: 0, head: null,
      broken: { id: null, chainSeq: 3, reason: "the chain ends at 0, before the exported head's row 3: rows were removed from its end" },
    });
  });
});
