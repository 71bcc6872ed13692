/**
 * The environment an operation's worker process gets: what the engine, the
 * Pulumi CLI and its provider plugins need, and nothing of the service's own
 * (its bearer tokens, database URLs, SMTP and Kafka credentials). A worker
 * runs a CLI and third-party plugins; they cannot leak what they never see.
 */
import type { WorkerJob } from "./protocol.ts";

/** Variables passed through by exact name: the system basics and the network and trust settings plugins honour. */
const ALLOWED_NAMES = new Set([
  "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
  "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
]);

/**
 * Variables passed through by prefix: the Pulumi CLI's own (state backend,
 * passphrase, home), the Azure providers' credentials, locale, and the render
 * engine's pace and faults.
 */
const ALLOWED_PREFIXES = ["PULUMI_", "ARM_", "AZURE_", "LC_", "MATIH_RENDER_"];

/** The variables the platform settings of a job name as holding secrets the program needs (the Postgres admin password). */
export function settingsSecretNames(job: WorkerJob): string[] {
  const settings =
    job.kind === "render" ? (job.renders ?? []).map((r) => r.settings)
    : job.kind === "fleet-preview" ? [job.settings]
    : job.kind === "pulumi" && job.request ? [job.request.settings]
    : [];
  return [...new Set(settings.map((s) => s?.postgres?.adminPasswordEnv).filter((n): n is string => typeof n === "string" && n.length > 0))];
}

/** `env` cut down to the allow-list, plus the variables `extraNames` lists. */
export function workerEnvironment(env: NodeJS.ProcessEnv, extraNames: readonly string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (ALLOWED_NAMES.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p)) || extraNames.includes(name)) out[name] = value;
  }
  return out;
}
