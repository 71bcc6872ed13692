/**
 * The CLI against a real service: the whole Fastify app on a fresh database
 * of the test PostgreSQL, render engine, listening on a free port; the CLI
 * runs as its own process (`node cli/matih.ts`), as a person would run it,
 * with its output captured, or inside a pseudo-terminal (util-linux `script`).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { ADMIN_TOKEN, freshDatabase, startService, type TestService } from "../support/service.ts";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const ENTRY = path.join(ROOT, "cli/matih.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliService {
  readonly url: string;
  readonly service: TestService;
  /** Runs `matih ...args` against the service with the admin token. */
  run(args: string[], options?: { env?: Record<string, string>; input?: string }): Promise<CliResult>;
}

/** The CLI's process environment: no colour settings or matih variables inherited from whoever runs the tests. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["FORCE_COLOR", "NO_COLOR", "MATIH_URL", "MATIH_TOKEN", "MATIH_DATA_DIR", "CI"]) delete env[name];
  return { ...env, ...extra };
}

export function runCli(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], { cwd: options.cwd ?? ROOT, env: cliEnv(options.env ?? {}), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Runs `matih ...args` in a pseudo-terminal (util-linux `script`), so that
 * the CLI sees a terminal on stdin and stdout; resolves with everything the
 * terminal received, escapes included, and the CLI's exit code.
 */
export function runInTerminal(args: string[], env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  // A terminal of a known size, as a person's would have (the one `script` opens here has none).
  const command = `stty rows 40 cols 100; exec ${[process.execPath, ENTRY, ...args].map(quote).join(" ")}`;
  return new Promise((resolve, reject) => {
    // -e: the command's exit code; -q: no "Script started" lines; /dev/null: no typescript file kept.
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: ROOT, env: cliEnv({ TERM: "xterm-256color", ...env }), stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    child.stdout.on("data", (d) => (screen += String(d)));
    child.stderr.on("data", (d) => (screen += String(d)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, screen }));
  });
}

/** A listening service for the enclosing describe, started in beforeAll and closed (its database dropped) in afterAll. */
export function useCliService(env: Record<string, string> = {}): CliService {
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let service: TestService | undefined;
  let url = "";
  beforeAll(async () => {
    db = await freshDatabase("matih_cli");
    service = await startService(db.url, env);
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(service.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });
  return {
    get url() { return url; },
    get service() {
      if (!service) throw new Error("only inside tests");
      return service;
    },
    run: (args, options = {}) => runCli(args, { env: { MATIH_URL: url, MATIH_TOKEN: ADMIN_TOKEN, ...options.env }, ...(options.input !== undefined ? { input: options.input } : {}) }),
  };
}

/** Lines of text without colour escapes. */
export const plain = (text: string) => text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
