import * as pulumi from "@pulumi/pulumi";
import { parser } from "@prometheus-io/lezer-promql";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { DEFAULT_PLATFORM_SETTINGS } from "../../model/settings.ts";
import { TIER_PROFILES, TIERS, type Tier } from "../../model/tiers.ts";
import { metadataOf, render, type Rendered } from "../support/fixtures.ts";
import { validateKubernetesObject, type KubernetesObject } from "../support/k8s-schema.ts";
import { redactWireValue, type RenderedResource } from "../../stacks/mock-render.ts";

// ---------------------------------------------------------------- PromQL

interface Matcher { name: string; op: string; value: string }
interface Selector { metric: string | null; matchers: Matcher[] }
interface PromQl {
  /** Text of every error node; empty when the expression is valid PromQL. */
  errors: string[];
  /** Every instant-vector selector, with its label matchers. */
  selectors: Selector[];
  /** Range of every range-vector selector, e.g. "5m". */
  ranges: string[];
  /** Names of the functions called. */
  functions: string[];
  /** For a top-level `expr > number`: the comparison and the number. */
  comparison: { op: string; threshold: number } | null;
}

/** Parses PromQL with the Prometheus project's lezer grammar. */
function promql(expr: string): PromQl {
  const tree = parser.parse(expr);
  const out: PromQl = { errors: [], selectors: [], ranges: [], functions: [], comparison: null };
  const text = (n: { from: number; to: number }) => expr.slice(n.from, n.to);
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) out.errors.push(`${ref.from}: ${JSON.stringify(text(ref))}`);
      const node = ref.node;
      if (ref.name === "VectorSelector") {
        const id = node.getChild("Identifier");
        const matchers: Matcher[] = [];
        for (const m of node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []) {
          const name = m.getChild("LabelName");
          const op = m.getChild("MatchOp");
          const value = m.getChild("StringLiteral");
          if (name && op && value) matchers.push({ name: text(name), op: text(op), value: JSON.parse(text(value)) as string });
        }
        out.selectors.push({ metric: id ? text(id) : null, matchers });
      }
      if (ref.name === "MatrixSelector") {
        const range = node.getChild("DurationExpr") ?? node.getChild("NumberDurationLiteralInDurationContext");
        if (range) out.ranges.push(text(range));
      }
      if (ref.name === "FunctionIdentifier") out.functions.push(text(ref));
    },
  });
  const top = tree.topNode.firstChild;
  if (top?.name === "BinaryExpr") {
    const last = top.lastChild;
    const ops = ["Gtr", "Gte", "Lss", "Lte", "EqlSingle", "Neq"];
    let op: string | null = null;
    for (let c = top.firstChild; c; c = c.nextSibling) if (ops.includes(c.name)) op = text(c);
    if (op && last?.name === "NumberDurationLiteral") out.comparison = { op, threshold: Number(text(last)) };
  }
  return out;
}

/** Every selector of `expr` is confined to namespace="matih-acme". */
function expectScopedToTenant(expr: string): void {
  const q = promql(expr);
  expect(q.errors, `not valid PromQL: ${expr}`).toEqual([]);
  expect(q.selectors.length, expr).toBeGreaterThan(0);
  for (const s of q.selectors) {
    expect(s.matchers, `${s.metric} in ${expr}`).toContainEqual({ name: "namespace", op: "=", value: "matih-acme" });
  }
}

describe("the PromQL check itself", () => {
  it("finds an error node in invalid PromQL and none in valid PromQL", () => {
    expect(promql('sum(rate(x{namespace="a"}[5m]) > ').errors).not.toEqual([]);
    expect(promql('rate(x{namespace="a"[5m])').errors).not.toEqual([]);
    expect(promql('sum(rate(x{namespace="a"}[5m])) > 3').errors).toEqual([]);
  });

  it("extracts selectors, ranges and the top-level comparison", () => {
    const q = promql('sum by (pod) (increase(x{namespace="a", c!=""}[15m])) / sum(y{namespace="b"}) > 0.5');
    expect(q.selectors).toEqual([
      { metric: "x", matchers: [{ name: "namespace", op: "=", value: "a" }, { name: "c", op: "!=", value: "" }] },
      { metric: "y", matchers: [{ name: "namespace", op: "=", value: "b" }] },
    ]);
    expect(q.ranges).toEqual(["15m"]);
    expect(q.functions).toEqual(["increase"]);
    expect(q.comparison).toEqual({ op: ">", threshold: 0.5 });
    expect(() => expectScopedToTenant('x{namespace="matih-acme"} + y')).toThrow();
  });
});

// ---------------------------------------------------------------- fixtures

/** The seed's "Default Alert Rules" table, as this program names and measures them. */
const SEED_ALERTS = [
  { seed: "High CPU", condition: "Pod CPU > 80% for 5 min", alert: "TenantHighCpu", threshold: 0.8, ranges: ["5m"], for: "5m", severity: "warning", metric: "container_cpu_usage_seconds_total", fn: "rate" },
  { seed: "High Memory", condition: "Pod memory > 85% for 5 min", alert: "TenantHighMemory", threshold: 0.85, ranges: [], for: "5m", severity: "warning", metric: "container_memory_working_set_bytes", fn: null },
  { seed: "Pod Restart", condition: "Container restart count > 3 in 15 min", alert: "TenantPodRestarts", threshold: 3, ranges: ["15m"], for: undefined, severity: "critical", metric: "kube_pod_container_status_restarts_total", fn: "increase" },
  { seed: "Error Rate", condition: "HTTP 5xx rate > 5% for 5 min", alert: "TenantHighErrorRate", threshold: 0.05, ranges: ["5m", "5m"], for: "5m", severity: "critical", metric: "http_requests_total", fn: "rate" },
  { seed: "Latency", condition: "P95 latency > 2s for 5 min", alert: "TenantHighLatency", threshold: 2, ranges: ["5m"], for: "5m", severity: "warning", metric: "http_request_duration_seconds_bucket", fn: "histogram_quantile" },
  { seed: "Disk Usage", condition: "PVC usage > 85%", alert: "TenantDiskUsage", threshold: 0.85, ranges: [], for: undefined, severity: "warning", metric: "kubelet_volume_stats_used_bytes", fn: null },
] as const;

interface Rule { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }
interface Receiver { name: string; emailConfigs?: { to: string; from: string; smarthost: string }[]; slackConfigs?: { apiURL: { name: string; key: string }; channel: string }[] }
interface Route { receiver: string; matchers?: { name: string; value: string; matchType: string }[]; continue?: boolean }
interface AlertmanagerConfigSpec { route: Route & { routes: Route[] }; receivers: Receiver[] }

const SLACK_SETTINGS = { alerts: { slackWebhookSecret: { namespace: "matih-control-plane", name: "alert-webhooks", key: "slack" } } };

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier): Promise<Rendered> => {
  if (!renders.has(tier)) renders.set(tier, render(tier, { lastPhase: 9 }));
  return renders.get(tier)!;
};
const rulesOf = (r: Rendered): Rule[] => {
  const spec = r.k8s("PrometheusRule", "tenant-default-alerts").inputs.spec as { groups: { rules: Rule[] }[] };
  return spec.groups.flatMap((g) => g.rules);
};
/**
 * The receivers Alertmanager notifies for an alert with these labels: the
 * first matching child route, and the ones after it while each matching one
 * says `continue`; the route's own receiver only when no child matches.
 */
function receiversFor(route: Route & { routes?: Route[] }, labels: Record<string, string>): string[] {
  const out: string[] = [];
  for (const child of route.routes ?? []) {
    if (!(child.matchers ?? []).every((m) => m.matchType === "=" ? labels[m.name] === m.value : labels[m.name] !== m.value)) continue;
    out.push(...receiversFor(child as Route & { routes?: Route[] }, labels));
    if (!child.continue) return out;
  }
  return out.length > 0 ? out : [route.receiver];
}
const receiversOf = (spec: AlertmanagerConfigSpec, labels: Record<string, string>) => receiversFor(spec.route, labels);
const alertmanagerConfig = (r: Rendered) => r.k8s("AlertmanagerConfig", "tenant-alert-routes").inputs.spec as AlertmanagerConfigSpec;
const phase9 = (r: Rendered): RenderedResource[] => r.resources.filter((x) => x.custom && x.phase?.number === 9);

// ---------------------------------------------------------------- phase 9

describe.each(TIERS)("phase 9 DEPLOY_MONITORING, %s tier", (tier) => {
  it("installs exactly the six default alert rules of the seed", async () => {
    const rules = rulesOf(await rendered(tier));
    expect(rules.map((x) => x.alert)).toEqual(SEED_ALERTS.map((a) => a.alert));
  });

  it.each(SEED_ALERTS)("raises $alert ($seed) as $severity when $condition", async (seed) => {
    const rule = rulesOf(await rendered(tier)).find((x) => x.alert === seed.alert)!;
    expect(rule).toBeDefined();
    const q = promql(rule.expr);
    expect(q.errors, rule.expr).toEqual([]);
    expect(q.comparison).toEqual({ op: ">", threshold: seed.threshold });
    expect(q.ranges).toEqual(seed.ranges);
    expect(rule.for).toBe(seed.for);
    expect(rule.labels.severity).toBe(seed.severity);
    expect(rule.annotations.summary).toContain(seed.condition);
    expect(q.selectors.map((s) => s.metric)).toContain(seed.metric);
    if (seed.fn) expect(q.functions).toContain(seed.fn);
  });

  it("measures the error rate on 5xx responses and the latency at the 95th percentile", async () => {
    const rules = rulesOf(await rendered(tier));
    const errors = promql(rules.find((x) => x.alert === "TenantHighErrorRate")!.expr);
    expect(errors.selectors.flatMap((s) => s.matchers)).toContainEqual({ name: "status", op: "=~", value: "5.." });
    expect(rules.find((x) => x.alert === "TenantHighLatency")!.expr).toMatch(/^histogram_quantile\(0\.95,/);
  });

  it("scopes every selector of every rule to namespace=\"matih-acme\"", async () => {
    for (const rule of rulesOf(await rendered(tier))) expectScopedToTenant(rule.expr);
  });

  it("lets the tenant Prometheus load the rules, the ServiceMonitor and the federation", async () => {
    const r = await rendered(tier);
    const spec = r.k8s("Prometheus", "tenant").inputs.spec as Record<string, { matchLabels: Record<string, string> }>;
    const labelsOf = (kind: string, name: string) => metadataOf(r.k8s(kind, name)).labels ?? {};
    expect(labelsOf("PrometheusRule", "tenant-default-alerts")).toMatchObject(spec.ruleSelector!.matchLabels);
    expect(labelsOf("ServiceMonitor", "tenant-services")).toMatchObject(spec.serviceMonitorSelector!.matchLabels);
    expect(labelsOf("ScrapeConfig", "platform-federation")).toMatchObject(spec.scrapeConfigSelector!.matchLabels);
    expect(spec.ruleSelector!.matchLabels).toEqual({ "matih.ai/tenant-slug": "acme" });
  });

  it("discovers only the tenant namespace through every namespace selector of the Prometheus", async () => {
    const r = await rendered(tier);
    const prometheus = r.k8s("Prometheus", "tenant");
    expect(metadataOf(prometheus).namespace).toBe("matih-acme");
    const spec = prometheus.inputs.spec as Record<string, unknown>;
    const selectors = Object.keys(spec).filter((k) => k.endsWith("NamespaceSelector")).sort();
    expect(selectors).toEqual(expect.arrayContaining([
      "podMonitorNamespaceSelector", "probeNamespaceSelector", "ruleNamespaceSelector", "scrapeConfigNamespaceSelector", "serviceMonitorNamespaceSelector",
    ]));
    for (const key of selectors) expect(spec[key], key).toEqual({ matchLabels: { "kubernetes.io/metadata.name": "matih-acme" } });
  });

  it("sizes the Prometheus from the tier profile", async () => {
    const spec = (await rendered(tier)).k8s("Prometheus", "tenant").inputs.spec as Record<string, unknown>;
    const profile = TIER_PROFILES[tier].monitoring;
    expect(spec.retention).toBe(profile.retention);
    expect(spec.replicas).toBe(profile.prometheusReplicas);
    expect(spec.resources).toEqual({ requests: { ...profile.resources.requests }, limits: { ...profile.resources.limits } });
  });

  it("sends the Prometheus alerts to the shared Alertmanager", async () => {
    const spec = (await rendered(tier)).k8s("Prometheus", "tenant").inputs.spec as { alerting: { alertmanagers: { namespace: string; name: string }[] } };
    expect(spec.alerting.alertmanagers).toEqual([expect.objectContaining({ namespace: DEFAULT_PLATFORM_SETTINGS.observability.monitoringNamespace, name: "alertmanager-operated" })]);
  });

  it("lets the Prometheus account discover the shared Alertmanager, and nothing else, in the monitoring namespace", async () => {
    const r = await rendered(tier);
    const role = r.k8s("Role", "alertmanager-discovery-matih-acme");
    expect(metadataOf(role).namespace).toBe("matih-monitoring");
    expect(role.inputs.rules).toEqual([
      { apiGroups: [""], resources: ["endpoints", "services", "pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
    ]);
    const binding = r.k8s("RoleBinding", "alertmanager-discovery-matih-acme");
    expect(metadataOf(binding).namespace).toBe("matih-monitoring");
    expect(binding.inputs.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "alertmanager-discovery-matih-acme" });
    expect(binding.inputs.subjects).toEqual([{ kind: "ServiceAccount", name: "prometheus", namespace: "matih-acme" }]);
    // The Prometheus starts only once it may discover its Alertmanager.
    expect(r.k8s("Prometheus", "tenant").dependsOn).toContain(binding.urn);
  });

  it("scrapes the tenant's services with a ServiceMonitor confined to matih-acme", async () => {
    const monitor = (await rendered(tier)).k8s("ServiceMonitor", "tenant-services");
    expect(metadataOf(monitor).namespace).toBe("matih-acme");
    const spec = monitor.inputs.spec as { namespaceSelector: unknown; endpoints: { port: string; path: string }[] };
    expect(spec.namespaceSelector).toEqual({ matchNames: ["matih-acme"] });
    expect(spec.endpoints.length).toBeGreaterThan(0);
    for (const e of spec.endpoints) expect(e.path).toBe("/metrics");
  });

  it("federates the tenant namespace's series from the platform Prometheus", async () => {
    const spec = (await rendered(tier)).k8s("ScrapeConfig", "platform-federation").inputs.spec as {
      staticConfigs: { targets: string[] }[]; metricsPath: string; params: Record<string, string[]>; honorLabels: boolean;
    };
    expect(spec.staticConfigs).toEqual([{ targets: [DEFAULT_PLATFORM_SETTINGS.observability.platformPrometheus] }]);
    expect(spec.metricsPath).toBe("/federate");
    expect(spec.honorLabels).toBe(true);
    const match = spec.params["match[]"]!;
    expect(match).toHaveLength(1);
    for (const m of match) expectScopedToTenant(m);
  });

  it("routes every alert by e-mail to the settings' address, with no Slack receiver by default", async () => {
    const r = await rendered(tier);
    const spec = alertmanagerConfig(r);
    expect(spec.route.receiver).toBe("email");
    expect(spec.receivers.map((x) => x.name)).toEqual(["email"]);
    expect(spec.receivers[0]!.emailConfigs).toEqual([expect.objectContaining({
      to: "platform-alerts@matih.ai", from: DEFAULT_PLATFORM_SETTINGS.alerts.emailFrom, smarthost: DEFAULT_PLATFORM_SETTINGS.alerts.smarthost,
    })]);
    expect(spec.route.routes.filter((x) => x.receiver === "slack")).toEqual([]);
    expect(receiversOf(spec, { severity: "critical" })).toEqual(["email"]);
    expect(receiversOf(spec, { severity: "warning" })).toEqual(["email"]);
    expect(phase9(r).filter((x) => x.type === "kubernetes:core/v1:Secret")).toEqual([]);
  });

  it("ships a Grafana dashboard of valid JSON whose every panel query is tenant-scoped PromQL", async () => {
    const cm = (await rendered(tier)).k8s("ConfigMap", "grafana-dashboard-tenant");
    expect(metadataOf(cm).namespace).toBe("matih-acme");
    expect(metadataOf(cm).labels?.grafana_dashboard).toBe("1");
    const files = Object.entries(cm.inputs.data as Record<string, string>);
    expect(files).toHaveLength(1);
    const dashboard = JSON.parse(files[0]![1]) as { uid: string; panels: { targets: { expr: string; datasource: { uid: string } }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const panel of dashboard.panels) {
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expectScopedToTenant(target.expr);
        expect(target.datasource.uid).toBe("prometheus-acme");
      }
    }
  });

  it("provides the tenant Prometheus as a Grafana data source", async () => {
    const r = await rendered(tier);
    const cm = r.k8s("ConfigMap", "grafana-datasource-prometheus");
    expect(metadataOf(cm).labels?.grafana_datasource).toBe("1");
    const [content] = Object.values(cm.inputs.data as Record<string, string>);
    const provisioning = parseYaml(content!) as { datasources: { uid: string; type: string; url: string }[] };
    expect(provisioning.datasources).toEqual([expect.objectContaining({
      uid: "prometheus-acme", type: "prometheus", url: "http://prometheus-operated.matih-acme.svc:9090",
    })]);
    expect(r.outputs.prometheusUrl).toBe("http://prometheus-operated.matih-acme.svc:9090");
  });

  it("renders every phase 9 object so that it satisfies its published schema", async () => {
    for (const x of phase9(await rendered(tier))) {
      if (x.read || x.type === "kubernetes:helm.sh/v3:Release") continue;
      expect(() => validateKubernetesObject(x.inputs as KubernetesObject), x.name).not.toThrow();
    }
  });
});

describe("alert notification settings", () => {
  it("adds one e-mail recipient for every address in the settings", async () => {
    const emails = ["ops@acme.example", "oncall@matih.ai", "noc@matih.ai"];
    const r = await render("professional", { lastPhase: 9, settings: { alerts: { emails } } });
    const email = alertmanagerConfig(r).receivers.find((x) => x.name === "email")!;
    expect(email.emailConfigs!.map((c) => c.to)).toEqual(emails);
  });

  describe("with a Slack webhook Secret in the settings", () => {
    let r: Rendered;
    beforeAll(async () => { r = await render("professional", { lastPhase: 9, settings: SLACK_SETTINGS }); });

    it("reads the platform Secret holding the webhook", () => {
      const reads = phase9(r).filter((x) => x.read && x.type === "kubernetes:core/v1:Secret");
      expect(reads).toHaveLength(1);
    });

    it("copies the webhook into a tenant-namespace Secret whose data renders as { url: [secret] }", () => {
      const secret = r.k8s("Secret", "alertmanager-slack-webhook");
      expect(metadataOf(secret).namespace).toBe("matih-acme");
      expect(secret.inputs.data).toEqual({ url: "[secret]" });
      const read = phase9(r).find((x) => x.read && x.type === "kubernetes:core/v1:Secret")!;
      expect(secret.dependsOn).toContain(read.urn);
    });

    it("sends critical alerts to a Slack receiver whose webhook comes from that Secret", () => {
      const spec = alertmanagerConfig(r);
      const slack = spec.receivers.find((x) => x.name === "slack");
      expect(slack?.slackConfigs).toEqual([expect.objectContaining({
        apiURL: { name: "alertmanager-slack-webhook", key: "url" }, channel: DEFAULT_PLATFORM_SETTINGS.alerts.slackChannel,
      })]);
      expect(spec.route.routes).toContainEqual(expect.objectContaining({
        receiver: "slack", matchers: [{ name: "severity", value: "critical", matchType: "=" }],
      }));
      // E-mail still receives everything.
      expect(spec.route.receiver).toBe("email");
      expect(r.k8s("AlertmanagerConfig", "tenant-alert-routes").dependsOn).toContain(r.k8s("Secret", "alertmanager-slack-webhook").urn);
    });

    it("delivers every alert by e-mail and critical alerts to both e-mail and Slack, as Alertmanager walks the routes", () => {
      const spec = alertmanagerConfig(r);
      expect(receiversOf(spec, { severity: "warning" })).toEqual(["email"]);
      expect(receiversOf(spec, { severity: "critical" })).toEqual(["email", "slack"]);
    });

    it("still declares phase 10 after phase 9", async () => {
      const full = await render("professional", { settings: SLACK_SETTINGS });
      expect(full.resources.filter((x) => x.custom && x.phase?.number === 10).length).toBeGreaterThan(0);
    });
  });
});

describe("a TenantMonitoring built directly with a Slack Secret reference", () => {
  const secretReads: string[] = [];
  const created: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
  const WEBHOOK = Buffer.from("https://hooks.slack.invalid/T000/B000/xyz").toString("base64");
  let TenantMonitoring: typeof import("../../components/09-monitoring.ts").TenantMonitoring;
  const args = {
    slug: "acme",
    namespace: "matih-acme",
    retention: "15d",
    resources: TIER_PROFILES.professional.monitoring.resources,
    alertmanagerNamespace: "matih-monitoring",
    platformPrometheus: "prometheus-operated.matih-monitoring.svc:9090",
    email: { to: ["ops@acme.example"], from: "alerts@matih.ai", smarthost: "smtp.matih.ai:587" },
    slack: { secretRef: { namespace: "matih-control-plane", name: "alert-webhooks", key: "slack" }, channel: "#acme" },
  };

  beforeAll(async () => {
    const base = cloudMocks({ slug: "acme" });
    await pulumi.runtime.setMocks({
      call: (a) => base.call(a),
      newResource(a) {
        if (a.type === "kubernetes:core/v1:Secret" && a.id) {
          secretReads.push(a.id);
          return { id: a.id, state: { data: { slack: WEBHOOK } } };
        }
        created.push({ type: a.type, name: a.name, inputs: a.inputs as Record<string, unknown> });
        return base.newResource(a);
      },
    }, "matih-tenants", "acme", false);
    ({ TenantMonitoring } = await import("../../components/09-monitoring.ts"));
  });

  it("reads the platform Secret by namespace/name and copies the key's value, as a secret, under `url`", async () => {
    const monitoring = new TenantMonitoring("monitoring", args);
    await new Promise<void>((resolve) => monitoring.alertRuleNames.apply(() => resolve()));
    // Let the child registrations finish.
    for (let i = 0; i < 50 && !created.some((c) => c.name === "monitoring-alert-routes"); i++) await new Promise((res) => setTimeout(res, 20));
    expect(secretReads).toEqual(["matih-control-plane/alert-webhooks"]);
    const copy = created.find((c) => c.type === "kubernetes:core/v1:Secret");
    // Sent to the engine as a secret holding the webhook under `url`.
    // The whole map is a secret on the wire (the SDK marks Secret data secret); shown, its key stays visible and its value does not.
    expect(redactWireValue(copy?.inputs.data)).toEqual({ url: "[secret]" });
    expect((copy?.inputs.data as { value: unknown }).value).toEqual({ url: WEBHOOK });
    expect((copy?.inputs.metadata as { namespace: string }).namespace).toBe("matih-acme");
  });

  it("refuses an e-mail route without recipients", () => {
    expect(() => new TenantMonitoring("no-mail", { ...args, email: { ...args.email, to: [] } }))
      .toThrow(new Error("TenantMonitoring: email.to must name at least one recipient"));
  });
});
