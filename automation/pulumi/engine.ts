/**
 * The Pulumi engine as the service sees it. Every operation runs in a worker
 * process of its own (see isolation/), so a hung CLI, a crash or the inline
 * program's process-global runtime state stays in that process; this class
 * admits operations (one per tenant, a limited number at once), enforces time
 * limits and cancellation, relays events and assembles results.
 */
import { mkdir } from "node:fs/promises";
import { PROJECT_NAME } from "../../model/constants.ts";
import { operationSignal } from "../core/abort.ts";
import type { EngineConfig } from "../core/config.ts";
import { describeBackend, secretsConfigurationProblem } from "../core/config.ts";
import { DataDirLayout, privateDir } from "../core/data-dir.ts";
import { CliMissingError, ConfigurationError, EngineError, errorFromInfo, OperationCancelledError } from "../core/errors.ts";
import type { JobRunner } from "../isolation/forked-runner.ts";
import type { PulumiJob, PulumiJobOperation, PulumiJobRequest, PulumiRunConfig } from "../isolation/protocol.ts";
import { asEngineError, checkLastPhase, runOperation, validateSlug, type OperationContext, type OperationOutcome } from "../core/operation.ts";
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
  WorkerPoolStats,
} from "../core/types.ts";
import { detectPulumiCli, type CliCheck } from "./cli.ts";
import { fileBackendDir, releaseDeadOwnersLocks, type LockRelease } from "./file-backend.ts";
import type { PluginInstall } from "./plugins.ts";
import { assertReadyForRealRun } from "./preflight.ts";
import { PHASE_COUNT } from "../../model/phases.ts";

/** The stack's recorded secrets settings, for the worker to restore (operations.ts); plain data, no secret value. */
function stackSettingsOf(request: OperationRequest): Pick<PulumiJobRequest, "stackSettings"> {
  const settings = request.stackSettings;
  if (!settings) return {};
  const { secretsProvider, encryptedKey, encryptionSalt } = settings;
  return { stackSettings: { ...(secretsProvider ? { secretsProvider } : {}), ...(encryptedKey ? { encryptedKey } : {}), ...(encryptionSalt ? { encryptionSalt } : {}) } };
}

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
      cancelGraceMs: options.config.cancelGraceMs,
      pluginDir: options.config.pluginDir,
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
    // Pulumi home (CLI credentials), workspaces and the local state hold secrets: this user only.
    await privateDir(layout.root);
    await privateDir(layout.pulumiHome);
    await privateDir(layout.workspacesDir);
    if (config.backendUrl === layout.defaultBackendUrl) await privateDir(layout.stateDir);

    const engine = new PulumiEngine(options);
    const plugins = await engine.installPlugins();
    const installed = plugins.filter((p) => p.source !== "missing");
    logger?.info(
      `Pulumi engine ready: pulumi ${cli.version} at ${cli.path}; state backend ${describeBackend(config.backendUrl)}; ` +
        `secrets provider ${config.secretsProvider.split("://")[0]}; plugins ${installed.map((p) => `${p.name} ${p.version}${p.source === "file" ? ` (from ${p.file})` : ""}`).join(", ")}; ` +
        `up to ${options.gate.maxConcurrent} operations at once`,
    );
    for (const plugin of plugins.filter((p) => p.source === "missing")) {
      logger?.warn(`plugin ${plugin.name} ${plugin.version} is not in MATIH_PULUMI_PLUGIN_DIR (${config.pluginDir}) and was not installed: runs that need it fail`);
    }
    return engine;
  }

  provision(request: ProvisionRequest): Promise<ProvisionResult> {
    const empty = { lastPhase: request.lastPhase ?? request.plan?.lastPhase ?? PHASE_COUNT, outputs: {} };
    return this.operate("provision", request, empty, empty.lastPhase, (ctx) =>
      this.runJob("provision", ctx, {
        lastPhase: checkLastPhase(request.lastPhase ?? request.plan?.lastPhase),
        ...(request.plan ? { plan: request.plan, planMode: request.planMode ?? "exact" } : {}),
        ...(request.ownerDead !== undefined ? { ownerDead: request.ownerDead } : {}),
        ...(request.lockWaitMs !== undefined ? { lockWaitMs: request.lockWaitMs } : {}),
        ...stackSettingsOf(request),
      }),
    ) as Promise<ProvisionResult>;
  }

  preview(request: PreviewRequest): Promise<PreviewResult> {
    const empty = { lastPhase: request.lastPhase ?? PHASE_COUNT, changes: [], plan: null };
    return this.operate("preview", request, empty, empty.lastPhase, (ctx) =>
      this.runJob("preview", ctx, { lastPhase: checkLastPhase(request.lastPhase), savePlan: request.savePlan ?? false, ...stackSettingsOf(request) }),
    ) as Promise<PreviewResult>;
  }

  teardown(request: TeardownRequest): Promise<TeardownResult> {
    return this.operate("teardown", request, { stackRemoved: false, alreadyAbsent: false }, null, (ctx) =>
      this.runJob("teardown", ctx, {
        ...(request.lastPhase !== undefined ? { lastPhase: checkLastPhase(request.lastPhase) } : {}),
        ...(request.ownerDead !== undefined ? { ownerDead: request.ownerDead } : {}),
        ...(request.lockWaitMs !== undefined ? { lockWaitMs: request.lockWaitMs } : {}),
        ...stackSettingsOf(request),
      }),
    ) as Promise<TeardownResult>;
  }

  driftCheck(request: DriftCheckRequest): Promise<DriftCheckResult> {
    return this.operate("drift-check", request, { drifted: [] }, null, (ctx) =>
      this.runJob("drift-check", ctx, { ...(request.lastPhase !== undefined ? { lastPhase: checkLastPhase(request.lastPhase) } : {}), ...stackSettingsOf(request) }),
    ) as Promise<DriftCheckResult>;
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
    await this.options.runner.close?.();
  }

  workerStats(): WorkerPoolStats | null {
    return this.options.runner.stats?.() ?? null;
  }

  private async installPlugins(): Promise<PluginInstall[]> {
    const job: PulumiJob = { kind: "pulumi", operation: "install-plugins", config: this.runConfig };
    const controller = new AbortController();
    try {
      return (await this.options.runner.run(job, { signal: controller.signal, graceMs: this.options.config.cancelGraceMs, onLog: this.relayLog })) as PluginInstall[];
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
    /** The last phase the operation runs the program to (its precheck covers what those phases touch), or null when it runs none. */
    programPhases: number | null,
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
      ...(programPhases !== null ? { precheck: (spec, settings) => assertReadyForRealRun(settings, this.env, { tier: spec.tier, lastPhase: programPhases }) } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
  }

  private async runJob<Extras>(operation: PulumiJobOperation, context: OperationContext, extra: Omit<PulumiJobRequest, "spec" | "settings">): Promise<OperationOutcome<Extras>> {
    const job: PulumiJob = { kind: "pulumi", operation, config: this.runConfig, request: { spec: context.spec, settings: context.settings, ...extra } };
    let killed = false;
    let outcome: OperationOutcome<Extras>;
    try {
      outcome = (await this.options.runner.run(job, {
        signal: context.signal,
        graceMs: this.options.config.cancelGraceMs,
        onEvent: context.events.emit,
        onLog: this.relayLog,
        onKilled: () => (killed = true),
      })) as OperationOutcome<Extras>;
    } catch (error) {
      if (!killed) throw error;
      throw await this.releaseAfterKill(context, asEngineError(error));
    }
    // Errors crossed the process boundary as data; make sure they read back as the typed ones.
    return outcome.error ? { ...outcome, error: errorFromInfo(outcome.error).toInfo() } : outcome;
  }

  /**
   * The runner killed this run's worker group, pulumi CLI included, so the
   * CLI never released its stack lock, and whatever it was creating may exist
   * without being in the checkpoint. This process knows the owner is dead:
   * release the lock now, so the retry (the same run, which nobody else sees
   * as dead) does not wait and end `stack_locked`; and say what was left in
   * flight. Returns the run's error with that added.
   */
  private async releaseAfterKill(context: OperationContext, error: EngineError): Promise<EngineError> {
    const slug = context.spec.slug;
    const notes: string[] = [];
    const warn = (message: string) => {
      notes.push(message);
      context.events.emit({ type: "diagnostic", severity: "warning", message, urn: null, phase: null });
    };
    try {
      const stateDir = fileBackendDir(this.options.config.backendUrl);
      const release = stateDir
        ? await releaseDeadOwnersLocks(stateDir, PROJECT_NAME, slug)
        : ((await this.runRecoveryJob(slug)) as LockRelease);
      if (release.removed.length > 0) warn(`the run's pulumi CLI was killed holding the stack lock; the lock was released (${release.removed.map((l) => `pid ${l.pid}`).join(", ")})`);
      if (stateDir === null) warn("the run's pulumi CLI was killed; its update was cancelled in the backend (pulumi cancel)");
      if (release.kept.length > 0) {
        warn(`the stack is still locked by ${release.kept.map((l) => `${l.username}@${l.hostname} (pid ${l.pid}) since ${l.timestamp}`).join(", ")}, which is not this run; left in place`);
      }
      const creates = release.pendingOperations.filter((op) => op.operation === "creating");
      const others = release.pendingOperations.filter((op) => op.operation !== "creating");
      if (creates.length > 0) {
        warn(
          `${creates.length} resource(s) were being created when the run was killed and may exist without being in the stack's state: ` +
            `${creates.map((op) => `${op.urn} (${op.type})`).join(", ")}. The next update creates them again and fails where the name is taken; ` +
            "check each in the cluster or Azure, then delete it or import it (`pulumi refresh --import-pending-creates <urn> <id>`)",
        );
      }
      if (others.length > 0) warn(`operations in flight when the run was killed: ${others.map((op) => `${op.operation} ${op.urn}`).join(", ")}; the next update's refresh reads their real state`);
    } catch (problem) {
      warn(`the run's pulumi CLI was killed and its stack lock could not be released: ${problem instanceof Error ? problem.message : String(problem)}; run \`pulumi cancel\` for stack ${slug}`);
    }
    if (notes.length === 0) return error;
    return errorFromInfo({ ...error.toInfo(), message: `${error.message}; ${notes.join("; ")}` });
  }

  /** Backends other than the local file one: `pulumi cancel` and the checkpoint's pending operations, in a worker of their own. */
  private async runRecoveryJob(slug: string): Promise<LockRelease> {
    const job: PulumiJob = { kind: "pulumi", operation: "release-lock", config: this.runConfig, slug };
    const limited = operationSignal(undefined, OUTPUTS_TIMEOUT_MS);
    try {
      return (await this.options.runner.run(job, { signal: limited.signal, graceMs: this.options.config.cancelGraceMs, onLog: this.relayLog })) as LockRelease;
    } finally {
      limited.dispose();
    }
  }

  private readonly relayLog = (level: "info" | "warn" | "error", message: string) => this.options.logger?.[level](message);
}
