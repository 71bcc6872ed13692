/**
 * Engine configuration from the environment, with overrides from code. Values
 * that are malformed fail here with the variable's name; whether the secrets
 * configuration is complete is checked when the Pulumi engine starts (the
 * render engine needs none).
 */
import path from "node:path";
import { DataDirLayout } from "./data-dir.ts";
import { ConfigurationError } from "./errors.ts";
import { validateFaultPlan, type FaultPlan } from "./fault-plan.ts";

export type EngineChoice = "pulumi" | "render" | "auto";

export interface EngineConfig {
  /** MATIH_ENGINE; `auto` (the default) picks pulumi when a suitable CLI is on PATH. */
  readonly engine: EngineChoice;
  /** MATIH_DATA_DIR; default `.matih` under the working directory. */
  readonly dataDir: string;
  /** PULUMI_BACKEND_URL; default the local file backend `file://<dataDir>/state`. */
  readonly backendUrl: string;
  /**
   * MATIH_SECRETS_PROVIDER: a KMS URL such as
   * `azurekeyvault://<vault>.vault.azure.net/keys/<key>` (production), or
   * `passphrase` (the default), which needs PULUMI_CONFIG_PASSPHRASE or
   * PULUMI_CONFIG_PASSPHRASE_FILE.
   */
  readonly secretsProvider: string;
  /** Which variable carries the passphrase, if any; the value itself is never copied into config. */
  readonly passphraseFrom: "PULUMI_CONFIG_PASSPHRASE" | "PULUMI_CONFIG_PASSPHRASE_FILE" | null;
  /** MATIH_MAX_CONCURRENT_OPERATIONS; default 4. */
  readonly maxConcurrentOperations: number;
  /** MATIH_OPERATION_TIMEOUT_SECONDS; default 3600 (enterprise tenants take up to 45 minutes). */
  readonly operationTimeoutMs: number;
  /** MATIH_LOCK_WAIT_SECONDS; how long to wait for another live run's lock; default 120. */
  readonly lockWaitMs: number;
  /** MATIH_CANCEL_GRACE_SECONDS; after a cancel, how long a run may take to stop cleanly before it is killed; default 60. */
  readonly cancelGraceMs: number;
  /** MATIH_RENDER_PACE; fraction of the seed's typical phase durations the render engine waits; default 0. */
  readonly renderPace: number;
  /** MATIH_RENDER_FAULTS (JSON); rehearsal faults for the render engine; default none. */
  readonly renderFaultPlan: FaultPlan;
  /**
   * MATIH_STATE_DIR_SHARED; declares that a `file://` backend's directory is
   * on storage every service process mounts at the same path (NFS, Azure
   * Files), so processes sharing one database may share it. Default false.
   */
  readonly stateDirShared: boolean;
  /**
   * MATIH_WORKERS; warm worker processes that run operations, one at a time each; default 2.
   * 0 starts a fresh process per operation instead (slower to start, nothing kept warm).
   */
  readonly workers: number;
  /** MATIH_WORKER_MAX_OPERATIONS; a warm worker is replaced after this many operations; default 50. */
  readonly workerMaxOperations: number;
  /** MATIH_WORKER_MAX_RSS_MB; a warm worker whose memory is above this after an operation is replaced; default 768. */
  readonly workerMaxRssMb: number;
  /**
   * MATIH_PULUMI_PLUGIN_DIR; a folder of provider plugin binaries
   * (`pulumi-resource-<name>`) to install from at start-up instead of
   * downloading, for hosts that reach no plugin registry (the local cluster,
   * docs/real-run.md). Plugins not in it are not installed. Default none.
   */
  readonly pluginDir: string | null;
}

export type EngineConfigOverrides = Partial<EngineConfig>;

const KMS_URL = /^(azurekeyvault|awskms|gcpkms|hashivault):\/\/\S+$/;

function number(env: NodeJS.ProcessEnv, name: string, fallback: number, check: (n: number) => boolean, expected: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || !check(value)) throw new ConfigurationError(`${name} must be ${expected}, got ${JSON.stringify(raw)}`);
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? "").trim().toLowerCase();
  if (raw === "" || raw === "false" || raw === "0" || raw === "no") return false;
  if (raw === "true" || raw === "1" || raw === "yes") return true;
  throw new ConfigurationError(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
}

export function loadEngineConfig(env: NodeJS.ProcessEnv = process.env, overrides: EngineConfigOverrides = {}): EngineConfig {
  const engineRaw = (env.MATIH_ENGINE ?? "").trim().toLowerCase() || "auto";
  if (engineRaw !== "pulumi" && engineRaw !== "render" && engineRaw !== "auto") {
    throw new ConfigurationError(`MATIH_ENGINE must be "pulumi" or "render" (or unset to choose by whether a pulumi CLI is installed), got ${JSON.stringify(env.MATIH_ENGINE)}`);
  }
  const dataDir = path.resolve(overrides.dataDir ?? env.MATIH_DATA_DIR ?? ".matih");
  const layout = new DataDirLayout(dataDir);
  const passphraseFrom = env.PULUMI_CONFIG_PASSPHRASE ? "PULUMI_CONFIG_PASSPHRASE" : env.PULUMI_CONFIG_PASSPHRASE_FILE ? "PULUMI_CONFIG_PASSPHRASE_FILE" : null;
  let renderFaultPlan: FaultPlan = {};
  if (env.MATIH_RENDER_FAULTS) {
    try {
      renderFaultPlan = validateFaultPlan(JSON.parse(env.MATIH_RENDER_FAULTS));
    } catch (error) {
      throw new ConfigurationError(`MATIH_RENDER_FAULTS: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const base: EngineConfig = {
    engine: engineRaw,
    dataDir,
    backendUrl: env.PULUMI_BACKEND_URL?.trim() || layout.defaultBackendUrl,
    secretsProvider: env.MATIH_SECRETS_PROVIDER?.trim() || "passphrase",
    passphraseFrom,
    maxConcurrentOperations: number(env, "MATIH_MAX_CONCURRENT_OPERATIONS", 4, (n) => Number.isInteger(n) && n >= 1, "a whole number of at least 1"),
    operationTimeoutMs: number(env, "MATIH_OPERATION_TIMEOUT_SECONDS", 3600, (n) => n > 0, "a positive number of seconds") * 1000,
    lockWaitMs: number(env, "MATIH_LOCK_WAIT_SECONDS", 120, (n) => n >= 0, "zero or a positive number of seconds") * 1000,
    cancelGraceMs: number(env, "MATIH_CANCEL_GRACE_SECONDS", 60, (n) => n >= 0, "zero or a positive number of seconds") * 1000,
    renderPace: number(env, "MATIH_RENDER_PACE", 0, (n) => n >= 0, "zero or a positive fraction such as 0.01"),
    renderFaultPlan,
    stateDirShared: flag(env, "MATIH_STATE_DIR_SHARED"),
    workers: number(env, "MATIH_WORKERS", 2, (n) => Number.isInteger(n) && n >= 0, "a whole number (0 for a fresh process per operation)"),
    workerMaxOperations: number(env, "MATIH_WORKER_MAX_OPERATIONS", 50, (n) => Number.isInteger(n) && n >= 1, "a whole number of at least 1"),
    workerMaxRssMb: number(env, "MATIH_WORKER_MAX_RSS_MB", 768, (n) => n >= 64, "a number of megabytes of at least 64"),
    pluginDir: env.MATIH_PULUMI_PLUGIN_DIR?.trim() ? path.resolve(env.MATIH_PULUMI_PLUGIN_DIR.trim()) : null,
  };
  return { ...base, ...stripUndefined(overrides), dataDir };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Why the Pulumi engine cannot protect stack secrets with this configuration,
 * or null when it can. Checked at start-up so the service fails before it
 * accepts work, not in the middle of a tenant's first update.
 */
export function secretsConfigurationProblem(config: EngineConfig): string | null {
  const provider = config.secretsProvider;
  if (provider === "passphrase") {
    if (config.passphraseFrom) return null;
    return (
      "no secrets provider is configured for the Pulumi engine: set MATIH_SECRETS_PROVIDER to a key vault " +
      "(for example azurekeyvault://<vault>.vault.azure.net/keys/<key>) for production, or set PULUMI_CONFIG_PASSPHRASE " +
      "(or PULUMI_CONFIG_PASSPHRASE_FILE) to use the passphrase provider"
    );
  }
  if (provider === "default") {
    return config.backendUrl.startsWith("https://")
      ? null
      : `MATIH_SECRETS_PROVIDER=default only works with a Pulumi Cloud backend; the backend is ${describeBackend(config.backendUrl)}`;
  }
  if (KMS_URL.test(provider)) return null;
  return `MATIH_SECRETS_PROVIDER must be "passphrase", "default" or a key-vault URL (azurekeyvault://, awskms://, gcpkms://, hashivault://), got ${JSON.stringify(provider)}`;
}

/** The backend URL without credentials, for logs and messages. */
export function describeBackend(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, "$1***@");
}

/**
 * How the Pulumi engine's state backend may be shared with other service
 * processes on the same database. A job taken over by another process must
 * find the tenant's stack there; a `file://` directory only this host sees
 * would make it create every resource again. So such a backend needs the
 * database to itself (`exclusive`), and anything every process reaches (a
 * cloud backend, or a file directory declared shared) can be `shared`.
 */
export interface BackendSharing {
  readonly mode: "exclusive" | "shared";
  /** For logs and other processes' error messages; no credentials. */
  readonly description: string;
  /** Why the mode is exclusive, and what to do instead, for the refusal message. */
  readonly remedy: string | null;
}

export function backendSharing(config: Pick<EngineConfig, "backendUrl" | "stateDirShared">): BackendSharing {
  const description = describeBackend(config.backendUrl);
  if (!config.backendUrl.startsWith("file://")) return { mode: "shared", description, remedy: null };
  if (config.stateDirShared) return { mode: "shared", description: `${description} (declared shared)`, remedy: null };
  return {
    mode: "exclusive",
    description,
    remedy:
      `the state backend ${description} is a directory of this host, so a run another process takes over would not find the stack and would create every resource again. ` +
      "Use a backend every process reaches (PULUMI_BACKEND_URL=azblob://<container>, s3://<bucket>, gs://<bucket> or Pulumi Cloud https://api.pulumi.com), " +
      "or, if that directory is on storage every process mounts at the same path, set MATIH_STATE_DIR_SHARED=true",
  };
}
