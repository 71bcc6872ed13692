import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { migrateAsOwner, migrateDatabase, pendingMigrations } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { auditLogOwnership, DatabaseRoleError } from "../db/roles.ts";

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

/**
 * The Postgres pool, after the schema migrations have run: as the owner role
 * when one is given; not at all when another role owns the schema and no
 * owner is given (it migrated separately, and this process never holds the
 * owner's credential), only checked to be up to date; else as DATABASE_URL's
 * role, which then owns the schema.
 */
async function databasePlugin(fastify: FastifyInstance, opts: DatabasePluginOptions): Promise<void> {
  if (opts.migrationDatabaseUrl) {
    const { migrations, ...roles } = await migrateAsOwner(opts.migrationDatabaseUrl, opts.databaseUrl);
    if (migrations.length > 0) fastify.log.info({ migrations }, "applied schema migrations");
    fastify.log.info(roles, "schema owned by the owner role; the service's role may only read and write rows, and only add to the audit log");
  } else if ((await auditLogOwnership(opts.databaseUrl)) === "other") {
    const pending = await pendingMigrations(opts.databaseUrl);
    if (pending.length > 0) {
      throw new DatabaseRoleError(
        `the schema lacks ${pending.length} migration(s) of this version (the last: ${pending.at(-1)}), and DATABASE_URL's role may not apply them; run \`npm run migrate\` with MATIH_MIGRATION_DATABASE_URL (the owner) and DATABASE_URL first, or start once with both`,
      );
    }
  } else {
    const applied = await migrateDatabase(opts.databaseUrl);
    if (applied.length > 0) fastify.log.info({ migrations: applied }, "applied schema migrations");
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
