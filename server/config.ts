/**
 * Service configuration from the environment, checked once at start-up. Every
 * problem is reported together, naming the variable, so that an operator can
 * fix a deployment in one go. Secret values (tokens, passwords) are kept out of
 * anything that describes the configuration.
 */
import { isIP } from "node:net";
import path from "node:path";
import { DEFAULT_EVENT_SOURCE } from "./outbox/cloudevents.ts";
import type { AdmissionLimits } from "./domain/admission.ts";
import type { BackupConfig } from "./domain/backup-service.ts";
import type { KafkaConfig } from "./outbox/kafka-publisher.ts";
import type { ConnectionLimits } from "./plugins/connections.ts";
import type { SmtpConfig } from "./outbox/mailer.ts";
import { tokenWeakness } from "./security/token-rules.ts";

export type RollbackPolicy = "keep" | "destroy";

export interface ServiceConfig {
  /** PORT; default 8080. */
  readonly port: number;
  /** HOST; default 127.0.0.1. */
  readonly host: string;
  /** DATABASE_URL; unset means the embedded PostgreSQL under the data directory. */
  readonly databaseUrl: string | null;
  /**
   * MATIH_MIGRATION_DATABASE_URL; the schema owner's connection, used only to
   * apply migrations and grant DATABASE_URL's role what the service needs, by
   * `npm run migrate` or by the entry point, which then restarts itself
   * without it. Unset: when another role owns the schema, the service only
   * checks it is up to date; on a fresh database DATABASE_URL's role migrates
   * and owns the schema itself (the embedded database brings its own owner role).
   */
  readonly migrationDatabaseUrl: string | null;
  /** MATIH_DATA_DIR; default ./.matih. */
  readonly dataDir: string;
  /**
   * Bearer tokens and their scopes. MATIH_ADMIN_TOKEN gives admin tokens and
   * MATIH_READ_TOKENS read tokens, each a comma-separated list (several tokens
   * let an operator rotate one without downtime). MATIH_ADMIN_TOKENS gives named
   * admin tokens, `name:token,...`. A principal is who holds a token, as audit
   * rows and four-eyes approvals record it: every MATIH_ADMIN_TOKEN entry is the
   * one principal `admin` (a rotation's old and new token are one person's),
   * and in MATIH_ADMIN_TOKENS the name is the principal, so several tokens of one
   * name are one principal too; read tokens are `reader-1`, `reader-2`, ... Every
   * token follows TOKEN_RULE and is used once. Without any, the entry point
   * generates an admin token into the data directory.
   */
  readonly tokens: readonly { readonly token: string; readonly scope: "admin" | "read"; readonly principal: string }[];
  /** MATIH_CHANGE_TTL_HOURS; how long a previewed change may be approved; default 24 (fractions allowed). */
  readonly changeTtlHours: number;
  /** MATIH_REQUIRE_SEPARATE_APPROVER; a change must be approved by another principal than its requester; default false. */
  readonly requireSeparateApprover: boolean;
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
  /** MATIH_REQUEST_TIMEOUT_SECONDS; a request (headers and body) must arrive within this; default 30. */
  readonly requestTimeoutSeconds: number;
  /** MATIH_CONNECTION_TIMEOUT_SECONDS; a connection with no traffic this long is closed; above the longest preview or drift check, which answer only when done; default 600. */
  readonly connectionTimeoutSeconds: number;
  /** MATIH_AUTH_FAILURES_PER_MINUTE; failed authentications one client may make per minute before it gets 429; default 20. */
  readonly authFailuresPerMinute: number;
  /**
   * MATIH_TRUST_PROXY; which proxies' X-Forwarded-For names the client (for the
   * failed-authentication limit and the log): their addresses or CIDR ranges,
   * comma-separated, or how many proxies stand in front; default none (the
   * connection's address is the client).
   */
  readonly trustProxy: false | number | string;
  /**
   * MATIH_MAX_TENANTS_PER_PRINCIPAL (default 0), MATIH_MAX_TENANTS (default 0),
   * MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL (default 50), MATIH_MAX_PENDING_RUNS
   * (default 200); 0 means no limit. Tenant limits are off by default: the
   * control plane is usually the one principal that asks for every tenant, so
   * any number would one day refuse real sign-ups. The pending-run limits stop
   * a runaway client (one token queued 300 enterprise tenants in two seconds)
   * and leave room for the soak's and benchmarks' bursts (at most 12 at once).
   */
  readonly limits: AdmissionLimits;
  /**
   * MATIH_MAX_CONNECTIONS (default 4096), MATIH_MAX_CONNECTIONS_PER_ADDRESS
   * (default 256), MATIH_HEALTH_CONNECTIONS (default 16),
   * MATIH_HEADERS_TIMEOUT_SECONDS (default 10): see plugins/connections.ts.
   */
  readonly connections: ConnectionLimits;
  /** MATIH_WS_MAX_PER_PRINCIPAL; open WebSockets one token holder may have, tenant and fleet streams together; default 32. */
  readonly wsMaxPerPrincipal: number;
  /** MATIH_WS_MAX_AGE_SECONDS; a WebSocket is closed (1001) after this long; default 3600. */
  readonly wsMaxAgeSeconds: number;
  /** MATIH_WS_PING_SECONDS; how often a WebSocket is pinged; one that misses a pong is closed; default 30. */
  readonly wsPingSeconds: number;
  /** LOG_LEVEL; default info. */
  readonly logLevel: string;
  /** KAFKA_BROKERS and friends; null (unset) = relay off, events stay in the outbox and are read through the API. */
  readonly kafka: KafkaConfig | null;
  /** KAFKA_TOPIC_TENANT_EVENTS; the topic of every tenant.* event; default matih.tenant.events. */
  readonly eventsTopic: string;
  /** MATIH_EVENT_SOURCE; the CloudEvents `source`; default /matih/tenant-service. */
  readonly eventSource: string;
  /** SMTP_URL, or SMTP_HOST/SMTP_PORT/SMTP_USER/SMTP_PASSWORD/SMTP_SECURE; null = mails are written as .eml files under <dataDir>/mail. */
  readonly smtp: SmtpConfig | null;
  /** MAIL_FROM; the sender of notifications; default no-reply@matih.ai. */
  readonly mailFrom: string;
  /** Fleet drift detection (MATIH_DRIFT_* and MATIH_OPS_EMAIL). */
  readonly drift: DriftConfig;
  /** Backups of tenant databases before anything destructive (MATIH_BACKUP_*, MATIH_TENANT_DATABASE_URL). */
  readonly backups: BackupConfig;
}

export interface DriftConfig {
  /** MATIH_DRIFT_SCHEDULE: a cron expression in UTC (5 fields, or 6 with seconds); `off` disables; default hourly, `0 * * * *`. */
  readonly schedule: string | null;
  /** MATIH_DRIFT_CONCURRENCY: tenants checked at once in a fleet run; default 4. */
  readonly concurrency: number;
  /** MATIH_DRIFT_RETRY_SECONDS: how long a tenant busy with a run waits before the fleet run tries it again; default 60. */
  readonly retrySeconds: number;
  /** MATIH_DRIFT_MAX_SKIPS: times a busy tenant is tried before the fleet run gives up on it; default 10. */
  readonly maxSkips: number;
  /** MATIH_DRIFT_RETENTION_DAYS: drift checks and fleet runs older than this are deleted (each tenant's latest check stays); default 90. */
  readonly retentionDays: number;
  /** MATIH_OPS_EMAIL: who is mailed when a tenant drifts or its drift is resolved; unset = no mail. */
  readonly opsEmail: string | null;
  /** MATIH_SCHEDULE_CHECK_SECONDS: how often a process looks at the schedule (1 to 45); default 30. */
  readonly scheduleCheckSeconds: number;
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

  const positive = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || n > 24 * 365) {
      problems.push(`${name} must be a number of hours above 0 and at most ${24 * 365}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };

  const port = int("PORT", 8080, 0, 65535);
  const host = env.HOST?.trim() || "127.0.0.1";
  let databaseUrl: string | null = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must be a postgres:// or postgresql:// URL (or unset for the embedded database)");
    databaseUrl = null;
  }
  let migrationDatabaseUrl: string | null = env.MATIH_MIGRATION_DATABASE_URL?.trim() || null;
  if (migrationDatabaseUrl !== null && (!/^postgres(ql)?:\/\//.test(migrationDatabaseUrl) || env.DATABASE_URL?.trim() === undefined || env.DATABASE_URL.trim() === "")) {
    problems.push("MATIH_MIGRATION_DATABASE_URL must be a postgres:// or postgresql:// URL and needs DATABASE_URL (the service's own role)");
    migrationDatabaseUrl = null;
  }
  const tokens: { token: string; scope: "admin" | "read"; principal: string }[] = [];
  const seen = new Set<string>();
  const addToken = (what: string, token: string, scope: "admin" | "read", principal: string) => {
    // Never echo the token itself: the message may end up in a log.
    const weakness = tokenWeakness(token);
    if (weakness) problems.push(`${what} ${weakness}`);
    else if (seen.has(token)) problems.push(`${what} is used twice; every token must be different`);
    else tokens.push({ token, scope, principal });
    seen.add(token);
  };
  const entries = (name: string) => (env[name] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  // Unnamed admin tokens are one principal: two entries of a rotation are one person, who must not count as two approvers.
  for (const [i, t] of entries("MATIH_ADMIN_TOKEN").entries()) addToken(`MATIH_ADMIN_TOKEN entry ${i + 1}`, t, "admin", "admin");
  // Named admins (name:token) go through the same rule as every other token; the name is the principal, repeated for a rotation.
  for (const [i, entry] of entries("MATIH_ADMIN_TOKENS").entries()) {
    const colon = entry.indexOf(":");
    const name = colon > 0 ? entry.slice(0, colon).trim() : "";
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) problems.push(`MATIH_ADMIN_TOKENS entry ${i + 1} must be name:token with a name of letters, digits, dots, dashes, underscores or @`);
    else if (/^reader-\d+$/.test(name)) problems.push(`MATIH_ADMIN_TOKENS entry ${i + 1} (${name}) takes a name of the read tokens (reader-1, reader-2, …); choose another`);
    else addToken(`MATIH_ADMIN_TOKENS entry ${i + 1} (${name})`, entry.slice(colon + 1).trim(), "admin", name);
  }
  for (const [i, t] of entries("MATIH_READ_TOKENS").entries()) addToken(`MATIH_READ_TOKENS entry ${i + 1}`, t, "read", `reader-${i + 1}`);
  const requireSeparateApprover = bool("MATIH_REQUIRE_SEPARATE_APPROVER", false);
  const adminPrincipals = new Set(tokens.filter((t) => t.scope === "admin").map((t) => t.principal));
  if (requireSeparateApprover && adminPrincipals.size < 2) {
    problems.push(
      `MATIH_REQUIRE_SEPARATE_APPROVER=true needs at least two admin principals, or nothing could ever be approved; ` +
      `found ${adminPrincipals.size === 0 ? "none (a generated token is the one principal admin)" : `only ${[...adminPrincipals].join("")}`}: ` +
      `name the admins with MATIH_ADMIN_TOKENS=alice:…,bob:… (every MATIH_ADMIN_TOKEN entry is the one principal admin)`,
    );
  }
  const rollbackRaw = (env.MATIH_ROLLBACK_POLICY ?? "keep").trim().toLowerCase();
  if (rollbackRaw !== "keep" && rollbackRaw !== "destroy") problems.push(`MATIH_ROLLBACK_POLICY must be keep or destroy, got ${JSON.stringify(env.MATIH_ROLLBACK_POLICY)}`);
  const logLevel = (env.LOG_LEVEL ?? "info").trim().toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env.LOG_LEVEL)}`);

  const kafka = kafkaConfig(env, problems, bool);
  const eventsTopic = env.KAFKA_TOPIC_TENANT_EVENTS?.trim() || "matih.tenant.events";
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(eventsTopic) || eventsTopic === "." || eventsTopic === "..") {
    problems.push(`KAFKA_TOPIC_TENANT_EVENTS must be 1 to 249 letters, digits, dots, dashes or underscores, got ${JSON.stringify(env.KAFKA_TOPIC_TENANT_EVENTS)}`);
  }
  const eventSource = env.MATIH_EVENT_SOURCE?.trim() || DEFAULT_EVENT_SOURCE;
  if (/\s/.test(eventSource)) problems.push(`MATIH_EVENT_SOURCE must be a URI reference without spaces, got ${JSON.stringify(env.MATIH_EVENT_SOURCE)}`);
  const smtp = smtpConfig(env, problems, int, bool);
  const mailFrom = env.MAIL_FROM?.trim() || "no-reply@matih.ai";
  if (!/^(?:[^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(mailFrom)) {
    problems.push(`MAIL_FROM must be an address such as no-reply@example.com or "Matih <no-reply@example.com>", got ${JSON.stringify(env.MAIL_FROM)}`);
  }

  const driftSchedule = (env.MATIH_DRIFT_SCHEDULE ?? "").trim() || "0 * * * *";
  if (driftSchedule.toLowerCase() !== "off" && !/^\S+( \S+){4,5}$/.test(driftSchedule.replace(/\s+/g, " "))) {
    problems.push(`MATIH_DRIFT_SCHEDULE must be a cron expression of 5 fields (or 6 with seconds), such as "0 * * * *", or off; got ${JSON.stringify(env.MATIH_DRIFT_SCHEDULE)}`);
  }
  const opsEmail = env.MATIH_OPS_EMAIL?.trim() || null;
  if (opsEmail !== null && !/^[^\s@<>]+@[^\s@<>]+$/.test(opsEmail)) problems.push(`MATIH_OPS_EMAIL must be an address such as ops@example.com, got ${JSON.stringify(env.MATIH_OPS_EMAIL)}`);
  const drift: DriftConfig = {
    schedule: driftSchedule.toLowerCase() === "off" ? null : driftSchedule.replace(/\s+/g, " "),
    concurrency: int("MATIH_DRIFT_CONCURRENCY", 4, 1, 64),
    retrySeconds: int("MATIH_DRIFT_RETRY_SECONDS", 60, 1, 3600),
    maxSkips: int("MATIH_DRIFT_MAX_SKIPS", 10, 1, 1000),
    retentionDays: int("MATIH_DRIFT_RETENTION_DAYS", 90, 1, 3650),
    opsEmail,
    scheduleCheckSeconds: int("MATIH_SCHEDULE_CHECK_SECONDS", 30, 1, 45),
  };

  const dataDir = path.resolve(env.MATIH_DATA_DIR?.trim() || ".matih");
  const backups = backupConfig(env, problems, dataDir, int("MATIH_BACKUP_RETENTION_DAYS", 30, 1, 3650));

  const config: ServiceConfig = {
    port,
    host,
    databaseUrl,
    migrationDatabaseUrl,
    dataDir,
    tokens,
    changeTtlHours: positive("MATIH_CHANGE_TTL_HOURS", 24),
    requireSeparateApprover,
    maxAttempts: int("MATIH_MAX_ATTEMPTS", 3, 1, 20),
    retryDelaySeconds: int("MATIH_RETRY_DELAY_SECONDS", 5, 0, 3600),
    rollbackPolicy: rollbackRaw === "destroy" ? "destroy" : "keep",
    workerConcurrency: int("MATIH_WORKER_CONCURRENCY", 2, 1, 64),
    jobHeartbeatSeconds: int("MATIH_JOB_HEARTBEAT_SECONDS", 30, 10, 3600),
    worker: bool("MATIH_WORKER", true),
    bodyLimitBytes: int("MATIH_BODY_LIMIT_BYTES", 65536, 1024, 10 * 1024 * 1024),
    requestTimeoutSeconds: int("MATIH_REQUEST_TIMEOUT_SECONDS", 30, 1, 3600),
    connectionTimeoutSeconds: int("MATIH_CONNECTION_TIMEOUT_SECONDS", 600, 1, 24 * 3600),
    authFailuresPerMinute: int("MATIH_AUTH_FAILURES_PER_MINUTE", 20, 1, 100_000),
    trustProxy: trustProxyConfig(env.MATIH_TRUST_PROXY, problems),
    limits: {
      tenantsPerPrincipal: int("MATIH_MAX_TENANTS_PER_PRINCIPAL", 0, 0, 10_000_000),
      tenants: int("MATIH_MAX_TENANTS", 0, 0, 10_000_000),
      pendingRunsPerPrincipal: int("MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL", 50, 0, 1_000_000),
      pendingRuns: int("MATIH_MAX_PENDING_RUNS", 200, 0, 1_000_000),
    },
    connections: {
      maxConnections: int("MATIH_MAX_CONNECTIONS", 4096, 1, 1_000_000),
      maxPerAddress: int("MATIH_MAX_CONNECTIONS_PER_ADDRESS", 256, 1, 1_000_000),
      healthReserve: int("MATIH_HEALTH_CONNECTIONS", 16, 0, 1000),
      headersTimeoutSeconds: int("MATIH_HEADERS_TIMEOUT_SECONDS", 10, 1, 3600),
    },
    wsMaxPerPrincipal: int("MATIH_WS_MAX_PER_PRINCIPAL", 32, 1, 100_000),
    wsMaxAgeSeconds: int("MATIH_WS_MAX_AGE_SECONDS", 3600, 1, 7 * 24 * 3600),
    wsPingSeconds: int("MATIH_WS_PING_SECONDS", 30, 1, 3600),
    logLevel,
    kafka,
    eventsTopic,
    eventSource,
    smtp,
    mailFrom,
    drift,
    backups,
  };
  if (problems.length > 0) throw new ServiceConfigError(problems);
  return config;
}

/**
 * MATIH_TRUST_PROXY. `true` (trust every hop) is refused: any client could then
 * name itself with an X-Forwarded-For header of its own and so escape the
 * failed-authentication limit, or lock another address out.
 */
function trustProxyConfig(raw: string | undefined, problems: string[]): false | number | string {
  const value = raw?.trim() ?? "";
  if (value === "" || value.toLowerCase() === "false") return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops >= 1 && hops <= 10) return hops;
  }
  const entries = value.split(",").map((e) => e.trim()).filter(Boolean);
  const valid = entries.length > 0 && entries.every((entry) => {
    const [address, bits, ...rest] = entry.split("/");
    const family = isIP(address ?? "");
    if (family === 0 || rest.length > 0) return false;
    if (bits === undefined) return true;
    return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
  });
  if (valid) return entries.join(",");
  problems.push(
    `MATIH_TRUST_PROXY must be the proxies' addresses or CIDR ranges, comma-separated (such as 10.0.0.5,10.1.0.0/16), or how many proxies stand in front (1 to 10); ` +
    `not true, which would let any client name its own address; got ${JSON.stringify(raw)}`,
  );
  return false;
}

/** MATIH_BACKUP_*: where backups go; the SAS token and the tenant database URL are secrets, never echoed. */
function backupConfig(env: NodeJS.ProcessEnv, problems: string[], dataDir: string, retentionDays: number): BackupConfig {
  const kind = (env.MATIH_BACKUP_STORE ?? "").trim().toLowerCase() || "local";
  let tenantDatabaseUrl: string | null = env.MATIH_TENANT_DATABASE_URL?.trim() || null;
  if (tenantDatabaseUrl !== null && !/^postgres(ql)?:\/\/[^/]/.test(tenantDatabaseUrl)) {
    problems.push("MATIH_TENANT_DATABASE_URL must be a postgres:// or postgresql:// URL (value not shown: it may hold a password)");
    tenantDatabaseUrl = null;
  }
  const pgBinDir = env.MATIH_PG_BIN_DIR?.trim() ? path.resolve(env.MATIH_PG_BIN_DIR.trim()) : null;
  if (kind === "azure") {
    const containerUrl = env.MATIH_BACKUP_AZURE_CONTAINER_URL?.trim() ?? "";
    const sasToken = env.MATIH_BACKUP_AZURE_SAS_TOKEN?.trim() ?? "";
    // Also path-style (https://<host>/<account>/<container>), as Azurite and Azure Stack serve accounts; https either way.
    if (!/^https:\/\/[^/?#]+(\/[^/?#]+){1,2}\/?$/.test(containerUrl)) problems.push(`MATIH_BACKUP_AZURE_CONTAINER_URL must be a container's https URL without a query (https://<account>.blob.core.windows.net/<container>, or path-style https://<host>/<account>/<container>), got ${JSON.stringify(containerUrl)}`);
    if (!sasToken) problems.push("MATIH_BACKUP_AZURE_SAS_TOKEN must hold a SAS token for the container (read, write, delete) with MATIH_BACKUP_STORE=azure");
    return { store: { kind: "azure", containerUrl, sasToken }, retentionDays, tenantDatabaseUrl, pgBinDir };
  }
  if (kind !== "local") problems.push(`MATIH_BACKUP_STORE must be local or azure, got ${JSON.stringify(env.MATIH_BACKUP_STORE)}`);
  return { store: { kind: "local", dir: path.resolve(env.MATIH_BACKUP_DIR?.trim() || path.join(dataDir, "backups")) }, retentionDays, tenantDatabaseUrl, pgBinDir };
}

const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

function kafkaConfig(env: NodeJS.ProcessEnv, problems: string[], bool: (name: string, fallback: boolean) => boolean): KafkaConfig | null {
  const brokers = (env.KAFKA_BROKERS ?? "").split(",").map((b) => b.trim()).filter(Boolean);
  const ssl = bool("KAFKA_SSL", false);
  const mechanismRaw = env.KAFKA_SASL_MECHANISM?.trim().toLowerCase() || "";
  const username = env.KAFKA_SASL_USERNAME?.trim() || "";
  const password = env.KAFKA_SASL_PASSWORD ?? "";
  if (brokers.length === 0) {
    if (mechanismRaw || username || password) problems.push("KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_BROKERS");
    return null;
  }
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(broker);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) problems.push(`KAFKA_BROKERS entries must be host:port, got ${JSON.stringify(broker)}`);
  }
  const clientId = env.KAFKA_CLIENT_ID?.trim() || "matih-tenant-service";
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(clientId)) problems.push(`KAFKA_CLIENT_ID must be letters, digits, dots, dashes or underscores, got ${JSON.stringify(env.KAFKA_CLIENT_ID)}`);
  let sasl: KafkaConfig["sasl"] = null;
  if (mechanismRaw || username || password) {
    const mechanism = SASL_MECHANISMS.find((m) => m === mechanismRaw);
    if (!mechanism) problems.push(`KAFKA_SASL_MECHANISM must be one of ${SASL_MECHANISMS.join(", ")}, got ${JSON.stringify(env.KAFKA_SASL_MECHANISM ?? "")}`);
    if (!username) problems.push("KAFKA_SASL_USERNAME must be set with KAFKA_SASL_MECHANISM");
    if (!password) problems.push("KAFKA_SASL_PASSWORD must be set with KAFKA_SASL_MECHANISM");
    if (mechanism && username && password) sasl = { mechanism, username, password };
  }
  return { brokers, clientId, ssl, sasl };
}

function smtpConfig(
  env: NodeJS.ProcessEnv,
  problems: string[],
  int: (name: string, fallback: number, min: number, max?: number) => number,
  bool: (name: string, fallback: boolean) => boolean,
): SmtpConfig | null {
  const url = env.SMTP_URL?.trim() || "";
  const host = env.SMTP_HOST?.trim() || "";
  const separate = ["SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_SECURE"].filter((name) => (env[name] ?? "").trim() !== "");
  if (url) {
    if (separate.length > 0) problems.push(`set SMTP_URL or ${separate.join(", ")}, not both`);
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    // The URL may hold a password: never echo it.
    if (!parsed || (parsed.protocol !== "smtp:" && parsed.protocol !== "smtps:") || !parsed.hostname) {
      problems.push("SMTP_URL must look like smtp://user:password@host:587 or smtps://user:password@host:465 (value not shown: it may hold a password)");
      return null;
    }
    const secure = parsed.protocol === "smtps:";
    const user = parsed.username ? decodeURIComponent(parsed.username) : null;
    const password = parsed.password ? decodeURIComponent(parsed.password) : null;
    if (user && !password) problems.push("SMTP_URL names a user but no password");
    return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port: parsed.port ? Number(parsed.port) : secure ? 465 : 587, secure, user, password };
  }
  if (!host) {
    if (separate.length > 0) problems.push(`${separate.join(", ")} need SMTP_HOST (or set SMTP_URL)`);
    return null;
  }
  const secure = bool("SMTP_SECURE", false);
  const port = int("SMTP_PORT", secure ? 465 : 587, 1, 65535);
  const user = env.SMTP_USER?.trim() || null;
  const password = env.SMTP_PASSWORD || null;
  if (user && !password) problems.push("SMTP_PASSWORD must be set with SMTP_USER");
  if (password && !user) problems.push("SMTP_USER must be set with SMTP_PASSWORD");
  return { host, port, secure, user, password };
}
