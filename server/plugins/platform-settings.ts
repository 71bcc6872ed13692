import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import type { SettingsVersionRow } from "../db/platform-settings.ts";
import { startWithPlatformSettings } from "../domain/platform-settings.ts";

declare module "fastify" {
  interface FastifyInstance {
    /**
     * The platform settings version current when this process started (seeded
     * from the file if the database had none). Runs and the settings API read
     * the current version from the database per operation instead.
     */
    platformSettingsAtStart: SettingsVersionRow;
  }
}

export interface PlatformSettingsPluginOptions {
  /** The settings file's (or the defaults') settings: the first version if the database has none. */
  fileSettings: PlatformSettings;
  /** Where they came from, for the first version's reason and the log. */
  source: string;
}

async function platformSettingsPlugin(fastify: FastifyInstance, opts: PlatformSettingsPluginOptions): Promise<void> {
  const current = await startWithPlatformSettings(fastify.db, { settings: opts.fileSettings, source: opts.source }, fastify.log);
  fastify.decorate("platformSettingsAtStart", current);
}

export default fp(platformSettingsPlugin, { name: "matih-platform-settings", fastify: "5.x", dependencies: ["matih-database"] });
