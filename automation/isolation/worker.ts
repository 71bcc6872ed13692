/** Entry point of an operation's worker process (see forked-runner.ts). */
import { handleJob } from "./jobs.ts";
import { serveJobs } from "./worker-host.ts";

serveJobs(handleJob);
