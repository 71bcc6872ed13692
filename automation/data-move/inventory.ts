/**
 * What a tenant schema holds, read the same way on the source and the target
 * so the two can be compared: per table its row count and a checksum of its
 * contents, each sequence's value, each relation's owner and grants, and the
 * tenant role's large objects with a digest of their contents.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import type { SequenceReport, TableReport } from "./types.ts";

/**
 * Session settings that fix how values print as text, set on both sides
 * before anything is read: a row's text form (what the checksum hashes)
 * depends on them (timestamptz on TimeZone, dates on DateStyle, floats on
 * extra_float_digits, bytea on bytea_output, money on lc_monetary), and the
 * two servers may be configured differently.
 */
export const STABLE_TEXT_SETTINGS = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  "SET extra_float_digits = 1",
  "SET bytea_output = 'hex'",
  "SET lc_monetary = 'C'",
];

export async function useStableTextSettings(client: pg.Client): Promise<void> {
  for (const statement of STABLE_TEXT_SETTINGS) await client.query(statement);
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Ordinary and partitioned tables of the schema, by name. */
export async function listTables(client: pg.Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname COLLATE "C"`, [schema]);
  return rows.map((r) => r.name);
}

/**
 * Row count, text bytes and checksum of one table. The checksum is md5 over
 * the md5 of each row's text form, sorted: hashing each row first keeps the
 * aggregate at 32 bytes a row (string_agg of the rows themselves stops at
 * PostgreSQL's 1 GB limit for a value), and sorting the hashes bytewise
 * (COLLATE "C") gives the same order on both servers whatever their
 * collations, which a primary-key order on text keys would not.
 */
export async function tableChecksum(client: pg.Client, schema: string, table: string): Promise<TableReport> {
  const { rows } = await client.query<{ rows: string; bytes: string; checksum: string }>(
    `SELECT count(*)::text AS rows,
            coalesce(sum(octet_length(t::text)), 0)::text AS bytes,
            md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text) COLLATE "C"), '')) AS checksum
       FROM ${quoteIdent(schema)}.${quoteIdent(table)} AS t`);
  const r = rows[0]!;
  return { table, rows: Number(r.rows), bytes: Number(r.bytes), checksum: r.checksum };
}

export async function tableChecksums(client: pg.Client, schema: string): Promise<TableReport[]> {
  const out: TableReport[] = [];
  for (const table of await listTables(client, schema)) out.push(await tableChecksum(client, schema, table));
  return out;
}

/**
 * Each sequence's value. Sequences are not transactional: this reads the
 * value now, not as of a snapshot, so a source that keeps serving can only
 * move on from what is read here; the target must be at least this.
 */
export async function sequenceValues(client: pg.Client, schema: string): Promise<SequenceReport[]> {
  const { rows: names } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY c.relname COLLATE "C"`, [schema]);
  const out: SequenceReport[] = [];
  for (const { name } of names) {
    const { rows } = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${quoteIdent(schema)}.${quoteIdent(name)}`);
    out.push({ sequence: name, lastValue: rows[0]!.last_value, isCalled: rows[0]!.is_called });
  }
  return out;
}

/** Owner and grants of every relation (tables, views, sequences) and of the schema itself, as role names. */
export async function privileges(client: pg.Client, schema: string, ignorePrivileges: readonly string[] = []): Promise<Record<string, string>> {
  // One "grantee=PRIVILEGE" item per grant (PUBLIC for grantee 0; * when grantable), sorted, so both sides compare as
  // text. The owner's own rights are left out: they are implicit, and newer servers give owners more (MAINTAIN, 17).
  const acl = (column: string, owner: string) => `coalesce((SELECT string_agg(x, ',' ORDER BY x COLLATE "C") FROM (
      SELECT format('%s=%s%s', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                    a.privilege_type, CASE WHEN a.is_grantable THEN '*' ELSE '' END) AS x
        FROM aclexplode(${column}) a WHERE a.grantee <> ${owner} AND a.privilege_type <> ALL ($2::text[])) s), '')`;
  const { rows } = await client.query<{ object: string; owner: string; acl: string }>(
    `SELECT '(schema)' AS object, pg_get_userbyid(n.nspowner) AS owner, ${acl("n.nspacl", "n.nspowner")} AS acl
       FROM pg_namespace n WHERE n.nspname = $1
     UNION ALL
     SELECT c.relname, pg_get_userbyid(c.relowner), ${acl("c.relacl", "c.relowner")}
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`, [schema, ignorePrivileges]);
  return Object.fromEntries(rows.map((r) => [r.object, `owner=${r.owner};${r.acl}`]));
}

/** Large objects owned by the role, by OID. */
export async function largeObjectsOf(client: pg.Client, role: string): Promise<number[]> {
  const { rows } = await client.query<{ oid: string }>(
    `SELECT m.oid::text AS oid FROM pg_largeobject_metadata m JOIN pg_roles r ON r.oid = m.lomowner
      WHERE r.rolname = $1 ORDER BY m.oid`, [role]);
  return rows.map((r) => Number(r.oid));
}

/** Chunk size for large-object reads and writes: a bounded amount of memory per round trip. */
export const LARGE_OBJECT_CHUNK = 1024 * 1024;

/** Reads a large object chunk by chunk, handing each chunk on; returns its size and sha256. */
export async function readLargeObject(client: pg.Client, oid: number, onChunk?: (chunk: Buffer, offset: number) => Promise<void>): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let offset = 0;
  for (;;) {
    const { rows } = await client.query<{ data: Buffer }>("SELECT lo_get($1::oid, $2::bigint, $3::int) AS data", [oid, offset, LARGE_OBJECT_CHUNK]);
    const chunk = rows[0]!.data;
    if (chunk.length === 0) break;
    hash.update(chunk);
    await onChunk?.(chunk, offset);
    offset += chunk.length;
    if (chunk.length < LARGE_OBJECT_CHUNK) break;
  }
  return { bytes: offset, sha256: hash.digest("hex") };
}

/** Grants on one large object, as [grantee, privilege] pairs (the owner's implicit rights excluded). */
export async function largeObjectGrants(client: pg.Client, oid: number): Promise<{ grantee: string; privilege: string }[]> {
  const { rows } = await client.query<{ grantee: string; privilege: string }>(
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type AS privilege
       FROM pg_largeobject_metadata m, aclexplode(m.lomacl) a
      WHERE m.oid = $1::oid AND a.grantee <> m.lomowner ORDER BY 1, 2`, [oid]);
  return rows;
}
