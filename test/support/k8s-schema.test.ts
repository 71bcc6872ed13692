import { describe, expect, it } from "vitest";
import {
  hasPublishedSchema,
  KubernetesSchemaError,
  knownKinds,
  parsePulumiKubernetesType,
  schemaProblems,
  validateKubernetesObject,
  validateRenderedResources,
  type RenderedResourceLike,
} from "./k8s-schema.ts";

const meta = { name: "tenant-thing", namespace: "matih-acme", labels: { "matih.ai/tenant-slug": "acme", "app.kubernetes.io/part-of": "matih" } };

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: meta,
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "api" } },
    template: {
      metadata: { labels: { app: "api" } },
      spec: {
        containers: [{
          name: "api",
          image: "matih.azurecr.io/ai-service:1.0.0",
          ports: [{ name: "http", containerPort: 8080 }],
          env: [{ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "tenant-database-credentials", key: "DATABASE_URL" } } }],
          resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } },
        }],
      },
    },
  },
};

const networkPolicy = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "allow-ingress-controller", namespace: "matih-acme" },
  spec: {
    podSelector: {},
    ingress: [{
      from: [{
        namespaceSelector: { matchLabels: { "matih.ai/tenant-slug": "acme" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } },
      }],
      ports: [{ port: 8080, protocol: "TCP" }],
    }],
  },
};

const certificate = {
  apiVersion: "cert-manager.io/v1",
  kind: "Certificate",
  metadata: { name: "acme-tls", namespace: "matih-acme" },
  spec: {
    secretName: "acme-tls-certificate",
    dnsNames: ["acme.matih.ai", "*.acme.matih.ai"],
    issuerRef: { name: "letsencrypt-prod-dns01", kind: "ClusterIssuer", group: "cert-manager.io" },
    privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
  },
};

const serviceMonitor = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "ServiceMonitor",
  metadata: { name: "api", namespace: "matih-acme" },
  spec: {
    selector: { matchLabels: { app: "api" } },
    namespaceSelector: { matchNames: ["matih-acme"] },
    endpoints: [{ port: "http", path: "/metrics", interval: "30s", relabelings: [{ sourceLabels: ["__meta_kubernetes_pod_name"], targetLabel: "pod" }] }],
  },
};

/** A copy of `obj` with `path` set to `value` (the path's parents must exist). */
function withField<T>(obj: T, path: (string | number)[], value: unknown): T {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let cur: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = value;
  return copy as T;
}

/** A copy of `obj` with the field at `path` renamed to `newName`. */
function renamed<T>(obj: T, path: (string | number)[], newName: string): T {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let cur: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  cur[newName] = cur[last];
  delete cur[last];
  return copy as T;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to throw");
}

// ---------------------------------------------------------------- core kinds

describe("validating built-in kinds", () => {
  it("a well-formed Deployment, NetworkPolicy and Namespace pass", () => {
    expect(() => validateKubernetesObject(deployment)).not.toThrow();
    expect(() => validateKubernetesObject(networkPolicy)).not.toThrow();
    expect(() => validateKubernetesObject({ apiVersion: "v1", kind: "Namespace", metadata: { name: "matih-acme", labels: { "matih.ai/tier": "professional" }, annotations: { "matih.ai/provisioned-at": "2026-02-12T10:00:00Z" } } })).not.toThrow();
  });

  it("the schemas the packages publish do not reject unknown fields by themselves, so this validator adds the check", () => {
    // The models' own validate() accepts a mistyped field: proves the extra check is needed.
    const bad = renamed(networkPolicy, ["spec", "podSelector"], "podSelectr");
    expect(schemaProblems(bad)).toEqual(['spec.podSelectr: unknown field "podSelectr" (not in the schema)']);
  });

  it("a mistyped field name in a NetworkPolicy spec fails, naming the kind, the object and the field", () => {
    const err = errorOf(() => validateKubernetesObject(renamed(networkPolicy, ["spec", "podSelector"], "podSelectr")));
    expect(err).toBeInstanceOf(KubernetesSchemaError);
    expect(err.message).toContain("NetworkPolicy");
    expect(err.message).toContain('"allow-ingress-controller"');
    expect(err.message).toContain("spec.podSelectr");
  });

  it("mistyped fields deep inside arrays and in metadata fail too", () => {
    const deep = renamed(networkPolicy, ["spec", "ingress", 0, "ports", 0, "protocol"], "protocl");
    expect(schemaProblems(deep)).toEqual(['spec.ingress[0].ports[0].protocl: unknown field "protocl" (not in the schema)']);
    const container = renamed(deployment, ["spec", "template", "spec", "containers", 0, "image"], "imgae");
    expect(schemaProblems(container).join("\n")).toContain("spec.template.spec.containers[0].imgae: unknown field");
    const metadata = renamed(deployment, ["metadata", "labels"], "label");
    expect(schemaProblems(metadata)).toEqual(['metadata.label: unknown field "label" (not in the schema)']);
  });

  it("an unknown top-level field fails", () => {
    expect(schemaProblems({ ...networkPolicy, specs: {} })).toEqual(['specs: unknown field "specs" (not in the schema)']);
  });

  it("a wrong type fails: replicas given as a string", () => {
    const err = errorOf(() => validateKubernetesObject(withField(deployment, ["spec", "replicas"], "2")));
    expect(err.message).toContain("Deployment");
    expect(err.message).toContain('"tenant-thing"');
    expect(err.message).toContain("spec.replicas: must be integer");
  });

  it("a wrong enum value and a missing required field fail", () => {
    expect(schemaProblems(withField(networkPolicy, ["spec", "policyTypes"], ["Ingres"])).join("\n")).toMatch(/spec\.policyTypes\[0\]: must be equal to one of the allowed values \["Egress","Ingress"\]/);
    const noSelector = structuredClone(deployment) as { spec: Partial<typeof deployment.spec> };
    delete noSelector.spec.selector;
    expect(schemaProblems(noSelector as typeof deployment)).toEqual(["spec: must have required property selector"]);
  });

  it("maps accept any key: labels, annotations, ConfigMap data and resource quantities", () => {
    expect(schemaProblems({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", annotations: { "any.thing/x": "y" } }, data: { "whatever-key.yaml": "a: 1" } })).toEqual([]);
    expect(schemaProblems({ apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "q" }, spec: { hard: { "requests.cpu": "8", "limits.memory": "32Gi", pods: "50" } } })).toEqual([]);
  });

  it("map values still have their type checked", () => {
    expect(schemaProblems(withField(deployment, ["metadata", "labels"], { tier: 3 }))).toEqual(["metadata.labels.tier: must be string"]);
  });

  it("free-form fields (JSON in a CRD schema) accept anything inside", () => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        names: { plural: "widgets", kind: "Widget" },
        scope: "Namespaced",
        versions: [{
          name: "v1", served: true, storage: true,
          schema: { openAPIV3Schema: { type: "object", description: "a widget", "x-kubernetes-preserve-unknown-fields": true, default: { any: { nested: ["thing"] } } } },
        }],
      },
    };
    expect(schemaProblems(crd)).toEqual([]);
    expect(schemaProblems(renamed(crd, ["spec", "versions", 0, "schema", "openAPIV3Schema", "type"], "typ")).join("\n")).toContain('unknown field "typ"');
  });

  it("fields named description, which the packages' schemas lost, are accepted", () => {
    expect(schemaProblems({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "tenant" }, value: 1000, description: "tenant workloads" })).toEqual([]);
  });

  it("the object passed in is not modified", () => {
    const obj = withField(deployment, ["spec", "replicas"], "2");
    const before = JSON.stringify(obj);
    expect(() => validateKubernetesObject(obj)).toThrow();
    expect(JSON.stringify(obj)).toBe(before);
  });
});

// ---------------------------------------------------------------- Secrets

describe("Secrets with redacted values", () => {
  const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "tenant-database-credentials", namespace: "matih-acme" }, type: "Opaque" };

  it("stringData values replaced by [secret] validate", () => {
    expect(() => validateKubernetesObject({ ...secret, stringData: { POSTGRES_PASSWORD: "[secret]", POSTGRES_HOST: "pg.example" } })).not.toThrow();
  });

  it("a whole stringData or data map replaced by [secret] validates, as the Pulumi SDK marks both secret", () => {
    expect(() => validateKubernetesObject({ ...secret, stringData: "[secret]" })).not.toThrow();
    expect(() => validateKubernetesObject({ ...secret, data: "[secret]" })).not.toThrow();
  });

  it("data values replaced by [secret] validate, while other non-base64 data still fails", () => {
    expect(() => validateKubernetesObject({ ...secret, data: { POSTGRES_PASSWORD: "[secret]", POSTGRES_PORT: "NTQzMg==" } })).not.toThrow();
    expect(schemaProblems({ ...secret, data: { POSTGRES_PORT: "5432 not base64!" } })).toEqual(['data.POSTGRES_PORT: must match format "byte"']);
  });

  it("a stringData that is neither a map nor [secret] fails", () => {
    expect(schemaProblems({ ...secret, stringData: "password" })).toEqual(["stringData: must be object"]);
  });
});

// ---------------------------------------------------------------- CRDs

describe("validating cert-manager and prometheus-operator kinds", () => {
  it("a well-formed Certificate and ServiceMonitor pass", () => {
    expect(schemaProblems(certificate)).toEqual([]);
    expect(schemaProblems(serviceMonitor)).toEqual([]);
  });

  it("a mistyped field in a Certificate fails", () => {
    const err = errorOf(() => validateKubernetesObject(renamed(certificate, ["spec", "dnsNames"], "dnsName")));
    expect(err.message).toContain('Certificate "acme-tls"');
    expect(err.message).toContain('spec.dnsName: unknown field "dnsName"');
  });

  it("a wrong type in a Certificate fails: dnsNames as a string", () => {
    expect(schemaProblems(withField(certificate, ["spec", "dnsNames"], "acme.matih.ai"))).toEqual(["spec.dnsNames: must be array"]);
  });

  it("a mistyped field inside a ServiceMonitor endpoint fails", () => {
    expect(schemaProblems(renamed(serviceMonitor, ["spec", "endpoints", 0, "interval"], "intervl"))).toEqual(['spec.endpoints[0].intervl: unknown field "intervl" (not in the schema)']);
  });

  it("Prometheus, PrometheusRule, PodMonitor, AlertmanagerConfig and ScrapeConfig objects validate", () => {
    const ns = "matih-acme";
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1", kind: "Prometheus", metadata: { name: "tenant", namespace: ns },
      spec: { replicas: 1, retention: "15d", serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } }, resources: { requests: { memory: "400Mi" } } },
    })).toEqual([]);
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name: "tenant-alerts", namespace: ns },
      spec: { groups: [{ name: "tenant", rules: [{ alert: "HighCPU", expr: "rate(container_cpu_usage_seconds_total[5m]) > 0.8", for: "5m", labels: { severity: "warning" }, annotations: { summary: "High CPU" } }] }] },
    })).toEqual([]);
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1", kind: "PodMonitor", metadata: { name: "pods", namespace: ns },
      spec: { selector: { matchLabels: { app: "api" } }, podMetricsEndpoints: [{ port: "http", interval: "30s" }] },
    })).toEqual([]);
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1alpha1", kind: "AlertmanagerConfig", metadata: { name: "notify", namespace: ns },
      spec: { route: { receiver: "mail", groupBy: ["alertname"] }, receivers: [{ name: "mail", emailConfigs: [{ to: "admin@acme.example" }] }] },
    })).toEqual([]);
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1alpha1", kind: "ScrapeConfig", metadata: { name: "static", namespace: ns },
      spec: { staticConfigs: [{ targets: ["api.matih-acme.svc:8080"] }] },
    })).toEqual([]);
  });

  it("a mistyped field in a PrometheusRule rule and a wrong type in a Prometheus fail", () => {
    expect(schemaProblems({
      apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name: "r" },
      spec: { groups: [{ name: "g", rules: [{ alert: "A", exp: "up == 0" }] }] },
    })).toContain('spec.groups[0].rules[0].exp: unknown field "exp" (not in the schema)');
    expect(schemaProblems({ apiVersion: "monitoring.coreos.com/v1", kind: "Prometheus", metadata: { name: "p" }, spec: { replicas: "1" } })).toEqual(["spec.replicas: must be integer"]);
  });
});

// ---------------------------------------------------------------- lookup

describe("finding the schema", () => {
  it("an unknown apiVersion/kind throws instead of passing silently", () => {
    const err = errorOf(() => validateKubernetesObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }));
    expect(err).toBeInstanceOf(KubernetesSchemaError);
    expect(err.message).toMatch(/^no published schema known for apiVersion "example.com\/v1", kind "Widget"/);
  });

  it("a known kind under the wrong apiVersion throws", () => {
    expect(() => validateKubernetesObject({ ...networkPolicy, apiVersion: "networking.k8s.io/v1beta1" })).toThrow(/no published schema known/);
    expect(() => validateKubernetesObject({ ...certificate, apiVersion: "cert-manager.io/v2" })).toThrow(/no published schema known/);
  });

  it("a sub-structure of a package is not taken for a kind", () => {
    expect(() => validateKubernetesObject({ apiVersion: "v1", kind: "Container", name: "c" })).toThrow(/no published schema known/);
  });

  it("an object without apiVersion or kind throws", () => {
    expect(() => validateKubernetesObject({ kind: "Namespace", metadata: { name: "x" } })).toThrow(/apiVersion and kind must be strings/);
  });

  it("kinds from all three packages are known, including Lists", () => {
    for (const [apiVersion, kind] of [
      ["v1", "Secret"], ["batch/v1", "Job"], ["rbac.authorization.k8s.io/v1", "Role"], ["policy/v1", "PodDisruptionBudget"],
      ["cert-manager.io/v1", "ClusterIssuer"], ["monitoring.coreos.com/v1", "PrometheusRule"], ["monitoring.coreos.com/v1beta1", "AlertmanagerConfig"],
    ] as const) {
      expect(hasPublishedSchema(apiVersion, kind), `${apiVersion} ${kind}`).toBe(true);
    }
    expect(knownKinds()).toContain("v1 ConfigMapList");
    expect(hasPublishedSchema("v1", "Container")).toBe(false);
  });
});

// ---------------------------------------------------------------- rendered

describe("Pulumi type tokens", () => {
  it("core-group tokens map to apiVersion v1, others to group/version", () => {
    expect(parsePulumiKubernetesType("kubernetes:core/v1:Secret")).toEqual({ apiVersion: "v1", kind: "Secret" });
    expect(parsePulumiKubernetesType("kubernetes:rbac.authorization.k8s.io/v1:Role")).toEqual({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role" });
    expect(parsePulumiKubernetesType("kubernetes:cert-manager.io/v1:Certificate")).toEqual({ apiVersion: "cert-manager.io/v1", kind: "Certificate" });
    expect(parsePulumiKubernetesType("kubernetes:apiextensions.k8s.io:CustomResource")).toBeNull();
    expect(parsePulumiKubernetesType("pulumi:providers:kubernetes")).toBeNull();
  });
});

describe("validating rendered resources", () => {
  const k8s = (type: string, inputs: Record<string, unknown>, name = "r"): RenderedResourceLike => ({ type, name, inputs, custom: true, read: false });
  const goodSet: RenderedResourceLike[] = [
    { type: "pulumi:providers:kubernetes", name: "kubernetes", inputs: { enableServerSideApply: "true" }, custom: true },
    { type: "matih:namespace:TenantNamespace", name: "ns", inputs: {}, custom: false },
    k8s("kubernetes:core/v1:Namespace", { apiVersion: "v1", kind: "Namespace", metadata: { name: "matih-acme" } }),
    k8s("kubernetes:core/v1:Secret", { apiVersion: "v1", kind: "Secret", metadata: { name: "creds", namespace: "matih-acme" }, stringData: "[secret]" }),
    k8s("kubernetes:apps/v1:Deployment", deployment),
    k8s("kubernetes:networking.k8s.io/v1:NetworkPolicy", networkPolicy),
    k8s("kubernetes:networking.k8s.io/v1:NetworkPolicy", { ...networkPolicy, metadata: { name: "second", namespace: "matih-acme" } }),
    k8s("kubernetes:cert-manager.io/v1:Certificate", certificate),
    k8s("kubernetes:apiextensions.k8s.io:CustomResource", serviceMonitor),
    k8s("kubernetes:helm.sh/v3:Release", { chart: "ingress-nginx", values: { controller: { replicaCount: 2 } } }),
    { type: "kubernetes:helm.sh/v4:Chart", name: "chart", inputs: { chart: "x" }, custom: false },
    k8s("kubernetes:core/v1:ConfigMapPatch", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "coredns", namespace: "kube-system" }, data: { extra: "x" } }),
  ];

  it("validates every Kubernetes object and returns the distinct kinds checked", () => {
    expect(validateRenderedResources(goodSet)).toEqual(["Namespace", "Secret", "Deployment", "NetworkPolicy", "Certificate", "ServiceMonitor", "ConfigMap"]);
  });

  it("skips providers, components and Helm releases, whose inputs are not Kubernetes objects", () => {
    expect(validateRenderedResources([
      { type: "pulumi:providers:kubernetes", name: "k", inputs: { kubeconfig: "[secret]" } },
      k8s("kubernetes:helm.sh/v3:Release", { chart: "x", values: { notAKubernetesField: true } }),
      { type: "kubernetes:yaml/v2:ConfigGroup", name: "g", inputs: {}, custom: false },
    ])).toEqual([]);
  });

  it("fails on a mistyped field in a rendered object, naming the resource", () => {
    const bad = k8s("kubernetes:networking.k8s.io/v1:NetworkPolicy", renamed(networkPolicy, ["spec", "podSelector"], "podSelectr"), "tenant-netpol");
    const err = errorOf(() => validateRenderedResources([...goodSet, bad]));
    expect(err.message).toContain("1 rendered resource(s) fail");
    expect(err.message).toContain('kubernetes:networking.k8s.io/v1:NetworkPolicy "tenant-netpol"');
    expect(err.message).toContain("spec.podSelectr");
  });

  it("reports every failing resource at once", () => {
    const err = errorOf(() => validateRenderedResources([
      k8s("kubernetes:apps/v1:Deployment", withField(deployment, ["spec", "replicas"], "2"), "dep"),
      k8s("kubernetes:cert-manager.io/v1:Certificate", withField(certificate, ["spec", "dnsNames"], "x"), "cert"),
    ]));
    expect(err.message).toContain("2 rendered resource(s) fail");
    expect(err.message).toContain("spec.replicas: must be integer");
    expect(err.message).toContain("spec.dnsNames: must be array");
  });

  it("a CustomResource token is validated by its inputs' apiVersion and kind, and unknown CRDs fail", () => {
    expect(() => validateRenderedResources([k8s("kubernetes:apiextensions.k8s.io:CustomResource", renamed(serviceMonitor, ["spec", "endpoints"], "endpoint"))])).toThrow(/spec.endpoint: unknown field/);
    expect(() => validateRenderedResources([k8s("kubernetes:external-secrets.io/v1:ExternalSecret", { apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "x" } })])).toThrow(/no published schema known/);
  });

  it("inputs that disagree with the type token fail", () => {
    expect(() => validateRenderedResources([k8s("kubernetes:core/v1:Secret", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } })])).toThrow(/type token says "v1", "Secret"/);
  });

  it("patches are checked leniently: a partial patch passes, one that does not name its target fails", () => {
    // A Deployment patch without selector/template would fail the full schema.
    expect(validateRenderedResources([k8s("kubernetes:apps/v1:DeploymentPatch", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "coredns", namespace: "kube-system" }, spec: { replicas: 3 } })])).toEqual(["Deployment"]);
    expect(() => validateRenderedResources([k8s("kubernetes:core/v1:ConfigMapPatch", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } })])).toThrow(/missing metadata.namespace/);
    expect(() => validateRenderedResources([k8s("kubernetes:core/v1:ConfigMapPatch", { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "n" } })])).toThrow(/missing metadata.name/);
    expect(validateRenderedResources([k8s("kubernetes:core/v1:NamespacePatch", { apiVersion: "v1", kind: "Namespace", metadata: { name: "matih-acme", labels: { a: "b" } } })])).toEqual(["Namespace"]);
  });

  it("a token that names no Kubernetes object fails rather than being skipped", () => {
    expect(() => validateRenderedResources([k8s("kubernetes:index:Something", {})])).toThrow(/no schema known/);
  });
});
