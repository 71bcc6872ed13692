import { abortReason } from "../../../automation/core/abort.ts";
import { errorFromInfo, toErrorInfo } from "../../../automation/core/errors.ts";
import type { JobRunner, JobRunOptions } from "../../../automation/isolation/forked-runner.ts";
import type { JobContext, WorkerJob } from "../../../automation/isolation/protocol.ts";

/** Round-trips through JSON, as the IPC channel does, so that nothing unserialisable slips through. */
function overTheWire<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/**
 * Runs jobs in the test process with the same contract as ForkedJobRunner
 * (JSON in and out, abort reason passed on), so that engines can be tested
 * with injected fakes, which cannot cross a process boundary.
 */
export class InProcessRunner implements JobRunner {
  readonly jobs: WorkerJob[] = [];
  private readonly handler: (job: WorkerJob, context: JobContext) => Promise<unknown>;

  constructor(handler: (job: WorkerJob, context: JobContext) => Promise<unknown>) {
    this.handler = handler;
  }

  async run(job: WorkerJob, options: JobRunOptions): Promise<unknown> {
    const sent = overTheWire(job);
    this.jobs.push(sent);
    const controller = new AbortController();
    const onAbort = () => controller.abort(abortReason(options.signal));
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
    try {
      return overTheWire(
        await this.handler(sent, {
          signal: controller.signal,
          emit: (body) => options.onEvent?.(overTheWire(body)),
          log: (level, message) => options.onLog?.(level, message),
        }),
      );
    } catch (error) {
      throw errorFromInfo(toErrorInfo(error));
    } finally {
      options.signal.removeEventListener("abort", onAbort);
    }
  }
}
