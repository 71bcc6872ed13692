/**
 * Engine selection at service start-up. MATIH_ENGINE=pulumi|render chooses;
 * unset, the Pulumi engine is used when a suitable pulumi CLI is on PATH and
 * the render engine otherwise, with a warning that no infrastructure will be
 * changed. Asking for pulumi without a suitable CLI fails with what to do.
 */
import { loadEngineConfig, type EngineConfig, type EngineConfigOverrides } from "./core/config.ts";
import { DataDirLayout } from "./core/data-dir.ts";
import { ForkedJobRunner, type JobRunner } from "./isolation/forked-runner.ts";
import { WorkerPool } from "./isolation/worker-pool.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { OperationGate } from "./core/operation-gate.ts";
import { detectPulumiCli, type CliCheck } from "./pulumi/cli.ts";
import { PulumiEngine } from "./pulumi/engine.ts";
import { RenderEngine } from "./render/engine.ts";
import { FileRenderStateStore, type RenderStateStore } from "./render/store.ts";
import type { EngineLogger, TenantEngine } from "./core/types.ts";

export interface CreateEngineOptions extends EngineConfigOverrides {
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: EngineLogger;
  /** The render engine's store; default a FileRenderStateStore under the data directory. */
  readonly store?: RenderStateStore;
  /** Where operations run; default a pool of MATIH_WORKERS warm worker processes. */
  readonly runner?: JobRunner;
  /** Told how long each operation waited for a free, warm worker (seconds). */
  readonly onWorkerWait?: (seconds: number) => void;
  readonly detectCli?: (env: NodeJS.ProcessEnv) => Promise<CliCheck>;
}

export const consoleLogger: EngineLogger = {
  info: (message) => console.info(`[automation] ${message}`),
  warn: (message) => console.warn(`[automation] ${message}`),
  error: (message) => console.error(`[automation] ${message}`),
};

export async function createEngine(options: CreateEngineOptions = {}): Promise<TenantEngine> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? consoleLogger;
  const config = loadEngineConfig(env, options);
  const runner = options.runner ?? createRunner(config, env, options.onWorkerWait);
  const gate = new OperationGate({ maxConcurrent: config.maxConcurrentOperations });
  const detect = options.detectCli ?? ((e: NodeJS.ProcessEnv) => detectPulumiCli(e));

  if (config.engine === "render") {
    logger.warn("MATIH_ENGINE=render: using the offline render engine; no infrastructure will be changed.");
    return startRenderEngine(config, { runner, gate, logger, env, ...(options.store ? { store: options.store } : {}) });
  }
  const cli = await detect(env);
  if (!cli.ok) {
    if (config.engine === "pulumi") {
      await runner.close?.();
      throw cli.error;
    }
    logger.warn(
      `no suitable pulumi CLI (${cli.error.message.split(". ")[0]}); using the offline render engine: NO INFRASTRUCTURE WILL BE CHANGED. ` +
        `Install the pulumi CLI, or set MATIH_ENGINE=render to silence this warning.`,
    );
    return startRenderEngine(config, { runner, gate, logger, env, ...(options.store ? { store: options.store } : {}) });
  }
  try {
    return await PulumiEngine.start({ config, runner, gate, env, logger, detectCli: async () => cli });
  } catch (error) {
    await runner.close?.();
    throw error;
  }
}

function startRenderEngine(config: EngineConfig, parts: { runner: JobRunner; gate: OperationGate; logger: EngineLogger; env: NodeJS.ProcessEnv; store?: RenderStateStore }): RenderEngine {
  const layout = new DataDirLayout(config.dataDir);
  const faults = Object.entries(config.renderFaultPlan);
  if (faults.length > 0) {
    // A rehearsal left switched on would make real-looking tenants fail: say so where the operator looks first.
    parts.logger.warn(`MATIH_RENDER_FAULTS is active: ${faults.map(([phase, f]) => `phase ${phase} fails ${f.failTimes} time${f.failTimes === 1 ? "" : "s"}`).join(", ")}`);
  }
  return new RenderEngine({
    layout,
    store: parts.store ?? new FileRenderStateStore(layout.renderStateDir),
    runner: parts.runner,
    gate: parts.gate,
    operationTimeoutMs: config.operationTimeoutMs,
    pace: config.renderPace,
    faultPlan: config.renderFaultPlan,
    logger: parts.logger,
    env: parts.env,
    // One fleet-preview job more than there are warm workers: a worker that finishes a chunk finds the
    // next one waiting while the service reads records and diffs. A process per job (MATIH_WORKERS=0): one at a time.
    fleetParallelism: config.workers === 0 ? 1 : config.workers + 1,
  });
}

function createRunner(config: EngineConfig, env: NodeJS.ProcessEnv, onWait?: (seconds: number) => void): JobRunner {
  if (config.workers === 0) return new ForkedJobRunner({ env });
  const pool = new WorkerPool({
    size: config.workers,
    maxOperations: config.workerMaxOperations,
    maxRssBytes: config.workerMaxRssMb * 2 ** 20,
    env,
    // Warm for the default platform settings' secret variable (the Postgres admin password's).
    warmEnvNames: [resolvePlatformSettings().postgres.adminPasswordEnv],
    ...(onWait ? { onWait } : {}),
  });
  pool.warmUp();
  return pool;
}
