import { describe, expect, it } from "vitest";
import { placeholderLoadBalancerIp, placeholderNameServers } from "../../stacks/cloud-mocks.ts";
import { DEFAULT_PLATFORM_SETTINGS, resolvePlatformSettings } from "../../model/settings.ts";
import { ValidationError } from "../../model/spec.ts";
import { TIERS, type Tier } from "../../model/tiers.ts";
import { render, transitiveDependencies, type Rendered } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";

const ZONE_TYPE = "azure-native:dns:Zone";
const RECORD_SET_TYPE = "azure-native:dns:RecordSet";

interface RecordSetInputs {
  zoneName: string;
  resourceGroupName: string;
  relativeRecordSetName: string;
  recordType: string;
  ttl: number;
  aRecords?: { ipv4Address: string }[];
  nsRecords?: { nsdname: string }[];
}

const recordInputs = (r: RenderedResource) => r.inputs as unknown as RecordSetInputs;
const zoneOf = (r: Rendered): RenderedResource => {
  const zones = r.ofType(ZONE_TYPE);
  expect(zones).toHaveLength(1);
  return zones[0]!;
};
const recordsOf = (r: Rendered, recordType: string) => r.ofType(RECORD_SET_TYPE).filter((x) => recordInputs(x).recordType === recordType);

/** True when `ip` is in the documentation range 203.0.113.0/24 the render uses for load balancers. */
const inTestNet3 = (ip: string) => /^203\.0\.113\.(\d{1,3})$/.test(ip) && Number(ip.split(".")[3]) <= 255;

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier): Promise<Rendered> => {
  if (!renders.has(tier)) renders.set(tier, render(tier, { lastPhase: 7 }));
  return renders.get(tier)!;
};

describe.each(TIERS)("phase 7 CREATE_DNS_ZONE, %s tier", (tier) => {
  it("creates the public child zone acme.matih.ai in the DNS resource group, tagged with the tenant", async () => {
    const zone = zoneOf(await rendered(tier));
    expect(zone.phase).toEqual({ number: 7, name: "CREATE_DNS_ZONE" });
    expect(zone.inputs.zoneName).toBe("acme.matih.ai");
    expect(zone.inputs.resourceGroupName).toBe(DEFAULT_PLATFORM_SETTINGS.dns.resourceGroup);
    expect(zone.inputs.resourceGroupName).toBe("matih-dns");
    expect(zone.inputs.zoneType).toBe("Public");
    expect(zone.inputs.location).toBe("global");
    expect(zone.inputs.tags).toMatchObject({ "matih.ai/tenant-id": TENANT_ID, "matih.ai/tenant-slug": "acme" });
  });

  it("delegates `acme` in the parent zone matih.ai to the child zone's name servers", async () => {
    const r = await rendered(tier);
    const zone = zoneOf(r);
    const ns = recordsOf(r, "NS");
    expect(ns).toHaveLength(1);
    const delegation = recordInputs(ns[0]!);
    expect(delegation.zoneName).toBe("matih.ai");
    expect(delegation.resourceGroupName).toBe("matih-dns");
    expect(delegation.relativeRecordSetName).toBe("acme");
    const nameServers = placeholderNameServers("acme.matih.ai");
    expect(nameServers.length).toBeGreaterThan(0);
    expect(delegation.nsRecords).toEqual(nameServers.map((nsdname) => ({ nsdname })));
    // The name servers are the new zone's: the delegation waits for the zone.
    expect(ns[0]!.dependsOn).toContain(zone.urn);
    expect(r.outputs.zoneNameServers).toEqual(nameServers);
    expect(r.outputs.zoneName).toBe("acme.matih.ai");
  });

  it("points A records @, *, api and bi of the child zone at the load-balancer IP output", async () => {
    const r = await rendered(tier);
    const zone = zoneOf(r);
    const ip = r.outputs.loadBalancerIp;
    expect(ip).toBe(placeholderLoadBalancerIp("acme"));
    expect(inTestNet3(String(ip))).toBe(true);
    const a = recordsOf(r, "A");
    expect(a.map((x) => recordInputs(x).relativeRecordSetName).sort()).toEqual(["*", "@", "api", "bi"]);
    const controllerService = r.ofType("kubernetes:core/v1:Service").find((s) => s.read && s.phase?.number === 6);
    expect(controllerService).toBeDefined();
    for (const record of a) {
      const inputs = recordInputs(record);
      expect(inputs.zoneName).toBe("acme.matih.ai");
      expect(inputs.resourceGroupName).toBe("matih-dns");
      expect(inputs.aRecords).toEqual([{ ipv4Address: ip }]);
      expect(record.dependsOn).toContain(zone.urn);
      expect(transitiveDependencies(r.resources, record.urn)).toContain(controllerService!.urn);
    }
  });

  it("uses the default TTLs of the settings: 3600 s for the delegation, 300 s for A records", async () => {
    const r = await rendered(tier);
    expect(DEFAULT_PLATFORM_SETTINGS.dns.nsTtl).toBe(3600);
    expect(DEFAULT_PLATFORM_SETTINGS.dns.aTtl).toBe(300);
    expect(recordsOf(r, "NS").map((x) => recordInputs(x).ttl)).toEqual([3600]);
    expect(recordsOf(r, "A").map((x) => recordInputs(x).ttl)).toEqual([300, 300, 300, 300]);
  });

  it("creates one zone, one delegation and four A records, nothing else", async () => {
    const r = await rendered(tier);
    expect(r.ofType(ZONE_TYPE)).toHaveLength(1);
    expect(r.ofType(RECORD_SET_TYPE)).toHaveLength(5);
    expect(r.resources.filter((x) => x.custom && x.phase?.number === 7)).toHaveLength(6);
  });

  it("creates the zone only after the ingress controller has its IP", async () => {
    const r = await rendered(tier);
    const release = r.release("ingress-nginx");
    expect(transitiveDependencies(r.resources, zoneOf(r).urn)).toContain(release.urn);
  });
});

describe("DNS settings", () => {
  it("takes the TTLs and the resource group from the settings", async () => {
    const r = await render("professional", { lastPhase: 7, settings: { dns: { nsTtl: 7200, aTtl: 60, resourceGroup: "tenant-dns" } } });
    expect(zoneOf(r).inputs.resourceGroupName).toBe("tenant-dns");
    expect(recordsOf(r, "NS").map((x) => recordInputs(x).ttl)).toEqual([7200]);
    expect(recordsOf(r, "A").map((x) => recordInputs(x).ttl)).toEqual([60, 60, 60, 60]);
    for (const record of r.ofType(RECORD_SET_TYPE)) expect(recordInputs(record).resourceGroupName).toBe("tenant-dns");
  });

  it("delegates acme.tenants from parent zone example.com for base domain tenants.example.com", async () => {
    const r = await render("free", { lastPhase: 7, settings: { baseDomain: "tenants.example.com", dns: { parentZoneName: "example.com" } } });
    expect(zoneOf(r).inputs.zoneName).toBe("acme.tenants.example.com");
    const [delegation] = recordsOf(r, "NS");
    expect(recordInputs(delegation!).zoneName).toBe("example.com");
    expect(recordInputs(delegation!).relativeRecordSetName).toBe("acme.tenants");
    expect(recordInputs(delegation!).nsRecords).toEqual(placeholderNameServers("acme.tenants.example.com").map((nsdname) => ({ nsdname })));
    for (const record of recordsOf(r, "A")) expect(recordInputs(record).zoneName).toBe("acme.tenants.example.com");
    expect(r.outputs.zoneName).toBe("acme.tenants.example.com");
  });

  it("delegates from the base domain itself when no parent zone is set", async () => {
    const r = await render("free", { lastPhase: 7, settings: { baseDomain: "example.org" } });
    const [delegation] = recordsOf(r, "NS");
    expect(recordInputs(delegation!).zoneName).toBe("example.org");
    expect(recordInputs(delegation!).relativeRecordSetName).toBe("acme");
    expect(zoneOf(r).inputs.zoneName).toBe("acme.example.org");
  });

  it("refuses a parent zone that does not contain the base domain, naming dns.parentZoneName", () => {
    let error: unknown;
    try {
      resolvePlatformSettings({ baseDomain: "tenants.example.com", dns: { parentZoneName: "other.com" } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual(["dns.parentZoneName"]);
  });
});
