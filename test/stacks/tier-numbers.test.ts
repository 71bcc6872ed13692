/**
 * Every number that differs by tier, pinned as a literal and read from the
 * rendered program (the whole stack under Pulumi's mock runtime), never from
 * model/tiers.ts: a changed replica count, size or retention in the tier table
 * fails here, where the per-component tests (which compare with the table)
 * would pass.
 *
 * Seed values among them: the quotas (phase 1 table), the ingress
 * controller's two replicas and 100m/128Mi-500m/256Mi (phase 6 Helm values),
 * the ai-service example's 250m/512Mi-1000m/1Gi (phase 3), the database
 * strategies (phase 2 table: schema-per-tenant with a dedicated connection
 * pool for professional, a dedicated server for enterprise). The rest are the
 * design's numbers in the tier table as they stand.
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { TIERS, type Tier } from "../../model/tiers.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { metadataOf, render, type Rendered } from "../support/fixtures.ts";

type Sizes = { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
const sizes = (reqCpu: string, reqMem: string, limCpu: string, limMem: string): Sizes => ({ requests: { cpu: reqCpu, memory: reqMem }, limits: { cpu: limCpu, memory: limMem } });

interface TierNumbers {
  quota: Record<string, string> | null;
  containerDefaults: Sizes;
  roleConnectionLimit: number;
  pool: { replicas: number; defaultPoolSize: string; maxClientConnections: string; resources: Sizes } | null;
  dedicatedServer: { sku: { name: string; tier: string }; storageSizeGB: number; version: string; highAvailability: string; backupRetentionDays: number } | null;
  coreServices: { replicas: number; resources: Sizes };
  dataServices: { replicas: number; resources: Sizes };
  ingressController: { replicas: number; resources: Sizes };
  prometheus: { replicas: number; retention: string; resources: Sizes };
  collector: { replicas: number; resources: Sizes };
  logRetention: string;
  traceRetention: string;
}

const EXPECTED: Record<Tier, TierNumbers> = {
  free: {
    quota: { "requests.cpu": "2", "limits.cpu": "4", "requests.memory": "4Gi", "limits.memory": "8Gi", pods: "20" },
    containerDefaults: sizes("50m", "64Mi", "100m", "128Mi"),
    roleConnectionLimit: 20,
    pool: null,
    dedicatedServer: null,
    coreServices: { replicas: 1, resources: sizes("100m", "256Mi", "250m", "512Mi") },
    dataServices: { replicas: 1, resources: sizes("100m", "256Mi", "200m", "512Mi") },
    ingressController: { replicas: 2, resources: sizes("100m", "128Mi", "500m", "256Mi") },
    prometheus: { replicas: 1, retention: "3d", resources: sizes("100m", "256Mi", "300m", "512Mi") },
    collector: { replicas: 1, resources: sizes("50m", "64Mi", "200m", "256Mi") },
    logRetention: "72h",
    traceRetention: "72h",
  },
  professional: {
    quota: { "requests.cpu": "8", "limits.cpu": "16", "requests.memory": "16Gi", "limits.memory": "32Gi", pods: "50" },
    containerDefaults: sizes("100m", "128Mi", "250m", "256Mi"),
    roleConnectionLimit: 60,
    pool: { replicas: 2, defaultPoolSize: "20", maxClientConnections: "500", resources: sizes("50m", "64Mi", "200m", "128Mi") },
    dedicatedServer: null,
    coreServices: { replicas: 2, resources: sizes("250m", "512Mi", "1000m", "1Gi") },
    dataServices: { replicas: 1, resources: sizes("250m", "512Mi", "1000m", "1Gi") },
    ingressController: { replicas: 2, resources: sizes("100m", "128Mi", "500m", "256Mi") },
    prometheus: { replicas: 1, retention: "15d", resources: sizes("200m", "512Mi", "1000m", "1Gi") },
    collector: { replicas: 1, resources: sizes("100m", "128Mi", "500m", "512Mi") },
    logRetention: "336h",
    traceRetention: "336h",
  },
  enterprise: {
    quota: null,
    containerDefaults: sizes("250m", "256Mi", "1000m", "1Gi"),
    roleConnectionLimit: -1,
    pool: null,
    dedicatedServer: { sku: { name: "Standard_D4ds_v5", tier: "GeneralPurpose" }, storageSizeGB: 256, version: "16", highAvailability: "ZoneRedundant", backupRetentionDays: 35 },
    coreServices: { replicas: 3, resources: sizes("500m", "1Gi", "2000m", "2Gi") },
    dataServices: { replicas: 2, resources: sizes("500m", "1Gi", "2000m", "2Gi") },
    ingressController: { replicas: 2, resources: sizes("100m", "128Mi", "500m", "256Mi") },
    prometheus: { replicas: 2, retention: "30d", resources: sizes("500m", "2Gi", "2000m", "4Gi") },
    collector: { replicas: 2, resources: sizes("200m", "256Mi", "1000m", "1Gi") },
    logRetention: "720h",
    traceRetention: "720h",
  },
};

/** The seed's release names, literally (phase 3 and phase 5 tables). */
const CORE_RELEASES = ["query-engine", "ai-service", "catalog-service"];
const DATA_RELEASES = ["pipeline-service", "semantic-layer", "bi-service", "data-quality-service", "ml-service", "render-service"];

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier) => {
  if (!renders.has(tier)) renders.set(tier, render(tier));
  return renders.get(tier)!;
};

const values = (r: RenderedResource) => r.inputs.values as { replicaCount: number; resources: unknown; controller?: { replicaCount: number; resources: unknown } };
const podSpec = (d: RenderedResource) => (d.inputs.spec as { replicas: number; template: { spec: { containers: { resources: unknown; env?: { name: string; value?: unknown }[] }[] } } });
const patchData = (r: Rendered, configMap: string) => {
  const found = r.ofType("kubernetes:core/v1:ConfigMapPatch").filter((p) => metadataOf(p).name === configMap);
  expect(found, `ConfigMapPatch ${configMap}`).toHaveLength(1);
  return parseYaml((found[0]!.inputs.data as Record<string, string>)["acme.yaml"]!) as { overrides: Record<string, Record<string, any>> };
};

describe.each(TIERS)("the %s tier's numbers, as the rendered program declares them", (tier) => {
  const want = EXPECTED[tier];

  it("phase 1: the namespace quota and the container defaults", async () => {
    const r = await rendered(tier);
    const quotas = r.ofKind("ResourceQuota");
    if (want.quota === null) expect(quotas).toHaveLength(0);
    else expect(quotas.map((q) => (q.inputs.spec as { hard: unknown }).hard)).toEqual([want.quota]);
    const [limit] = (r.k8s("LimitRange", "tenant-container-defaults").inputs.spec as { limits: { defaultRequest: unknown; default: unknown }[] }).limits;
    expect({ requests: limit!.defaultRequest, limits: limit!.default }).toEqual(want.containerDefaults);
  });

  it("phase 2: the login role's connection limit, the connection pool and the dedicated server", async () => {
    const r = await rendered(tier);
    expect(r.ofType("postgresql:index/role:Role").map((x) => x.inputs.connectionLimit)).toEqual([want.roleConnectionLimit]);

    const pools = r.ofKind("Deployment").filter((d) => metadataOf(d).name === "pgbouncer");
    if (want.pool === null) {
      expect(pools).toHaveLength(0);
    } else {
      expect(pools).toHaveLength(1);
      const spec = podSpec(pools[0]!);
      const env = Object.fromEntries((spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      expect({
        replicas: spec.replicas,
        defaultPoolSize: env.PGBOUNCER_DEFAULT_POOL_SIZE,
        maxClientConnections: env.PGBOUNCER_MAX_CLIENT_CONN,
        resources: spec.template.spec.containers[0]!.resources,
      }).toEqual(want.pool);
    }

    const servers = r.ofType("azure-native:dbforpostgresql:Server");
    if (want.dedicatedServer === null) {
      expect(servers).toHaveLength(0);
    } else {
      expect(servers).toHaveLength(1);
      const s = servers[0]!.inputs as any;
      expect({
        sku: s.sku, storageSizeGB: s.storage.storageSizeGB, version: s.version,
        highAvailability: s.highAvailability.mode, backupRetentionDays: s.backup.backupRetentionDays,
      }).toEqual(want.dedicatedServer);
    }
  });

  it("phase 3: every core service's replica count and sizes", async () => {
    const r = await rendered(tier);
    for (const name of CORE_RELEASES) {
      const v = values(r.release(name));
      expect({ replicas: v.replicaCount, resources: v.resources }, name).toEqual(want.coreServices);
    }
  });

  it("phase 5: every data service's replica count and sizes", async () => {
    const r = await rendered(tier);
    for (const name of DATA_RELEASES) {
      const v = values(r.release(name));
      expect({ replicas: v.replicaCount, resources: v.resources }, name).toEqual(want.dataServices);
    }
  });

  it("phase 6: the ingress controller's two replicas and the seed's sizes, whatever the tier", async () => {
    const c = values((await rendered(tier)).release("ingress-nginx")).controller!;
    expect({ replicas: c.replicaCount, resources: c.resources }).toEqual(want.ingressController);
  });

  it("phase 9: the Prometheus replica count, retention and sizes", async () => {
    const spec = (await rendered(tier)).k8s("Prometheus", "tenant").inputs.spec as { replicas: number; retention: string; resources: unknown };
    expect({ replicas: spec.replicas, retention: spec.retention, resources: spec.resources }).toEqual(want.prometheus);
  });

  it("phase 10: the collector's replica count and sizes, and the log and trace retention", async () => {
    const r = await rendered(tier);
    const spec = podSpec(r.k8s("Deployment", "otel-collector"));
    expect({ replicas: spec.replicas, resources: spec.template.spec.containers[0]!.resources }).toEqual(want.collector);
    expect(patchData(r, "loki-tenant-overrides").overrides.acme!.retention_period).toBe(want.logRetention);
    expect(patchData(r, "tempo-tenant-overrides").overrides.acme!.compaction.block_retention).toBe(want.traceRetention);
  });
});

describe("the seed's literal values across tiers", () => {
  it("the professional tenant's ai-service is sized as the seed's example (250m/512Mi requests, 1000m/1Gi limits)", async () => {
    expect(values((await rendered("professional")).release("ai-service")).resources).toEqual(sizes("250m", "512Mi", "1000m", "1Gi"));
  });

  it("the professional tenant's ai-service runs 2 replicas, not the seed example's replicaCount: 1 (the reason is in model/tiers.ts and docs/program.md)", async () => {
    expect(values((await rendered("professional")).release("ai-service")).replicaCount).toBe(2);
  });

  it("more replicas per tier, never fewer: free ≤ professional ≤ enterprise for every replicated workload", async () => {
    const counts = async (tier: Tier) => {
      const r = await rendered(tier);
      return [
        values(r.release("query-engine")).replicaCount,
        values(r.release("pipeline-service")).replicaCount,
        (r.k8s("Prometheus", "tenant").inputs.spec as { replicas: number }).replicas,
        podSpec(r.k8s("Deployment", "otel-collector")).replicas,
      ];
    };
    expect(await counts("free")).toEqual([1, 1, 1, 1]);
    expect(await counts("professional")).toEqual([2, 1, 1, 1]);
    expect(await counts("enterprise")).toEqual([3, 2, 2, 2]);
  });
});
