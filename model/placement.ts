/**
 * Where a tenant's Azure resources can go: its region, read against its tier
 * and the platform settings. Checked before a run (automation's request
 * validation) and again by the program, so that a placement Azure would
 * refuse halfway through phase 2 is refused before anything is created.
 */
import { hasAvailabilityZones } from "./regions.ts";
import { databaseSubnetFor, type PlatformSettings } from "./settings.ts";
import { ValidationError, type ValidationProblem } from "./spec.ts";
import { tierProfile, type DedicatedServerProfile, type Tier } from "./tiers.ts";

/**
 * The high-availability mode of a dedicated server in `region`. Zone-redundant
 * HA needs a second availability zone, which regions such as westus lack (the
 * create fails there); same-zone HA runs in every region, so a tier that asks
 * for zone redundancy gets a standby in the same zone there instead of no
 * server at all.
 */
export function dedicatedServerHighAvailability(profile: DedicatedServerProfile, region: string): DedicatedServerProfile["highAvailability"] {
  return profile.highAvailability === "ZoneRedundant" && !hasAvailabilityZones(region) ? "SameZone" : profile.highAvailability;
}

/** Every problem with placing a tenant of `tier` in `region` under `settings`, each naming the `region` field. */
export function placementProblems(tenant: { readonly tier: Tier; readonly region: string }, settings: PlatformSettings): ValidationProblem[] {
  const server = tierProfile(tenant.tier).database.dedicatedServer;
  // Only a dedicated server is regional; the shared PostgreSQL and the cluster serve every region.
  if (server === null || settings.azure.databaseAccess !== "private") return [];
  if (databaseSubnetFor(settings, tenant.region) !== null) return [];
  return [{
    field: "region",
    message: `tier ${tenant.tier} gives the tenant a dedicated PostgreSQL server, which joins a delegated subnet in its own region, and there is none in "${tenant.region}" ` +
      `(azure.databaseSubnetId is in "${settings.azure.databaseSubnetRegion}"): add azure.databaseSubnets.${tenant.region} ({subnetId, subnetCidr}), ` +
      `or set azure.databaseAccess to "public"`,
  }];
}

/** Throws a ValidationError listing the placement problems, if any. */
export function assertPlacement(tenant: { readonly tier: Tier; readonly region: string }, settings: PlatformSettings): void {
  const problems = placementProblems(tenant, settings);
  if (problems.length > 0) throw new ValidationError(problems, "tenant placement");
}
