/**
 * What the goals bench needs from outside the service's own process: load
 * from autocannon in a process of its own (so the load generator does not
 * share the service's event loop), and the memory and CPU of the service's
 * worker processes, read from /proc.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const AUTOCANNON = fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url));
const LOAD_RUNNER = fileURLToPath(new URL("./load-runner.ts", import.meta.url));

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses other than 2xx, errors and timeouts: a figure with any of these is not a figure. */
  readonly failures: number;
}

/**
 * GET `url` from `connections` connections for `seconds`, with autocannon in
 * a child process; with `paths`, each request goes to one of them (on `url`'s
 * origin) picked at random.
 */
export async function loadTest(url: string, options: { connections: number; seconds: number; headers: Record<string, string>; paths?: readonly string[] }): Promise<LoadResult> {
  const headers = Object.entries(options.headers).flatMap(([k, v]) => ["-H", `${k}=${v}`]);
  const args = options.paths
    ? [LOAD_RUNNER, JSON.stringify({ url, paths: options.paths, connections: options.connections, seconds: options.seconds, headers: options.headers })]
    : [AUTOCANNON, "-c", String(options.connections), "-d", String(options.seconds), "-j", "-n", ...headers, url];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 2 ** 20 });
  const result = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; timeouts: number };
  return { requestsPerSecond: result.requests.average, requests: result.requests.total, p50Ms: result.latency.p50, p99Ms: result.latency.p99, failures: result.non2xx + result.errors + result.timeouts };
}

/** Every process below `pid` (its workers, and what they started). */
export function descendants(pid: number = process.pid): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const visit = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** Resident memory of the processes, in bytes; a process gone meanwhile counts 0. */
export function rssBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      total += match ? Number(match[1]) * 1024 : 0;
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

/** CPU seconds (user + system) the process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the full line, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
