/**
 * Dispatches a worker job to its implementation. Implementations are loaded
 * lazily: a render job never loads the Automation API, and nothing here is
 * loaded into the service process at all.
 */
import type { JobContext, WorkerJob } from "./isolation/protocol.ts";

export async function handleWorkerJob(job: WorkerJob, context: JobContext): Promise<unknown> {
  switch (job.kind) {
    case "render": {
      const { runRenderWorkerJob } = await import("./render/worker-job.ts");
      return runRenderWorkerJob(job, context);
    }
    case "fleet-preview": {
      const { runFleetPreviewWorkerJob } = await import("./render/worker-job.ts");
      return runFleetPreviewWorkerJob(job, context);
    }
    case "pulumi": {
      const { runPulumiWorkerJob } = await import("./pulumi/operations.ts");
      const { localWorkspaceFactory } = await import("./pulumi/local-workspace.ts");
      return runPulumiWorkerJob(job, { ...context, factory: localWorkspaceFactory, env: process.env });
    }
    default:
      throw new Error(`unknown job kind ${JSON.stringify((job as { kind?: unknown }).kind)}`);
  }
}

/**
 * A warm worker loads both engines' job code up front (and with it the Pulumi
 * SDK, the Automation API and the provider packages), so an operation starts
 * without paying for it. The project's own modules are loaded again, fresh,
 * by each operation (isolation/fresh-modules.ts); what stays warm is
 * node_modules.
 */
export async function warmUpWorker(): Promise<void> {
  await import("./render/worker-job.ts");
  await import("./pulumi/operations.ts");
  await import("./pulumi/local-workspace.ts");
}
