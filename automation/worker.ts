/** Entry point of a worker process (see forked-runner.ts and worker-pool.ts). */
import { handleWorkerJob, warmUpWorker } from "./worker-jobs.ts";
import { serveJobs } from "./isolation/worker-host.ts";

serveJobs(handleWorkerJob, { warmUp: warmUpWorker });
