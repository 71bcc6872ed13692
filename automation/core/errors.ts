/**
 * Errors of the automation layer. Each has a stable `code` that the HTTP layer
 * maps to a status (see HTTP_STATUS_BY_CODE) and that survives the trip from a
 * worker process to the service as plain data (EngineErrorInfo), so a result
 * stored in the database says the same thing as the exception did.
 *
 * Messages never contain secret values: they are built from names, URNs and
 * engine diagnostics that have been passed through `redactSecrets`.
 */
import { isRetryable } from "./failure-cause.ts";
import type { EngineErrorInfo, PhaseRef } from "./types.ts";

export const ENGINE_ERROR_CODES = [
  "invalid_request",
  "configuration_error",
  "cli_missing",
  "cli_too_old",
  "stack_not_found",
  "stack_locked",
  "plan_mismatch",
  "operation_cancelled",
  "operation_timeout",
  "resource_failed",
  "update_failed",
  "worker_crashed",
  "infrastructure_unavailable",
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

/** Suggested HTTP status per code, for the service's error mapping. */
export const HTTP_STATUS_BY_CODE: Readonly<Record<EngineErrorCode, number>> = {
  invalid_request: 400,
  configuration_error: 500,
  cli_missing: 503,
  cli_too_old: 503,
  stack_not_found: 404,
  stack_locked: 409,
  plan_mismatch: 409,
  operation_cancelled: 409,
  operation_timeout: 504,
  resource_failed: 502,
  update_failed: 502,
  worker_crashed: 500,
  infrastructure_unavailable: 503,
};

interface EngineErrorOptions {
  retryable?: boolean;
  phase?: PhaseRef | null;
  urn?: string | null;
  cause?: unknown;
}

/** Base class of every error the automation layer produces on purpose. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  /** Whether running the same operation again may succeed without anyone changing anything. */
  readonly retryable: boolean;
  /** The phase the error happened in, when known. */
  readonly phase: PhaseRef | null;
  /** The resource the error is about, when known. */
  readonly urn: string | null;

  constructor(code: EngineErrorCode, message: string, options: EngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EngineError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.phase = options.phase ?? null;
    this.urn = options.urn ?? null;
  }

  toInfo(): EngineErrorInfo {
    return { code: this.code, message: this.message, retryable: this.retryable, phase: this.phase, urn: this.urn };
  }
}

/** The request itself is wrong (bad spec, settings, lastPhase, plan); fix it before retrying. */
export class InvalidRequestError extends EngineError {
  readonly problems: readonly { field: string; message: string }[];
  constructor(message: string, problems: readonly { field: string; message: string }[] = []) {
    super("invalid_request", message);
    this.name = "InvalidRequestError";
    this.problems = problems;
  }
}

/** The service is configured in a way that cannot work (missing secrets provider, placeholder settings). */
export class ConfigurationError extends EngineError {
  constructor(message: string) {
    super("configuration_error", message);
    this.name = "ConfigurationError";
  }
}

/** No `pulumi` CLI on PATH. */
export class CliMissingError extends EngineError {
  readonly requiredVersion: string;
  constructor(requiredVersion: string, detail?: string) {
    super(
      "cli_missing",
      `the Pulumi engine needs the pulumi CLI ${requiredVersion} or newer on PATH, and none was found${detail ? ` (${detail})` : ""}. ` +
        `Install it (https://www.pulumi.com/docs/install/) on the host that runs the service, ` +
        `or set MATIH_ENGINE=render to run the offline render engine, which changes no infrastructure.`,
    );
    this.name = "CliMissingError";
    this.requiredVersion = requiredVersion;
  }
}

/** A `pulumi` CLI is on PATH but older than the operations need. */
export class CliTooOldError extends EngineError {
  readonly requiredVersion: string;
  readonly foundVersion: string;
  constructor(requiredVersion: string, foundVersion: string, path: string) {
    super(
      "cli_too_old",
      `the pulumi CLI at ${path} is version ${foundVersion}; the Pulumi engine needs ${requiredVersion} or newer ` +
        `(refresh and destroy of inline programs need it). Upgrade the CLI, ` +
        `or set MATIH_ENGINE=render to run the offline render engine, which changes no infrastructure.`,
    );
    this.name = "CliTooOldError";
    this.requiredVersion = requiredVersion;
    this.foundVersion = foundVersion;
  }
}

export class StackNotFoundError extends EngineError {
  constructor(slug: string) {
    super("stack_not_found", `tenant "${slug}" has no stack: it was never provisioned or has been torn down`);
    this.name = "StackNotFoundError";
  }
}

/**
 * Another live run holds the stack's lock. Retryable: the other run will
 * finish. Never broken automatically unless the caller says its owner is dead.
 */
export class StackLockedError extends EngineError {
  constructor(slug: string, detail: string) {
    super("stack_locked", `tenant "${slug}" is locked by another run that is still going: ${detail}`, { retryable: true });
    this.name = "StackLockedError";
  }
}

/** What would run is not what was reviewed: preview again and review the new plan. */
export class PlanMismatchError extends EngineError {
  constructor(message: string, options: { urn?: string | null } = {}) {
    super("plan_mismatch", message, { urn: options.urn ?? null });
    this.name = "PlanMismatchError";
  }
}

export class OperationCancelledError extends EngineError {
  constructor(message = "the operation was cancelled") {
    super("operation_cancelled", message, { retryable: true });
    this.name = "OperationCancelledError";
  }
}

export class OperationTimeoutError extends EngineError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, message?: string) {
    super("operation_timeout", message ?? `the operation did not finish within its time limit of ${Math.round(timeoutMs / 1000)}s and was stopped`, { retryable: true });
    this.name = "OperationTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/** A resource operation failed; the phase it belongs to failed with it. */
export class ResourceFailedError extends EngineError {
  constructor(message: string, options: { phase: PhaseRef | null; urn: string | null; retryable?: boolean }) {
    // Retryable unless the cause says otherwise (see failure-cause.ts): most
    // resource failures on a data plane are transient (an IP not assigned in
    // time, an API server hiccup); the service's job retries decide how often.
    super("resource_failed", message, { retryable: options.retryable ?? isRetryable(message, true), phase: options.phase, urn: options.urn });
    this.name = "ResourceFailedError";
  }
}

/** The engine failed for a reason not tied to one resource (program error, backend error). */
export class UpdateFailedError extends EngineError {
  constructor(message: string, options: { retryable?: boolean } = {}) {
    super("update_failed", message, { retryable: options.retryable ?? false });
    this.name = "UpdateFailedError";
  }
}

/** The isolated worker process died without reporting a result. */
export class WorkerCrashedError extends EngineError {
  constructor(message: string) {
    super("worker_crashed", message, { retryable: true });
    this.name = "WorkerCrashedError";
  }
}

/**
 * SQLSTATE classes and codes that say "the database could not do it now", not
 * "the request is wrong": connection exceptions (08), serialization failure
 * and deadlock (40001, 40P01), insufficient resources (53), operator
 * intervention such as a restart (57P01-57P05), and a lost prepared statement
 * or portal (26000, 34000), which is what a connection mix-up looks like.
 */
const TRANSIENT_SQLSTATE = /^(08...|40001|40P01|53...|57P0[1-5]|26000|34000|55P03)$/;
const TRANSIENT_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const TRANSIENT_DRIVER_MESSAGE = /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|Cannot use a pool after calling end|Client has already been connected/i;

/**
 * Whether an error is trouble with the service's own infrastructure (its
 * database, mostly): worth another attempt, and never the tenant's fault.
 */
export function isInfrastructureError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.code === "string" && (TRANSIENT_SQLSTATE.test(e.code) || TRANSIENT_ERRNO.has(e.code))) return true;
  if (typeof e.message === "string" && TRANSIENT_DRIVER_MESSAGE.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error ? isInfrastructureError(e.cause) : false;
}

/**
 * The service's own infrastructure failed during an operation (a database
 * connection lost, a serialization failure). Retryable; the message is for
 * the tenant's admin and says nothing of the driver: the original error is
 * kept as `cause` for the log.
 */
export class InfrastructureUnavailableError extends EngineError {
  constructor(cause?: unknown) {
    super("infrastructure_unavailable", "the provisioning service's database was briefly unavailable; the run is retried automatically", { retryable: true, cause });
    this.name = "InfrastructureUnavailableError";
  }
}

function isCode(value: unknown): value is EngineErrorCode {
  return typeof value === "string" && (ENGINE_ERROR_CODES as readonly string[]).includes(value);
}

/** Plain-data form of any thrown value; unknown errors become `update_failed`. */
export function toErrorInfo(error: unknown): EngineErrorInfo {
  if (error instanceof EngineError) return error.toInfo();
  if (isInfrastructureError(error)) return new InfrastructureUnavailableError(error).toInfo();
  const message = error instanceof Error ? error.message : String(error);
  return { code: "update_failed", message, retryable: false, phase: null, urn: null };
}

/**
 * Rebuilds the typed error from its plain form, so that `instanceof` works on
 * errors that crossed a process boundary or were read back from storage.
 */
export function errorFromInfo(info: EngineErrorInfo): EngineError {
  const code = isCode(info.code) ? info.code : "update_failed";
  let error: EngineError;
  switch (code) {
    case "invalid_request": error = new InvalidRequestError(info.message); break;
    case "configuration_error": error = new ConfigurationError(info.message); break;
    case "stack_not_found": error = new StackNotFoundError(""); break;
    case "stack_locked": error = new StackLockedError("", ""); break;
    case "plan_mismatch": error = new PlanMismatchError(info.message, { urn: info.urn }); break;
    case "operation_cancelled": error = new OperationCancelledError(info.message); break;
    case "operation_timeout": error = new OperationTimeoutError(0, info.message); break;
    case "resource_failed": error = new ResourceFailedError(info.message, { phase: info.phase, urn: info.urn }); break;
    case "worker_crashed": error = new WorkerCrashedError(info.message); break;
    case "infrastructure_unavailable": error = new InfrastructureUnavailableError(); break;
    case "cli_missing": error = new CliMissingError(""); break;
    case "cli_too_old": error = new CliTooOldError("", "", ""); break;
    default: error = new UpdateFailedError(info.message, { retryable: info.retryable });
  }
  // The constructors above build their own messages; the original wins.
  Object.defineProperty(error, "message", { value: info.message, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(error, "phase", { value: info.phase ?? null });
  Object.defineProperty(error, "urn", { value: info.urn ?? null });
  Object.defineProperty(error, "retryable", { value: info.retryable });
  return error;
}
