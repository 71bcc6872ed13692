/**
 * Public API of the automation layer: the engine interface the service
 * depends on, the two engines, engine selection, events, results and errors.
 */
export type {
  ChangeSummary,
  DriftCheckRequest,
  DriftCheckResult,
  DriftedResource,
  EngineErrorInfo,
  EngineKind,
  EngineLogger,
  LockOptions,
  OperationKind,
  OperationRequest,
  OperationResult,
  OperationResultBase,
  OperationStatus,
  PhaseAction,
  PhaseRef,
  PhaseReport,
  PreviewRequest,
  PropertyDrift,
  PreviewResult,
  ProgressEvent,
  ProgressEventBody,
  ProgressListener,
  ProvisionRequest,
  ProvisionResult,
  ResourceChange,
  ResourceCounts,
  ResourceFailure,
  ResourceOp,
  SavedPlan,
  StackSecretsSettings,
  TeardownRequest,
  TeardownResult,
  TenantEngine,
  TierChangePreview,
  TierChangeStep,
  SubStepStatus,
  DataMoveFigures,
  DatabasePlacement,
} from "./core/types.ts";
export { TIER_CHANGE_STEPS } from "./core/types.ts";
export {
  CliMissingError,
  CliTooOldError,
  ConfigurationError,
  ENGINE_ERROR_CODES,
  EngineError,
  errorFromInfo,
  HTTP_STATUS_BY_CODE,
  InfrastructureUnavailableError,
  InvalidRequestError,
  isInfrastructureError,
  OperationCancelledError,
  OperationTimeoutError,
  PlanMismatchError,
  ResourceFailedError,
  StackLockedError,
  StackNotFoundError,
  toErrorInfo,
  UpdateFailedError,
  WorkerCrashedError,
  type EngineErrorCode,
} from "./core/errors.ts";
export { createEngine, consoleLogger, type CreateEngineOptions } from "./create-engine.ts";
export { backendSharing, loadEngineConfig, secretsConfigurationProblem, type BackendSharing, type EngineChoice, type EngineConfig, type EngineConfigOverrides } from "./core/config.ts";
export { DataDirLayout, privateDir } from "./core/data-dir.ts";
export { OperationGate } from "./core/operation-gate.ts";
export { ForkedJobRunner, type JobRunner, type JobRunOptions } from "./isolation/forked-runner.ts";
export { PulumiEngine, type PulumiEngineOptions, type PulumiEngineStartOptions } from "./pulumi/engine.ts";
export { detectPulumiCli, MINIMUM_PULUMI_CLI_VERSION, type CliCheck } from "./pulumi/cli.ts";
export { RenderEngine, type RenderEngineOptions } from "./render/engine.ts";
export { previewTenantByTenant, type FleetPreviewEntry, type FleetPreviewTarget } from "./core/fleet-preview.ts";
export { FileRenderStateStore, type RenderRecord, type RenderStateStore } from "./render/store.ts";
export { validateFaultPlan, type FaultPlan, type PhaseFault } from "./core/fault-plan.ts";
export { actualResources, applySimulatedDrift, type SimulatedDrift } from "./render/simulated-drift.ts";
export { knownSecrets, redactDriftedResources, redactResourceChanges, redactValue, rememberSecrets, secretValues } from "./core/redact.ts";
