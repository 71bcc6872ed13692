import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { childOptions, grafanaUid, whenChildrenDone, k8sResources, requireArg, tenantLabels } from "./common.ts";
import type { ComputeResources } from "../model/tiers.ts";
import { typeTokenOf } from "../model/phases.ts";

export const COLLECTOR_NAME = "otel-collector";
const OTLP_GRPC = 4317;
const OTLP_HTTP = 4318;
const HEALTH = 13133;

export interface TenantObservabilityArgs {
  /** Tenant slug: the Loki/Tempo tenant (X-Scope-OrgID) and the `tenant_id` attribute. Required. */
  slug: string;
  /** Tenant UUID, added as `matih.tenant.uuid`. Required. */
  tenantId: string;
  /** The tenant namespace, the `namespace` log label. Required. */
  namespace: string;
  /** Namespace of the shared Loki, Tempo and Grafana, where the tenant's override keys live. Required. */
  observabilityNamespace: string;
  /** Loki base URL. Required. */
  lokiUrl: string;
  /** Tempo OTLP gRPC endpoint (host:port). Required. */
  tempoOtlpEndpoint: string;
  /** Tempo query base URL. Required. */
  tempoUrl: string;
  /** Shared ConfigMaps in which the tenant owns one key each. Default `loki-tenant-overrides`, `tempo-tenant-overrides`, `alloy-tenant-logs`. */
  sharedConfigMaps?: { lokiOverrides?: string; tempoOverrides?: string; logCollection?: string };
  /** Trace retention, e.g. `336h`. Required. */
  traceRetention: string;
  /** Log retention, e.g. `336h`. Required. */
  logRetention: string;
  /** Collector pods. Default 1. */
  collectorReplicas?: number;
  /** Collector requests and limits. Required. */
  collectorResources: ComputeResources;
  /** Images of the collector, telemetrygen and curl. Required. */
  images: { otelCollector: string; telemetrygen: string; curl: string };
}

/** Resource attributes the collector puts on every span and log record of the tenant. */
export function tenantContextAttributes(slug: string, tenantId: string, namespace: string) {
  return [
    { key: "tenant_id", value: slug, action: "upsert" },
    { key: "matih.tenant.uuid", value: tenantId, action: "upsert" },
    { key: "namespace", value: namespace, action: "upsert" },
  ];
}

/** The OpenTelemetry collector configuration of a tenant. */
export function collectorConfig(a: Pick<TenantObservabilityArgs, "slug" | "tenantId" | "namespace" | "lokiUrl" | "tempoOtlpEndpoint">): Record<string, unknown> {
  const tenantHeader = { "X-Scope-OrgID": a.slug };
  const processors = ["memory_limiter", "resource/tenant", "batch"];
  return {
    receivers: { otlp: { protocols: { grpc: { endpoint: `0.0.0.0:${OTLP_GRPC}` }, http: { endpoint: `0.0.0.0:${OTLP_HTTP}` } } } },
    processors: {
      memory_limiter: { check_interval: "1s", limit_percentage: 80, spike_limit_percentage: 20 },
      // Tenant context injection: whatever a service sends, its telemetry carries the tenant.
      "resource/tenant": { attributes: tenantContextAttributes(a.slug, a.tenantId, a.namespace) },
      batch: { timeout: "5s" },
    },
    exporters: {
      "otlp/tempo": { endpoint: a.tempoOtlpEndpoint, tls: { insecure: true }, headers: tenantHeader },
      "otlphttp/loki": { endpoint: `${a.lokiUrl}/otlp`, headers: tenantHeader },
    },
    extensions: { health_check: { endpoint: `0.0.0.0:${HEALTH}` } },
    service: {
      extensions: ["health_check"],
      pipelines: {
        traces: { receivers: ["otlp"], processors, exporters: ["otlp/tempo"] },
        logs: { receivers: ["otlp"], processors, exporters: ["otlphttp/loki"] },
      },
    },
  };
}

/** Loki per-tenant overrides: retention, and `namespace`/`tenant_id` as index labels for OTLP logs. */
export function lokiOverrides(slug: string, logRetention: string): Record<string, unknown> {
  return {
    overrides: {
      [slug]: {
        retention_period: logRetention,
        otlp_config: { resource_attributes: { attributes_config: [{ action: "index_label", attributes: ["namespace", "tenant_id"] }] } },
      },
    },
  };
}

/** Tempo per-tenant overrides: block retention. */
export function tempoOverrides(slug: string, traceRetention: string): Record<string, unknown> {
  return { overrides: { [slug]: { compaction: { block_retention: traceRetention } } } };
}

/** The shared log agent's (Grafana Alloy) collection for the tenant namespace, labelled namespace=matih-{slug}. */
export function logCollectionConfig(slug: string, namespace: string, lokiUrl: string): string {
  const id = namespace.replaceAll("-", "_");
  return [
    `discovery.kubernetes "${id}" {`,
    `  role = "pod"`,
    `  namespaces { names = ["${namespace}"] }`,
    `}`,
    `discovery.relabel "${id}" {`,
    `  targets = discovery.kubernetes.${id}.targets`,
    `  rule { target_label = "namespace"  replacement = "${namespace}" }`,
    `  rule { target_label = "tenant_id"  replacement = "${slug}" }`,
    `  rule { source_labels = ["__meta_kubernetes_pod_name"]  target_label = "pod" }`,
    `  rule { source_labels = ["__meta_kubernetes_pod_container_name"]  target_label = "container" }`,
    `}`,
    `loki.source.kubernetes "${id}" {`,
    `  targets    = discovery.relabel.${id}.output`,
    `  forward_to = [loki.write.${id}.receiver]`,
    `}`,
    `loki.write "${id}" {`,
    `  endpoint {`,
    `    url       = "${lokiUrl}/loki/api/v1/push"`,
    `    tenant_id = "${slug}"`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}

/** Go-style durations only (Loki and Tempo parse them): 72h, 30m. */
const DURATION = /^\d+(h|m|s)$/;

/**
 * Phase 10, SETUP_OBSERVABILITY: log collection for the tenant namespace
 * (label namespace=matih-{slug}), an OpenTelemetry collector that injects the
 * tenant context, Loki and Tempo retention for the tenant, tenant-scoped
 * Grafana data sources, and a job that sends a trace and a log through the
 * collector and finds both in Tempo and Loki.
 */
export class TenantObservability extends pulumi.ComponentResource {
  public readonly collectorEndpoint: pulumi.Output<string>;

  constructor(name: string, args: TenantObservabilityArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("SETUP_OBSERVABILITY"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "TenantObservability";
    const replicas = args.collectorReplicas ?? 1;
    requireArg(DURATION.test(args.traceRetention), C, `traceRetention must be a duration in hours, minutes or seconds such as 336h, got "${args.traceRetention}"`);
    requireArg(DURATION.test(args.logRetention), C, `logRetention must be a duration in hours, minutes or seconds such as 336h, got "${args.logRetention}"`);
    requireArg(Number.isInteger(replicas) && replicas >= 1, C, `collectorReplicas must be a whole number of at least 1, got ${replicas}`);

    const { namespace, slug } = args;
    const labels = tenantLabels(slug, "observability");
    const shared = {
      lokiOverrides: args.sharedConfigMaps?.lokiOverrides ?? "loki-tenant-overrides",
      tempoOverrides: args.sharedConfigMaps?.tempoOverrides ?? "tempo-tenant-overrides",
      logCollection: args.sharedConfigMaps?.logCollection ?? "alloy-tenant-logs",
    };

    // Each tenant owns one key of each shared ConfigMap (server-side apply);
    // deleting the patch gives the key back and leaves other tenants' keys alone.
    const sharedKey = (role: string, configMap: string, key: string, content: string) =>
      new k8s.core.v1.ConfigMapPatch(`${name}-${role}`, {
        metadata: { name: configMap, namespace: args.observabilityNamespace, annotations: { "pulumi.com/patchForce": "true" } },
        data: { [key]: content },
      }, child());
    const logCollection = sharedKey("log-collection", shared.logCollection, `${namespace}.alloy`, logCollectionConfig(slug, namespace, args.lokiUrl));
    const lokiRetention = sharedKey("loki-overrides", shared.lokiOverrides, `${slug}.yaml`, stringify(lokiOverrides(slug, args.logRetention)));
    const tempoRetention = sharedKey("tempo-overrides", shared.tempoOverrides, `${slug}.yaml`, stringify(tempoOverrides(slug, args.traceRetention)));

    const configYaml = stringify(collectorConfig(args));
    const configHash = createHash("sha256").update(configYaml).digest("hex").slice(0, 16);
    const collectorLabels = { ...labels, "app.kubernetes.io/name": "opentelemetry-collector" };
    const config = new k8s.core.v1.ConfigMap(`${name}-collector-config`, {
      metadata: { name: `${COLLECTOR_NAME}-config`, namespace, labels },
      data: { "config.yaml": configYaml },
    }, child());
    const deployment = new k8s.apps.v1.Deployment(`${name}-collector`, {
      metadata: { name: COLLECTOR_NAME, namespace, labels: collectorLabels },
      spec: {
        replicas,
        selector: { matchLabels: { "app.kubernetes.io/name": "opentelemetry-collector", "matih.ai/tenant-slug": slug } },
        template: {
          // The hash rolls the pods when the configuration changes.
          metadata: { labels: collectorLabels, annotations: { "matih.ai/config-hash": configHash } },
          spec: {
            serviceAccountName: "tenant-workload",
            containers: [{
              name: "collector",
              image: args.images.otelCollector,
              args: ["--config=/conf/config.yaml"],
              ports: [
                { name: "otlp-grpc", containerPort: OTLP_GRPC },
                { name: "otlp-http", containerPort: OTLP_HTTP },
                { name: "health", containerPort: HEALTH },
              ],
              readinessProbe: { httpGet: { path: "/", port: HEALTH } },
              livenessProbe: { httpGet: { path: "/", port: HEALTH } },
              resources: k8sResources(args.collectorResources),
              volumeMounts: [{ name: "config", mountPath: "/conf", readOnly: true }],
            }],
            volumes: [{ name: "config", configMap: { name: config.metadata.name } }],
          },
        },
      },
    }, child());
    const service = new k8s.core.v1.Service(`${name}-collector-service`, {
      metadata: { name: COLLECTOR_NAME, namespace, labels: collectorLabels },
      spec: {
        selector: { "app.kubernetes.io/name": "opentelemetry-collector", "matih.ai/tenant-slug": slug },
        ports: [
          { name: "otlp-grpc", port: OTLP_GRPC, targetPort: OTLP_GRPC },
          { name: "otlp-http", port: OTLP_HTTP, targetPort: OTLP_HTTP },
        ],
      },
    }, child({ dependsOn: [deployment] }));

    const header = { httpHeaderName1: "X-Scope-OrgID" };
    const headerValue = { httpHeaderValue1: slug };
    // Within Grafana's 40-character uid limit, or the sidecar drops the data sources without an error.
    const lokiUid = grafanaUid("loki", slug);
    new k8s.core.v1.ConfigMap(`${name}-grafana-datasources`, {
      metadata: { name: "grafana-datasource-logs-traces", namespace, labels: { ...labels, grafana_datasource: "1" } },
      data: {
        "logs-traces.yaml": stringify({
          apiVersion: 1,
          datasources: [
            { name: `Loki (${slug})`, uid: lokiUid, type: "loki", access: "proxy", url: args.lokiUrl, editable: false, jsonData: header, secureJsonData: headerValue },
            {
              name: `Tempo (${slug})`, uid: grafanaUid("tempo", slug), type: "tempo", access: "proxy", url: args.tempoUrl, editable: false,
              jsonData: { ...header, tracesToLogsV2: { datasourceUid: lokiUid, filterByTraceID: true } },
              secureJsonData: headerValue,
            },
          ],
        }),
      },
    }, child());

    // Pipeline check: one OTLP trace and one OTLP log record sent to the
    // tenant's collector must be found in Tempo and Loki as this tenant (its
    // org id, and the namespace and tenant labels the collector adds). What it
    // proves is the OTLP path: collector, exporters, tenant headers, Loki's and
    // Tempo's per-tenant settings. It does not prove that pods' stdout and
    // stderr are collected: that path (Alloy tailing container logs under the
    // tenant's key of `alloy-tenant-logs`) is not exercised here.
    const endpoint = `${COLLECTOR_NAME}.${namespace}.svc:${OTLP_GRPC}`;
    // The marker is this pod's own UID (the kubelet expands $(POD_UID) in args),
    // so only the telemetry this run sent can satisfy the check: not another
    // pod's logs, not a previous run's.
    const podUid = { name: "POD_UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } };
    const marker = "provisioning-check-$(POD_UID)";
    const gen = (signal: "traces" | "logs") => ({
      name: `send-${signal}`,
      image: args.images.telemetrygen,
      args: [signal, "--otlp-endpoint", endpoint, "--otlp-insecure", `--${signal}`, "1", "--service", marker],
      env: [podUid],
      resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "50m", memory: "32Mi" } },
    });
    // Loki indexes OTLP resource attribute service.name as the service_name label;
    // the collector adds namespace and tenant_id, which the overrides index too.
    const verify = [
      "set -eu",
      `marker="provisioning-check-$POD_UID"`,
      `for i in $(seq 1 30); do`,
      `  logs=$(curl -fsS -G -H "X-Scope-OrgID: ${slug}" --data-urlencode "query={namespace=\\"${namespace}\\", tenant_id=\\"${slug}\\", service_name=\\"$marker\\"}" --data-urlencode 'limit=1' --data-urlencode 'since=1h' "${args.lokiUrl}/loki/api/v1/query_range" || true)`,
      `  traces=$(curl -fsS -G -H "X-Scope-OrgID: ${slug}" --data-urlencode "tags=service.name=$marker tenant_id=${slug}" "${args.tempoUrl}/api/search" || true)`,
      `  if echo "$logs" | grep -q "$marker" && echo "$traces" | grep -q '"traceID"'; then echo "this check's log and trace found for ${slug}"; exit 0; fi`,
      `  sleep 10`,
      `done`,
      `echo "this check's log or trace ($marker) not found for ${slug} after 300s" >&2; exit 1`,
    ].join("\n");
    new k8s.batch.v1.Job(`${name}-pipeline-check`, {
      // The provider waits a minute past the Job's own deadline, so the Job's failure and its reason are what is reported.
      metadata: { name: `observability-check-${configHash.slice(0, 10)}`, namespace, labels, annotations: { "pulumi.com/timeoutSeconds": "660" } },
      spec: {
        backoffLimit: 2,
        activeDeadlineSeconds: 600,
        template: {
          metadata: { labels: { ...labels, "app.kubernetes.io/name": "observability-check" } },
          spec: {
            restartPolicy: "Never",
            serviceAccountName: "tenant-workload",
            initContainers: [gen("traces"), gen("logs")],
            containers: [{
              name: "verify",
              image: args.images.curl,
              command: ["sh", "-c", verify],
              env: [podUid],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "50m", memory: "32Mi" } },
            }],
          },
        },
      },
    }, child({ dependsOn: [service, logCollection, lokiRetention, tempoRetention], deleteBeforeReplace: true }));

    // Resolved only after the pipeline check Job has found the trace and the log.
    const outputs = whenChildrenDone(this, { collectorEndpoint: endpoint });
    this.collectorEndpoint = outputs.collectorEndpoint;
    this.registerOutputs(outputs);
  }
}
