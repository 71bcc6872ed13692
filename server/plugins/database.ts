import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { migrateDatabase } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";

declare module "fastify" {
  interface FastifyInstance {
    db: pg.Pool;
  }
}

/** The Postgres pool, after the schema migrations have run. */
async function databasePlugin(fastify: FastifyInstance, opts: { databaseUrl: string }): Promise<void> {
  const applied = await migrateDatabase(opts.databaseUrl);
  if (applied.length > 0) fastify.log.info({ migrations: applied }, "applied schema migrations");
  const pool = createPool(opts.databaseUrl);
  await pool.query("SELECT 1");
  fastify.decorate("db", pool);
  fastify.addHook("onClose", async () => {
    await pool.end();
  });
}

export default fp(databasePlugin, { name: "matih-database", fastify: "5.x" });
