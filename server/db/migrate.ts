/**
 * Schema migrations, run at start-up with node-pg-migrate from the versioned
 * SQL files in server/migrations. node-pg-migrate takes an advisory lock and
 * (`advisoryLockMode: "wait"`) a process starting while another migrates waits
 * for it instead of failing, so several processes starting together apply
 * each migration once and all start.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { grantServiceRole } from "./roles.ts";

const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations/", import.meta.url));

export async function migrateDatabase(databaseUrl: string, log: (message: string) => void = () => undefined): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: "up",
      migrationsTable: "schema_migrations",
      count: Number.POSITIVE_INFINITY,
      log,
      verbose: false,
      singleTransaction: true,
      advisoryLockMode: "wait",
    });
    return applied.map((m) => m.name);
  } finally {
    await client.end();
  }
}

/** The migrations this version brings, by the name node-pg-migrate records (the file name without its extension). */
export async function knownMigrations(): Promise<string[]> {
  const files = await readdir(MIGRATIONS_DIR);
  return files.filter((f) => !f.startsWith(".")).map((f) => path.basename(f, path.extname(f))).sort();
}

/**
 * The migrations this version brings that the database lacks, asked as the
 * service's role, which may not read schema_migrations: through the owner's
 * `matih_applied_migrations()` (migration 015). A schema from before that
 * function lacks everything from 015 on, so all of this version's are
 * reported then rather than guessed.
 */
export async function pendingMigrations(databaseUrl: string): Promise<string[]> {
  const known = await knownMigrations();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regproc('matih_applied_migrations') IS NOT NULL AS ok`);
    if (!exists.rows[0].ok) return known;
    const applied = new Set((await client.query<{ name: string }>(`SELECT matih_applied_migrations() AS name`)).rows.map((r) => r.name));
    return known.filter((name) => !applied.has(name));
  } finally {
    await client.end();
  }
}

/**
 * The owner's part, all of it: pending migrations, then the service's role's
 * privileges. What `npm run migrate` does, what the entry point does before it
 * restarts itself without the owner's URL, and what the embedded database's
 * setup does before it locks its superuser out.
 */
export async function migrateAsOwner(ownerUrl: string, serviceUrl: string): Promise<{ migrations: string[]; owner: string; service: string }> {
  const migrations = await migrateDatabase(ownerUrl);
  const roles = await grantServiceRole(ownerUrl, serviceUrl);
  return { migrations, ...roles };
}
