/**
 * The seed's example tenant, `acme`: the one spec builder every test uses.
 * Loads no Pulumi, so engine and service tests can use it too.
 */
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import { validateTenantSpec, type TenantSpec } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";

export const TENANT_ID = "550e8400-e29b-41d4-a716-446655440000";

/** `acme` in the given tier (default free); `overrides` replace any field. */
export function acmeSpec(tier: Tier = "free", overrides: Partial<TenantSpec> = {}, settings: PlatformSettings = resolvePlatformSettings()): TenantSpec {
  return validateTenantSpec({
    id: TENANT_ID,
    slug: "acme",
    displayName: "Acme Corp",
    tier,
    region: "eastus",
    adminEmail: "admin@acme.example",
    requestedBy: "admin@matih.ai",
    requestedAt: "2026-02-12T10:00:00Z",
    ...overrides,
  }, { baseDomain: settings.baseDomain });
}
