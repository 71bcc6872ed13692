/**
 * autocannon spreading its requests over several paths, each request to one
 * picked at random (the CLI sends every request to one URL). Run as a child
 * process by `loadTest` in processes.ts; prints autocannon's result as JSON.
 *
 *   node bench/load-runner.ts '{"url": "...", "paths": [...], "connections": 50, "seconds": 4, "headers": {...}}'
 */
import autocannon from "autocannon";

const options = JSON.parse(process.argv[2]!) as { url: string; paths: string[]; connections: number; seconds: number; headers: Record<string, string> };
const { paths } = options;
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.seconds,
  headers: options.headers,
  requests: [{ setupRequest: (request) => ({ ...request, path: paths[Math.floor(Math.random() * paths.length)]! }) }],
});
process.stdout.write(JSON.stringify(result));
