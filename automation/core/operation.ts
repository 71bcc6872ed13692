/**
 * What every operation of either engine does around its actual work: check the
 * request, wait for its turn (one per tenant, a limited number at once), run
 * under the caller's signal and the time limit, open and close the event
 * stream, and turn whatever happened into a result. An operation never
 * rejects for an expected failure; the result says how it ended.
 */
import { PHASE_COUNT } from "../../model/phases.ts";
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import { slugProblems, validateTenantSpec, ValidationError, type TenantSpec } from "../../model/spec.ts";
import { assertPlacement } from "../../model/placement.ts";
import { operationSignal } from "./abort.ts";
import { EngineError, InfrastructureUnavailableError, InvalidRequestError, isInfrastructureError, OperationCancelledError, toErrorInfo, UpdateFailedError } from "./errors.ts";
import type { OperationGate } from "./operation-gate.ts";
import { OperationEvents } from "./operation-events.ts";
import type {
  ChangeSummary,
  EngineErrorInfo,
  EngineKind,
  EngineLogger,
  OperationKind,
  OperationRequest,
  OperationResultBase,
  OperationStatus,
  PhaseReport,
} from "./types.ts";

/** What the work of an operation produces; timings and identity are added around it. */
export interface OperationOutcome<Extras> {
  readonly status: OperationStatus;
  readonly changeSummary: ChangeSummary;
  readonly phases: readonly PhaseReport[];
  readonly error: EngineErrorInfo | null;
  readonly extras: Extras;
}

export interface OperationContext {
  /** Fires on the caller's cancel, `engine.cancel(slug)`, or the time limit (reason OperationTimeoutError). */
  readonly signal: AbortSignal;
  readonly events: OperationEvents;
  readonly spec: TenantSpec;
  readonly settings: PlatformSettings;
}

export interface RunOperationOptions<Extras> {
  readonly engine: EngineKind;
  readonly operation: OperationKind;
  readonly request: OperationRequest;
  readonly gate: OperationGate;
  readonly timeoutMs: number;
  readonly logger?: EngineLogger;
  /** Extra result fields when the work never produced any (failed before or crashed). */
  readonly emptyExtras: Extras;
  /** Checks beyond spec and settings, before the operation queues: throws to refuse; warnings it returns are reported as diagnostic events. */
  readonly precheck?: (spec: TenantSpec, settings: PlatformSettings) => void | readonly string[];
  readonly work: (context: OperationContext) => Promise<OperationOutcome<Extras>>;
}

/** Checks spec and settings again: they arrive over an API and a queue, and the slug becomes a path and a stack name. */
export function validateRequest(request: OperationRequest): { spec: TenantSpec; settings: PlatformSettings } {
  if (!request || typeof request !== "object" || !request.spec || !request.settings) {
    throw new InvalidRequestError("a request needs a tenant spec and platform settings");
  }
  try {
    const settings = resolvePlatformSettings(request.settings as unknown as Record<string, unknown>);
    const spec = validateTenantSpec(request.spec, { baseDomain: settings.baseDomain });
    // Region × tier × settings: a placement Azure would refuse midway is refused before the run queues.
    assertPlacement(spec, settings);
    return { spec, settings };
  } catch (error) {
    if (error instanceof ValidationError) throw new InvalidRequestError(error.message, error.problems);
    throw error;
  }
}

/** Checks a slug given on its own (outputs, cancel). */
export function validateSlug(slug: string): void {
  const problems = slugProblems(slug, "example.com");
  if (problems.length > 0) throw new InvalidRequestError(`invalid tenant slug: ${problems.map((p) => p.message).join("; ")}`, problems);
}

/** `lastPhase` checked without loading the program module (it pulls in the whole SDK). */
export function checkLastPhase(lastPhase: number | undefined): number {
  const value = lastPhase ?? PHASE_COUNT;
  if (!Number.isInteger(value) || value < 1 || value > PHASE_COUNT) {
    throw new InvalidRequestError(`lastPhase must be a whole number from 1 to ${PHASE_COUNT}, got ${lastPhase}`, [{ field: "lastPhase", message: `must be 1 to ${PHASE_COUNT}` }]);
  }
  return value;
}

export function asEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  if (isInfrastructureError(error)) return new InfrastructureUnavailableError(error);
  return new UpdateFailedError(error instanceof Error ? error.message : String(error));
}

export function statusOf(error: EngineError): OperationStatus {
  return error instanceof OperationCancelledError ? "cancelled" : "failed";
}

/** Why phases left running were cut short, in words for the event stream. */
export function stopReason(error: EngineError): string {
  switch (error.code) {
    case "operation_cancelled":
      return "the operation was cancelled";
    case "operation_timeout":
      return "the operation ran out of time";
    case "resource_failed":
      return error.phase ? `phase ${error.phase.number} ${error.phase.name} failed` : "a resource failed";
    default:
      return `the operation failed (${error.code})`;
  }
}

export async function runOperation<Extras extends object>(options: RunOperationOptions<Extras>): Promise<OperationResultBase & Extras> {
  const startedAt = new Date();
  const slug = typeof options.request?.spec?.slug === "string" ? options.request.spec.slug : "";
  const events = new OperationEvents({
    operation: options.operation,
    slug,
    ...(options.request?.onEvent ? { listener: options.request.onEvent } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  events.emit({ type: "operation-started", engine: options.engine });

  let outcome: OperationOutcome<Extras>;
  try {
    const { spec, settings } = validateRequest(options.request);
    for (const message of options.precheck?.(spec, settings) ?? []) events.emit({ type: "diagnostic", severity: "warning", message, urn: null, phase: null });
    outcome = await options.gate.run(spec.slug, options.request.signal, async (admitted) => {
      const limited = operationSignal(admitted, options.request.timeoutMs ?? options.timeoutMs);
      try {
        return await options.work({ signal: limited.signal, events, spec, settings });
      } finally {
        limited.dispose();
      }
    });
  } catch (thrown) {
    const error = asEngineError(thrown);
    // The driver's own words are for the operator's log, never for the result a tenant's admin reads.
    if (error.code === "infrastructure_unavailable" && error.cause) options.logger?.warn(`${options.operation} of ${slug}: database trouble: ${String((error.cause as Error).message ?? error.cause).slice(0, 300)}`);
    events.closeOpenPhases(stopReason(error));
    outcome = { status: statusOf(error), changeSummary: events.changeSummary(), phases: events.phaseReports(), error: toErrorInfo(error), extras: options.emptyExtras };
  }

  const finishedAt = new Date();
  const durationMs = finishedAt.getTime() - startedAt.getTime();
  events.emit({ type: "operation-finished", status: outcome.status, changeSummary: outcome.changeSummary, durationMs, error: outcome.error });
  return {
    ...outcome.extras,
    operation: options.operation,
    engine: options.engine,
    slug,
    status: outcome.status,
    changeSummary: outcome.changeSummary,
    phases: outcome.phases,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs,
    error: outcome.error,
  };
}
