/**
 * The service as an operator runs it: `npm start` (or its entry file) in a
 * process of its own, configured only through the environment. Tests read
 * its output, find its URL in the "Server listening" line, and stop it with
 * a signal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the base URL once it listens; rejects when it exits first or `timeoutMs` passes. */
  listening(timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name). */
  exited(): Promise<number | string>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts the service. `via: "npm"` runs `npm start` exactly as the README
 * says; the default runs the entry file with this Node. Variables in `unset`
 * are removed from the inherited environment.
 */
export function spawnService(env: Record<string, string>, options: { via?: "npm" | "node"; unset?: string[] } = {}): ServiceProcess {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "", ...env };
  for (const name of options.unset ?? []) delete fullEnv[name];
  const child = options.via === "npm"
    ? spawn("npm", ["start", "--silent"], { cwd: ROOT, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, ["server/server.ts"], { cwd: ROOT, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (out += String(d)));
  const exit = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  let exitedAlready = false;
  void exit.then(() => (exitedAlready = true));
  return {
    child,
    output: () => out,
    async listening(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        if (url) return url;
        if (exitedAlready) throw new Error(`the service exited before listening:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the service did not listen within ${timeoutMs} ms:\n${out.slice(-3000)}`);
    },
    exited: () => exit,
    async stop(signal = "SIGTERM") {
      if (!exitedAlready) child.kill(signal);
      return exit;
    },
  };
}

/**
 * The entry point as a second replica on `databaseUrl` runs it: the render
 * engine, jobs taken (heartbeat 10 s, so a killed one's runs are taken over
 * within a test's patience), any free port. `env` adds the token, pace and the
 * rest of the test's own settings.
 */
export function spawnReplica(databaseUrl: string, dataDir: string, env: Record<string, string>): ServiceProcess {
  return spawnService({
    DATABASE_URL: databaseUrl,
    MATIH_DATA_DIR: dataDir,
    MATIH_ENGINE: "render",
    MATIH_JOB_HEARTBEAT_SECONDS: "10",
    PORT: "0",
    LOG_LEVEL: "warn",
    ...env,
  });
}

/** JSON log lines the service printed (non-JSON lines, such as npm's banner, are skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  return output.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}
