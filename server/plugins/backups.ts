import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { BackupService, type BackupConfig } from "../domain/backup-service.ts";
import { AzureBlobBackupStore, LocalBackupStore } from "../domain/backup-store.ts";
import path from "node:path";

declare module "fastify" {
  interface FastifyInstance {
    backups: BackupService;
  }
}

/** How often backups past their retention are deleted. */
const PRUNE_EVERY_MS = 3600_000;

/** The backup store and service (domain/backup-service.ts), and the hourly pruning of expired backups. */
async function backupsPlugin(fastify: FastifyInstance, opts: { backups: BackupConfig; settings: PlatformSettings; dataDir: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const { store: storeConfig } = opts.backups;
  const store = storeConfig.kind === "local"
    ? await new LocalBackupStore(storeConfig.dir).init()
    // Dumps wait in the data directory on their way to and from Azure.
    : await new AzureBlobBackupStore({ containerUrl: storeConfig.containerUrl, sasToken: storeConfig.sasToken, workDir: path.join(opts.dataDir, "backup-work") }).init();
  const backups = new BackupService({
    pool: fastify.db, store, retentionDays: opts.backups.retentionDays, tenantDatabaseUrl: opts.backups.tenantDatabaseUrl,
    engine: fastify.engine.kind, settings: opts.settings, pgBinDir: opts.backups.pgBinDir, ...(opts.env ? { env: opts.env } : {}),
  });
  fastify.decorate("backups", backups);
  const prune = () => backups.prune()
    .then((n) => { if (n > 0) fastify.log.info({ removed: n }, "removed backups past their retention"); })
    .catch((err: Error) => fastify.log.warn({ err }, "could not remove expired backups"));
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  fastify.addHook("onReady", async () => {
    await prune();
  });
  fastify.addHook("onClose", async () => clearInterval(timer));
}

export default fp(backupsPlugin, { name: "matih-backups", fastify: "5.x", dependencies: ["matih-database", "matih-engine"] });
