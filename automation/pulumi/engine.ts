/**
 * The Pulumi engine as the service sees it. Every operation runs in a worker
 * process of its own (see isolation/), so a hung CLI, a crash or the inline
 * program's process-global runtime state stays in that process; this class
 * admits operations (one per tenant, a limited number at once), enforces time
 * limits and cancellation, relays events and assembles results.
 */
import { mkdir } from "node:fs/promises";
import { operationSignal } from "../core/abort.ts";
import type { EngineConfig } from "../core/config.ts";
import { describeBackend, secretsConfigurationProblem } from "../core/config.ts";
import { DataDirLayout } from "../core/data-dir.ts";
import { CliMissingError, ConfigurationError, errorFromInfo, OperationCancelledError } from "../core/errors.ts";
import type { JobRunner } from "../isolation/forked-runner.ts";
import type { PulumiJob, PulumiJobOperation, PulumiJobRequest, PulumiRunConfig } from "../isolation/protocol.ts";
import { checkLastPhase, runOperation, validateSlug, type OperationContext, type OperationOutcome } from "../core/operation.ts";
import type { OperationGate } from "../core/operation-gate.ts";
import type {
  DriftCheckRequest,
  DriftCheckResult,
  EngineLogger,
  OperationKind,
  OperationRequest,
  OperationResultBase,
  PreviewRequest,
  PreviewResult,
  ProvisionRequest,
  ProvisionResult,
  TeardownRequest,
  TeardownResult,
  TenantEngine,
} from "../core/types.ts";
import { detectPulumiCli, type CliCheck } from "./cli.ts";
import type { PluginRequirement } from "./plugins.ts";
import { assertReadyForRealRun } from "./preflight.ts";
import { PHASE_COUNT } from "../../model/phases.ts";

/** Reading outputs is one quick CLI call. */
const OUTPUTS_TIMEOUT_MS = 120_000;

export interface PulumiEngineOptions {
  readonly config: EngineConfig;
  readonly runner: JobRunner;
  readonly gate: OperationGate;
  /** The environment the workers inherit; used here for the real-run preflight. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: EngineLogger;
}

export interface PulumiEngineStartOptions extends PulumiEngineOptions {
  /** Default: look for `pulumi` on PATH. */
  readonly detectCli?: (env: NodeJS.ProcessEnv) => Promise<CliCheck>;
}

export class PulumiEngine implements TenantEngine {
  readonly kind = "pulumi" as const;
  readonly changesInfrastructure = true;
  private readonly options: PulumiEngineOptions;
  private readonly runConfig: PulumiRunConfig;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: PulumiEngineOptions) {
    this.options = options;
    this.env = options.env ?? process.env;
    this.runConfig = {
      dataDir: options.config.dataDir,
      backendUrl: options.config.backendUrl,
      secretsProvider: options.config.secretsProvider,
      lockWaitMs: options.config.lockWaitMs,
    };
  }

  /**
   * Checks everything a real run needs before the service accepts work: a
   * secrets provider or passphrase, a new enough CLI, the data directory; then
   * installs the provider plugins once, at the npm packages' versions.
   */
  static async start(options: PulumiEngineStartOptions): Promise<PulumiEngine> {
    const { config, logger } = options;
    const env = options.env ?? process.env;
    const secretsProblem = secretsConfigurationProblem(config);
    if (secretsProblem) throw new ConfigurationError(secretsProblem);
    const cli = await (options.detectCli ?? detectPulumiCli)(env);
    if (!cli.ok) throw cli.error;

    const layout = new DataDirLayout(config.dataDir);
    await mkdir(layout.pulumiHome, { recursive: true });
    await mkdir(layout.workspacesDir, { recursive: true });
    if (config.backendUrl === layout.defaultBackendUrl) await mkdir(layout.stateDir, { recursive: true });

    const engine = new PulumiEngine(options);
    const plugins = await engine.installPlugins();
    logger?.info(
      `Pulumi engine ready: pulumi ${cli.version} at ${cli.path}; state backend ${describeBackend(config.backendUrl)}; ` +
        `secrets provider ${config.secretsProvider.split("://")[0]}; plugins ${plugins.map((p) => `${p.name} ${p.version}`).join(", ")}; ` +
        `up to ${options.gate.maxConcurrent} operations at once`,
    );
    return engine;
  }

  provision(request: ProvisionRequest): Promise<ProvisionResult> {
    const empty = { lastPhase: request.lastPhase ?? request.plan?.lastPhase ?? PHASE_COUNT, outputs: {} };
    return this.operate("provision", request, empty, true, (ctx) =>
      this.runJob("provision", ctx, {
        lastPhase: checkLastPhase(request.lastPhase ?? request.plan?.lastPhase),
        ...(request.plan ? { plan: request.plan, planMode: request.planMode ?? "exact" } : {}),
        ...(request.ownerDead !== undefined ? { ownerDead: request.ownerDead } : {}),
        ...(request.lockWaitMs !== undefined ? { lockWaitMs: request.lockWaitMs } : {}),
      }),
    ) as Promise<ProvisionResult>;
  }

  preview(request: PreviewRequest): Promise<PreviewResult> {
    const empty = { lastPhase: request.lastPhase ?? PHASE_COUNT, changes: [], plan: null };
    return this.operate("preview", request, empty, true, (ctx) =>
      this.runJob("preview", ctx, { lastPhase: checkLastPhase(request.lastPhase), savePlan: request.savePlan ?? false }),
    ) as Promise<PreviewResult>;
  }

  teardown(request: TeardownRequest): Promise<TeardownResult> {
    return this.operate("teardown", request, { stackRemoved: false, alreadyAbsent: false }, false, (ctx) =>
      this.runJob("teardown", ctx, {
        ...(request.ownerDead !== undefined ? { ownerDead: request.ownerDead } : {}),
        ...(request.lockWaitMs !== undefined ? { lockWaitMs: request.lockWaitMs } : {}),
      }),
    ) as Promise<TeardownResult>;
  }

  driftCheck(request: DriftCheckRequest): Promise<DriftCheckResult> {
    return this.operate("drift-check", request, { drifted: [] }, false, (ctx) => this.runJob("drift-check", ctx, {})) as Promise<DriftCheckResult>;
  }

  async outputs(slug: string): Promise<Record<string, unknown>> {
    validateSlug(slug);
    const job: PulumiJob = { kind: "pulumi", operation: "outputs", config: this.runConfig, slug };
    // Not queued behind the tenant's running operation: reading the last checkpoint is safe while an update runs.
    const limited = operationSignal(undefined, OUTPUTS_TIMEOUT_MS);
    try {
      return (await this.options.runner.run(job, { signal: limited.signal, graceMs: this.options.config.cancelGraceMs, onLog: this.relayLog })) as Record<string, unknown>;
    } finally {
      limited.dispose();
    }
  }

  cancel(slug: string): boolean {
    return this.options.gate.cancel(slug);
  }

  async close(): Promise<void> {
    this.options.gate.cancelAll(new OperationCancelledError("the engine is shutting down"));
    await this.options.gate.idle();
  }

  private async installPlugins(): Promise<PluginRequirement[]> {
    const job: PulumiJob = { kind: "pulumi", operation: "install-plugins", config: this.runConfig };
    const controller = new AbortController();
    try {
      return (await this.options.runner.run(job, { signal: controller.signal, graceMs: this.options.config.cancelGraceMs, onLog: this.relayLog })) as PluginRequirement[];
    } catch (error) {
      // A missing CLI says so itself; anything else is a start-up configuration problem (network, PULUMI_HOME).
      if (error instanceof CliMissingError) throw error;
      throw new ConfigurationError(`installing the provider plugins failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private operate<Extras extends object>(
    operation: OperationKind,
    request: OperationRequest,
    emptyExtras: Extras,
    runsProgram: boolean,
    work: (context: OperationContext) => Promise<OperationOutcome<Extras>>,
  ): Promise<OperationResultBase & Extras> {
    return runOperation({
      engine: "pulumi",
      operation,
      request,
      gate: this.options.gate,
      timeoutMs: this.options.config.operationTimeoutMs,
      emptyExtras,
      work,
      // Runs that execute the program create or change resources through the providers; check they are set up explicitly.
      ...(runsProgram ? { precheck: (_spec, settings) => assertReadyForRealRun(settings, this.env) } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
  }

  private async runJob<Extras>(operation: PulumiJobOperation, context: OperationContext, extra: Omit<PulumiJobRequest, "spec" | "settings">): Promise<OperationOutcome<Extras>> {
    const job: PulumiJob = { kind: "pulumi", operation, config: this.runConfig, request: { spec: context.spec, settings: context.settings, ...extra } };
    const outcome = (await this.options.runner.run(job, {
      signal: context.signal,
      graceMs: this.options.config.cancelGraceMs,
      onEvent: context.events.emit,
      onLog: this.relayLog,
    })) as OperationOutcome<Extras>;
    // Errors crossed the process boundary as data; make sure they read back as the typed ones.
    return outcome.error ? { ...outcome, error: errorFromInfo(outcome.error).toInfo() } : outcome;
  }

  private readonly relayLog = (level: "info" | "warn" | "error", message: string) => this.options.logger?.[level](message);
}
