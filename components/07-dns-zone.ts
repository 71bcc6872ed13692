// Only the DNS module: the package's root index loads all of its ~480 modules (about 35 MB more in every worker process).
import * as dns from "@pulumi/azure-native/dns/index.js";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, whenChildrenDone, requireArg } from "./common.ts";
import { typeTokenOf } from "../model/phases.ts";

/** The A records of a tenant zone, all pointing at the tenant's load balancer. */
export const TENANT_A_RECORDS = ["@", "*", "api", "bi"] as const;

export interface TenantDnsZoneArgs {
  /** Tenant slug; the zone is `{slug}.{parentZoneName}`-relative `{slug}.{baseDomain}`. Required. */
  slug: string;
  /** Base domain under which the tenant zone is created. Required. */
  baseDomain: string;
  /** The parent zone that delegates to the tenant zone. Required. */
  parentZoneName: string;
  /** Resource group of the parent zone; the child zone is created there too. Required. */
  resourceGroupName: string;
  /** The tenant's load-balancer IP. Required. */
  loadBalancerIp: pulumi.Input<string>;
  /** TTL of the NS delegation (seconds). Default 3600. */
  nsTtl?: number;
  /** TTL of the A records (seconds). Default 300. */
  aTtl?: number;
  /** Tenant id, as a tag on the zone. Required. */
  tenantId: string;
}

/**
 * Phase 7, CREATE_DNS_ZONE: the child zone `{slug}.{baseDomain}`, its NS
 * delegation in the parent zone from the child's name servers, and A records
 * for the apex, the wildcard, `api` and `bi` to the load balancer. Deleting it
 * removes the records, the delegation and the zone.
 */
export class TenantDnsZone extends pulumi.ComponentResource {
  public readonly zoneName: pulumi.Output<string>;
  public readonly nameServers: pulumi.Output<string[]>;

  constructor(name: string, args: TenantDnsZoneArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("CREATE_DNS_ZONE"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "TenantDnsZone";
    const zoneName = `${args.slug}.${args.baseDomain}`;
    requireArg(args.baseDomain === args.parentZoneName || args.baseDomain.endsWith(`.${args.parentZoneName}`), C, `parentZoneName "${args.parentZoneName}" must be the base domain "${args.baseDomain}" or contain it`);
    const nsTtl = args.nsTtl ?? 3600;
    const aTtl = args.aTtl ?? 300;
    requireArg(nsTtl > 0 && aTtl > 0, C, "TTLs must be positive");
    // The delegation's name relative to the parent zone, e.g. "acme" in matih.ai.
    const relativeName = zoneName.slice(0, zoneName.length - args.parentZoneName.length - 1);

    const zone = new dns.Zone(`${name}-zone`, {
      zoneName,
      resourceGroupName: args.resourceGroupName,
      location: "global",
      zoneType: "Public",
      tags: { "matih.ai/tenant-id": args.tenantId, "matih.ai/tenant-slug": args.slug, "matih.ai/managed-by": "tenant-service" },
    }, child());
    const nameServers = zone.nameServers.apply((ns) => {
      if (!ns || ns.length === 0) throw new Error(`zone ${zoneName} has no name servers to delegate to`);
      return ns;
    });

    new dns.RecordSet(`${name}-delegation`, {
      zoneName: args.parentZoneName,
      resourceGroupName: args.resourceGroupName,
      relativeRecordSetName: relativeName,
      recordType: "NS",
      ttl: nsTtl,
      nsRecords: nameServers.apply((list) => list.map((nsdname) => ({ nsdname }))),
    }, child());

    for (const record of TENANT_A_RECORDS) {
      const role = record === "@" ? "apex" : record === "*" ? "wildcard" : record;
      new dns.RecordSet(`${name}-a-${role}`, {
        zoneName: zone.name,
        resourceGroupName: args.resourceGroupName,
        relativeRecordSetName: record,
        recordType: "A",
        ttl: aTtl,
        aRecords: [{ ipv4Address: args.loadBalancerIp }],
      }, child());
    }

    // Resolved only after the delegation and every A record exist.
    const outputs = whenChildrenDone(this, { zoneName: zone.name, nameServers });
    this.zoneName = outputs.zoneName;
    this.nameServers = outputs.nameServers;
    this.registerOutputs(outputs);
  }
}
