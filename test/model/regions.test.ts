/**
 * Which regions get same-zone high availability, against the published
 * sources. Each region's three answers are literals copied from the sources
 * named in model/regions.ts (never read from the model):
 *
 * - `list`: Microsoft Learn's Azure regions list, availability zone support
 *   (MicrosoftDocs/reliability-docs articles/reliability/regions-list.md, ms.date 2025-09-23);
 * - `arm`: the ARM locations API has `availabilityZoneMappings`
 *   (Azure/terraform-azurerm-avm-utl-regions modules/cached-data/locations.tf.json, 2026-03-12);
 * - `pgZr`: Azure Database for PostgreSQL flexible server offers zone-redundant HA
 *   (MicrosoftDocs/azure-databases-docs articles/postgresql/flexible-server/includes/regions-table.md, ms.date 2025-11-18).
 *
 * A region gets zone-redundant HA only where all three say yes: same-zone HA
 * works in either case, zone-redundant HA where any says no may fail the phase.
 */
import { describe, expect, it } from "vitest";
import { AZURE_REGIONS, hasAvailabilityZones, REGIONS_WITHOUT_AVAILABILITY_ZONES } from "../../model/regions.ts";

type Sources = { list: boolean; arm: boolean; pgZr: boolean };
const yes: Sources = { list: true, arm: true, pgZr: true };
const none: Sources = { list: false, arm: false, pgZr: false };

const SOURCES: Record<string, Sources> = {
  eastus: yes, eastus2: yes, centralus: yes, northcentralus: none, southcentralus: yes, westcentralus: none, westus: none, westus2: yes, westus3: yes,
  canadacentral: yes, canadaeast: none, brazilsouth: yes, mexicocentral: yes,
  northeurope: yes, westeurope: yes, uksouth: yes, ukwest: none, francecentral: yes, germanywestcentral: yes, switzerlandnorth: yes,
  norwayeast: yes, swedencentral: yes, polandcentral: yes, italynorth: yes, spaincentral: yes,
  eastasia: yes, southeastasia: yes, japaneast: yes,
  // Zones (list, ARM), but the PostgreSQL table marks no zone-redundant HA there.
  japanwest: { list: true, arm: true, pgZr: false },
  koreacentral: yes, centralindia: yes,
  // No zones (list, ARM), though the PostgreSQL table marks zone-redundant HA.
  southindia: { list: false, arm: false, pgZr: true },
  australiaeast: yes, australiasoutheast: none, newzealandnorth: yes,
  uaenorth: yes, qatarcentral: yes, israelcentral: yes, southafricanorth: yes,
};

describe("regions without availability zones, as the published sources say", () => {
  it("has the three sources' answers for every region tenants may ask for, and no other", () => {
    expect(Object.keys(SOURCES).sort()).toEqual([...AZURE_REGIONS].sort());
  });

  it("lists exactly the regions where any source says no, the eight as literals", () => {
    const anyNo = Object.entries(SOURCES).filter(([, s]) => !s.list || !s.arm || !s.pgZr).map(([r]) => r).sort();
    expect([...REGIONS_WITHOUT_AVAILABILITY_ZONES].sort()).toEqual(anyNo);
    expect(anyNo).toEqual(["australiasoutheast", "canadaeast", "japanwest", "northcentralus", "southindia", "ukwest", "westcentralus", "westus"]);
  });

  it("takes the safe side in the two regions where the sources disagree", () => {
    expect(hasAvailabilityZones("japanwest")).toBe(false);
    expect(hasAvailabilityZones("southindia")).toBe(false);
    expect(hasAvailabilityZones("japaneast")).toBe(true);
    expect(hasAvailabilityZones("centralindia")).toBe(true);
  });
});
