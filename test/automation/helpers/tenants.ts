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
/** Every image a run deploys, pinned by a digest of the right shape (the real-run preflight refuses a tag alone). */
export const PINNED_IMAGES = {
  defaultTag: `1.0.0@sha256:${"0".repeat(64)}`,
  flyway: `flyway/flyway:11-alpine@sha256:${"1".repeat(64)}`,
  postgresClient: `postgres:16-alpine@sha256:${"2".repeat(64)}`,
  pgbouncer: `bitnamilegacy/pgbouncer:1.24.1@sha256:${"0".repeat(64)}`,
  otelCollector: `otel/opentelemetry-collector-contrib:0.120.0@sha256:${"3".repeat(64)}`,
  telemetrygen: `ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0@sha256:${"4".repeat(64)}`,
  curl: `curlimages/curl:8.12.1@sha256:${"5".repeat(64)}`,
};

export function realRunSettings(): PlatformSettings {
  return resolvePlatformSettings({
    kubernetes: { context: "aks-matih-prod", apiServerCidrs: ["20.62.1.15/32"] },
    azure: {
      subscriptionId: "11111111-2222-3333-4444-555555555555",
      databaseSubnetId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/aks/subnets/pg",
      databasePrivateDnsZoneId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/matih.private.postgres.database.azure.com",
    },
    // Test values in the digest's shape; a real deployment reads each digest from the registry.
    images: PINNED_IMAGES,
  });
}

/** A fresh data directory. Tests may use the OS temp dir; the engines never do. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "matih-automation-test-"));
}
