/**
 * Region × tier × settings, over every region and tier: where an enterprise
 * tenant's dedicated server can be placed, and which high-availability mode it
 * gets. Expected values are literals here, never read from model/regions.ts.
 */
import { describe, expect, it } from "vitest";
import { validateRequest } from "../../automation/core/operation.ts";
import { InvalidRequestError } from "../../automation/core/errors.ts";
import { dedicatedServerHighAvailability, placementProblems } from "../../model/placement.ts";
import { AZURE_REGIONS } from "../../model/regions.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { ValidationError } from "../../model/spec.ts";
import { TIER_PROFILES, TIERS } from "../../model/tiers.ts";
import { acmeSpec } from "../support/acme.ts";

/** Regions whose enterprise server gets same-zone HA: any published source says no zones or no zone-redundant HA (sources per region in test/model/regions.test.ts). */
const WITHOUT_ZONES = ["northcentralus", "westcentralus", "westus", "canadaeast", "ukwest", "japanwest", "southindia", "australiasoutheast"];
const subnet = (region: string) => ({
  subnetId: `/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/${region}/subnets/pg`,
  subnetCidr: "10.30.1.0/24",
});
const noSubnet = (region: string) =>
  `tier enterprise gives the tenant a dedicated PostgreSQL server, which joins a delegated subnet in its own region, and there is none in "${region}" ` +
  `(azure.databaseSubnetId is in "eastus"): add azure.databaseSubnets.${region} ({subnetId, subnetCidr}), or set azure.databaseAccess to "public"`;

describe("placing a tenant: every region × tier", () => {
  const defaults = resolvePlatformSettings();

  it("the list under test is the 39 regions tenants may ask for", () => {
    expect(AZURE_REGIONS).toHaveLength(39);
    for (const region of WITHOUT_ZONES) expect(AZURE_REGIONS).toContain(region);
  });

  describe.each(TIERS)("%s", (tier) => {
    it.each(AZURE_REGIONS)("in %s with the default (private) access: refused only for a dedicated server outside the subnet's region eastus", (region) => {
      const want = tier === "enterprise" && region !== "eastus" ? [{ field: "region", message: noSubnet(region) }] : [];
      expect(placementProblems({ tier, region }, defaults)).toEqual(want);
    });

    it.each(AZURE_REGIONS)("in %s with a delegated subnet in every region, or with public access: accepted", (region) => {
      const everyRegion = Object.fromEntries(AZURE_REGIONS.filter((r) => r !== "eastus").map((r) => [r, subnet(r)]));
      expect(placementProblems({ tier, region }, resolvePlatformSettings({ azure: { databaseSubnets: everyRegion } }))).toEqual([]);
      const publicAccess = resolvePlatformSettings({ azure: { databaseAccess: "public", clusterEgressIps: ["20.10.0.4"], serviceHostIps: ["52.1.2.3"] } });
      expect(placementProblems({ tier, region }, publicAccess)).toEqual([]);
    });
  });

  it("the first message word by word (westus, default settings)", () => {
    expect(placementProblems({ tier: "enterprise", region: "westus" }, defaults)).toEqual([{
      field: "region",
      message: 'tier enterprise gives the tenant a dedicated PostgreSQL server, which joins a delegated subnet in its own region, and there is none in "westus" (azure.databaseSubnetId is in "eastus"): add azure.databaseSubnets.westus ({subnetId, subnetCidr}), or set azure.databaseAccess to "public"',
    }]);
  });

  it.each(AZURE_REGIONS)("the enterprise server's high availability in %s: zone-redundant where the region has zones, same-zone where it has none", (region) => {
    expect(TIER_PROFILES.enterprise.database.dedicatedServer!.highAvailability).toBe("ZoneRedundant");
    expect(dedicatedServerHighAvailability(TIER_PROFILES.enterprise.database.dedicatedServer!, region)).toBe(WITHOUT_ZONES.includes(region) ? "SameZone" : "ZoneRedundant");
  });

  it("a profile that asks for same-zone or no HA keeps it in every region", () => {
    const server = TIER_PROFILES.enterprise.database.dedicatedServer!;
    for (const region of AZURE_REGIONS) {
      expect(dedicatedServerHighAvailability({ ...server, highAvailability: "SameZone" }, region)).toBe("SameZone");
      expect(dedicatedServerHighAvailability({ ...server, highAvailability: "Disabled" }, region)).toBe("Disabled");
    }
  });
});

describe("the request check before a run refuses a placement Azure would refuse midway", () => {
  it("an enterprise tenant in westus without a subnet there, with its field and message", () => {
    const request = { spec: acmeSpec("enterprise", { region: "westus" }), settings: resolvePlatformSettings() } as never;
    let caught: unknown;
    try { validateRequest(request); } catch (error) { caught = error; }
    expect(caught).toBeInstanceOf(InvalidRequestError);
    expect((caught as InvalidRequestError).message).toBe(`invalid tenant placement: region: ${noSubnet("westus")}`);
  });

  it("the same tenant once westus has its subnet, and a professional tenant anywhere", () => {
    const settings = resolvePlatformSettings({ azure: { databaseSubnets: { westus: subnet("westus") } } });
    expect(validateRequest({ spec: acmeSpec("enterprise", { region: "westus" }), settings } as never).spec.region).toBe("westus");
    expect(validateRequest({ spec: acmeSpec("professional", { region: "westus" }), settings: resolvePlatformSettings() } as never).spec.region).toBe("westus");
  });
});

describe("per-region subnet settings", () => {
  const problems = (azure: Record<string, unknown>) => {
    try { resolvePlatformSettings({ azure }); } catch (error) { return (error as ValidationError).problems; }
    return [];
  };

  it("default to eastus and none", () => {
    const s = resolvePlatformSettings();
    expect(s.azure.databaseSubnetRegion).toBe("eastus");
    expect(s.azure.databaseSubnets).toEqual({});
  });

  it("refuse an unknown subnet region, a region given twice, an unknown region key and a subnet without id or CIDR", () => {
    expect(problems({ databaseSubnetRegion: "mars" })).toEqual([
      { field: "azure.databaseSubnetRegion", message: 'must be the Azure region of azure.databaseSubnetId\'s virtual network, e.g. eastus, got "mars"' },
    ]);
    expect(problems({ databaseSubnets: { eastus: subnet("eastus") } })).toEqual([
      { field: "azure.databaseSubnets.eastus", message: "is azure.databaseSubnetRegion, served by azure.databaseSubnetId; give each region one subnet" },
    ]);
    expect(problems({ databaseSubnets: { mars: subnet("mars") } })).toEqual([{ field: "azure.databaseSubnets.mars", message: "is not a supported Azure region" }]);
    expect(problems({ databaseSubnets: { westus: { subnetId: "pg" } } })).toEqual([
      { field: "azure.databaseSubnets.westus", message: "must be {subnetId, subnetCidr}: the resource id of a subnet delegated to the servers and its IPv4 CIDR" },
    ]);
  });

  it("replace the map as a whole rather than merging it key by key", () => {
    const s = resolvePlatformSettings({ azure: { databaseSubnets: { westus: subnet("westus") } } });
    expect(Object.keys(s.azure.databaseSubnets)).toEqual(["westus"]);
  });
});
