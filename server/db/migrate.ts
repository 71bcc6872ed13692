/**
 * Schema migrations, run at start-up with node-pg-migrate from the versioned
 * SQL files in server/migrations. node-pg-migrate takes an advisory lock and
 * (`advisoryLockMode: "wait"`) a process starting while another migrates waits
 * for it instead of failing, so several processes starting together apply
 * each migration once and all start.
 */
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";

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
