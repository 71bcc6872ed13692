/**
 * The local cluster of scripts/local-cluster/local-cluster.sh, as the
 * real-run tests find it: the variables its `up` prints (MATIH_LOCAL_CLUSTER,
 * KUBECONFIG, the tools on PATH, the platform settings), an API server that
 * answers, and kubectl and psql calls against it.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

export type LocalCluster = {
  readonly available: true;
  /** The variables a service needs to run against the cluster (from the environment `up` set). */
  readonly env: Record<string, string>;
  readonly settingsFile: string;
  readonly settings: { postgres: { host: string; port: number; database: string; adminUser: string } };
};

const NEEDED = ["MATIH_LOCAL_CLUSTER", "KUBECONFIG", "MATIH_PLATFORM_SETTINGS_FILE", "MATIH_PG_ADMIN_PASSWORD", "MATIH_PULUMI_PLUGIN_DIR"] as const;

/**
 * The cluster when it is up; otherwise why not. Under CI=true a missing
 * cluster throws: CI starts one before the tests (.ci/run).
 */
export async function probeLocalCluster(): Promise<LocalCluster | { available: false; reason: string }> {
  const missing = NEEDED.filter((name) => !process.env[name]);
  let reason = "";
  if (missing.length > 0) {
    reason = `no local cluster: ${missing.join(", ")} unset (run eval "$(bash scripts/local-cluster/local-cluster.sh up)" first)`;
  } else {
    try {
      await run("kubectl", ["get", "--raw", "/readyz"], { timeout: 10_000 });
    } catch (error) {
      reason = `the local cluster's API server does not answer: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
    }
  }
  if (reason) {
    if (process.env.CI === "true") throw new Error(`${reason}. The real-run suite is required under CI=true.`);
    return { available: false, reason };
  }
  const env = Object.fromEntries(NEEDED.map((name) => [name, process.env[name]!]));
  const settingsFile = process.env.MATIH_PLATFORM_SETTINGS_FILE!;
  if (!existsSync(settingsFile)) throw new Error(`MATIH_PLATFORM_SETTINGS_FILE ${settingsFile} does not exist`);
  return { available: true, env: { ...env, PATH: process.env.PATH ?? "" }, settingsFile, settings: JSON.parse(readFileSync(settingsFile, "utf8")) };
}

/** kubectl against the local cluster, its JSON output parsed. */
export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  const { stdout } = await run("kubectl", [...args, "-o", "json"], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return JSON.parse(stdout) as T;
}

/** kubectl, its output as text; rejects with kubectl's error output when it fails. */
export async function kubectl(args: string[]): Promise<string> {
  try {
    const { stdout } = await run("kubectl", args, { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`kubectl ${args.join(" ")}: ${stderr || String(error)}`);
  }
}

/**
 * What the API server decides for `user`: `kubectl auth can-i` (a
 * SubjectAccessReview through impersonation). Exit status 1 with "no" is an
 * answer, not an error.
 */
export async function canI(user: string, verb: string, resource: string, namespace: string | null): Promise<boolean> {
  // `ingresses.networking.k8s.io/status` asks about the status subresource (kubectl reads `a/b` as a resource's name).
  const [kind, subresource] = resource.split("/");
  const args = ["auth", "can-i", verb, kind!, ...(subresource ? [`--subresource=${subresource}`] : []), `--as=${user}`, ...(namespace ? ["-n", namespace] : ["--all-namespaces"])];
  try {
    const { stdout } = await run("kubectl", args, { timeout: 30_000 });
    return stdout.trim() === "yes";
  } catch (error) {
    const out = String((error as { stdout?: string }).stdout ?? "").trim();
    if (out === "no" || out.startsWith("no")) return false;
    throw error;
  }
}

/** A connection to the cluster's shared PostgreSQL server as its admin (the postgresql provider's login). */
export async function sharedServerAdmin(cluster: LocalCluster): Promise<pg.Client> {
  const { host, port, database, adminUser } = cluster.settings.postgres;
  const client = new pg.Client({ host, port, database, user: adminUser, password: cluster.env.MATIH_PG_ADMIN_PASSWORD, ssl: { rejectUnauthorized: false } });
  await client.connect();
  return client;
}

/** The service's HTTP API as an admin, the JSON answer parsed. */
export async function api(base: string, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Polls `probe` until it answers something other than undefined; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
