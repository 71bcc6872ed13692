/**
 * Worker side of a render job: runs the real tenant program under Pulumi's
 * mock runtime. This module loads the Pulumi SDK and every provider package,
 * and the mock runtime is process-global state, which is why it only ever
 * runs in a worker process.
 */
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { toErrorInfo, UpdateFailedError } from "../core/errors.ts";
import type { FleetPreviewJob, FleetPreviewRecord, JobContext, RenderJob, RenderOutcome } from "../isolation/protocol.ts";
import { fleetPreviewEntry, type FleetPreviewEntry } from "./fleet-preview.ts";
import { withLeanRuntime } from "./lean-runtime.ts";

/**
 * One outcome per requested render: a tenant whose program fails does not
 * spoil a fleet preview. Renders run without the SDK's debugging aids
 * (lean-runtime.ts); only here: the service process and Pulumi jobs keep them.
 */
export async function runRenderWorkerJob(job: RenderJob, context: JobContext): Promise<RenderOutcome[]> {
  return withLeanRuntime(async () => {
    const outcomes: RenderOutcome[] = [];
    for (const { spec, settings, lastPhase } of job.renders) {
      context.signal.throwIfAborted();
      outcomes.push(await renderOutcome(spec, settings, lastPhase));
    }
    return outcomes;
  });
}

/** A fleet preview's chunk: each tenant rendered and compared with its record here, so only its changes go back. */
export async function runFleetPreviewWorkerJob(job: FleetPreviewJob, context: JobContext): Promise<FleetPreviewEntry[]> {
  return withLeanRuntime(async () => {
    const entries: FleetPreviewEntry[] = [];
    for (const text of job.records) {
      context.signal.throwIfAborted();
      const record = JSON.parse(text) as FleetPreviewRecord;
      entries.push(fleetPreviewEntry(record, await renderOutcome(record.spec, job.settings, record.lastPhase)));
    }
    return entries;
  });
}

async function renderOutcome(spec: TenantSpec, settings: PlatformSettings, lastPhase: number): Promise<RenderOutcome> {
  try {
    return { ok: true, result: await renderUnderMocks(spec, settings, { lastPhase }) };
  } catch (error) {
    const message = `the tenant program failed for "${spec.slug}": ${error instanceof Error ? error.message : String(error)}`;
    return { ok: false, error: toErrorInfo(new UpdateFailedError(message)) };
  }
}
