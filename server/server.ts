/**
 * npm start: configuration from the environment, the database (DATABASE_URL,
 * or the embedded PostgreSQL under the data directory), then the service.
 * A failed start prints one line naming what to fix and exits non-zero.
 * SIGINT/SIGTERM stop taking work, let running runs reach a safe point or hand
 * them back, close pools, and stop the embedded database last. A second SIGINT
 * right after the first is the same Ctrl-C; a later one forces the exit.
 */
import { readFile } from "node:fs/promises";
import closeWithGrace from "close-with-grace";
import type { FastifyInstance } from "fastify";
import { privateDir } from "../automation/index.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { buildService } from "./build.ts";
import type { ServiceConfig } from "./config.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./db/embedded.ts";
import { TOKEN_RULE } from "./security/token-rules.ts";
import { checkDatabase, configOrExit, CTRL_C_WINDOW_MS, ensureAdminToken, interruptTracker, migrateThenRestartWithoutOwner, startupMessage } from "./startup.ts";

async function loadSettings(): Promise<ReturnType<typeof resolvePlatformSettings>> {
  const file = process.env.MATIH_PLATFORM_SETTINGS_FILE;
  if (!file) return resolvePlatformSettings();
  return resolvePlatformSettings(JSON.parse(await readFile(file, "utf8")));
}

async function main(): Promise<void> {
  let config: ServiceConfig = configOrExit();
  // The data directory is this user's alone, also one an earlier version created world-readable.
  await privateDir(config.dataDir);
  let embedded: EmbeddedDatabase | null = null;
  let fastify: FastifyInstance | null = null;
  try {
    if (config.databaseUrl && config.migrationDatabaseUrl) {
      // The owner's part first; then this process starts afresh without the owner's URL (it does not return).
      await checkDatabase(config.databaseUrl, "the database in DATABASE_URL");
      await checkDatabase(config.migrationDatabaseUrl, "the database in MATIH_MIGRATION_DATABASE_URL");
      await migrateThenRestartWithoutOwner(config, config.migrationDatabaseUrl, config.databaseUrl);
    }
    const token = await ensureAdminToken(config);
    config = token.config;
    const settings = await loadSettings();
    let databaseUrl = config.databaseUrl;
    if (databaseUrl) {
      await checkDatabase(databaseUrl, "the database in DATABASE_URL");
    } else {
      // Two roles here too: its setup migrates as the owner and locks the superuser out; the service gets a role that may only add to the audit log.
      embedded = await startEmbeddedDatabase(config.dataDir);
      databaseUrl = embedded.url;
    }
    // Everything this process and its workers (and a Pulumi CLI they start) create from now on is
    // this user's alone. Not before the embedded database is up: under root its server runs as the
    // postgres user, which must read the files the library hands it while initialising.
    process.umask(0o077);
    fastify = await buildService({ config, databaseUrl, migrationDatabaseUrl: null, settings, startWorkersOn: "listen" });
    if (embedded) {
      const { migrations, ...roles } = embedded.setup;
      if (migrations.length > 0) fastify.log.info({ migrations }, "applied schema migrations");
      fastify.log.info(roles, "schema owned by the owner role; the service's role may only read and write rows, and only add to the audit log");
    }
    if (embedded) fastify.log.warn({ directory: embedded.directory, port: embedded.port }, "DATABASE_URL is not set: using the embedded PostgreSQL (one process per data directory; set DATABASE_URL to share work between processes)");
    if (token.source.kind === "generated") fastify.log.warn({ file: token.source.file }, "MATIH_ADMIN_TOKEN is not set: an admin token was generated into this file");
    if (token.source.kind === "reused") fastify.log.info({ file: token.source.file }, "MATIH_ADMIN_TOKEN is not set: using the admin token in this file");
    fastify.log.info(
      { adminTokens: config.tokens.filter((t) => t.scope === "admin").length, readTokens: config.tokens.filter((t) => t.scope === "read").length },
      `bearer tokens accepted; every token must have ${TOKEN_RULE}`,
    );
  } catch (error) {
    await failedToStart(error, config, fastify, embedded);
  }
  const app = fastify!;
  const database = embedded;
  // SIGINT is handled below rather than by close-with-grace, which exits at once on a second
  // signal: under `npm start` one Ctrl-C is two SIGINTs, and the hard exit skipped the drain and
  // left the data directory's lock behind.
  const grace = closeWithGrace({ delay: 45_000, skip: ["SIGINT"] }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, "stopping after an error");
    else if (signal) app.log.info({ signal }, "stopping");
    await app.close();
    await database?.close();
  });
  const interrupt = interruptTracker();
  process.on("SIGINT", () => {
    const verdict = interrupt(Date.now());
    if (verdict === "stop") {
      app.log.info({ signal: "SIGINT" }, "stopping");
      void grace.close();
    } else if (verdict === "same") {
      app.log.info({ signal: "SIGINT" }, `a second SIGINT within ${CTRL_C_WINDOW_MS} ms is the same Ctrl-C (the terminal and npm both send it): still stopping gracefully; press Ctrl-C again to stop at once`);
    } else {
      app.log.error({ signal: "SIGINT" }, "SIGINT again: exiting without waiting for running work");
      process.exit(1);
    }
  });
  // Listening only once SIGTERM and SIGINT are handled: a signal sent as soon as the service says it listens (a
  // rolling restart, a test) was otherwise, on a busy host, taken by Node's default handler, and the process died
  // without its drain.
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    grace.uninstall();
    await failedToStart(error, config, app, database);
  }
}

/** Stops what started and exits with one line, or rethrows an error that has no line of its own. */
async function failedToStart(error: unknown, config: ServiceConfig, fastify: FastifyInstance | null, embedded: EmbeddedDatabase | null): Promise<never> {
  const line = startupMessage(error, config);
  await fastify?.close().catch(() => undefined);
  await embedded?.close().catch(() => undefined);
  if (line === null) throw error;
  process.stderr.write(`matih tenant service cannot start: ${line}\n`);
  process.exit(1);
}

await main();
