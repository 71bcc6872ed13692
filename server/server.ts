/**
 * npm start: configuration from the environment, the database (DATABASE_URL,
 * or the embedded PGlite under the data directory), then the service.
 * SIGINT/SIGTERM stop taking work, let running runs reach a safe point or hand
 * them back, and close pools.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import closeWithGrace from "close-with-grace";
import { resolvePlatformSettings } from "../model/settings.ts";
import { loadServiceConfig, ServiceConfigError, type ServiceConfig } from "./config.ts";
import { buildService } from "./build.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./db/embedded.ts";

/** Without any configured token, a generated admin token in the data directory (mode 600); its path is logged, never the token. */
async function ensureAdminToken(config: ServiceConfig): Promise<{ config: ServiceConfig; generatedAt: string | null }> {
  if (config.tokens.length > 0) return { config, generatedAt: null };
  const file = path.join(config.dataDir, "admin-token");
  let token: string;
  try {
    token = (await readFile(file, "utf8")).trim();
  } catch {
    token = randomBytes(24).toString("base64url");
    await mkdir(config.dataDir, { recursive: true });
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return { config: { ...config, tokens: [{ token, scope: "admin", principal: "admin" }] }, generatedAt: file };
}

async function loadSettings(): Promise<ReturnType<typeof resolvePlatformSettings>> {
  const file = process.env.MATIH_PLATFORM_SETTINGS_FILE;
  if (!file) return resolvePlatformSettings();
  return resolvePlatformSettings(JSON.parse(await readFile(file, "utf8")));
}

async function main(): Promise<void> {
  let config: ServiceConfig;
  try {
    config = loadServiceConfig();
  } catch (error) {
    if (error instanceof ServiceConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const token = await ensureAdminToken(config);
  config = token.config;
  const settings = await loadSettings();

  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedDatabase(config.dataDir);
    databaseUrl = embedded.url;
  }
  const fastify = await buildService({ config, databaseUrl, settings });
  if (embedded) fastify.log.warn({ directory: embedded.directory }, "DATABASE_URL is not set: using the embedded database (one process only; set DATABASE_URL for production)");
  if (token.generatedAt) fastify.log.warn({ file: token.generatedAt }, "MATIH_ADMIN_TOKEN is not set: an admin token was generated into this file");

  closeWithGrace({ delay: 45_000 }, async ({ signal, err }) => {
    if (err) fastify.log.error({ err }, "stopping after an error");
    else fastify.log.info({ signal }, "stopping");
    await fastify.close();
    await embedded?.close();
  });
  await fastify.listen({ port: config.port, host: config.host });
}

await main();
