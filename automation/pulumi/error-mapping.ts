/**
 * Turns what the Automation API throws into the engine's typed errors. The
 * SDK's CommandError carries the CLI's whole stdout and stderr; only its
 * `error:` lines are kept, cleaned of colour codes and secret values.
 */
import { abortReason } from "../core/abort.ts";
import {
  CliMissingError,
  ConfigurationError,
  EngineError,
  PlanMismatchError,
  ResourceFailedError,
  StackLockedError,
  StackNotFoundError,
  UpdateFailedError,
} from "../core/errors.ts";
import { isRetryable } from "../core/failure-cause.ts";
import type { PhaseTracker } from "../core/phase-tracker.ts";
import { MINIMUM_PULUMI_CLI_VERSION } from "./cli.ts";
import type { PulumiEventMapper } from "./event-mapper.ts";

const MAX_LINES = 5;
const MAX_LINE = 500;

/** The `error:` lines of a CLI failure, or its first lines when it has none. */
export function errorLines(text: string, clean: (t: string) => string): string[] {
  const lines = clean(text).split("\n").map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^error:/i.test(l)).map((l) => l.replace(/^error:\s*/i, ""));
  const chosen = errors.length > 0 ? errors : lines.filter((l) => !/^(code|stdout|stderr|err\?):\s*$/.test(l));
  return [...new Set(chosen)].slice(0, MAX_LINES).map((l) => (l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}…` : l));
}

function sdkErrorName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

/**
 * Azure Resource Manager's 409 `AnotherOperationInProgress`: another operation
 * on the same resource or one it depends on (a server for its firewall rules
 * and databases, a virtual network for its subnets) is still running. The
 * request is fine and succeeds once that operation is over, so the failure is
 * transient and the run's attempt is retried with back-off; unlike a 409 for
 * a name that is taken, which stays a conflict. azure-native names the code
 * in its error text, as `Code="AnotherOperationInProgress"` (autorest, v2) or
 * `ERROR CODE: AnotherOperationInProgress` and the JSON body (azcore, v3),
 * beside ARM's message.
 */
const AZURE_BUSY = /\bAnotherOperationInProgress\b|Another operation on this or dependent resource is in progress/i;

/**
 * ARM's codes for a name that is someone else's (`ServerNameAlreadyExists`,
 * `StorageAccountAlreadyTaken`): a 409 that no retry fixes. Its message does
 * not always say so in words the cause rules know ("Specified server name is
 * already used."), so the code decides.
 */
const AZURE_NAME_TAKEN = /\b[A-Za-z]+(?:AlreadyExists|AlreadyTaken)\b/;

/** Whether an Azure error text decides retrying by its ARM code: true for busy, false for a name taken, undefined when it says neither. */
export function azureRetryable(text: string): boolean | undefined {
  if (AZURE_BUSY.test(text)) return true;
  if (AZURE_NAME_TAKEN.test(text)) return false;
  return undefined;
}

export interface MappingContext {
  readonly slug: string;
  readonly signal: AbortSignal;
  readonly clean: (text: string) => string;
  /** What the events said, for commands that stream them. */
  readonly tracker?: PhaseTracker;
  readonly mapper?: PulumiEventMapper;
}

export function mapPulumiError(error: unknown, context: MappingContext): EngineError {
  if (context.signal.aborted) return abortReason(context.signal);
  if (error instanceof EngineError) return error;
  const raw = error instanceof Error ? error.message : String(error);
  const lines = errorLines(raw, context.clean);
  const summary = lines.join("; ") || "the pulumi command failed";

  switch (sdkErrorName(error)) {
    case "StackNotFoundError":
      return new StackNotFoundError(context.slug);
    case "ConcurrentUpdateError":
      return new StackLockedError(context.slug, summary);
  }
  if (/ENOENT/.test(raw) && /pulumi/.test(raw)) return new CliMissingError(MINIMUM_PULUMI_CLI_VERSION, "it disappeared after start-up");
  if (/violates plan|plan (?:is )?(?:invalid|out of date)|failed to (?:load|read) (?:update )?plan/i.test(raw)) {
    return new PlanMismatchError(`the update does not match the reviewed plan: ${summary}; preview again and review the new plan`);
  }
  // "decrypting secret value: cipher: message authentication failed": ciphertext (in the checkpoint or a saved plan) made
  // under other secrets settings than the work directory's, such as a new passphrase salt the CLI made on another host.
  if (/passphrase must be set|incorrect passphrase|failed to decrypt|decrypting secret value|secrets provider/i.test(raw)) {
    return new ConfigurationError(`the stack's secrets could not be opened: ${summary}`);
  }
  const failed = context.tracker?.firstFailure();
  if (failed) {
    const message = failed.failure.message;
    return new ResourceFailedError(message, { phase: failed.phase, urn: failed.failure.urn, retryable: azureRetryable(message) ?? isRetryable(message, true) });
  }
  // Not tied to a resource: a program error (say, an apply that found no
  // load-balancer IP yet) or a backend error. Retryable by cause, not by origin.
  const programErrors = context.mapper?.errors() ?? [];
  if (programErrors.length > 0) {
    const message = programErrors.join("; ");
    return new UpdateFailedError(message, { retryable: azureRetryable(message) ?? isRetryable(message, false) });
  }
  // The summary keeps only the `error:` lines; azcore's `ERROR CODE:` line is below its first one.
  return new UpdateFailedError(summary, { retryable: azureRetryable(context.clean(raw)) ?? isRetryable(summary, false) });
}
