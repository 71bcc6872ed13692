/**
 * The rendered program in regions with and without availability zones, and
 * in a region with a delegated subnet of its own: what Azure is asked for.
 */
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { RenderFailedError, renderUnderMocks } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";
import { render, type Rendered } from "../support/fixtures.ts";

const WESTUS_SUBNET = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/westus/subnets/pg";
const WITH_WESTUS = { azure: { databaseSubnets: { westus: { subnetId: WESTUS_SUBNET, subnetCidr: "10.30.1.0/24" } } } };
const server = (r: Rendered) => r.ofType("azure-native:dbforpostgresql:Server")[0]!.inputs as { location: string; highAvailability: { mode: string }; network: Record<string, unknown> };
const dbEgress = (r: Rendered) => (r.k8s("NetworkPolicy", "allow-egress-database").inputs.spec as { egress: { to: unknown[] }[] }).egress[0]!.to;

describe("an enterprise tenant's dedicated server, by region", () => {
  it("eastus (zones, the default subnet's region): zone-redundant HA in the default subnet, whose CIDR the egress policy opens", async () => {
    const r = await render("enterprise", { lastPhase: 4 });
    expect(server(r).location).toBe("eastus");
    expect(server(r).highAvailability.mode).toBe("ZoneRedundant");
    expect(server(r).network.delegatedSubnetResourceId).toBe("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/matih-network/providers/Microsoft.Network/virtualNetworks/matih-aks/subnets/tenant-databases");
    expect(dbEgress(r)).toEqual([{ ipBlock: { cidr: "10.20.0.0/24" } }, { ipBlock: { cidr: "10.20.1.0/24" } }]);
  });

  it("westus (no zones) with its own subnet: same-zone HA, westus's subnet, and only westus's CIDR opened besides the shared network", async () => {
    const r = await render("enterprise", { lastPhase: 4, settings: WITH_WESTUS, spec: { region: "westus" } });
    expect(server(r).location).toBe("westus");
    expect(server(r).highAvailability.mode).toBe("SameZone");
    expect(server(r).network.delegatedSubnetResourceId).toBe(WESTUS_SUBNET);
    expect(dbEgress(r)).toEqual([{ ipBlock: { cidr: "10.20.0.0/24" } }, { ipBlock: { cidr: "10.30.1.0/24" } }]);
  });

  it("westus without a subnet there: the program refuses before declaring anything", async () => {
    const settings = resolvePlatformSettings();
    const failure = renderUnderMocks(acmeSpec("enterprise", { region: "westus" }, settings), settings);
    await expect(failure).rejects.toThrow(RenderFailedError);
    await expect(failure).rejects.toThrow('the tenant program failed while rendering: invalid tenant placement: region: tier enterprise gives the tenant a dedicated PostgreSQL server, which joins a delegated subnet in its own region, and there is none in "westus"');
  });

  it("a professional tenant in westus needs no subnet there: it uses the shared server", async () => {
    const r = await render("professional", { lastPhase: 2, spec: { region: "westus" } });
    expect(r.ofType("azure-native:dbforpostgresql:Server")).toEqual([]);
  });
});
