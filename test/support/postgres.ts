import pg from "pg";

/** The Postgres server tests use: the one on this machine, trust auth, unless TEST_DATABASE_URL says otherwise. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

/**
 * Whether Postgres answers. Under CI=true a missing server is a failure, not
 * a skip, so that CI can never pass without the real database.
 */
export async function probePostgres(): Promise<{ available: true } | { available: false; reason: string }> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return { available: true };
  } catch (err) {
    const reason = `Postgres is not reachable at ${TEST_DATABASE_URL.replace(/:[^:@/]*@/, ":***@")}: ${(err as Error).message}`;
    if (process.env.CI === "true") throw new Error(`${reason}. Postgres is required under CI=true.`);
    return { available: false, reason };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The rows of one statement on its own connection to `url` (a test's look at a database, outside the service). */
export async function sql<T = any>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}
