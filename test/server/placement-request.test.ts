/**
 * The API boundary refuses a tenant whose region cannot hold its tier's
 * dedicated server under the platform settings: a 400 with the field and the
 * reason, rather than a run that fails once queued. No database is touched:
 * the check reads only the request and the settings.
 */
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { ValidationError } from "../../model/spec.ts";
import { TenantService } from "../../server/domain/tenant-service.ts";

const service = (azure: Record<string, unknown> = {}) => new TenantService({ settings: resolvePlatformSettings({ azure }) } as never);
const body = (tier: string, region: string) => ({ slug: "acme", displayName: "Acme Corp", tier, region, adminEmail: "admin@acme.example" });

describe("POST /api/v1/tenants: region × tier × settings", () => {
  it("refuses an enterprise tenant in westus without a delegated subnet there, naming the region field and what to set", () => {
    let caught: unknown;
    try { service().checkRequest(body("enterprise", "westus")); } catch (error) { caught = error; }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).problems).toEqual([{
      field: "region",
      message: 'tier enterprise gives the tenant a dedicated PostgreSQL server, which joins a delegated subnet in its own region, and there is none in "westus" (azure.databaseSubnetId is in "eastus"): add azure.databaseSubnets.westus ({subnetId, subnetCidr}), or set azure.databaseAccess to "public"',
    }]);
  });

  it("accepts it once westus has a subnet, and a professional tenant in westus either way", () => {
    const westus = { databaseSubnets: { westus: { subnetId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/westus/subnets/pg", subnetCidr: "10.30.1.0/24" } } };
    expect(service(westus).checkRequest(body("enterprise", "westus")).region).toBe("westus");
    expect(service().checkRequest(body("professional", "westus")).region).toBe("westus");
  });

  it("reports a bad tier or region as before, without a placement problem on top", () => {
    let caught: unknown;
    try { service().checkRequest(body("enterprise", "mars")); } catch (error) { caught = error; }
    expect((caught as ValidationError).problems.map((p) => p.field)).toEqual(["region"]);
    expect((caught as ValidationError).problems[0]!.message).toMatch(/^must be a supported Azure region/);
  });
});
