/**
 * Everything that differs by tier lives in this one table. Components never
 * branch on the tier name; they read the profile they are given.
 */
export const TIERS = ["free", "professional", "enterprise"] as const;
export type Tier = (typeof TIERS)[number];

export interface ComputeResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

export interface ResourceQuotaProfile {
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly memoryRequest: string;
  readonly memoryLimit: string;
  readonly pods: number;
}

export type DatabaseStrategy = "schema-per-tenant" | "database-per-tenant";

export interface ConnectionPoolProfile {
  /** PgBouncer replicas in the tenant namespace. */
  readonly replicas: number;
  /** Server connections PgBouncer keeps per user/database pair. */
  readonly defaultPoolSize: number;
  /** Client connections PgBouncer accepts. */
  readonly maxClientConnections: number;
  readonly resources: ComputeResources;
}

export interface DedicatedServerProfile {
  /** Azure Database for PostgreSQL flexible server SKU name. */
  readonly skuName: string;
  readonly skuTier: "Burstable" | "GeneralPurpose" | "MemoryOptimized";
  readonly storageSizeGB: number;
  readonly postgresVersion: string;
  /** `ZoneRedundant` becomes `SameZone` in regions without availability zones (model/placement.ts). */
  readonly highAvailability: "Disabled" | "ZoneRedundant" | "SameZone";
  readonly backupRetentionDays: number;
}

export interface TierProfile {
  readonly tier: Tier;
  /** ResourceQuota for the namespace; null means no quota (unlimited). */
  readonly quota: ResourceQuotaProfile | null;
  /** LimitRange defaults for containers that declare no requests or limits. */
  readonly containerDefaults: ComputeResources;
  readonly database: {
    readonly strategy: DatabaseStrategy;
    /** A PgBouncer pool of the tenant's own, or null to connect directly. */
    readonly connectionPool: ConnectionPoolProfile | null;
    /** A dedicated Azure PostgreSQL server, or null for the shared instance. */
    readonly dedicatedServer: DedicatedServerProfile | null;
    /** Connection limit on the tenant's login role. */
    readonly roleConnectionLimit: number;
  };
  readonly coreServices: { readonly replicas: number; readonly resources: ComputeResources };
  readonly dataServices: { readonly replicas: number; readonly resources: ComputeResources };
  readonly monitoring: {
    readonly prometheusReplicas: number;
    /** How long the tenant Prometheus keeps samples. */
    readonly retention: string;
    readonly resources: ComputeResources;
  };
  readonly observability: {
    readonly collectorReplicas: number;
    readonly collectorResources: ComputeResources;
    /** Tempo block retention for the tenant's traces. */
    readonly traceRetention: string;
    /** Loki retention for the tenant's logs. */
    readonly logRetention: string;
  };
}

const res = (reqCpu: string, reqMem: string, limCpu: string, limMem: string): ComputeResources => ({
  requests: { cpu: reqCpu, memory: reqMem },
  limits: { cpu: limCpu, memory: limMem },
});

/**
 * Sizes are chosen so that every workload the program starts, at its replica
 * count, fits inside the tier's quota with room for the short-lived check jobs
 * (a test sums them). The ingress controller's sizes are fixed by the
 * provisioning flow and are the same for every tier.
 */
export const TIER_PROFILES: Readonly<Record<Tier, TierProfile>> = {
  free: {
    tier: "free",
    quota: { cpuRequest: "2", cpuLimit: "4", memoryRequest: "4Gi", memoryLimit: "8Gi", pods: 20 },
    containerDefaults: res("50m", "64Mi", "100m", "128Mi"),
    database: { strategy: "schema-per-tenant", connectionPool: null, dedicatedServer: null, roleConnectionLimit: 20 },
    coreServices: { replicas: 1, resources: res("100m", "256Mi", "250m", "512Mi") },
    dataServices: { replicas: 1, resources: res("100m", "256Mi", "200m", "512Mi") },
    monitoring: { prometheusReplicas: 1, retention: "3d", resources: res("100m", "256Mi", "300m", "512Mi") },
    observability: { collectorReplicas: 1, collectorResources: res("50m", "64Mi", "200m", "256Mi"), traceRetention: "72h", logRetention: "72h" },
  },
  professional: {
    tier: "professional",
    quota: { cpuRequest: "8", cpuLimit: "16", memoryRequest: "16Gi", memoryLimit: "32Gi", pods: 50 },
    containerDefaults: res("100m", "128Mi", "250m", "256Mi"),
    database: {
      strategy: "schema-per-tenant",
      connectionPool: { replicas: 2, defaultPoolSize: 20, maxClientConnections: 500, resources: res("50m", "64Mi", "200m", "128Mi") },
      dedicatedServer: null,
      roleConnectionLimit: 60,
    },
    // 2, not the seed's `replicaCount: 1` of its ai-service example (whose sizes are these): the example shows a
    // release's values, not a tier's numbers, and one replica would take a paying tenant's core services offline at
    // every rollout and node drain. Two fit the quota (a test sums every workload). docs/program.md lists this.
    coreServices: { replicas: 2, resources: res("250m", "512Mi", "1000m", "1Gi") },
    dataServices: { replicas: 1, resources: res("250m", "512Mi", "1000m", "1Gi") },
    monitoring: { prometheusReplicas: 1, retention: "15d", resources: res("200m", "512Mi", "1000m", "1Gi") },
    observability: { collectorReplicas: 1, collectorResources: res("100m", "128Mi", "500m", "512Mi"), traceRetention: "336h", logRetention: "336h" },
  },
  enterprise: {
    tier: "enterprise",
    quota: null,
    containerDefaults: res("250m", "256Mi", "1000m", "1Gi"),
    database: {
      strategy: "database-per-tenant",
      connectionPool: null,
      dedicatedServer: {
        skuName: "Standard_D4ds_v5",
        skuTier: "GeneralPurpose",
        storageSizeGB: 256,
        postgresVersion: "16",
        highAvailability: "ZoneRedundant",
        backupRetentionDays: 35,
      },
      roleConnectionLimit: -1,
    },
    coreServices: { replicas: 3, resources: res("500m", "1Gi", "2000m", "2Gi") },
    dataServices: { replicas: 2, resources: res("500m", "1Gi", "2000m", "2Gi") },
    monitoring: { prometheusReplicas: 2, retention: "30d", resources: res("500m", "2Gi", "2000m", "4Gi") },
    observability: { collectorReplicas: 2, collectorResources: res("200m", "256Mi", "1000m", "1Gi"), traceRetention: "720h", logRetention: "720h" },
  },
};

export function isTier(value: unknown): value is Tier {
  return typeof value === "string" && (TIERS as readonly string[]).includes(value);
}

/** The first phase that creates Azure resources whatever the tier: the tenant's DNS zone. */
export const FIRST_AZURE_PHASE = 7;

/**
 * Whether a run of `tier` up to `lastPhase` creates or reads anything in
 * Azure: a dedicated database server (phase 2, tiers that have one), the DNS
 * zone and what follows it (from phase 7). A run that does not needs neither
 * the Azure provider nor its plugin nor Azure settings.
 */
export function reachesAzure(tier: Tier, lastPhase: number): boolean {
  return lastPhase >= FIRST_AZURE_PHASE || (lastPhase >= 2 && TIER_PROFILES[tier].database.dedicatedServer !== null);
}

export function tierProfile(tier: Tier): TierProfile {
  return TIER_PROFILES[tier];
}
