/**
 * The embedded database's superuser, for tests that must look behind the
 * service's back. The service holds no superuser credential (the superuser has
 * no password once the start is done), so this takes it the way anyone who can
 * write the data directory could: a trust line for the superuser on loopback
 * in pg_hba.conf, and a reload.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

const LINE = "host all matih 127.0.0.1/32 trust # added by test/support/embedded-superuser.ts\n";

export async function embeddedSuperuserUrl(database: { directory: string; port: number }, name = "matih"): Promise<string> {
  const hba = path.join(database.directory, "pg_hba.conf");
  const text = await readFile(hba, "utf8");
  const url = `postgresql://matih@127.0.0.1:${database.port}/${name}`;
  if (!text.startsWith(LINE)) {
    // First match wins: the line goes first.
    await writeFile(hba, LINE + text);
    const pid = Number((await readFile(path.join(database.directory, "postmaster.pid"), "utf8")).split("\n")[0]);
    process.kill(pid, "SIGHUP");
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      return url;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
