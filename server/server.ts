/**
 * npm start: configuration from the environment, the database (DATABASE_URL,
 * or the embedded PGlite under the data directory), then the service.
 * SIGINT/SIGTERM stop taking work, let running runs reach a safe point or hand
 * them back, and close pools.
 */
import { randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import closeWithGrace from "close-with-grace";
import { privateDir } from "../automation/index.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { loadServiceConfig, ServiceConfigError, type ServiceConfig } from "./config.ts";
import { buildService } from "./build.ts";
import { TOKEN_RULE, tokenWeakness } from "./security/token-rules.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./db/embedded.ts";

/** Without any configured token, a generated admin token in the data directory (mode 600); its path is logged, never the token. */
async function ensureAdminToken(config: ServiceConfig): Promise<{ config: ServiceConfig; generatedAt: string | null }> {
  if (config.tokens.length > 0) return { config, generatedAt: null };
  const file = path.join(config.dataDir, "admin-token");
  let token: string;
  try {
    token = (await readFile(file, "utf8")).trim();
  } catch {
    token = randomBytes(32).toString("base64url");
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  const weakness = tokenWeakness(token);
  if (weakness) throw new ServiceConfigError([`the admin token in ${file} ${weakness}; delete the file to have a new one generated`]);
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
  // Everything this process and its workers (and a Pulumi CLI they start) create is this user's
  // alone, and so is the data directory, also one an earlier version created world-readable.
  process.umask(0o077);
  await privateDir(config.dataDir);
  let token: Awaited<ReturnType<typeof ensureAdminToken>>;
  try {
    token = await ensureAdminToken(config);
  } catch (error) {
    if (error instanceof ServiceConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
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
  fastify.log.info(
    { adminTokens: config.tokens.filter((t) => t.scope === "admin").length, readTokens: config.tokens.filter((t) => t.scope === "read").length },
    `bearer tokens accepted; every token must have ${TOKEN_RULE}`,
  );
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
