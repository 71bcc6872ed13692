import { specTimestamp, type TenantSpec } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import type { Queryable } from "./pool.ts";

/** The statuses a tenant row can hold; which changes are allowed is the domain's rule (domain/tenant-status.ts). */
export const TENANT_STATUSES = ["PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

export interface TenantRow {
  id: string;
  slug: string;
  displayName: string;
  tier: Tier;
  region: string;
  adminEmail: string;
  requestedBy: string;
  /** When the tenant was requested: part of its spec, stored as requested. */
  requestedAt: Date;
  status: TenantStatus;
  provisioningStartedAt: Date | null;
  provisioningCompletedAt: Date | null;
  provisioningError: string | null;
  outputs: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export const COLUMNS = `id, slug, display_name AS "displayName", tier, region, admin_email AS "adminEmail", requested_by AS "requestedBy", requested_at AS "requestedAt", status,
  provisioning_started_at AS "provisioningStartedAt", provisioning_completed_at AS "provisioningCompletedAt",
  provisioning_error AS "provisioningError", outputs, created_at AS "createdAt", updated_at AS "updatedAt", deleted_at AS "deletedAt"`;

/** A UUID-shaped key is looked up as an id, anything else as a slug. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stores a tenant's spec as it was requested; it is read back unchanged by `tenantSpecOf`. */
export async function insertTenant(db: Queryable, spec: TenantSpec): Promise<TenantRow> {
  const { rows } = await db.query(
    `INSERT INTO tenants (id, slug, display_name, tier, region, admin_email, requested_by, requested_at, status, provisioning_started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PROVISIONING', now()) RETURNING ${COLUMNS}`,
    [spec.id, spec.slug, spec.displayName, spec.tier, spec.region, spec.adminEmail, spec.requestedBy, spec.requestedAt],
  );
  return rows[0];
}

/**
 * By id, or by slug: the live tenant with that slug, or else the latest
 * deleted one (a slug is reused only after DELETE, so "the tenant acme" is
 * the one living now, or the last one that did).
 */
export async function findTenant(db: Queryable, idOrSlug: string, options: { forUpdate?: boolean } = {}): Promise<TenantRow | undefined> {
  const { rows } = await db.query(`${tenantLookup(lookupKind(idOrSlug), COLUMNS)}${options.forUpdate ? " FOR UPDATE" : ""}`, [idOrSlug]);
  return rows[0];
}

/** Whether a key names a tenant by id (UUID-shaped) or by slug. */
export const lookupKind = (idOrSlug: string): "id" | "slug" => (UUID.test(idOrSlug) ? "id" : "slug");

/**
 * The query that picks the tenant `findTenant` means by an id or a slug ($1),
 * with `columns`; the status read (status.ts) builds on the same one.
 */
export function tenantLookup(kind: "id" | "slug", columns: string): string {
  return kind === "id"
    ? `SELECT ${columns} FROM tenants WHERE id = $1::uuid`
    : `SELECT ${columns} FROM tenants WHERE slug = $1 ORDER BY (status = 'DELETED'), created_at DESC, id DESC LIMIT 1`;
}

export async function listTenants(db: Queryable, filter: { status?: string; tier?: string; limit: number; offset: number }): Promise<{ items: TenantRow[]; total: number }> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filter.status) where.push(`status = $${values.push(filter.status)}`);
  if (filter.tier) where.push(`tier = $${values.push(filter.tier)}`);
  const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const total = await db.query(`SELECT count(*)::int AS n FROM tenants ${clause}`, values);
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM tenants ${clause} ORDER BY created_at, id LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
    [...values, filter.limit, filter.offset],
  );
  return { items: rows, total: total.rows[0].n };
}

export interface TenantStatusChange {
  status: TenantStatus;
  provisioningError?: string | null;
  provisioningStartedAt?: "now";
  provisioningCompletedAt?: "now" | null;
  outputs?: Record<string, unknown>;
  deleted?: boolean;
  /** A reviewed change applied a new tier. */
  tier?: Tier;
}

export async function updateTenantStatus(db: Queryable, id: string, change: TenantStatusChange): Promise<TenantRow> {
  const sets = ["status = $2", "updated_at = now()"];
  const values: unknown[] = [id, change.status];
  if (change.provisioningError !== undefined) sets.push(`provisioning_error = $${values.push(change.provisioningError)}`);
  if (change.provisioningStartedAt === "now") sets.push("provisioning_started_at = now()");
  if (change.provisioningCompletedAt === "now") sets.push("provisioning_completed_at = now()");
  if (change.provisioningCompletedAt === null) sets.push("provisioning_completed_at = NULL");
  if (change.outputs !== undefined) sets.push(`outputs = $${values.push(JSON.stringify(change.outputs))}::jsonb`);
  if (change.deleted) sets.push("deleted_at = now()");
  if (change.tier !== undefined) sets.push(`tier = $${values.push(change.tier)}`);
  const { rows } = await db.query(`UPDATE tenants SET ${sets.join(", ")} WHERE id = $1 RETURNING ${COLUMNS}`, values);
  return rows[0];
}

/** The spec a tenant was requested with, as stored. */
export function tenantSpecOf(t: TenantRow): TenantSpec {
  return {
    id: t.id,
    slug: t.slug,
    displayName: t.displayName,
    tier: t.tier,
    region: t.region,
    adminEmail: t.adminEmail,
    requestedBy: t.requestedBy,
    requestedAt: specTimestamp(new Date(t.requestedAt)),
  };
}
