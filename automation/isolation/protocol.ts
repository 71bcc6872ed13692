/**
 * Messages between the service process and an operation's worker process.
 * Everything is plain data (objects, arrays, strings, numbers, booleans,
 * null): specs, settings, event bodies, results, and errors in their
 * EngineErrorInfo form. The channel uses Node's "advanced" serialization
 * (the structured clone), so a fleet preview's records, some 200 KB of
 * JSON text each, cross it as they are, without being escaped into one
 * more JSON string and copied again on each side. Secret values never travel here; the worker
 * inherits the service's environment and reads them where they are used.
 */
import type { RenderedResource, RenderResult } from "../../stacks/mock-render.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import type { EngineErrorInfo, ProgressEventBody, SavedPlan, StackSecretsSettings } from "../core/types.ts";

/** Render the tenant program offline (Pulumi mock runtime); several tenants per job for fleet previews. */
export interface RenderJob {
  readonly kind: "render";
  readonly renders: readonly { readonly spec: TenantSpec; readonly settings: PlatformSettings; readonly lastPhase: number }[];
}

export type RenderOutcome = { readonly ok: true; readonly result: RenderResult } | { readonly ok: false; readonly error: EngineErrorInfo };

/** What a fleet preview needs of a tenant's record: what to render it from, and what to compare the render with. */
export interface FleetPreviewRecord {
  readonly slug: string;
  readonly spec: TenantSpec;
  readonly lastPhase: number;
  readonly resources: readonly RenderedResource[];
}

/**
 * Render each tenant with `settings` and answer with its changes against its
 * record (render/fleet-preview.ts), not the render. The records travel as the
 * store's JSON text (each a FleetPreviewRecord, and more), parsed by the worker.
 */
export interface FleetPreviewJob {
  readonly kind: "fleet-preview";
  readonly settings: PlatformSettings;
  readonly records: readonly string[];
}

/** `release-lock`: after the engine killed a run's CLI, `pulumi cancel` and report the checkpoint's pending operations (backends other than file://). */
export type PulumiJobOperation = "provision" | "preview" | "teardown" | "drift-check" | "outputs" | "install-plugins" | "release-lock";

/** Where a Pulumi run keeps its things; the same for every operation of an engine. */
export interface PulumiRunConfig {
  readonly dataDir: string;
  readonly backendUrl: string;
  readonly secretsProvider: string;
  readonly lockWaitMs: number;
  /**
   * The engine's cancel grace: how long a worker gets to stop before its
   * process group is killed, also when its service died. A takeover waits
   * longer than this before it cancels a dead run's lock. Default 0.
   */
  readonly cancelGraceMs?: number;
  /** MATIH_PULUMI_PLUGIN_DIR: provider plugin binaries installed from files at start-up instead of downloaded. Default none. */
  readonly pluginDir?: string | null;
}

export interface PulumiJobRequest {
  readonly spec: TenantSpec;
  readonly settings: PlatformSettings;
  readonly lastPhase?: number;
  readonly plan?: SavedPlan;
  readonly planMode?: "exact" | "resume";
  readonly savePlan?: boolean;
  readonly ownerDead?: boolean;
  readonly lockWaitMs?: number;
  /** The stack's secrets settings as the service keeps them (OperationRequest.stackSettings); no secret value. */
  readonly stackSettings?: StackSecretsSettings | null;
}

export interface PulumiJob {
  readonly kind: "pulumi";
  readonly operation: PulumiJobOperation;
  readonly config: PulumiRunConfig;
  /** Absent for `install-plugins`; for `outputs` and `release-lock` only the slug is needed. */
  readonly request?: PulumiJobRequest;
  readonly slug?: string;
}

export type WorkerJob = RenderJob | FleetPreviewJob | PulumiJob;

export type ParentMessage =
  /**
   * `graceMs`: how long the job may take to stop once its service is gone before the worker kills its own process group.
   * `operation`: jobs naming the same operation one after another share the project's modules (JobRunOptions.operation).
   */
  | { readonly type: "run"; readonly job: WorkerJob; readonly graceMs?: number; readonly operation?: string }
  /** Stop cleanly: the worker aborts its operation with this error as the reason. */
  | { readonly type: "cancel"; readonly reason: EngineErrorInfo };

export type WorkerMessage =
  | { readonly type: "event"; readonly body: ProgressEventBody }
  | { readonly type: "log"; readonly level: "info" | "warn" | "error"; readonly message: string }
  | { readonly type: "result"; readonly value: unknown }
  | { readonly type: "error"; readonly error: EngineErrorInfo }
  /** Pool mode only: the worker has loaded what every job needs and takes jobs. */
  | { readonly type: "ready" }
  /** Pool mode only: the job is over (its result or error was sent first); the worker's memory now. */
  | { readonly type: "idle"; readonly rssBytes: number };

/** The argument that starts a worker in pool mode: it serves one job after another instead of one and exiting. */
export const POOL_MODE_FLAG = "--pool";

/** What a job handler gets besides the job: a signal to stop on, and channels back to the service. */
export interface JobContext {
  readonly signal: AbortSignal;
  emit(body: ProgressEventBody): void;
  log(level: "info" | "warn" | "error", message: string): void;
}

export type JobHandler = (job: WorkerJob, context: JobContext) => Promise<unknown>;

export interface ServeOptions {
  /** Pool mode: loads what every job needs before the worker reports ready. */
  readonly warmUp?: () => Promise<void>;
}
