/**
 * The service's own Helm chart (deploy/helm/matih-provisioning), rendered by
 * Helm's Go library (helm-java, as test/support/helm.ts does for the public
 * charts) with its default values and with values-production.yaml. Every
 * object is checked against its published Kubernetes schema, unknown fields
 * included, and the properties a platform team relies on are asserted: the
 * replicas survive a drain, the pods run as non-root on a read-only root
 * file system, Kubernetes waits longer than the service drains, and no secret
 * reaches the ConfigMap. values.schema.json and the chart's own checks refuse
 * bad values before anything reaches a cluster.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CHART, drainSeconds, PRODUCTION_VALUES } from "./chart.ts";
import { helmTemplate, type ManifestObject, type RenderedRelease } from "../support/helm.ts";
import { hasPublishedSchema, schemaProblems } from "../support/k8s-schema.ts";

/** Every environment variable of server/config.ts and automation/core/config.ts that holds a secret. */
const SECRET_VARIABLES = [
  "DATABASE_URL", "MATIH_MIGRATION_DATABASE_URL", "MATIH_TENANT_DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_ADMIN_TOKENS", "MATIH_READ_TOKENS",
  "PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "ARM_CLIENT_SECRET", "MATIH_PG_ADMIN_PASSWORD", "KAFKA_SASL_PASSWORD",
  "SMTP_URL", "SMTP_PASSWORD", "MATIH_BACKUP_AZURE_SAS_TOKEN", "AZURE_STORAGE_KEY",
];

/** A rendered object; ConfigMaps' `data` is a string map. */
type Rendered = ManifestObject & { data: Record<string, string> };

function one(objects: readonly ManifestObject[], kind: string, name?: string): Rendered {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as Rendered;
}

/**
 * SecretProviderClass (secrets-store.csi.x-k8s.io/v1) has no published model
 * in the packages test/support/k8s-schema.ts uses: the fields of its CRD
 * (v1.4 of the Secrets Store CSI driver) are checked here by hand.
 */
function secretProviderClassProblems(o: ManifestObject): string[] {
  const problems: string[] = [];
  const spec = o.spec ?? {};
  const allowed = new Set(["provider", "parameters", "secretObjects"]);
  for (const key of Object.keys(spec)) if (!allowed.has(key)) problems.push(`spec.${key}: unknown field`);
  if (typeof spec.provider !== "string") problems.push("spec.provider: must be a string");
  for (const [k, v] of Object.entries(spec.parameters ?? {})) if (typeof v !== "string") problems.push(`spec.parameters.${k}: must be a string`);
  for (const [i, so] of ((spec.secretObjects ?? []) as any[]).entries()) {
    if (typeof so.secretName !== "string" || typeof so.type !== "string") problems.push(`spec.secretObjects[${i}]: secretName and type are strings`);
    for (const d of so.data ?? []) if (typeof d.objectName !== "string" || typeof d.key !== "string") problems.push(`spec.secretObjects[${i}].data: objectName and key are strings`);
  }
  // Each object the driver mounts must be one it syncs, or the env variable would never appear.
  const mounted = [...String(spec.parameters?.objects ?? "").matchAll(/objectName: (\S+)/g)].map((m) => m[1]);
  const synced = ((spec.secretObjects ?? []) as any[]).flatMap((s) => (s.data ?? []).map((d: any) => d.objectName));
  if (JSON.stringify(mounted.sort()) !== JSON.stringify(synced.sort())) problems.push(`mounted objects ${mounted} differ from synced ${synced}`);
  return problems;
}

function allProblems(objects: readonly ManifestObject[]): string[] {
  return objects.flatMap((o) => {
    const where = `${o.kind} ${o.metadata.name}`;
    if (o.kind === "SecretProviderClass") return secretProviderClassProblems(o).map((p) => `${where}: ${p}`);
    if (!hasPublishedSchema(o.apiVersion, o.kind)) return [`${where}: no published schema`];
    return schemaProblems(o as any).map((p) => `${where}: ${p}`);
  });
}

async function renderError(values: Record<string, unknown>): Promise<string> {
  try {
    await helmTemplate(CHART, [{ release: "bad", namespace: "matih-system", values }]);
  } catch (error) {
    return String(error);
  }
  return "rendered without an error";
}

let byDefault: RenderedRelease;
let production: RenderedRelease;

beforeAll(async () => {
  const rendered = await helmTemplate(CHART, [
    { release: "matih", namespace: "matih-system", values: {} },
    { release: "matih", namespace: "matih-system", values: PRODUCTION_VALUES },
  ]);
  byDefault = rendered[0]!;
  production = rendered[1]!;
});

describe("the chart with its default values", () => {
  it("renders the service's objects, each valid against its Kubernetes schema", () => {
    expect(byDefault.objects.map((o) => o.kind).sort()).toEqual(["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    expect(allProblems(byDefault.objects)).toEqual([]);
  });

  it("runs two replicas, kept at one through a drain, spread by soft anti-affinity", () => {
    const deployment = one(byDefault.objects, "Deployment");
    expect(deployment.spec.replicas).toBe(2);
    expect(one(byDefault.objects, "PodDisruptionBudget").spec.minAvailable).toBe(1);
    const anti = deployment.spec.template.spec.affinity.podAntiAffinity;
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });
});

describe.each([["default", () => byDefault], ["production", () => production]])("the chart with %s values", (_name, release) => {
  const pod = () => one(release().objects, "Deployment").spec.template.spec;
  const container = () => pod().containers[0];

  it("probes /healthz for liveness and start-up and /readyz for readiness, on the API port", () => {
    expect(container().livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container().startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container().readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    const config = one(release().objects, "ConfigMap", "matih-matih-provisioning");
    expect(container().ports).toEqual([{ name: "http", containerPort: Number(config.data.PORT), protocol: "TCP" }]);
    // The service listens on 127.0.0.1 unless told otherwise: a probe from the kubelet would never reach it.
    expect(config.data.HOST).toBe("0.0.0.0");
  });

  it("runs as non-root on a read-only root file system, writing only to its data and tmp volumes", () => {
    expect(pod().securityContext.runAsNonRoot).toBe(true);
    expect(pod().securityContext.runAsUser).toBeGreaterThan(0);
    expect(container().securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    const config = one(release().objects, "ConfigMap", "matih-matih-provisioning");
    const mounts = container().volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const writable = mounts.filter((m) => !m.readOnly);
    expect(writable.map((m) => m.mountPath).sort()).toEqual([config.data.MATIH_DATA_DIR, "/tmp"].sort());
    for (const m of writable) expect(pod().volumes.find((v: any) => v.name === m.name).emptyDir, m.name).toBeDefined();
  });

  it("gives Kubernetes' grace period more than the service's drain plus the preStop sleep", () => {
    const sleep = container().lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pod().terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds() + sleep);
  });

  it("grants the pod no Kubernetes API access: no token mounted, no Role or binding", () => {
    expect(pod().automountServiceAccountToken).toBe(false);
    expect(one(release().objects, "ServiceAccount").automountServiceAccountToken).toBe(false);
    expect(release().objects.filter((o) => /Role/.test(o.kind))).toEqual([]);
  });

  it("keeps every secret out of the ConfigMaps", () => {
    const configMaps = release().objects.filter((o) => o.kind === "ConfigMap");
    for (const cm of configMaps) {
      for (const name of SECRET_VARIABLES) expect(Object.keys(cm.data as object), `${cm.metadata.name} holds ${name}`).not.toContain(name);
      // A credential inside a value (a URL with a password, a bearer token) would show as user:password@ or a long random string.
      for (const [key, value] of Object.entries(cm.data as Record<string, string>)) {
        expect(value, key).not.toMatch(/:\/\/[^/\s:@]+:[^@\s]+@/);
      }
    }
  });
});

describe("the chart with production values", () => {
  it("renders every object valid against its schema, the Key Vault class and the ServiceMonitor included", () => {
    expect(production.objects.map((o) => o.kind).sort()).toEqual([
      "ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "SecretProviderClass", "Service", "ServiceAccount", "ServiceMonitor",
    ]);
    expect(allProblems(production.objects)).toEqual([]);
  });

  it("runs at least two replicas on different nodes, and a drain leaves at least two running", () => {
    const deployment = one(production.objects, "Deployment");
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const pdb = one(production.objects, "PodDisruptionBudget");
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(2);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const [term] = deployment.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(term.topologyKey).toBe("kubernetes.io/hostname");
    expect(term.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });

  it("reads every secret from Key Vault through the CSI driver, and the target cluster's kubeconfig from a Secret", () => {
    const deployment = one(production.objects, "Deployment");
    const spc = one(production.objects, "SecretProviderClass");
    const synced = spc.spec.secretObjects[0];
    const container = deployment.spec.template.spec.containers[0];
    expect(container.envFrom).toContainEqual({ secretRef: { name: synced.secretName } });
    expect(synced.data.map((d: any) => d.key)).toEqual(expect.arrayContaining(["DATABASE_URL", "MATIH_ADMIN_TOKENS", "ARM_CLIENT_SECRET"]));
    const kv = deployment.spec.template.spec.volumes.find((v: any) => v.csi);
    expect(kv.csi).toMatchObject({ driver: "secrets-store.csi.k8s.io", volumeAttributes: { secretProviderClass: spc.metadata.name } });
    const kube = deployment.spec.template.spec.volumes.find((v: any) => v.name === "kubeconfig");
    expect(kube.secret.secretName).toBe(PRODUCTION_VALUES.secrets.kubeconfig.secretName);
    const mount = container.volumeMounts.find((m: any) => m.name === "kubeconfig");
    // The platform settings name the kubeconfig by the path the chart mounts it at.
    expect(`${mount.mountPath}/${kube.secret.items[0].path}`).toBe(PRODUCTION_VALUES.platformSettings.kubernetes.kubeconfig);
    const settings = one(production.objects, "ConfigMap", "matih-matih-provisioning-settings");
    expect(JSON.parse(settings.data["platform-settings.json"]!)).toEqual(PRODUCTION_VALUES.platformSettings);
  });

  it("scrapes /metrics with a read token from a Secret", () => {
    const monitor = one(production.objects, "ServiceMonitor");
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: "http", path: "/metrics", authorization: { type: "Bearer", credentials: PRODUCTION_VALUES.serviceMonitor.bearerTokenSecret } });
  });

  it("lets in only the control plane's and monitoring's namespaces, on the API port", () => {
    const policy = one(production.objects, "NetworkPolicy");
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: "http", protocol: "TCP" }], from: PRODUCTION_VALUES.networkPolicy.ingressFrom }]);
    expect(policy.spec.egress[0].ports).toContainEqual({ port: 53, protocol: "UDP" });
    expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
  });
});

describe("values the chart refuses", () => {
  it("refuses replicaCount: \"two\" by values.schema.json", async () => {
    const error = await renderError({ replicaCount: "two" });
    expect(error).toMatch(/values don't meet the specifications of the schema/);
    expect(error).toMatch(/replicaCount/);
  });

  it("refuses an unknown key, so a misspelt setting does not silently keep its default", async () => {
    expect(await renderError({ replicas: 3 })).toMatch(/replicas/);
  });

  it("refuses a grace period the drain does not fit in", async () => {
    expect(await renderError({ terminationGracePeriodSeconds: 48, preStopSleepSeconds: 5 })).toMatch(/must be above the service's 45 s drain/);
    expect(await renderError({ terminationGracePeriodSeconds: 30 })).toMatch(/terminationGracePeriodSeconds/);
  });

  it("refuses a secret in config, the ConfigMap's source", async () => {
    expect(await renderError({ config: { DATABASE_URL: "postgresql://svc:hunter2@db/matih" } })).toMatch(/config.DATABASE_URL looks like a secret/);
    expect(await renderError({ config: { KAFKA_SASL_PASSWORD: "x" } })).toMatch(/looks like a secret/);
  });

  it("refuses a writable root file system and root", async () => {
    expect(await renderError({ securityContext: { readOnlyRootFilesystem: false } })).toMatch(/readOnlyRootFilesystem/);
    expect(await renderError({ podSecurityContext: { runAsNonRoot: false } })).toMatch(/runAsNonRoot/);
  });
});
