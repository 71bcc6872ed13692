/**
 * The review queue: changes in one status across the fleet, tenant changes
 * (with their tenant) and fleet changes (with their grouped impact) in one
 * list, oldest first, in two queries whatever the page size.
 *
 * Filters made for tenants apply to a fleet change through the tenants its
 * selector matched when it was previewed (`fleet_changes.tenants`): `tenant`
 * keeps the fleet changes that would reach that tenant, `tier` those that
 * reach some tenant now on that tier. A reviewer filtering on a tenant or a
 * tier thus still sees the fleet changes that concern it.
 */
import type { ChangeKind, ChangePreview, ChangeRequest, ChangeStatus } from "./changes.ts";
import type { FleetChangeStatus, FleetSelector } from "./fleet-changes.ts";
import type { Queryable } from "./pool.ts";

export interface ReviewQueueFilter {
  status: ChangeStatus;
  /** The tenant's id or slug. */
  tenant?: string;
  /** The tenant's current tier. */
  tier?: string;
  requestedBy?: string;
  limit: number;
  offset: number;
}

export interface TenantReviewRow {
  source: "tenant";
  id: string;
  kind: ChangeKind;
  status: ChangeStatus;
  requested: ChangeRequest;
  targetTier: string;
  targetPhase: number;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  destructive: boolean | null;
  changeSummary: ChangePreview["changeSummary"] | null;
  tenantId: string;
  tenantSlug: string;
  tenantTier: string;
  tenantStatus: string;
}

export interface FleetReviewRow {
  source: "fleet";
  id: string;
  status: FleetChangeStatus;
  reason: string;
  createdBy: string;
  createdAt: Date;
  destructive: boolean;
  changedPaths: string[];
  selector: FleetSelector;
  /** Tenants the selector matched. */
  selected: number;
  /** The preview's groups without their slugs (a group may hold thousands): the page shows the sizes and summaries. */
  groups: { tenants: number; summary: string; destructive: boolean }[];
  destructiveTenants: number;
  failedTenants: number;
  rolloutId: string | null;
}

export type ReviewQueueRow = TenantReviewRow | FleetReviewRow;

export async function reviewQueuePage(db: Queryable, filter: ReviewQueueFilter): Promise<{ items: ReviewQueueRow[]; total: number }> {
  const values: unknown[] = [];
  const status = `$${values.push(filter.status)}`;
  const tenantWhere = [`c.status = ${status}`];
  const fleetWhere = [`f.status = ${status}`];
  if (filter.status === "PENDING_REVIEW") {
    // A change past its time can no longer be approved (the approval refuses it): it awaits nobody.
    tenantWhere.push("c.expires_at > now()");
    // Nor can a fleet change previewed on a version no longer current (its approval marks it STALE).
    fleetWhere.push("f.base_version = (SELECT max(version) FROM platform_settings_versions)");
  }
  if (filter.tenant) {
    const p = `$${values.push(filter.tenant)}`;
    tenantWhere.push(`(t.id::text = ${p} OR t.slug = ${p})`);
    fleetWhere.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(f.tenants) s WHERE s->>'tenantId' = ${p} OR s->>'slug' = ${p})`);
  }
  if (filter.tier) {
    const p = `$${values.push(filter.tier)}`;
    tenantWhere.push(`t.tier = ${p}`);
    fleetWhere.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(f.tenants) s JOIN tenants st ON st.id::text = s->>'tenantId' WHERE st.tier = ${p})`);
  }
  if (filter.requestedBy) {
    const p = `$${values.push(filter.requestedBy)}`;
    tenantWhere.push(`c.created_by = ${p}`);
    fleetWhere.push(`f.created_by = ${p}`);
  }
  // Both kinds as one row shape, so that one ORDER BY and one LIMIT page them together.
  const union = `
    SELECT 'tenant' AS source, c.id, c.kind, c.status, c.requested, c.target_tier AS "targetTier", c.target_phase AS "targetPhase", c.created_by AS "createdBy",
           c.created_at AS "createdAt", c.expires_at AS "expiresAt", c.destructive, c.preview -> 'changeSummary' AS "changeSummary",
           t.id AS "tenantId", t.slug AS "tenantSlug", t.tier AS "tenantTier", t.status AS "tenantStatus",
           NULL::text AS reason, NULL::text[] AS "changedPaths", NULL::jsonb AS selector, NULL::int AS selected, NULL::jsonb AS groups,
           NULL::int AS "destructiveTenants", NULL::int AS "failedTenants", NULL::uuid AS "rolloutId"
      FROM tenant_changes c JOIN tenants t ON t.id = c.tenant_id WHERE ${tenantWhere.join(" AND ")}
    UNION ALL
    SELECT 'fleet', f.id, NULL, f.status, NULL, NULL, NULL, f.created_by, f.created_at, NULL, f.destructive, NULL, NULL, NULL, NULL, NULL,
           f.reason, f.changed_paths, f.selector, (f.preview ->> 'selected')::int,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('tenants', g -> 'tenants', 'summary', g -> 'summary', 'destructive', g -> 'destructive')), '[]'::jsonb)
              FROM jsonb_array_elements(f.preview -> 'groups') g),
           jsonb_array_length(coalesce(f.preview -> 'destructive', '[]'::jsonb)), jsonb_array_length(coalesce(f.preview -> 'failed', '[]'::jsonb)),
           (SELECT r.id FROM fleet_rollouts r WHERE r.change_id = f.id)
      FROM fleet_changes f WHERE ${fleetWhere.join(" AND ")}`;
  const [page, total] = await Promise.all([
    db.query(`SELECT * FROM (${union}) q ORDER BY q."createdAt", q.id LIMIT $${values.length + 1} OFFSET $${values.length + 2}`, [...values, filter.limit, filter.offset]),
    db.query(`SELECT count(*)::int AS n FROM (${union}) q`, values),
  ]);
  return { items: page.rows as ReviewQueueRow[], total: total.rows[0].n };
}
