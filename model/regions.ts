/** Azure public-cloud region names accepted for tenants unless the platform narrows the list. */
export const AZURE_REGIONS: readonly string[] = [
  "eastus", "eastus2", "centralus", "northcentralus", "southcentralus", "westcentralus", "westus", "westus2", "westus3",
  "canadacentral", "canadaeast", "brazilsouth", "mexicocentral",
  "northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "germanywestcentral", "switzerlandnorth",
  "norwayeast", "swedencentral", "polandcentral", "italynorth", "spaincentral",
  "eastasia", "southeastasia", "japaneast", "japanwest", "koreacentral", "centralindia", "southindia",
  "australiaeast", "australiasoutheast", "newzealandnorth",
  "uaenorth", "qatarcentral", "israelcentral", "southafricanorth",
];

/**
 * Regions of AZURE_REGIONS where the enterprise server gets `SameZone` high
 * availability. A flexible server's `ZoneRedundant` high availability puts the
 * standby in another zone, so the create fails in a region without zones (or
 * where the service offers no zone-redundant HA); the program uses `SameZone`
 * there (see dedicatedServerHighAvailability). Same-zone HA works everywhere,
 * so where the sources disagree the region is listed here.
 *
 * Checked region by region against three published sources:
 * 1. Microsoft Learn, "Azure regions list" (availability zone support column,
 *    https://learn.microsoft.com/azure/reliability/regions-list; source
 *    MicrosoftDocs/reliability-docs articles/reliability/regions-list.md at
 *    01021ab8, ms.date 2025-09-23);
 * 2. the Azure Resource Manager locations API (`availabilityZoneMappings`, as
 *    `az account list-locations` shows it), cached by
 *    Azure/terraform-azurerm-avm-utl-regions modules/cached-data/locations.tf.json
 *    (commit e9d62409, refreshed from Azure 2026-03-12);
 * 3. Microsoft Learn, Azure Database for PostgreSQL flexible server, "Azure
 *    regions" table, column Zone-Redundant HA
 *    (https://learn.microsoft.com/azure/postgresql/flexible-server/overview#azure-regions;
 *    source MicrosoftDocs/azure-databases-docs
 *    articles/postgresql/flexible-server/includes/regions-table.md at 00002ba2,
 *    ms.date 2025-11-18).
 *
 * Sources 1 and 2 agree on all 39 regions: no zones in the seven listed below
 * other than japanwest, zones in the other 32 (japanwest included). Source 3
 * agrees except twice: japanwest (zones, but no zone-redundant HA for this
 * service: listed) and southindia (no zones, yet zone-redundant HA marked:
 * listed). test/model/regions.test.ts holds the three answers per region.
 * Source 3 also marks 13 zoned regions (eastus, eastus2, westus2, westeurope,
 * ...) "$": new zone-redundant HA deployments temporarily blocked. That is
 * capacity, not geography, and changes without notice; it is not encoded here.
 */
export const REGIONS_WITHOUT_AVAILABILITY_ZONES: ReadonlySet<string> = new Set([
  "northcentralus", "westcentralus", "westus", "canadaeast", "ukwest", "japanwest", "southindia", "australiasoutheast",
]);

export function hasAvailabilityZones(region: string): boolean {
  return !REGIONS_WITHOUT_AVAILABILITY_ZONES.has(region);
}
