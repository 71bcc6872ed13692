/**
 * Worker side of a render job: runs the real tenant program under Pulumi's
 * mock runtime. This module loads the Pulumi SDK and every provider package,
 * and the mock runtime is process-global state, which is why it only ever
 * runs in a worker process.
 */
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { toErrorInfo, UpdateFailedError } from "../core/errors.ts";
import type { JobContext, RenderJob, RenderOutcome } from "../isolation/protocol.ts";

/**
 * The SDK wraps every promise it makes in a "debuggable" promise that captures
 * `new Error().stack`, and a render makes thousands; building those traces
 * was about a third of a render's CPU. Nothing in a render reads them (a failed
 * render reports messages, not stacks), so a render job runs without them and
 * puts the limit back afterwards. Only here: the service process keeps its traces.
 */
const RENDER_STACK_TRACE_LIMIT = 0;

/** One outcome per requested render: a tenant whose program fails does not spoil a fleet preview. */
export async function runRenderWorkerJob(job: RenderJob, context: JobContext): Promise<RenderOutcome[]> {
  const outcomes: RenderOutcome[] = [];
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = RENDER_STACK_TRACE_LIMIT;
  try {
    for (const { spec, settings, lastPhase } of job.renders) {
      context.signal.throwIfAborted();
      try {
        outcomes.push({ ok: true, result: await renderUnderMocks(spec, settings, { lastPhase }) });
      } catch (error) {
        const message = `the tenant program failed for "${spec.slug}": ${error instanceof Error ? error.message : String(error)}`;
        outcomes.push({ ok: false, error: toErrorInfo(new UpdateFailedError(message)) });
      }
    }
  } finally {
    Error.stackTraceLimit = limit;
  }
  return outcomes;
}
