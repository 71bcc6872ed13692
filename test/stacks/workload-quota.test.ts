import { describe, expect, it } from "vitest";
import { TIER_PROFILES, TIERS } from "../../model/tiers.ts";
import { render, type Rendered } from "../support/fixtures.ts";

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
