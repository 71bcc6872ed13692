/**
 * npm run migrate: the schema owner's part on its own, for deployments that
 * never give the running service the owner's credential (a release step, an
 * init container): pending migrations as MATIH_MIGRATION_DATABASE_URL's role,
 * then DATABASE_URL's role gets exactly its privileges. The service is then
 * started with DATABASE_URL alone; it checks that the schema is up to date and
 * migrates nothing. Prints JSON log lines; a failure is one line on stderr
 * (never a URL or password) and a non-zero exit.
 */
import pino from "pino";
import { migrateAsOwner } from "./db/migrate.ts";
import { checkDatabase, configOrExit, OWNER_URL_VARIABLE, startupMessage } from "./startup.ts";

async function main(): Promise<void> {
  const config = configOrExit();
  if (!config.databaseUrl || !config.migrationDatabaseUrl) {
    process.stderr.write(`matih migrate: set ${OWNER_URL_VARIABLE} (the schema owner) and DATABASE_URL (the service's own role); the embedded database migrates at its own start\n`);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
  try {
    await checkDatabase(config.databaseUrl, "the database in DATABASE_URL");
    await checkDatabase(config.migrationDatabaseUrl, `the database in ${OWNER_URL_VARIABLE}`);
    const { migrations, ...roles } = await migrateAsOwner(config.migrationDatabaseUrl, config.databaseUrl);
    log.info({ migrations }, migrations.length > 0 ? "applied schema migrations" : "the schema is up to date");
    log.info(roles, "schema owned by the owner role; the service's role may only read and write rows, and only add to the audit log");
  } catch (error) {
    const line = startupMessage(error);
    if (line === null) throw error;
    process.stderr.write(`matih migrate: ${line}\n`);
    process.exit(1);
  }
}

await main();
