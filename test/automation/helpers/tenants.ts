import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { resolvePlatformSettings, type PlatformSettings, type PlatformSettingsOverrides } from "../../../model/settings.ts";
import { validateTenantSpec, type TenantSpec } from "../../../model/spec.ts";
import type { Tier } from "../../../model/tiers.ts";

export function tenantSpec(overrides: { slug?: string; tier?: Tier; id?: string } = {}): TenantSpec {
  return validateTenantSpec(
    {
      id: overrides.id ?? "550e8400-e29b-41d4-a716-446655440000",
      slug: overrides.slug ?? "acme",
      displayName: "Acme Analytics",
      tier: overrides.tier ?? "free",
      region: "eastus",
      adminEmail: "admin@acme.example",
      requestedBy: "admin@matih.ai",
      requestedAt: "2026-02-12T10:00:00Z",
    },
    { baseDomain: "matih.ai" },
  );
}

export function platformSettings(overrides: PlatformSettingsOverrides = {}): PlatformSettings {
  return resolvePlatformSettings(overrides);
}

/** Settings a real run accepts: an explicit kube context and a real-looking subscription. */
export function realRunSettings(): PlatformSettings {
  return resolvePlatformSettings({
    kubernetes: { context: "aks-matih-prod" },
    azure: { subscriptionId: "11111111-2222-3333-4444-555555555555" },
  });
}

/** A fresh data directory. Tests may use the OS temp dir; the engines never do. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "matih-automation-test-"));
}
