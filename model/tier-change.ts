/**
 * What a tier change applies while the old tier's workloads still run.
 *
 * A change of tier is two updates on the Pulumi engine (expand and switch,
 * then contract). In the first, the credentials Secret takes the new tier's
 * connection settings and every workload rolls to the new tier's sizes; the
 * old tier's pods keep running until their replacements are ready. Applying
 * the new tier's limits first would refuse those replacements: professional →
 * free lowered the namespace quota to 4 CPU of limits while 13 CPU of
 * professional pods still ran, so every new pod (the migration Job's, each
 * rolled Deployment's) was refused with `exceeded quota` and phase 2 timed out
 * (seen on the local cluster). So the first update keeps, in each limit, the
 * larger of both tiers', and keeps the old tier's connection pool running
 * while the workloads move off it. The second update (contract) applies the
 * new tier as it is: the quota and the role's connection limit come down, the
 * pool goes.
 */
import { tierProfile, type ConnectionPoolProfile, type ResourceQuotaProfile, type Tier, type TierProfile } from "./tiers.ts";

const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/**
 * A Kubernetes quantity as a number (cores or bytes), for comparing two of the
 * same resource. Only the plain forms the tier table uses (`2`, `500m`,
 * `4Gi`); anything else is refused rather than compared wrongly.
 */
export function quantityValue(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|m|k|M|G|T)?$/.exec(quantity);
  if (!match) throw new RangeError(`not a Kubernetes quantity this comparison knows: "${quantity}"`);
  const suffix = match[2] ?? "";
  return Number(match[1]) * (BINARY_SUFFIXES[suffix] ?? DECIMAL_SUFFIXES[suffix]!);
}

const larger = (a: string, b: string) => (quantityValue(a) >= quantityValue(b) ? a : b);

/** The larger of two quotas in each field; no quota (unlimited) on either side is no quota. */
export function widerQuota(a: ResourceQuotaProfile | null, b: ResourceQuotaProfile | null): ResourceQuotaProfile | null {
  if (a === null || b === null) return null;
  return {
    cpuRequest: larger(a.cpuRequest, b.cpuRequest),
    cpuLimit: larger(a.cpuLimit, b.cpuLimit),
    memoryRequest: larger(a.memoryRequest, b.memoryRequest),
    memoryLimit: larger(a.memoryLimit, b.memoryLimit),
    pods: Math.max(a.pods, b.pods),
  };
}

/** The larger of two role connection limits; -1 (none) on either side is none. */
export function widerConnectionLimit(a: number, b: number): number {
  return a === -1 || b === -1 ? -1 : Math.max(a, b);
}

/**
 * The profile the first update of a change from `from` to `to` applies: the
 * new tier's, with the quota and the role's connection limit widened to hold
 * both tiers' workloads at once. The same tier gives its own profile.
 */
export function tierChangeProfile(from: Tier, to: Tier): TierProfile {
  const target = tierProfile(to);
  if (from === to) return target;
  const source = tierProfile(from);
  return {
    ...target,
    quota: widerQuota(source.quota, target.quota),
    database: { ...target.database, roleConnectionLimit: widerConnectionLimit(source.database.roleConnectionLimit, target.database.roleConnectionLimit) },
  };
}

/**
 * The old tier's connection pool, kept running through the first update of a
 * change to a tier without one on the same shared server (professional →
 * free): the workloads still connected through it until they roll. Null when
 * nothing is to be kept (the new tier has a pool, the old one had none, or
 * the database moves to another server, where the old pool would point at
 * the wrong one).
 */
export function retiringConnectionPool(from: Tier, to: Tier): ConnectionPoolProfile | null {
  if (from === to) return null;
  const source = tierProfile(from).database;
  const target = tierProfile(to).database;
  if (target.connectionPool || !source.connectionPool) return null;
  if (source.strategy !== "schema-per-tenant" || target.strategy !== "schema-per-tenant") return null;
  return source.connectionPool;
}

/** What the contract of a change from `from` to `to` changes, in words; empty when it changes nothing. */
export function contractChanges(from: Tier, to: Tier): string[] {
  if (from === to) return [];
  const during = tierChangeProfile(from, to);
  const target = tierProfile(to);
  const lines: string[] = [];
  const quota = (q: ResourceQuotaProfile | null) => (q ? `${q.cpuRequest}/${q.cpuLimit} CPU, ${q.memoryRequest}/${q.memoryLimit} memory (requests/limits), ${q.pods} pods` : "none");
  if (JSON.stringify(during.quota) !== JSON.stringify(target.quota)) lines.push(`the namespace quota comes down from ${quota(during.quota)} to ${to}'s ${quota(target.quota)}`);
  const limit = (n: number) => (n === -1 ? "none" : String(n));
  if (during.database.roleConnectionLimit !== target.database.roleConnectionLimit) {
    lines.push(`the tenant role's connection limit comes down from ${limit(during.database.roleConnectionLimit)} to ${limit(target.database.roleConnectionLimit)}`);
  }
  const pool = retiringConnectionPool(from, to);
  if (pool) lines.push(`the ${from} tier's PgBouncer pool (${pool.replicas} replicas) is removed`);
  // Phase 4 let the workloads reach both servers through the switch (PhaseContext.reachesDedicatedServer).
  if (tierProfile(from).database.dedicatedServer !== null && target.database.dedicatedServer === null) {
    lines.push(`phase 4's egress to the ${from} tier's dedicated server is removed`);
  }
  return lines;
}
