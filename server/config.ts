/**
 * Service configuration from the environment, checked once at start-up. Every
 * problem is reported together, naming the variable, so that an operator can
 * fix a deployment in one go. Secret values (tokens, passwords) are kept out of
 * anything that describes the configuration.
 */
import path from "node:path";

export type RollbackPolicy = "keep" | "destroy";

export interface ServiceConfig {
  /** PORT; default 8080. */
  readonly port: number;
  /** HOST; default 127.0.0.1. */
  readonly host: string;
  /** DATABASE_URL; unset means the embedded PGlite under the data directory. */
  readonly databaseUrl: string | null;
  /** MATIH_DATA_DIR; default ./.matih. */
  readonly dataDir: string;
  /**
   * Bearer tokens and their scopes. MATIH_ADMIN_TOKEN gives one admin token;
   * MATIH_READ_TOKENS a comma-separated list of read tokens. Without any, the
   * entry point generates an admin token into the data directory.
   */
  readonly tokens: readonly { readonly token: string; readonly scope: "admin" | "read"; readonly principal: string }[];
  /** MATIH_MAX_ATTEMPTS; attempts per provisioning or teardown run; default 3. */
  readonly maxAttempts: number;
  /** MATIH_RETRY_DELAY_SECONDS; first retry delay, doubled each time; default 5. */
  readonly retryDelaySeconds: number;
  /** MATIH_ROLLBACK_POLICY; what a final failure does to the tenant's resources: keep (default) or destroy. */
  readonly rollbackPolicy: RollbackPolicy;
  /** MATIH_WORKER_CONCURRENCY; runs this process executes at once; default 2. */
  readonly workerConcurrency: number;
  /** MATIH_JOB_HEARTBEAT_SECONDS; a run whose worker stops heart-beating this long is taken again; default 30 (at least 10). */
  readonly jobHeartbeatSeconds: number;
  /** MATIH_WORKER; false makes a process that serves the API but runs no jobs; default true. */
  readonly worker: boolean;
  /** MATIH_BODY_LIMIT_BYTES; largest request body; default 65536. */
  readonly bodyLimitBytes: number;
  /** LOG_LEVEL; default info. */
  readonly logLevel: string;
}

export class ServiceConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ServiceConfigError";
    this.problems = problems;
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === "") return fallback;
    if (["1", "true", "yes"].includes(raw)) return true;
    if (["0", "false", "no"].includes(raw)) return false;
    problems.push(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
    return fallback;
  };

  const port = int("PORT", 8080, 0, 65535);
  const host = env.HOST?.trim() || "127.0.0.1";
  let databaseUrl: string | null = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must be a postgres:// or postgresql:// URL (or unset for the embedded database)");
    databaseUrl = null;
  }
  const tokens: { token: string; scope: "admin" | "read"; principal: string }[] = [];
  const admin = env.MATIH_ADMIN_TOKEN?.trim();
  if (admin) {
    if (admin.length < 16) problems.push("MATIH_ADMIN_TOKEN must be at least 16 characters");
    else tokens.push({ token: admin, scope: "admin", principal: "admin" });
  }
  for (const [i, t] of (env.MATIH_READ_TOKENS ?? "").split(",").map((s) => s.trim()).filter(Boolean).entries()) {
    if (t.length < 16) problems.push(`MATIH_READ_TOKENS entry ${i + 1} must be at least 16 characters`);
    else tokens.push({ token: t, scope: "read", principal: `reader-${i + 1}` });
  }
  const rollbackRaw = (env.MATIH_ROLLBACK_POLICY ?? "keep").trim().toLowerCase();
  if (rollbackRaw !== "keep" && rollbackRaw !== "destroy") problems.push(`MATIH_ROLLBACK_POLICY must be keep or destroy, got ${JSON.stringify(env.MATIH_ROLLBACK_POLICY)}`);
  const logLevel = (env.LOG_LEVEL ?? "info").trim().toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env.LOG_LEVEL)}`);

  const config: ServiceConfig = {
    port,
    host,
    databaseUrl,
    dataDir: path.resolve(env.MATIH_DATA_DIR?.trim() || ".matih"),
    tokens,
    maxAttempts: int("MATIH_MAX_ATTEMPTS", 3, 1, 20),
    retryDelaySeconds: int("MATIH_RETRY_DELAY_SECONDS", 5, 0, 3600),
    rollbackPolicy: rollbackRaw === "destroy" ? "destroy" : "keep",
    workerConcurrency: int("MATIH_WORKER_CONCURRENCY", 2, 1, 64),
    jobHeartbeatSeconds: int("MATIH_JOB_HEARTBEAT_SECONDS", 30, 10, 3600),
    worker: bool("MATIH_WORKER", true),
    bodyLimitBytes: int("MATIH_BODY_LIMIT_BYTES", 65536, 1024, 10 * 1024 * 1024),
    logLevel,
  };
  if (problems.length > 0) throw new ServiceConfigError(problems);
  return config;
}
