import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { TIER_PROFILES } from "../../model/tiers.ts";
import { TENANT_ID } from "../support/acme.ts";

await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
const { TenantDatabase } = await import("../../components/02-database.ts");

describe("TenantDatabase and availability zones", () => {
  const args = (location: string, highAvailability: "ZoneRedundant" | "SameZone") => ({
    tenantId: TENANT_ID, slug: "acme", namespace: "matih-acme", identifier: "tenant_acme", strategy: "database-per-tenant" as const,
    dedicatedServer: { ...TIER_PROFILES.enterprise.database.dedicatedServer!, highAvailability },
    azure: { resourceGroupName: "rg", location, access: { kind: "private" as const, subnetId: "/s", privateDnsZoneId: "/z" } },
    images: { flyway: "f", postgresClient: "p", pgbouncer: "b" },
  });

  it("refuses zone-redundant HA in a region without zones, before Azure would", () => {
    expect(() => new TenantDatabase("db-westus", args("westus", "ZoneRedundant"))).toThrow(
      "TenantDatabase: highAvailability ZoneRedundant needs availability zones, which region westus lacks; use SameZone there",
    );
  });

  it("accepts same-zone HA there, and zone-redundant HA in a region with zones", () => {
    expect(() => new TenantDatabase("db-westus-same", args("westus", "SameZone"))).not.toThrow();
    expect(() => new TenantDatabase("db-eastus", args("eastus", "ZoneRedundant"))).not.toThrow();
  });
});
