/** Entry point of an operation's worker process (see forked-runner.ts). */
import { handleWorkerJob } from "./worker-jobs.ts";
import { serveJobs } from "./isolation/worker-host.ts";

serveJobs(handleWorkerJob);
