/**
 * Dispatches a worker job to its implementation. Implementations are loaded
 * lazily: a render job never loads the Automation API, and nothing here is
 * loaded into the service process at all.
 */
import type { JobContext, WorkerJob } from "./protocol.ts";

export async function handleJob(job: WorkerJob, context: JobContext): Promise<unknown> {
  switch (job.kind) {
    case "render": {
      const { runRenderJob } = await import("../render/render-job.ts");
      return runRenderJob(job, context);
    }
    case "pulumi": {
      const { runPulumiJob } = await import("../pulumi/operations.ts");
      const { localWorkspaceFactory } = await import("../pulumi/local-workspace.ts");
      return runPulumiJob(job, { ...context, factory: localWorkspaceFactory, env: process.env });
    }
    default:
      throw new Error(`unknown job kind ${JSON.stringify((job as { kind?: unknown }).kind)}`);
  }
}
