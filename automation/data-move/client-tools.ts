/**
 * PostgreSQL's own client tools (pg_dump, pg_restore), run as child
 * processes. Connection settings go through the PG* environment variables of
 * a minimal environment, never the command line: argv is readable by every
 * local user (`ps`), and the service's own PG* variables must not leak in.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import type { PostgresEndpoint } from "./types.ts";

/** Where the client tools are looked for unless MATIH_PG_BIN or the caller says otherwise (Debian's PostgreSQL 15 packages). */
export const DEFAULT_CLIENT_BIN_DIR = "/usr/lib/postgresql/15/bin";

export function clientBinDir(explicit?: string): string {
  return explicit ?? process.env.MATIH_PG_BIN ?? DEFAULT_CLIENT_BIN_DIR;
}

/** libpq's environment for one endpoint; `application` names the session in pg_stat_activity. */
export function libpqEnv(endpoint: PostgresEndpoint, application: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    // The tools' messages in English whatever the host's locale, so that errors read the same everywhere.
    LC_ALL: "C",
    PGHOST: endpoint.host,
    PGPORT: String(endpoint.port),
    PGDATABASE: endpoint.database,
    PGUSER: endpoint.user,
    PGSSLMODE: endpoint.sslMode ?? "prefer",
    PGAPPNAME: application,
    PGCONNECT_TIMEOUT: String(endpoint.connectTimeoutSeconds ?? 10),
  };
  if (endpoint.password !== undefined) env.PGPASSWORD = endpoint.password;
  return env;
}

export interface ToolResult {
  readonly stdout: string;
  /** The last lines of stderr (the tools print the failing statement and libpq's message; no password is ever in them). */
  readonly stderrTail: string;
}

export class ClientToolError extends Error {
  readonly stderrTail: string;
  constructor(message: string, stderrTail: string) {
    super(message);
    this.stderrTail = stderrTail;
    this.name = "ClientToolError";
  }
}

/** Runs one tool to completion; rejects with its exit code and the tail of its stderr. */
export function runTool(binDir: string, tool: "pg_dump" | "pg_restore", args: readonly string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(binDir, tool), args, { env, stdio: ["ignore", "pipe", "pipe"], signal });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => { err = (err + b.toString("utf8")).slice(-8000); });
    child.once("error", (e) => reject(new ClientToolError(`${tool} could not run: ${e.message}`, err)));
    child.once("close", (code, sig) => {
      const tail = err.trim().split("\n").slice(-6).join("\n");
      if (code === 0) resolve({ stdout: Buffer.concat(out).toString("utf8"), stderrTail: tail });
      else reject(new ClientToolError(`${tool} failed (${sig ? `signal ${sig}` : `exit ${code}`}): ${tail || "no message"}`, tail));
    });
  });
}

/** Major version of a client tool, from `--version` ("pg_dump (PostgreSQL) 15.18 (Debian ...)" gives 15). */
export async function toolMajorVersion(binDir: string, tool: "pg_dump" | "pg_restore"): Promise<number> {
  const { stdout } = await runTool(binDir, tool, ["--version"], { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" });
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
  if (!match) throw new ClientToolError(`${tool} --version printed no version: ${stdout.trim()}`, "");
  return Number(match[1]);
}
