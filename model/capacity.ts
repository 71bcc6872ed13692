/**
 * The fleet's capacity model: what each tenant takes from limits that the
 * whole fleet shares (one cluster, one subscription, one shared PostgreSQL
 * server, one registered domain at Let's Encrypt), and whether one more
 * tenant, or one more change, still fits. Pure: the service counts the fleet's
 * use in its database and asks `capacityExceeded` (server/domain/capacity.ts).
 */
import { PHASES, type PhaseName } from "./phases.ts";
import type { PlatformSettings } from "./settings.ts";
import { TIER_PROFILES, type Tier } from "./tiers.ts";

const phaseNumber = (name: PhaseName): number => PHASES.find((p) => p.name === name)!.number;

/** Phase 2 creates the tenant's role on the shared server (or its dedicated server). */
export const DATABASE_PHASE = phaseNumber("SETUP_DATABASE");
/** Phase 6's LoadBalancer Service takes a public IP and a frontend on the cluster's load balancer. */
export const PUBLIC_IP_PHASE = phaseNumber("DEPLOY_INGRESS_CONTROLLER");
/** Phase 7 creates the tenant's public DNS zone. */
export const DNS_ZONE_PHASE = phaseNumber("CREATE_DNS_ZONE");
/** Phase 8's Certificate is issued by Let's Encrypt when it is created. */
export const CERTIFICATE_PHASE = phaseNumber("CREATE_TENANT_INGRESS");

export type CapacityLimit = "certificatesPerWeek" | "publicIpsPerSubscription" | "loadBalancerFrontends" | "dnsZonesPerSubscription" | "sharedServerConnections";

/**
 * Connections a tenant of `tier` may hold on the shared server: its
 * PgBouncer pool's server connections (replicas x pool size) when it has a
 * pool, its role's connection limit when its pods connect directly, none
 * with a dedicated server of its own.
 */
export function sharedServerConnections(tier: Tier): number {
  const db = TIER_PROFILES[tier].database;
  if (db.dedicatedServer !== null) return 0;
  if (db.connectionPool !== null) return db.connectionPool.replicas * db.connectionPool.defaultPoolSize;
  return Math.max(db.roleConnectionLimit, 0);
}

/** What the fleet holds now (or, for certificates, issued in the last 7 days). */
export interface FleetUse {
  readonly certificatesPerWeek: number;
  readonly publicIpsPerSubscription: number;
  readonly loadBalancerFrontends: number;
  readonly dnsZonesPerSubscription: number;
  readonly sharedServerConnections: number;
}

/** A tenant as the model sees it: its tier and the last phase it holds (0: nothing). */
export interface TenantFootprint {
  readonly tier: Tier;
  readonly lastPhase: number;
}

/** What a tenant at `footprint` holds of each limit (certificates: whether it holds one). */
export function useOf(footprint: TenantFootprint): FleetUse {
  const reaches = (phase: number) => (footprint.lastPhase >= phase ? 1 : 0);
  return {
    certificatesPerWeek: reaches(CERTIFICATE_PHASE),
    publicIpsPerSubscription: reaches(PUBLIC_IP_PHASE),
    loadBalancerFrontends: reaches(PUBLIC_IP_PHASE),
    dnsZonesPerSubscription: reaches(DNS_ZONE_PHASE),
    sharedServerConnections: footprint.lastPhase >= DATABASE_PHASE ? sharedServerConnections(footprint.tier) : 0,
  };
}

/** Nothing: what a tenant not yet created holds. */
export const NO_USE: FleetUse = { certificatesPerWeek: 0, publicIpsPerSubscription: 0, loadBalancerFrontends: 0, dnsZonesPerSubscription: 0, sharedServerConnections: 0 };

/**
 * What going from holding `from` to holding `to` adds to the fleet's use. A
 * certificate is issued when phase 8 is created, not while it stays, so a
 * change that keeps phase 8 adds none. Never negative: what a change frees
 * (a pool given up for a dedicated server) makes no room for anything else in
 * the same request.
 */
export function added(from: FleetUse, to: FleetUse): FleetUse {
  const more = (k: keyof FleetUse) => Math.max(to[k] - from[k], 0);
  return {
    certificatesPerWeek: more("certificatesPerWeek"),
    publicIpsPerSubscription: more("publicIpsPerSubscription"),
    loadBalancerFrontends: more("loadBalancerFrontends"),
    dnsZonesPerSubscription: more("dnsZonesPerSubscription"),
    sharedServerConnections: more("sharedServerConnections"),
  };
}

/** The settings each limit reads, as operators write them. */
export const CAPACITY_SETTING: Readonly<Record<CapacityLimit, string>> = {
  certificatesPerWeek: "capacity.certificatesPerWeek",
  publicIpsPerSubscription: "capacity.publicIpsPerSubscription",
  loadBalancerFrontends: "capacity.loadBalancerFrontends",
  dnsZonesPerSubscription: "capacity.dnsZonesPerSubscription",
  sharedServerConnections: "capacity.sharedServerMaxConnections",
};

const WHAT: Readonly<Record<CapacityLimit, string>> = {
  certificatesPerWeek: "TLS certificates issued in the last 7 days (Let's Encrypt allows 50 per registered domain a week)",
  publicIpsPerSubscription: "public IP addresses held by tenants' ingress controllers",
  loadBalancerFrontends: "frontend IP configurations held by tenants on the cluster's load balancer",
  dnsZonesPerSubscription: "public DNS zones held by tenants",
  sharedServerConnections: "connections tenants may open on the shared PostgreSQL server",
};

/** A limit the request would cross, with the figures a 409 gives. */
export interface CapacityRefusal {
  readonly limit: CapacityLimit;
  readonly setting: string;
  /** The most the fleet may use (for connections: max_connections less the reserved ones). */
  readonly max: number;
  readonly current: number;
  readonly requested: number;
  readonly message: string;
}

/** The most of each limit the fleet may use; 0 means no limit. */
export function capacityMax(settings: PlatformSettings, limit: CapacityLimit): number {
  const c = settings.capacity;
  if (limit === "sharedServerConnections") {
    // 0 turns the limit off; reserved connections never make room.
    return c.sharedServerMaxConnections === 0 ? 0 : Math.max(c.sharedServerMaxConnections - c.sharedServerReservedConnections, 1);
  }
  return c[limit];
}

/** Whether any limit is on; with none, there is nothing to count. */
export function anyCapacityLimit(settings: PlatformSettings): boolean {
  return (Object.keys(CAPACITY_SETTING) as CapacityLimit[]).some((l) => capacityMax(settings, l) > 0);
}

/**
 * The first limit (in CAPACITY_SETTING's order) that `current` plus `adding`
 * would cross, or undefined when everything fits. Reaching a limit exactly is
 * allowed: it is the most the fleet may hold.
 */
export function capacityExceeded(settings: PlatformSettings, current: FleetUse, adding: FleetUse): CapacityRefusal | undefined {
  for (const limit of Object.keys(CAPACITY_SETTING) as CapacityLimit[]) {
    const max = capacityMax(settings, limit);
    if (max === 0 || adding[limit] === 0 || current[limit] + adding[limit] <= max) continue;
    const setting = CAPACITY_SETTING[limit];
    const of = limit === "sharedServerConnections"
      ? `${max} (${setting}=${settings.capacity.sharedServerMaxConnections} less capacity.sharedServerReservedConnections=${settings.capacity.sharedServerReservedConnections})`
      : `${max} (${setting}=${max})`;
    return {
      limit, setting, max, current: current[limit], requested: adding[limit],
      message: `capacity exceeded: ${WHAT[limit]} would go from ${current[limit]} to ${current[limit] + adding[limit]}, above the limit of ${of}; nothing was queued: wait until some are freed${limit === "certificatesPerWeek" ? " (certificates leave the count 7 days after issue)" : ""} or raise the setting once the quota is raised`,
    };
  }
  return undefined;
}
