/**
 * The embedded default: a PGlite database persisted under the data directory,
 * served over the PostgreSQL wire protocol on a loopback port so that the
 * service's ordinary `pg` code (and pg-boss) use it exactly as they would a
 * real server. For a newcomer's first run and demos, not for production: it is
 * one process's database and cannot be shared by several service processes.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedDatabase {
  /** postgresql:// URL of the loopback server. */
  readonly url: string;
  readonly directory: string;
  close(): Promise<void>;
}

export async function startEmbeddedDatabase(dataDir: string, options: { maxConnections?: number } = {}): Promise<EmbeddedDatabase> {
  const directory = path.join(dataDir, "pglite");
  await mkdir(directory, { recursive: true });
  const db = await PGlite.create(directory);
  const server = new PGLiteSocketServer({
    db,
    host: "127.0.0.1",
    port: 0,
    // PGlite is single-connection; the socket server multiplexes this many clients onto it.
    maxConnections: options.maxConnections ?? 32,
  });
  await server.start();
  const conn = server.getServerConn();
  const port = Number(conn.slice(conn.lastIndexOf(":") + 1));
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    directory,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
