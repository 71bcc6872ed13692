/**
 * What `npm start` does before it serves: the admin token, the database
 * (DATABASE_URL and MATIH_MIGRATION_DATABASE_URL, or the embedded PostgreSQL
 * under the data directory) and a reachability check that names the variable
 * to fix. Every start-up failure becomes one line for the operator
 * (`StartupError`), never a stack.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { EngineError } from "../automation/index.ts";
import { loadServiceConfig, ServiceConfigError, type ServiceConfig } from "./config.ts";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { tokenWeakness } from "./security/token-rules.ts";
import { EmbeddedDatabaseError } from "./db/embedded.ts";
import { migrateAsOwner } from "./db/migrate.ts";
import { DatabaseRoleError } from "./db/roles.ts";

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

export type AdminTokenSource = { kind: "configured" } | { kind: "generated"; file: string } | { kind: "reused"; file: string };

/** Without any configured token, an admin token in the data directory (mode 600), generated once; its path is logged, never the token. */
/** The service's configuration from the environment; a wrong setting ends the process (exit 2) with its message alone. */
export function configOrExit(): ServiceConfig {
  try {
    return loadServiceConfig();
  } catch (error) {
    if (error instanceof ServiceConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

export async function ensureAdminToken(config: ServiceConfig): Promise<{ config: ServiceConfig; source: AdminTokenSource }> {
  if (config.tokens.length > 0) return { config, source: { kind: "configured" } };
  const file = path.join(config.dataDir, "admin-token");
  let token = (await readFile(file, "utf8").catch(() => "")).trim();
  let source: AdminTokenSource = { kind: "reused", file };
  if (!token) {
    token = randomBytes(32).toString("base64url");
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    source = { kind: "generated", file };
  }
  await chmod(file, 0o600);
  const weakness = tokenWeakness(token);
  if (weakness) throw new StartupError(`the admin token in ${file} ${weakness}; delete the file to have a new one generated`);
  return { config: { ...config, tokens: [{ token, scope: "admin", principal: "admin" }] }, source };
}

/** host:port/database of a URL, without user or password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused (is PostgreSQL running there?)",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name could not be resolved",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  "28P01": "password authentication failed",
  "28000": "the server refused this user",
  "3D000": "the database does not exist",
};

/** Connects once, so that a wrong DATABASE_URL is reported as such before anything else starts. */
export async function checkDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    const e = error as { code?: string; message?: string };
    const reason = (e.code && REASONS[e.code]) ?? (e.message ?? String(error)).replace(/\s+/g, " ").replace(/postgres(ql)?:\/\/\S+/g, "[url]").slice(0, 200);
    throw new StartupError(`cannot connect to ${name} at ${describeDatabaseUrl(url)}: ${reason}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The one line printed for a failed start, or null when the error is not one we can word (then it is a bug: print it whole). */
export function startupMessage(error: unknown, config?: Pick<ServiceConfig, "host" | "port">): string | null {
  if (error instanceof StartupError || error instanceof EmbeddedDatabaseError || error instanceof DataDirLockedError || error instanceof DatabaseRoleError) return error.message;
  if (error instanceof EngineError) return error.message.replace(/\s*\n\s*/g, " ");
  const e = error as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE" && config) return `cannot listen on ${config.host}:${config.port}: the port is in use by another program (set PORT to another port)`;
  if (e?.code === "EADDRNOTAVAIL" && config) return `cannot listen on ${config.host}:${config.port}: no such address on this machine (check HOST)`;
  if (e?.code === "EACCES" && config) return `cannot listen on ${config.host}:${config.port}: permission denied (ports below 1024 need privileges; set PORT)`;
  return null;
}

/** The variable that must not outlive the migrations. */
export const OWNER_URL_VARIABLE = "MATIH_MIGRATION_DATABASE_URL";

/**
 * With MATIH_MIGRATION_DATABASE_URL: the owner's part (migrations, the
 * service role's grants), then the process replaces itself (execve: same pid,
 * same arguments, a new program image) with an environment that lacks the
 * owner's URL. Deleting the variable from process.env would not do: the
 * kernel keeps the environment the process started with, readable in
 * /proc/<pid>/environ, and the old heap would still hold copies. The fresh
 * start finds the schema owned by another role and up to date, and migrates
 * nothing. (A parent that started this process, npm for `npm start`, keeps
 * its own copy: start the entry file directly, or run `npm run migrate` as a
 * step of its own and never give the service the owner's URL.)
 */
export async function migrateThenRestartWithoutOwner(config: Pick<ServiceConfig, "logLevel">, ownerUrl: string, serviceUrl: string): Promise<never> {
  const execve = process.execve;
  if (typeof execve !== "function") {
    throw new StartupError(`this platform cannot restart a process in place, so the owner's URL would stay in it: run \`npm run migrate\` with ${OWNER_URL_VARIABLE} and DATABASE_URL, then start the service without ${OWNER_URL_VARIABLE}`);
  }
  const { migrations, ...roles } = await migrateAsOwner(ownerUrl, serviceUrl);
  const log = pino({ level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
  if (migrations.length > 0) log.info({ migrations }, "applied schema migrations");
  log.info(roles, "schema owned by the owner role; the service's role may only read and write rows, and only add to the audit log");
  log.info(`restarting without ${OWNER_URL_VARIABLE}: the running service holds no owner credential`);
  const env = { ...process.env };
  delete env[OWNER_URL_VARIABLE];
  return execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
}

/**
 * How long after a SIGINT another one is taken for the same Ctrl-C. Under
 * `npm start` one Ctrl-C arrives twice: the terminal sends it to the whole
 * foreground process group, and npm forwards the one it got. Both land within
 * milliseconds; a person pressing Ctrl-C again takes longer.
 */
export const CTRL_C_WINDOW_MS = 1_000;

export type InterruptVerdict = "stop" | "same" | "force";

/**
 * What each SIGINT means, given when it arrived: the first stops gracefully;
 * one within `windowMs` of the first is the same Ctrl-C (ignored, once); a
 * later one, or a third, forces the exit.
 */
export function interruptTracker(windowMs = CTRL_C_WINDOW_MS): (nowMs: number) => InterruptVerdict {
  let first: number | null = null;
  let count = 0;
  return (now) => {
    count++;
    if (first === null) {
      first = now;
      return "stop";
    }
    return count === 2 && now - first <= windowMs ? "same" : "force";
  };
}
