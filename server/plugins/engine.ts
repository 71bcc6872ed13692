import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { createEngine, type EngineLogger, type TenantEngine } from "../../automation/index.ts";
import { PostgresRenderStateStore } from "../db/render-state-store.ts";

declare module "fastify" {
  interface FastifyInstance {
    engine: TenantEngine;
  }
}

export interface EnginePluginOptions {
  dataDir: string;
  /** An engine built by the caller (tests, rehearsals); otherwise chosen by MATIH_ENGINE. */
  engine?: TenantEngine;
  env?: NodeJS.ProcessEnv;
}

/** The automation engine; the render engine keeps its record in Postgres so every process shares it. */
async function enginePlugin(fastify: FastifyInstance, opts: EnginePluginOptions): Promise<void> {
  const logger: EngineLogger = {
    info: (m) => fastify.log.info(m),
    warn: (m) => fastify.log.warn(m),
    error: (m) => fastify.log.error(m),
  };
  const engine = opts.engine ?? (await createEngine({ env: opts.env ?? process.env, dataDir: opts.dataDir, logger, store: new PostgresRenderStateStore(fastify.db) }));
  fastify.log.info({ engine: engine.kind, changesInfrastructure: engine.changesInfrastructure }, "engine ready");
  fastify.decorate("engine", engine);
  fastify.addHook("onClose", async () => {
    await engine.close();
  });
}

export default fp(enginePlugin, { name: "matih-engine", fastify: "5.x", dependencies: ["matih-database"] });
