import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { resolvePlatformSettings, type PlatformSettings, type PlatformSettingsOverrides } from "../../../model/settings.ts";
import type { TenantSpec } from "../../../model/spec.ts";
import type { Tier } from "../../../model/tiers.ts";
import { acmeSpec } from "../../support/acme.ts";

/** The `acme` spec (test/support/acme.ts) with the fields engine tests vary. */
export function tenantSpec(overrides: { slug?: string; tier?: Tier; id?: string } = {}): TenantSpec {
  const { tier, ...rest } = overrides;
  return acmeSpec(tier ?? "free", rest);
}

export function platformSettings(overrides: PlatformSettingsOverrides = {}): PlatformSettings {
  return resolvePlatformSettings(overrides);
}

/** Settings a real run accepts: an explicit kube context and a real-looking subscription. */
export function realRunSettings(): PlatformSettings {
  return resolvePlatformSettings({
    kubernetes: { context: "aks-matih-prod", apiServerCidrs: ["20.62.1.15/32"] },
    azure: {
      subscriptionId: "11111111-2222-3333-4444-555555555555",
      databaseSubnetId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/aks/subnets/pg",
      databasePrivateDnsZoneId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/matih.private.postgres.database.azure.com",
    },
    // A test value in the digest's shape; a real deployment reads its digest from the registry.
    images: { pgbouncer: `bitnamilegacy/pgbouncer:1.24.1@sha256:${"0".repeat(64)}` },
  });
}

/** A fresh data directory. Tests may use the OS temp dir; the engines never do. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "matih-automation-test-"));
}
