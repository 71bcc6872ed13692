/**
 * The review queue: changes in one status across the fleet, with their
 * tenant, in two queries whatever the page size. Tenant changes only for now;
 * fleet changes (issue 23) will add their own rows to the same answer.
 */
import type { ChangeKind, ChangePreview, ChangeRequest, ChangeStatus } from "./changes.ts";
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

export interface ReviewQueueRow {
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

export async function reviewQueuePage(db: Queryable, filter: ReviewQueueFilter): Promise<{ items: ReviewQueueRow[]; total: number }> {
  const values: unknown[] = [];
  const where = [`c.status = $${values.push(filter.status)}`];
  // A change past its time can no longer be approved (the approval refuses it): it awaits nobody.
  if (filter.status === "PENDING_REVIEW") where.push("c.expires_at > now()");
  if (filter.tenant) where.push(`(t.id::text = $${values.push(filter.tenant)} OR t.slug = $${values.length})`);
  if (filter.tier) where.push(`t.tier = $${values.push(filter.tier)}`);
  if (filter.requestedBy) where.push(`c.created_by = $${values.push(filter.requestedBy)}`);
  const from = `FROM tenant_changes c JOIN tenants t ON t.id = c.tenant_id WHERE ${where.join(" AND ")}`;
  const [page, total] = await Promise.all([
    db.query(
      `SELECT c.id, c.kind, c.status, c.requested, c.target_tier AS "targetTier", c.target_phase AS "targetPhase", c.created_by AS "createdBy",
              c.created_at AS "createdAt", c.expires_at AS "expiresAt", c.destructive, c.preview -> 'changeSummary' AS "changeSummary",
              t.id AS "tenantId", t.slug AS "tenantSlug", t.tier AS "tenantTier", t.status AS "tenantStatus"
         ${from} ORDER BY c.created_at, c.id LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
      [...values, filter.limit, filter.offset],
    ),
    db.query(`SELECT count(*)::int AS n ${from}`, values),
  ]);
  return { items: page.rows, total: total.rows[0].n };
}
