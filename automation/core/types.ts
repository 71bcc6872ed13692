/**
 * The contract between the service and whatever drives tenant stacks: one
 * interface (TenantEngine), two implementations (the Pulumi engine that changes
 * real infrastructure, the render engine that changes nothing). Everything in
 * this file is plain data so that requests, events and results can cross a
 * process boundary and be stored as JSON.
 */
import type { PhaseName } from "../../model/phases.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";

export type EngineKind = "pulumi" | "render";
export type OperationKind = "provision" | "preview" | "teardown" | "drift-check";
/** A timeout is a failure (code `operation_timeout`); `cancelled` is only for a caller's cancel. */
export type OperationStatus = "succeeded" | "failed" | "cancelled";

/** What happens to one resource. `read` is a resource the program reads rather than manages. */
export type ResourceOp = "create" | "update" | "replace" | "delete" | "same" | "read";

/** Counts of resources by what happened to them; reads count as `same`. The stack resource itself is not counted. */
export interface ChangeSummary {
  create: number;
  update: number;
  replace: number;
  delete: number;
  same: number;
}

export interface PhaseRef {
  readonly number: number;
  readonly name: PhaseName;
}

/** `apply` brings a phase up or updates it; `remove` deletes it (teardown, or `lastPhase` lowered). */
export type PhaseAction = "apply" | "remove";

/**
 * Resources of a phase, not counting its component. `done`: finished in this
 * operation. `pending`: known but not finished. The render engine knows every
 * resource of a phase up front; the Pulumi engine learns of them as the engine
 * reaches them, so its `pending` grows during a phase.
 */
export interface ResourceCounts {
  readonly done: number;
  readonly pending: number;
}

/** The resource whose operation failed and the engine's message (secrets redacted). */
export interface ResourceFailure {
  /** Null when the failure is not tied to one resource (a program error, say). */
  readonly urn: string | null;
  readonly type: string | null;
  readonly message: string;
  /** True when the failure was injected by a render engine fault plan (rehearsals). */
  readonly injected?: boolean;
}

/** Plain-data form of an EngineError (see errors.ts); `code` is stable. */
export interface EngineErrorInfo {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly phase: PhaseRef | null;
  readonly urn: string | null;
}

export type ProgressEventBody =
  | { readonly type: "operation-started"; readonly engine: EngineKind }
  | { readonly type: "phase-started"; readonly phase: PhaseRef; readonly action: PhaseAction; readonly resources: ResourceCounts }
  | {
      readonly type: "phase-progress";
      readonly phase: PhaseRef;
      readonly action: PhaseAction;
      readonly resources: ResourceCounts;
      /** The resource that just finished. */
      readonly resource: { readonly urn: string; readonly type: string; readonly op: ResourceOp };
    }
  | { readonly type: "phase-succeeded"; readonly phase: PhaseRef; readonly action: PhaseAction; readonly resources: ResourceCounts }
  | { readonly type: "phase-failed"; readonly phase: PhaseRef; readonly action: PhaseAction; readonly resources: ResourceCounts; readonly failure: ResourceFailure }
  | {
      /** The phase did not finish because the operation stopped: cancelled, timed out, or another phase failed. */
      readonly type: "phase-cancelled";
      readonly phase: PhaseRef;
      readonly action: PhaseAction;
      readonly resources: ResourceCounts;
      readonly reason: string;
    }
  | { readonly type: "diagnostic"; readonly severity: "warning" | "error"; readonly message: string; readonly urn: string | null; readonly phase: PhaseRef | null }
  | {
      /**
       * A sub-step of a phase: the steps of a tier change inside phase 2
       * (expand, move, verify, switch, contract; see TierChangeStep). Phase
       * events still open and close the phase; these say where inside it the
       * run is, and `contract` arrives after the later phases rolled.
       */
      readonly type: "phase-step";
      readonly phase: PhaseRef;
      readonly step: TierChangeStep;
      readonly status: SubStepStatus;
      /** What the step did or why it failed or was skipped; never a secret. */
      readonly message: string;
      /** For `move` and `verify`: what was copied and checked. */
      readonly data?: DataMoveFigures;
    }
  | {
      readonly type: "operation-finished";
      readonly status: OperationStatus;
      readonly changeSummary: ChangeSummary;
      readonly durationMs: number;
      readonly error: EngineErrorInfo | null;
    };

/**
 * The steps of a tier change inside phase 2, in the order they run (issue 22):
 * `expand` declares the new database target beside the old one (the Secret
 * still points at the old one), `move` copies the tenant's schema to it,
 * `verify` compares row counts and checksums on both sides, `switch` points
 * the credentials Secret at the new target (the workloads of phases 2-5 roll
 * on its checksum annotation), `contract` removes the old target once the
 * workloads rolled. A change runs the subset its plan needs.
 */
export const TIER_CHANGE_STEPS = ["expand", "move", "verify", "switch", "contract"] as const;
export type TierChangeStep = (typeof TIER_CHANGE_STEPS)[number];
export type SubStepStatus = "started" | "succeeded" | "failed" | "skipped";

/** Tables, rows and bytes a move copies (bytes: the rows' text form; the preview: on-disk size of the source's tables). */
export interface DataMoveFigures {
  readonly tables: number;
  readonly rows: number;
  readonly bytes: number;
}

/** Where a tenant's schema lives: the shared server (free, professional) or a dedicated server (enterprise). */
export type DatabasePlacement = "shared" | "dedicated";

/** What a preview says a change will do to the tenant's database, beside its resource changes. */
export interface TierChangePreview {
  /** The steps the change runs, in order; empty when phase 2 does not change its target. */
  readonly steps: readonly TierChangeStep[];
  /** Where the data moves from and to; null when it stays where it is. */
  readonly move: { readonly from: DatabasePlacement; readonly to: DatabasePlacement } | null;
  /** What the move would copy, measured on the source now; null when nothing moves or the engine cannot reach the source. */
  readonly data: DataMoveFigures | null;
  /** Why `data` is null while something moves. */
  readonly note?: string;
}

/** A progress event as delivered to `onEvent`: the body plus where and when. */
export type ProgressEvent = ProgressEventBody & {
  /** 0, 1, 2, ... within one operation; gaps never occur. */
  readonly seq: number;
  /** ISO 8601. */
  readonly at: string;
  readonly operation: OperationKind;
  readonly slug: string;
};

export type ProgressListener = (event: ProgressEvent) => void;

/** The final state of a phase that the operation touched. */
export interface PhaseReport {
  readonly phase: PhaseRef;
  readonly action: PhaseAction;
  readonly status: "succeeded" | "failed" | "cancelled";
  readonly resources: ResourceCounts;
  readonly failure?: ResourceFailure;
}

/** What `preview` reports for one resource. */
export interface ResourceChange {
  readonly urn: string;
  readonly type: string;
  readonly phase: PhaseRef | null;
  readonly op: ResourceOp;
  /** Property paths that change, in Pulumi's notation: `spec.hard.pods`, `metadata.labels["matih.ai/tier"]`. */
  readonly changedPaths: readonly string[];
  /** For `replace`: the paths that force the replacement. */
  readonly replaceReasons: readonly string[];
  /**
   * Each changed path with its value before and after; secret values read
   * "[secret]" on both sides, so a reviewer sees which secret keys change
   * without seeing a value. Absent (undefined) where a path did not exist.
   */
  readonly diffs: readonly PropertyDiff[];
}

export interface PropertyDiff {
  readonly path: string;
  readonly old?: unknown;
  readonly new?: unknown;
}

/**
 * One resource whose recorded state no longer matches reality.
 * `changed`: properties differ. `gone`: recorded, but no longer there
 * (deleted outside Pulumi; render: deleted from the simulated actual state).
 * `untracked`: there but not recorded (render only: in the simulated actual
 * state of a recorded phase but not in the record).
 */
export interface DriftedResource {
  readonly urn: string;
  readonly type: string;
  readonly phase: PhaseRef | null;
  readonly drift: "changed" | "gone" | "untracked";
  /** Property paths that differ, sorted. */
  readonly properties: readonly string[];
  /**
   * For `changed`, each differing path with the recorded value and the actual
   * one (null where that side has no value; secrets as "[secret]"). Empty when
   * the engine does not know the values.
   */
  readonly differences?: readonly PropertyDrift[];
}

/** One property of a drifted resource: what the stack recorded and what is really there. */
export interface PropertyDrift {
  readonly path: string;
  readonly recorded: unknown;
  readonly actual: unknown;
}

/**
 * A reviewed preview, to which a later `provision` can be held. The plan file
 * is written under the data directory of the process that previewed; its
 * contents travel with the reference (`content`, fingerprinted by `sha256`),
 * so that whoever keeps the reference (the service: with the change, in the
 * database) can have the plan applied by any process, on any host. The
 * contents hold no secret in plain text: the Pulumi engine's plan carries
 * secret values as ciphertext of the stack's secrets provider.
 */
export interface SavedPlan {
  readonly id: string;
  readonly slug: string;
  readonly engine: EngineKind;
  readonly lastPhase: number;
  /** Absolute path of the plan file under the data directory where it was made; another process writes it to its own. */
  readonly file: string;
  readonly createdAt: string;
  /** SHA-256 (hex) of the plan file's contents as the preview saved them. Absent in plans saved before it was recorded. */
  readonly sha256?: string;
  /** The plan file's contents (JSON text). Absent in plans saved before it was kept; those only apply where their file is. */
  readonly content?: string;
}

/**
 * The secrets settings of a tenant's stack, as the Pulumi CLI keeps them in
 * the stack's settings file (`Pulumi.<stack>.yaml`) in the work directory:
 * `encryptionSalt` for the passphrase provider; `secretsProvider` (the key
 * vault URL) and `encryptedKey` (the stack's data key, wrapped by the key
 * vault) for a KMS provider. No secret value: the passphrase is never here,
 * and the wrapped key opens nothing without the key vault.
 */
export interface StackSecretsSettings {
  readonly secretsProvider?: string;
  readonly encryptedKey?: string;
  readonly encryptionSalt?: string;
}

export interface OperationRequest {
  /** Validated tenant spec (validateTenantSpec); checked again before anything runs. */
  readonly spec: TenantSpec;
  /** Resolved platform settings (resolvePlatformSettings); passed to the program as they are. */
  readonly settings: PlatformSettings;
  readonly signal?: AbortSignal;
  readonly onEvent?: ProgressListener;
  /** Overrides the engine's time limit for this operation. */
  readonly timeoutMs?: number;
  /**
   * The stack's secrets settings as an earlier operation reported them
   * (`stackSettings` of its result), from wherever the caller keeps them for
   * every process. The Pulumi engine writes them to the tenant's work
   * directory before it runs a command on an existing stack, when the settings
   * file there is missing or says otherwise, so that a process on another
   * host keeps the stack's secrets provider. The render engine ignores them.
   */
  readonly stackSettings?: StackSecretsSettings | null;
}

export interface LockOptions {
  /**
   * The caller knows the run that last held this tenant is dead (its job's
   * heartbeat stopped). A lock it left is then cancelled and the operation
   * retried once. Without it a lock is waited on, then reported.
   */
  readonly ownerDead?: boolean;
  /** How long to wait for another run's lock before reporting `stack_locked`. */
  readonly lockWaitMs?: number;
}

export interface ProvisionRequest extends OperationRequest, LockOptions {
  /** Bring the tenant up to this phase (1 to PHASE_COUNT); default every phase, or the plan's. */
  readonly lastPhase?: number;
  /** Hold the update to exactly this reviewed plan. */
  readonly plan?: SavedPlan;
  /**
   * How strictly `plan` holds. `exact` (default): the stack must still be as
   * it was when the plan was made, and the update must do what was reviewed.
   * `resume`: the plan's own update already ran in part (a failed attempt);
   * the stack is allowed to be part of the way there, but the end state must
   * still be the reviewed one. The render engine checks the reviewed desired
   * state; the Pulumi engine cannot hold a partly applied plan (the CLI
   * refuses steps the plan did not foresee), so it runs without `--plan` on
   * the same spec.
   */
  readonly planMode?: "exact" | "resume";
}

export interface PreviewRequest extends OperationRequest {
  readonly lastPhase?: number;
  /** Save the plan so that `provision({ plan })` can be held to it. */
  readonly savePlan?: boolean;
}

/** What a teardown or drift check needs of the program: how far it runs. */
export interface ProgramExtent {
  /**
   * The highest phase the tenant's stack may hold. The program runs to there,
   * so every provider in state is configured as the program says now (a
   * rotated password or kubeconfig), not as old state recorded. Default 10.
   */
  readonly lastPhase?: number;
}

export interface TeardownRequest extends OperationRequest, LockOptions, ProgramExtent {}

export interface DriftCheckRequest extends OperationRequest, ProgramExtent {}

export interface OperationResultBase {
  readonly operation: OperationKind;
  readonly engine: EngineKind;
  readonly slug: string;
  readonly status: OperationStatus;
  readonly changeSummary: ChangeSummary;
  /** Phases the operation touched, in the order it touched them. */
  readonly phases: readonly PhaseReport[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly error: EngineErrorInfo | null;
  /**
   * Pulumi engine: the stack's secrets settings as the operation left them,
   * for the caller to keep where every process finds them and pass back as
   * `stackSettings` of the next request. Null when the stack is gone (a
   * teardown) or they could not be read; absent from the render engine.
   */
  readonly stackSettings?: StackSecretsSettings | null;
}

export interface ProvisionResult extends OperationResultBase {
  readonly operation: "provision";
  readonly lastPhase: number;
  /** Stack outputs, secrets as "[secret]"; empty unless the update succeeded. */
  readonly outputs: Record<string, unknown>;
}

export interface PreviewResult extends OperationResultBase {
  readonly operation: "preview";
  readonly lastPhase: number;
  readonly changes: readonly ResourceChange[];
  readonly plan: SavedPlan | null;
  /** The tier-change steps phase 2 will run and how much data moves; absent when the engine does not work it out. */
  readonly tierChange?: TierChangePreview;
}

export interface TeardownResult extends OperationResultBase {
  readonly operation: "teardown";
  /** The stack (render: the record) and the tenant's work directory are gone. */
  readonly stackRemoved: boolean;
  /** There was nothing to tear down; teardown is idempotent for retried jobs. */
  readonly alreadyAbsent: boolean;
}

export interface DriftCheckResult extends OperationResultBase {
  readonly operation: "drift-check";
  readonly drifted: readonly DriftedResource[];
}

export type OperationResult = ProvisionResult | PreviewResult | TeardownResult | DriftCheckResult;

/**
 * What the service depends on. Operations resolve with a result whose status
 * says how they ended; they reject only on programming errors. `outputs`
 * rejects with StackNotFoundError for an unknown tenant.
 */
/** A warm worker process: starting (loading the SDK and the program), idle, or running an operation. */
export type WorkerState = "starting" | "idle" | "busy";

export interface WorkerPoolStats {
  readonly starting: number;
  readonly idle: number;
  readonly busy: number;
  /** Operations waiting for a worker. */
  readonly waiting: number;
  /** Workers replaced so far, by why. */
  readonly replaced: { readonly crashed: number; readonly killed: number; readonly recycled: number };
}

export interface TenantEngine {
  readonly kind: EngineKind;
  /** False for the render engine: nothing it does touches a cloud, cluster or CLI. */
  readonly changesInfrastructure: boolean;
  provision(request: ProvisionRequest): Promise<ProvisionResult>;
  preview(request: PreviewRequest): Promise<PreviewResult>;
  /** Destroys every resource, then removes the stack and the tenant's work directory. */
  teardown(request: TeardownRequest): Promise<TeardownResult>;
  /** Reports drift without writing state. */
  driftCheck(request: DriftCheckRequest): Promise<DriftCheckResult>;
  /** Current stack outputs, secrets as "[secret]". */
  outputs(slug: string): Promise<Record<string, unknown>>;
  /** Cancels this process's running or queued operations for the tenant; true when there was one. */
  cancel(slug: string): boolean;
  /** Cancels everything still running and waits for it to stop; then ends the engine's warm workers. */
  close(): Promise<void>;
  /** The warm worker pool's counts; null when operations run in a fresh process each. */
  workerStats?(): WorkerPoolStats | null;
}

export interface EngineLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
