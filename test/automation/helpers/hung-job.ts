/**
 * A job that hangs in the misbehaving worker (mode "hang"), having started a
 * grandchild process and reported its pid in a diagnostic; it is cancelled
 * as soon as that pid arrives, with a 200 ms grace. Both runners (a process
 * per job, the warm pool) must then kill the worker and the grandchild.
 */
import { OperationCancelledError } from "../../../automation/core/errors.ts";
import type { JobRunOptions } from "../../../automation/isolation/forked-runner.ts";
import type { WorkerJob } from "../../../automation/isolation/protocol.ts";

export interface HungJobRun {
  /** Rejects with the cancel's OperationCancelledError. */
  readonly running: Promise<unknown>;
  /** The grandchild's pid, once the worker reported it (0 until then). */
  grandchild(): number;
}

export function runHungJob(runner: { run(job: WorkerJob, options: JobRunOptions): Promise<unknown> }): HungJobRun {
  const controller = new AbortController();
  let grandchild = 0;
  const running = runner.run({ mode: "hang" } as unknown as WorkerJob, {
    signal: controller.signal,
    graceMs: 200,
    onEvent: (e) => {
      if (e.type === "diagnostic") {
        grandchild = Number(e.message);
        controller.abort(new OperationCancelledError());
      }
    },
  });
  return { running, grandchild: () => grandchild };
}
