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
 * Regions of AZURE_REGIONS without availability zones. A flexible server's
 * `ZoneRedundant` high availability puts the standby in another zone, so the
 * create fails there; the program uses `SameZone` instead (see
 * dedicatedServerHighAvailability). Where a region's zone support was unsure
 * (japanwest), it is listed here: same-zone HA works in either case, while
 * zone-redundant HA in a region without zones fails the whole phase.
 */
export const REGIONS_WITHOUT_AVAILABILITY_ZONES: ReadonlySet<string> = new Set([
  "northcentralus", "westcentralus", "westus", "canadaeast", "ukwest", "japanwest", "southindia", "australiasoutheast",
]);

export function hasAvailabilityZones(region: string): boolean {
  return !REGIONS_WITHOUT_AVAILABILITY_ZONES.has(region);
}
