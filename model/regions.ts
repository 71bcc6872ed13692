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
