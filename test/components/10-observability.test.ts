import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { DEFAULT_PLATFORM_SETTINGS } from "../../model/settings.ts";
import { TIER_PROFILES, TIERS, type Tier } from "../../model/tiers.ts";
import { metadataOf, render, type Rendered } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";
import { validateRenderedResources } from "../support/k8s-schema.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";

const OBS = DEFAULT_PLATFORM_SETTINGS.observability;
const CONFIG_MAP_PATCH = "kubernetes:core/v1:ConfigMapPatch";

interface CollectorConfig {
  receivers: Record<string, { protocols?: Record<string, { endpoint: string }> }>;
  processors: Record<string, { attributes?: { key: string; value: string; action: string }[] }>;
  exporters: Record<string, { endpoint: string; headers?: Record<string, string> }>;
  service: { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
}

interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
  restartPolicy?: string;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  resources?: unknown;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Workload {
  replicas?: number;
  template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
}

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier): Promise<Rendered> => {
  if (!renders.has(tier)) renders.set(tier, render(tier));
  return renders.get(tier)!;
};

const phase10 = (r: Rendered): RenderedResource[] => r.resources.filter((x) => x.custom && x.phase?.number === 10);
const patchOf = (r: Rendered, configMap: string): RenderedResource => {
  const found = r.ofType(CONFIG_MAP_PATCH).filter((x) => metadataOf(x).name === configMap);
  expect(found, `ConfigMapPatch ${configMap}`).toHaveLength(1);
  return found[0]!;
};
const dataOf = (x: RenderedResource) => x.inputs.data as Record<string, string>;
const collectorYaml = (r: Rendered) => dataOf(r.k8s("ConfigMap", "otel-collector-config"))["config.yaml"]!;
const collectorConfig = (r: Rendered) => parseYaml(collectorYaml(r)) as CollectorConfig;

describe.each(TIERS)("phase 10 SETUP_OBSERVABILITY, %s tier", (tier) => {
  it("injects the tenant context (tenant_id=acme, namespace matih-acme, the tenant UUID) in a resource processor", async () => {
    const config = collectorConfig(await rendered(tier));
    const tenantProcessors = Object.entries(config.processors).filter(([, p]) => p.attributes?.some((a) => a.key === "tenant_id"));
    expect(tenantProcessors).toHaveLength(1);
    const [name, processor] = tenantProcessors[0]!;
    expect(name.split("/")[0]).toBe("resource");
    const byKey = Object.fromEntries(processor.attributes!.map((a) => [a.key, a]));
    expect(byKey.tenant_id).toEqual({ key: "tenant_id", value: "acme", action: "upsert" });
    expect(byKey.namespace).toEqual({ key: "namespace", value: "matih-acme", action: "upsert" });
    expect(Object.values(byKey).map((a) => a.value)).toContain(TENANT_ID);
  });

  it.each(["traces", "logs"])("runs the tenant-context processor in the %s pipeline", async (signal) => {
    const config = collectorConfig(await rendered(tier));
    const pipeline = config.service.pipelines[signal]!;
    expect(pipeline).toBeDefined();
    expect(pipeline.processors).toContain("resource/tenant");
    // Batching comes after the context is added; the memory limiter first.
    expect(pipeline.processors.indexOf("resource/tenant")).toBeLessThan(pipeline.processors.indexOf("batch"));
    expect(pipeline.processors[0]).toBe("memory_limiter");
    for (const p of pipeline.processors) expect(config.processors[p], p).toBeDefined();
    for (const e of pipeline.exporters) expect(config.exporters[e], e).toBeDefined();
    for (const rcv of pipeline.receivers) expect(config.receivers[rcv], rcv).toBeDefined();
  });

  it("exports traces to Tempo and logs to Loki as tenant acme (X-Scope-OrgID)", async () => {
    const config = collectorConfig(await rendered(tier));
    const traces = config.service.pipelines.traces!.exporters.map((e) => config.exporters[e]!);
    const logs = config.service.pipelines.logs!.exporters.map((e) => config.exporters[e]!);
    expect(traces.map((e) => e.endpoint)).toEqual([OBS.tempoOtlpEndpoint]);
    expect(logs.map((e) => e.endpoint)).toEqual([`${OBS.lokiUrl}/otlp`]);
    for (const e of [...traces, ...logs]) expect(e.headers).toEqual({ "X-Scope-OrgID": "acme" });
  });

  it("receives OTLP on gRPC 4317 and HTTP 4318", async () => {
    const config = collectorConfig(await rendered(tier));
    expect(config.receivers.otlp?.protocols).toEqual({ grpc: { endpoint: "0.0.0.0:4317" }, http: { endpoint: "0.0.0.0:4318" } });
  });

  it("mounts that ConfigMap into the collector Deployment and rolls it on change with the config hash", async () => {
    const r = await rendered(tier);
    const configMap = r.k8s("ConfigMap", "otel-collector-config");
    expect(metadataOf(configMap).namespace).toBe("matih-acme");
    const deployment = r.k8s("Deployment", "otel-collector");
    expect(metadataOf(deployment).namespace).toBe("matih-acme");
    const spec = deployment.inputs.spec as Workload;
    const volume = spec.template.spec.volumes?.find((v) => v.configMap?.name === "otel-collector-config");
    expect(volume).toBeDefined();
    const container = spec.template.spec.containers[0]!;
    const mount = container.volumeMounts?.find((m) => m.name === volume!.name);
    expect(mount).toBeDefined();
    expect(container.args).toContain(`--config=${mount!.mountPath}/config.yaml`);
    const hash = createHash("sha256").update(collectorYaml(r)).digest("hex").slice(0, 16);
    expect(spec.template.metadata.annotations?.["matih.ai/config-hash"]).toBe(hash);
  });

  it("sizes the collector from the tier profile", async () => {
    const spec = (await rendered(tier)).k8s("Deployment", "otel-collector").inputs.spec as Workload;
    const profile = TIER_PROFILES[tier].observability;
    expect(spec.replicas).toBe(profile.collectorReplicas);
    expect(spec.template.spec.containers[0]!.resources).toEqual({
      requests: { ...profile.collectorResources.requests }, limits: { ...profile.collectorResources.limits },
    });
  });

  it("exposes the collector through a Service that selects its pods", async () => {
    const r = await rendered(tier);
    const service = r.k8s("Service", "otel-collector");
    const selector = (service.inputs.spec as { selector: Record<string, string> }).selector;
    const podLabels = (r.k8s("Deployment", "otel-collector").inputs.spec as Workload).template.metadata.labels ?? {};
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    expect(podLabels).toMatchObject(selector);
    expect(r.outputs.collectorEndpoint).toBe("otel-collector.matih-acme.svc:4317");
  });

  it("collects the namespace's logs into Loki with label namespace=\"matih-acme\" under its own key", async () => {
    const patch = patchOf(await rendered(tier), "alloy-tenant-logs");
    expect(metadataOf(patch).namespace).toBe(OBS.namespace);
    expect(Object.keys(dataOf(patch))).toEqual(["matih-acme.alloy"]);
    const config = dataOf(patch)["matih-acme.alloy"]!;
    expect(config).toMatch(/namespaces\s*\{\s*names\s*=\s*\["matih-acme"\]\s*\}/);
    expect(config).toMatch(/target_label\s*=\s*"namespace"\s+replacement\s*=\s*"matih-acme"/);
    expect(config).toContain(`url       = "${OBS.lokiUrl}/loki/api/v1/push"`);
    expect(config).toMatch(/tenant_id\s*=\s*"acme"/);
  });

  it("keeps the tenant's logs and traces for the tier profile's retention", async () => {
    const r = await rendered(tier);
    const profile = TIER_PROFILES[tier].observability;
    const loki = parseYaml(dataOf(patchOf(r, "loki-tenant-overrides"))["acme.yaml"]!) as { overrides: Record<string, { retention_period: string }> };
    const tempo = parseYaml(dataOf(patchOf(r, OBS.tempoOverridesConfigMap))["acme.yaml"]!) as { overrides: Record<string, { compaction: { block_retention: string } }> };
    expect(Object.keys(loki.overrides)).toEqual(["acme"]);
    expect(Object.keys(tempo.overrides)).toEqual(["acme"]);
    expect(loki.overrides.acme!.retention_period).toBe(profile.logRetention);
    expect(tempo.overrides.acme!.compaction.block_retention).toBe(profile.traceRetention);
  });

  it("patches only its own key of each shared ConfigMap, in the observability namespace", async () => {
    const patches = (await rendered(tier)).ofType(CONFIG_MAP_PATCH).filter((x) => x.phase?.number === 10);
    expect(patches).toHaveLength(3);
    for (const p of patches) {
      expect(metadataOf(p).namespace).toBe(OBS.namespace);
      expect(Object.keys(dataOf(p))).toHaveLength(1);
    }
  });

  it("provides Grafana Loki and Tempo data sources scoped by the tenant header", async () => {
    const cm = (await rendered(tier)).k8s("ConfigMap", "grafana-datasource-logs-traces");
    expect(metadataOf(cm).labels?.grafana_datasource).toBe("1");
    const [content] = Object.values(dataOf(cm));
    const { datasources } = parseYaml(content!) as { datasources: { type: string; url: string; jsonData: Record<string, unknown>; secureJsonData: Record<string, string> }[] };
    expect(datasources.map((d) => d.type).sort()).toEqual(["loki", "tempo"]);
    expect(datasources.find((d) => d.type === "loki")!.url).toBe(OBS.lokiUrl);
    expect(datasources.find((d) => d.type === "tempo")!.url).toBe(OBS.tempoUrl);
    for (const d of datasources) {
      expect(d.jsonData.httpHeaderName1).toBe("X-Scope-OrgID");
      expect(d.secureJsonData.httpHeaderValue1).toBe("acme");
    }
  });

  it("checks the pipeline with a Job that sends a trace and a log through the collector", async () => {
    const job = (await rendered(tier)).ofKind("Job").find((x) => x.phase?.number === 10);
    expect(job).toBeDefined();
    const pod = (job!.inputs.spec as Workload).template.spec;
    expect(pod.restartPolicy).toBe("Never");
    const senders = [...(pod.initContainers ?? [])];
    const signals = senders.map((c) => c.args?.[0]).sort();
    expect(signals).toEqual(["logs", "traces"]);
    for (const c of senders) {
      expect(c.args).toEqual(expect.arrayContaining(["--otlp-endpoint", "otel-collector.matih-acme.svc:4317"]));
      expect(c.args).toEqual(expect.arrayContaining([`--${c.args![0]}`, "1"]));
    }
  });

  it("has the Job find the tenant's log in Loki and trace in Tempo, as tenant acme", async () => {
    const job = (await rendered(tier)).ofKind("Job").find((x) => x.phase?.number === 10)!;
    const script = (job.inputs.spec as Workload).template.spec.containers.map((c) => (c.command ?? []).join(" ")).join("\n");
    expect(script).toContain(`${OBS.lokiUrl}/loki/api/v1/query_range`);
    expect(script).toContain(`${OBS.tempoUrl}/api/search`);
    expect(script).toContain('query={namespace=\\"matih-acme\\", tenant_id=\\"acme\\", service_name=\\"$marker\\"}');
    expect(script).toMatch(/tenant_id=acme/);
    expect(script.match(/-H "X-Scope-OrgID: acme"/g)).toHaveLength(2);
    // The job fails (non-zero exit) when either is missing.
    expect(script).toMatch(/exit 1/);
  });

  it("marks what it sends with its own pod UID, so only this run's telemetry can pass the check", async () => {
    const job = (await rendered(tier)).ofKind("Job").find((x) => x.phase?.number === 10)!;
    const pod = (job.inputs.spec as Workload).template.spec as Workload["template"]["spec"] & { initContainers: { args: string[]; env: unknown[] }[]; containers: { env: unknown[] }[] };
    const podUid = { name: "POD_UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } };
    for (const c of [...pod.initContainers, ...pod.containers]) expect(c.env).toContainEqual(podUid);
    for (const c of pod.initContainers) expect(c.args.slice(-2)).toEqual(["--service", "provisioning-check-$(POD_UID)"]);
  });

  it("passes on its own log and trace, and fails when Loki only holds other pods' logs of the namespace", async () => {
    const job = (await rendered(tier)).ofKind("Job").find((x) => x.phase?.number === 10)!;
    const script = (job.inputs.spec as Workload).template.spec.containers[0]!.command![2]!;
    const other = JSON.stringify({ status: "success", data: { result: [{ stream: { namespace: "matih-acme", service_name: "query-engine" }, values: [["1", "hello"]] }] } });
    const own = JSON.stringify({ status: "success", data: { result: [{ stream: { namespace: "matih-acme", service_name: "provisioning-check-uid-123" }, values: [["1", "the message"]] }] } });
    const trace = JSON.stringify({ traces: [{ traceID: "abc" }] });
    expect(runCheck(script, { loki: other, tempo: trace })).toMatchObject({ code: 1 });
    const passed = runCheck(script, { loki: own, tempo: trace });
    expect(passed).toMatchObject({ code: 0 });
    // What it asked Loki for: exactly this pod's stream.
    expect(passed.lokiQuery).toBe('{namespace="matih-acme", tenant_id="acme", service_name="provisioning-check-uid-123"}');
  });

  it("runs the pipeline check only after the collector Service and the log and retention patches", async () => {
    const r = await rendered(tier);
    const job = r.ofKind("Job").find((x) => x.phase?.number === 10)!;
    expect(job.dependsOn).toContain(r.k8s("Service", "otel-collector").urn);
    for (const p of r.ofType(CONFIG_MAP_PATCH).filter((x) => x.phase?.number === 10)) expect(job.dependsOn).toContain(p.urn);
  });

  it("renders phase 10 objects that satisfy their published schemas", async () => {
    expect(validateRenderedResources(phase10(await rendered(tier)))).toEqual(expect.arrayContaining(["ConfigMap", "Deployment", "Service", "Job"]));
  });
});

describe("observability settings", () => {
  it("writes the Tempo retention into the ConfigMap named in the settings", async () => {
    const r = await render("professional", { settings: { observability: { tempoOverridesConfigMap: "tempo-overrides-eu" } } });
    const patch = patchOf(r, "tempo-overrides-eu");
    expect(Object.keys(dataOf(patch))).toEqual(["acme.yaml"]);
    expect(r.ofType(CONFIG_MAP_PATCH).filter((x) => metadataOf(x).name === "tempo-tenant-overrides")).toEqual([]);
  });
});

describe("a TenantObservability built directly", () => {
  let TenantObservability: typeof import("../../components/10-observability.ts").TenantObservability;
  const args = {
    slug: "acme",
    tenantId: TENANT_ID,
    namespace: "matih-acme",
    observabilityNamespace: OBS.namespace,
    lokiUrl: OBS.lokiUrl,
    tempoOtlpEndpoint: OBS.tempoOtlpEndpoint,
    tempoUrl: OBS.tempoUrl,
    traceRetention: "336h",
    logRetention: "336h",
    collectorResources: TIER_PROFILES.professional.observability.collectorResources,
    images: { otelCollector: "otel/opentelemetry-collector-contrib:0.120.0", telemetrygen: "telemetrygen:v0.120.0", curl: "curlimages/curl:8.12.1" },
  };

  beforeAll(async () => {
    await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
    ({ TenantObservability } = await import("../../components/10-observability.ts"));
  });

  it("refuses a retention in days, which Loki and Tempo do not parse", () => {
    expect(() => new TenantObservability("days", { ...args, traceRetention: "14d" }))
      .toThrow(new Error('TenantObservability: traceRetention must be a duration in hours, minutes or seconds such as 336h, got "14d"'));
  });
});

/**
 * Runs the check's shell script with `curl` and `sleep` replaced by fakes
 * (curl answers Loki and Tempo from the given bodies and notes Loki's query),
 * as the pod with UID uid-123 would.
 */
function runCheck(script: string, answers: { loki: string; tempo: string }): { code: number | null; lokiQuery: string } {
  const dir = mkdtempSync(join(tmpdir(), "obs-check-"));
  try {
    writeFileSync(join(dir, "curl"), `#!/bin/sh
for a in "$@"; do case "$a" in query=*) printf '%s' "\${a#query=}" > "${dir}/loki-query";; esac; done
case "$*" in *loki*) printf '%s' "$LOKI_BODY";; *) printf '%s' "$TEMPO_BODY";; esac
`, { mode: 0o755 });
    writeFileSync(join(dir, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const result = spawnSync("sh", ["-c", script], { env: { PATH: `${dir}:/usr/bin:/bin`, POD_UID: "uid-123", LOKI_BODY: answers.loki, TEMPO_BODY: answers.tempo }, encoding: "utf8" });
    let lokiQuery = "";
    try { lokiQuery = readFileSync(join(dir, "loki-query"), "utf8"); } catch { /* never asked */ }
    return { code: result.status, lokiQuery };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
