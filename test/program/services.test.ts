import { describe, expect, it } from "vitest";
import { CORE_SERVICES, DATA_SERVICE_DEPENDENCIES, DATA_SERVICES } from "../../components/services.ts";
import type { RenderedResource } from "../../stacks/render.ts";
import { TIER_PROFILES, TIERS } from "../../stacks/tiers.ts";
import { render, TENANT_ID, type Rendered } from "../support/fixtures.ts";

type Values = {
  replicaCount: number;
  image: { repository: string; tag: string };
  env: { name: string; value?: string; valueFrom?: unknown }[];
  resources: unknown;
};

const valuesOf = (r: RenderedResource) => r.inputs.values as Values;

/**
 * The order Pulumi deletes resources in: a resource goes only after everything
 * that depends on it. Returns release names, first deleted first.
 */
function teardownOrder(rendered: Rendered, names: readonly string[]): string[] {
  const releases = names.map((n) => rendered.release(n));
  const remaining = new Set(releases);
  const order: string[] = [];
  while (remaining.size > 0) {
    const deletable = [...remaining].filter((r) => ![...remaining].some((other) => other !== r && other.dependsOn.includes(r.urn)));
    expect(deletable.length).toBeGreaterThan(0);
    for (const r of deletable) {
      remaining.delete(r);
      order.push(String(r.inputs.name));
    }
  }
  return order;
}

describe.each(TIERS)("phase 3 DEPLOY_CORE_SERVICES for a %s tenant", (tier) => {
  it("releases query-engine, ai-service and catalog-service from the matih charts with the tenant's values", async () => {
    const r = await render(tier, { lastPhase: 3 });
    const profile = TIER_PROFILES[tier].coreServices;
    for (const service of CORE_SERVICES) {
      const release = r.release(service);
      expect(release.phase?.name).toBe("DEPLOY_CORE_SERVICES");
      expect(release.inputs).toMatchObject({ chart: service, namespace: "matih-acme", repositoryOpts: { repo: "https://charts.matih.ai" }, skipAwait: false });
      const v = valuesOf(release);
      expect(v.replicaCount).toBe(profile.replicas);
      expect(v.image).toEqual({ repository: `matih.azurecr.io/${service}`, tag: "latest" });
      expect(v.env).toEqual([
        { name: "TENANT_ID", value: TENANT_ID },
        { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "tenant-database-credentials", key: "DATABASE_URL" } } },
      ]);
      expect(v.resources).toEqual(profile.resources);
    }
  });

  it("waits for readiness within the seed's 300 seconds", async () => {
    const r = await render(tier, { lastPhase: 3 });
    for (const service of CORE_SERVICES) expect(r.release(service).inputs.timeout).toBe(300);
  });

  it("uninstalls the core releases in reverse order", async () => {
    const r = await render(tier, { lastPhase: 3 });
    expect(teardownOrder(r, CORE_SERVICES)).toEqual(["catalog-service", "ai-service", "query-engine"]);
  });
});

describe("the seed's professional example values", () => {
  it("gives ai-service 250m/512Mi requests and 1000m/1Gi limits", async () => {
    const r = await render("professional", { lastPhase: 3 });
    expect(valuesOf(r.release("ai-service")).resources).toEqual({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1000m", memory: "1Gi" } });
  });

  it("takes per-service image tags from settings", async () => {
    const r = await render("free", { lastPhase: 3, settings: { images: { tags: { "ai-service": "2.4.1" } } } });
    expect(valuesOf(r.release("ai-service")).image.tag).toBe("2.4.1");
    expect(valuesOf(r.release("query-engine")).image.tag).toBe("latest");
  });
});

describe.each(TIERS)("phase 5 DEPLOY_DATA_SERVICES for a %s tenant", (tier) => {
  it("releases the six data services with the tier's sizes", async () => {
    const r = await render(tier, { lastPhase: 5 });
    expect(DATA_SERVICES).toEqual(["pipeline-service", "semantic-layer", "bi-service", "data-quality-service", "ml-service", "render-service"]);
    for (const service of DATA_SERVICES) {
      const release = r.release(service);
      expect(release.phase?.name).toBe("DEPLOY_DATA_SERVICES");
      expect(release.inputs.chart).toBe(service);
      expect(valuesOf(release).replicaCount).toBe(TIER_PROFILES[tier].dataServices.replicas);
      expect(valuesOf(release).resources).toEqual(TIER_PROFILES[tier].dataServices.resources);
    }
  });

  it("makes each data service depend on exactly the services the seed names", async () => {
    const r = await render(tier, { lastPhase: 5 });
    const releaseUrns = new Map([...CORE_SERVICES, ...DATA_SERVICES].map((s) => [r.release(s).urn, s]));
    for (const service of DATA_SERVICES) {
      const releaseDeps = r.release(service).dependsOn.map((u) => releaseUrns.get(u)).filter((s) => s !== undefined);
      expect(new Set(releaseDeps)).toEqual(new Set(DATA_SERVICE_DEPENDENCIES[service]));
    }
    expect(DATA_SERVICE_DEPENDENCIES).toEqual({
      "pipeline-service": [],
      "semantic-layer": ["catalog-service"],
      "bi-service": ["semantic-layer", "query-engine"],
      "data-quality-service": ["catalog-service"],
      "ml-service": ["query-engine"],
      "render-service": ["bi-service"],
    });
  });

  it("tears the data services down in reverse dependency order, before the core services they use", async () => {
    const r = await render(tier, { lastPhase: 5 });
    const order = teardownOrder(r, [...CORE_SERVICES, ...DATA_SERVICES]);
    const position = (s: string) => order.indexOf(s);
    expect(position("render-service")).toBeLessThan(position("bi-service"));
    expect(position("bi-service")).toBeLessThan(position("semantic-layer"));
    expect(position("bi-service")).toBeLessThan(position("query-engine"));
    expect(position("semantic-layer")).toBeLessThan(position("catalog-service"));
    expect(position("data-quality-service")).toBeLessThan(position("catalog-service"));
    expect(position("ml-service")).toBeLessThan(position("query-engine"));
  });
});

// ---- every workload, at its replica count, fits in the tier's quota ----

function cpu(q: string): number {
  return q.endsWith("m") ? Number(q.slice(0, -1)) : Number(q) * 1000;
}
function memory(q: string): number {
  const units: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024 };
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  return Number(m[1]) * units[m[2]!]!;
}
type Res = { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
type Totals = { reqCpu: number; limCpu: number; reqMem: number; limMem: number; pods: number };
const add = (t: Totals, r: Res, replicas: number) => {
  t.reqCpu += cpu(r.requests.cpu) * replicas;
  t.limCpu += cpu(r.limits.cpu) * replicas;
  t.reqMem += memory(r.requests.memory) * replicas;
  t.limMem += memory(r.limits.memory) * replicas;
  t.pods += replicas;
};
/** prometheus-operator adds a config-reloader sidecar of 10m/50Mi (requests = limits) to each Prometheus pod. */
const CONFIG_RELOADER: Res = { requests: { cpu: "10m", memory: "50Mi" }, limits: { cpu: "10m", memory: "50Mi" } };

function steadyStateUsage(r: Rendered): Totals {
  const t: Totals = { reqCpu: 0, limCpu: 0, reqMem: 0, limMem: 0, pods: 0 };
  for (const rel of r.ofType("kubernetes:helm.sh/v3:Release")) {
    const v = rel.inputs.values as Record<string, any>;
    if (rel.inputs.chart === "ingress-nginx") add(t, v.controller.resources, v.controller.replicaCount);
    else add(t, v.resources, v.replicaCount);
  }
  for (const d of r.ofKind("Deployment")) {
    const spec = d.inputs.spec as any;
    for (const c of spec.template.spec.containers) add(t, c.resources, spec.replicas);
  }
  for (const p of r.ofKind("Prometheus")) {
    const spec = p.inputs.spec as any;
    add(t, spec.resources, spec.replicas);
    add(t, CONFIG_RELOADER, spec.replicas);
    t.pods -= spec.replicas; // the sidecar is in the same pod
  }
  return t;
}

/** The largest short-lived job pod (init containers run one at a time). */
function largestJob(r: Rendered): Totals {
  let worst: Totals = { reqCpu: 0, limCpu: 0, reqMem: 0, limMem: 0, pods: 1 };
  for (const job of r.ofKind("Job")) {
    const pod = (job.inputs.spec as any).template.spec;
    const t: Totals = { reqCpu: 0, limCpu: 0, reqMem: 0, limMem: 0, pods: 1 };
    for (const c of pod.containers) add(t, c.resources, 1);
    for (const c of pod.initContainers ?? []) {
      t.reqCpu = Math.max(t.reqCpu, cpu(c.resources.requests.cpu));
      t.limCpu = Math.max(t.limCpu, cpu(c.resources.limits.cpu));
      t.reqMem = Math.max(t.reqMem, memory(c.resources.requests.memory));
      t.limMem = Math.max(t.limMem, memory(c.resources.limits.memory));
    }
    if (t.limCpu > worst.limCpu) worst = { ...t, pods: 1 };
  }
  return worst;
}

describe.each(["free", "professional"] as const)("the %s tier's sizes", (tier) => {
  it("fit every workload and the largest check job inside the namespace quota", async () => {
    const r = await render(tier);
    const q = TIER_PROFILES[tier].quota!;
    const used = steadyStateUsage(r);
    const job = largestJob(r);
    expect(used.reqCpu + job.reqCpu).toBeLessThanOrEqual(cpu(q.cpuRequest));
    expect(used.limCpu + job.limCpu).toBeLessThanOrEqual(cpu(q.cpuLimit));
    expect(used.reqMem + job.reqMem).toBeLessThanOrEqual(memory(q.memoryRequest));
    expect(used.limMem + job.limMem).toBeLessThanOrEqual(memory(q.memoryLimit));
    expect(used.pods + job.pods).toBeLessThanOrEqual(q.pods);
  });
});

it("every container the program declares itself states its requests and limits", async () => {
  for (const tier of TIERS) {
    const r = await render(tier);
    for (const kind of ["Deployment", "Job"]) {
      for (const w of r.ofKind(kind)) {
        const pod = (w.inputs.spec as any).template.spec;
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          expect(c.resources?.requests?.cpu, `${kind} ${w.name} ${c.name}`).toBeTruthy();
          expect(c.resources?.limits?.memory, `${kind} ${w.name} ${c.name}`).toBeTruthy();
        }
      }
    }
  }
});
