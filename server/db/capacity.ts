/**
 * What the fleet capacity model (model/capacity.ts) counts, read from the
 * runs and tenants tables in the transaction that accepts a tenant or a
 * change, after the service-wide admission lock (db/admission.ts), so that two
 * replicas never both see room for the last one.
 */
import { CERTIFICATE_PHASE, useOf, type FleetUse } from "../../model/capacity.ts";
import { isTier, type Tier } from "../../model/tiers.ts";
import type { Queryable } from "./pool.ts";

const CHANGING = `('provision', 'retry', 'rollback', 'teardown', 'update')`;

/**
 * Certificates issued (or about to be) in the last 7 days by runs of
 * `engine`: each run that aims at phase 8 or beyond when the tenant's run
 * before it did not (a new tenant, re-provisioning a slug, a rollback below
 * phase 8 and a run back up, a change raising lastPhase). A run is counted
 * when it is queued, whether or not it got as far: the count errs on the side
 * of Let's Encrypt's limit.
 */
export async function certificatesThisWeek(db: Queryable, engine: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT r.created_at, r.target_phase,
              lag(r.target_phase) OVER (PARTITION BY r.tenant_id ORDER BY r.created_at, r.id) AS before
         FROM provisioning_runs r
        WHERE r.engine = $1 AND r.kind IN ${CHANGING}
          AND r.tenant_id IN (SELECT tenant_id FROM provisioning_runs
                               WHERE created_at > now() - interval '7 days' AND engine = $1 AND target_phase >= $2)
     ) runs
     WHERE created_at > now() - interval '7 days' AND target_phase >= $2 AND (before IS NULL OR before < $2)`,
    [engine, CERTIFICATE_PHASE],
  );
  return rows[0]!.n;
}

/**
 * What live (not DELETED) tenants of `engine` hold now, or `onlyTenant`
 * alone. A tenant holds the phases its latest run aims at (a tenant being
 * torn down, the most any of its runs aimed at, until it is DELETED), at the
 * larger of its tier and the tier of the change its latest run applies (an
 * update queued, running or failed may have brought the new tier's pool
 * already). `certificatesPerWeek` here counts tenants holding a certificate,
 * not issues: the weekly count is certificatesThisWeek's.
 */
export async function heldByFleet(db: Queryable, engine: string, onlyTenant?: string): Promise<FleetUse> {
  const { rows } = await db.query<{ tier: string; target_tier: string | null; reach: number; n: number }>(
    `WITH latest AS (
       SELECT DISTINCT ON (r.tenant_id) r.tenant_id, r.kind, r.target_phase, r.change_id
         FROM provisioning_runs r JOIN tenants t ON t.id = r.tenant_id
        WHERE t.status <> 'DELETED' AND r.engine = $1 AND r.kind IN ${CHANGING} AND ($2::uuid IS NULL OR r.tenant_id = $2::uuid)
        ORDER BY r.tenant_id, r.created_at DESC, r.id DESC
     )
     SELECT t.tier, c.target_tier,
            CASE WHEN l.kind = 'teardown'
                 THEN (SELECT max(target_phase) FROM provisioning_runs p WHERE p.tenant_id = l.tenant_id AND p.kind IN ${CHANGING})
                 ELSE l.target_phase END::int AS reach,
            count(*)::int AS n
       FROM latest l
       JOIN tenants t ON t.id = l.tenant_id
       LEFT JOIN tenant_changes c ON c.id = l.change_id AND l.kind = 'update'
      GROUP BY 1, 2, 3`,
    [engine, onlyTenant ?? null],
  );
  const held: Record<keyof FleetUse, number> = { certificatesPerWeek: 0, publicIpsPerSubscription: 0, loadBalancerFrontends: 0, dnsZonesPerSubscription: 0, sharedServerConnections: 0 };
  for (const row of rows) {
    const tiers = [row.tier, row.target_tier].filter((t): t is Tier => isTier(t));
    const uses = tiers.map((tier) => useOf({ tier, lastPhase: row.reach }));
    for (const key of Object.keys(held) as (keyof FleetUse)[]) held[key] += Math.max(0, ...uses.map((u) => u[key])) * row.n;
  }
  return held;
}
