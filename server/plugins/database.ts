import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { migrateDatabase } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { grantServiceRole, serviceOwnsAuditLog } from "../db/roles.ts";

declare module "fastify" {
  interface FastifyInstance {
    db: pg.Pool;
  }
}

export interface DatabasePluginOptions {
  /** The service's own role. */
  databaseUrl: string;
  /** The schema owner, for migrations and grants; null: the service's role migrates (one role). */
  migrationDatabaseUrl: string | null;
}

/** The Postgres pool, after the schema migrations have run (as the owner role when one is given). */
async function databasePlugin(fastify: FastifyInstance, opts: DatabasePluginOptions): Promise<void> {
  const applied = await migrateDatabase(opts.migrationDatabaseUrl ?? opts.databaseUrl);
  if (applied.length > 0) fastify.log.info({ migrations: applied }, "applied schema migrations");
  if (opts.migrationDatabaseUrl) {
    const roles = await grantServiceRole(opts.migrationDatabaseUrl, opts.databaseUrl);
    fastify.log.info(roles, "schema owned by the owner role; the service's role may only read and write rows, and only add to the audit log");
  } else if (await serviceOwnsAuditLog(opts.databaseUrl)) {
    fastify.log.warn("DATABASE_URL's role owns the schema, so it could truncate the audit log or switch its triggers off; set MATIH_MIGRATION_DATABASE_URL to an owner role and give DATABASE_URL a role of its own (see the operations manual)");
  }
  const pool = createPool(opts.databaseUrl);
  await pool.query("SELECT 1");
  fastify.decorate("db", pool);
  fastify.addHook("onClose", async () => {
    await pool.end();
  });
}

export default fp(databasePlugin, { name: "matih-database", fastify: "5.x" });
