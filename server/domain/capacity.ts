/**
 * The fleet capacity check (model/capacity.ts): before a tenant is accepted,
 * and before a change is approved, in that transaction, under the
 * service-wide admission lock (db/admission.ts), so that requests in one
 * process or in several replicas never both take the last certificate,
 * address, zone or connection. Refuses with 409 `capacity_exceeded`.
 */
import type pg from "pg";
import { added, anyCapacityLimit, capacityExceeded, NO_USE, useOf, type FleetUse, type TenantFootprint } from "../../model/capacity.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { lockAdmission } from "../db/admission.ts";
import { certificatesThisWeek, heldByFleet } from "../db/capacity.ts";
import { ApiError } from "./errors.ts";

/**
 * Only the Pulumi engine creates what these limits count: the render engine
 * changes no infrastructure (no certificate is issued, no address or zone or
 * connection taken), so its tenants are neither counted nor refused.
 */
const COUNTED_ENGINE = "pulumi";

export interface CapacityContext {
  readonly settings: PlatformSettings;
  /** The engine the run will use (runs record it; only real ones count). */
  readonly engine: string;
}

/**
 * Refuses, with 409 `capacity_exceeded`, a tenant (`tenantId` undefined) or a
 * change of tenant `tenantId` to `to` that would take the fleet past a limit.
 * Call it before the tenant's or the run's insert, in the same transaction,
 * and before admitTenant/admitRun: it takes the service-wide lock they take
 * first, so the locks keep one order.
 */
export async function admitCapacity(db: pg.PoolClient, context: CapacityContext, to: TenantFootprint, tenantId?: string): Promise<void> {
  if (context.engine !== COUNTED_ENGINE || !anyCapacityLimit(context.settings)) return;
  await lockAdmission(db, "service");
  // A tenant's own current holding (counted in the fleet's) is what a change starts from.
  const from: FleetUse = tenantId === undefined ? NO_USE : await heldByFleet(db, context.engine, tenantId);
  const adding = added(from, useOf(to));
  if (Object.values(adding).every((n) => n === 0)) return;
  const held = await heldByFleet(db, context.engine);
  const current: FleetUse = { ...held, certificatesPerWeek: adding.certificatesPerWeek > 0 ? await certificatesThisWeek(db, context.engine) : 0 };
  const refusal = capacityExceeded(context.settings, current, adding);
  if (refusal) {
    throw new ApiError(409, "capacity_exceeded", refusal.message, {
      limit: refusal.limit, setting: refusal.setting, max: refusal.max, current: refusal.current, requested: refusal.requested,
    });
  }
}
