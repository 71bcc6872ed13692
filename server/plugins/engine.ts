import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { backendSharing, createEngine, loadEngineConfig, type EngineLogger, type TenantEngine } from "../../automation/index.ts";
import { claimStateBackend, type BackendClaim } from "../db/backend-claim.ts";
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
  /** Wraps the engine chosen (tests that take a capability away). */
  wrap?: (engine: TenantEngine) => TenantEngine;
  env?: NodeJS.ProcessEnv;
}

/** The automation engine; the render engine keeps its record in Postgres so every process shares it. */
async function enginePlugin(fastify: FastifyInstance, opts: EnginePluginOptions): Promise<void> {
  const logger: EngineLogger = {
    info: (m) => fastify.log.info(m),
    warn: (m) => fastify.log.warn(m),
    error: (m) => fastify.log.error(m),
  };
  const env = opts.env ?? process.env;
  const chosen = opts.engine ?? (await createEngine({ env, dataDir: opts.dataDir, logger, store: new PostgresRenderStateStore(fastify.db), onWorkerWait: (seconds) => fastify.metrics.workerWait(seconds) }));
  const engine = opts.wrap ? opts.wrap(chosen) : chosen;
  fastify.metrics.workerStats = () => engine.workerStats?.() ?? null;
  // The Pulumi engine's stacks live in its state backend: a local directory
  // may not be shared with other processes on this database (see backend-claim.ts).
  let claim: BackendClaim | null = null;
  if (engine.kind === "pulumi") {
    const sharing = backendSharing(loadEngineConfig(env, { dataDir: opts.dataDir }));
    try {
      claim = await claimStateBackend(fastify.db, sharing, {
        onLost: (err) => fastify.log.error({ err }, "lost the database session that claims the state backend; restart this process so other processes see it again"),
      });
    } catch (error) {
      await engine.close();
      throw error;
    }
    fastify.log.info({ backend: sharing.description, sharing: sharing.mode }, "state backend claimed");
  }
  fastify.log.info({ engine: engine.kind, changesInfrastructure: engine.changesInfrastructure }, "engine ready");
  fastify.decorate("engine", engine);
  fastify.addHook("onClose", async () => {
    await engine.close();
    await claim?.release();
  });
}

export default fp(enginePlugin, { name: "matih-engine", fastify: "5.x", dependencies: ["matih-database", "matih-metrics"] });
