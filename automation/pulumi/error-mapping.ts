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
  if (/passphrase must be set|incorrect passphrase|failed to decrypt|secrets provider/i.test(raw)) {
    return new ConfigurationError(`the stack's secrets could not be opened: ${summary}`);
  }
  const failed = context.tracker?.firstFailure();
  if (failed) return new ResourceFailedError(failed.failure.message, { phase: failed.phase, urn: failed.failure.urn });
  // Not tied to a resource: a program error (say, an apply that found no
  // load-balancer IP yet) or a backend error. Retryable by cause, not by origin.
  const programErrors = context.mapper?.errors() ?? [];
  if (programErrors.length > 0) {
    const message = programErrors.join("; ");
    return new UpdateFailedError(message, { retryable: isRetryable(message, false) });
  }
  return new UpdateFailedError(summary, { retryable: isRetryable(summary, false) });
}
