import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, grafanaUid, whenChildrenDone, k8sResources, requireArg, tenantLabels } from "./common.ts";
import type { ComputeResources } from "../model/tiers.ts";
import { typeTokenOf } from "../model/phases.ts";

export type Severity = "warning" | "critical";

/** One default alert: the provisioning flow's row, and its PromQL for a namespace. */
export interface AlertRuleDefinition {
  readonly alert: string;
  /** The condition in words, as the flow states it. */
  readonly condition: string;
  /** Threshold the expression compares against (ratio, count or seconds). */
  readonly threshold: number;
  /** Range over which rates and increases are taken, or null. */
  readonly window: string | null;
  /** How long the condition must hold before firing, or null to fire at once. */
  readonly for: string | null;
  readonly severity: Severity;
  readonly expr: (namespace: string) => string;
}

/** The six default alert rules. */
export const DEFAULT_ALERT_RULES: readonly AlertRuleDefinition[] = [
  {
    alert: "TenantHighCpu", condition: "Pod CPU > 80% for 5 min", threshold: 0.8, window: "5m", for: "5m", severity: "warning",
    expr: (ns) => `sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{namespace="${ns}", container!=""}[5m])) / sum by (namespace, pod) (kube_pod_container_resource_limits{namespace="${ns}", resource="cpu"}) > 0.8`,
  },
  {
    alert: "TenantHighMemory", condition: "Pod memory > 85% for 5 min", threshold: 0.85, window: null, for: "5m", severity: "warning",
    expr: (ns) => `sum by (namespace, pod) (container_memory_working_set_bytes{namespace="${ns}", container!=""}) / sum by (namespace, pod) (kube_pod_container_resource_limits{namespace="${ns}", resource="memory"}) > 0.85`,
  },
  {
    alert: "TenantPodRestarts", condition: "Container restart count > 3 in 15 min", threshold: 3, window: "15m", for: null, severity: "critical",
    expr: (ns) => `sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{namespace="${ns}"}[15m])) > 3`,
  },
  {
    alert: "TenantHighErrorRate", condition: "HTTP 5xx rate > 5% for 5 min", threshold: 0.05, window: "5m", for: "5m", severity: "critical",
    expr: (ns) => `sum by (namespace, service) (rate(http_requests_total{namespace="${ns}", status=~"5.."}[5m])) / sum by (namespace, service) (rate(http_requests_total{namespace="${ns}"}[5m])) > 0.05`,
  },
  {
    alert: "TenantHighLatency", condition: "P95 latency > 2s for 5 min", threshold: 2, window: "5m", for: "5m", severity: "warning",
    expr: (ns) => `histogram_quantile(0.95, sum by (namespace, service, le) (rate(http_request_duration_seconds_bucket{namespace="${ns}"}[5m]))) > 2`,
  },
  {
    alert: "TenantDiskUsage", condition: "PVC usage > 85%", threshold: 0.85, window: null, for: null, severity: "warning",
    expr: (ns) => `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{namespace="${ns}"} / kubelet_volume_stats_capacity_bytes{namespace="${ns}"}) > 0.85`,
  },
];

export interface TenantMonitoringArgs {
  /** Tenant slug; selects the tenant's monitors and rules. Required. */
  slug: string;
  /** The tenant namespace; Prometheus discovers only there. Required. */
  namespace: pulumi.Input<string>;
  /** Prometheus pods. Default 1. */
  replicas?: number;
  /** Sample retention, e.g. `15d`. Required. */
  retention: string;
  /** Prometheus requests and limits. Required. */
  resources: ComputeResources;
  /**
   * Namespace of the shared Alertmanager (Service `alertmanager-operated`,
   * port `web`). Prometheus finds its pods through the Kubernetes API there,
   * so the component grants its service account exactly that discovery in
   * that namespace (`alertmanagerDiscoveryRoleName`). Required.
   */
  alertmanagerNamespace: string;
  /** Platform Prometheus (host:port) federated for kubelet and kube-state-metrics series of this namespace. Required. */
  platformPrometheus: string;
  /** E-mail route: recipients, sender and relay. Required, at least one recipient. */
  email: { to: readonly string[]; from: string; smarthost: string };
  /** Slack route for critical alerts, from a platform Secret by reference. Default: none. */
  slack?: { secretRef: { namespace: string; name: string; key: string }; channel: string };
}

/** Role and RoleBinding in the Alertmanager's namespace letting one tenant's Prometheus discover it; named after the tenant's namespace, so tenants never share one. */
export function alertmanagerDiscoveryRoleName(slug: string): string {
  return `alertmanager-discovery-matih-${slug}`;
}

/** The Grafana dashboard of a tenant: resource use and the signals the alerts watch. */
export function tenantDashboard(slug: string, namespace: string): Record<string, unknown> {
  // uids within Grafana's 40 characters: longer ones make the sidecar drop the dashboard without an error.
  const ds = { type: "prometheus", uid: grafanaUid("prometheus", slug) };
  const panel = (id: number, title: string, expr: string, unit: string) => ({
    id, title, type: "timeseries", datasource: ds, fieldConfig: { defaults: { unit } },
    gridPos: { h: 8, w: 12, x: ((id - 1) % 2) * 12, y: Math.floor((id - 1) / 2) * 8 },
    targets: [{ refId: "A", datasource: ds, expr }],
  });
  return {
    uid: grafanaUid("tenant", slug),
    title: `Tenant ${slug}`,
    tags: ["matih", "tenant"],
    schemaVersion: 39,
    time: { from: "now-6h", to: "now" },
    panels: [
      panel(1, "CPU by pod", `sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="${namespace}", container!=""}[5m]))`, "cores"),
      panel(2, "Memory by pod", `sum by (pod) (container_memory_working_set_bytes{namespace="${namespace}", container!=""})`, "bytes"),
      panel(3, "Requests per second", `sum by (service) (rate(http_requests_total{namespace="${namespace}"}[5m]))`, "reqps"),
      panel(4, "5xx ratio", `sum by (service) (rate(http_requests_total{namespace="${namespace}", status=~"5.."}[5m])) / sum by (service) (rate(http_requests_total{namespace="${namespace}"}[5m]))`, "percentunit"),
      panel(5, "P95 latency", `histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{namespace="${namespace}"}[5m])))`, "s"),
      panel(6, "Container restarts (15m)", `sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace="${namespace}"}[15m]))`, "short"),
    ],
  };
}

/**
 * Phase 9, DEPLOY_MONITORING: a Prometheus that discovers only the tenant
 * namespace (plus the namespace's container series federated from the platform
 * Prometheus) and the shared Alertmanager, the tenant's Grafana dashboard and
 * data source, the six default alert rules, and e-mail and Slack routes on the
 * shared Alertmanager. Alerts go to the platform's recipients, not to the
 * tenant's admin (docs/program.md says why).
 */
export class TenantMonitoring extends pulumi.ComponentResource {
  public readonly prometheusUrl: pulumi.Output<string>;
  public readonly alertRuleNames: pulumi.Output<string[]>;

  constructor(name: string, args: TenantMonitoringArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("DEPLOY_MONITORING"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "TenantMonitoring";
    const replicas = args.replicas ?? 1;
    requireArg(Number.isInteger(replicas) && replicas >= 1, C, `replicas must be a whole number of at least 1, got ${replicas}`);
    requireArg(/^\d+(ms|s|m|h|d|w|y)$/.test(args.retention), C, `retention must be a Prometheus duration such as 15d, got "${args.retention}"`);
    requireArg(args.email.to.length > 0, C, "email.to must name at least one recipient");
    requireArg(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(args.alertmanagerNamespace), C, `alertmanagerNamespace must be a namespace name, got "${args.alertmanagerNamespace}"`);

    const namespace = args.namespace;
    const labels = tenantLabels(args.slug, "monitoring");
    const select = { matchLabels: { "matih.ai/tenant-slug": args.slug } };
    const onlyThisNamespace = { matchLabels: { "kubernetes.io/metadata.name": namespace } };

    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-service-account`, { metadata: { name: "prometheus", namespace, labels } }, child());
    const role = new k8s.rbac.v1.Role(`${name}-role`, {
      metadata: { name: "prometheus", namespace, labels },
      rules: [
        { apiGroups: [""], resources: ["services", "endpoints", "pods"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] },
      ],
    }, child());
    const binding = new k8s.rbac.v1.RoleBinding(`${name}-role-binding`, {
      metadata: { name: "prometheus", namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace }],
    }, child());

    // The operator turns `alerting.alertmanagers` into Kubernetes service
    // discovery of the Alertmanager's endpoints in its namespace, made with
    // this Prometheus's own account. Without a grant there the discovery is
    // refused, Prometheus knows no Alertmanager, the phase succeeds and no
    // alert is ever sent. Exactly the discovery reads, in that namespace only.
    const discoveryName = alertmanagerDiscoveryRoleName(args.slug);
    const discoveryRole = new k8s.rbac.v1.Role(`${name}-alertmanager-discovery-role`, {
      metadata: { name: discoveryName, namespace: args.alertmanagerNamespace, labels },
      rules: [
        { apiGroups: [""], resources: ["endpoints", "services", "pods"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      ],
    }, child());
    const discoveryBinding = new k8s.rbac.v1.RoleBinding(`${name}-alertmanager-discovery-role-binding`, {
      metadata: { name: discoveryName, namespace: args.alertmanagerNamespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: discoveryRole.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace }],
    }, child());

    const prometheus = new k8s.apiextensions.CustomResource(`${name}-prometheus`, {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "Prometheus",
      metadata: { name: "tenant", namespace, labels },
      spec: {
        replicas,
        retention: args.retention,
        serviceAccountName: serviceAccount.metadata.name,
        resources: k8sResources(args.resources),
        podMetadata: { labels: { "matih.ai/tenant-slug": args.slug } },
        externalLabels: { matih_tenant: args.slug },
        serviceMonitorSelector: select,
        serviceMonitorNamespaceSelector: onlyThisNamespace,
        podMonitorSelector: select,
        podMonitorNamespaceSelector: onlyThisNamespace,
        ruleSelector: select,
        ruleNamespaceSelector: onlyThisNamespace,
        scrapeConfigSelector: select,
        scrapeConfigNamespaceSelector: onlyThisNamespace,
        probeSelector: select,
        probeNamespaceSelector: onlyThisNamespace,
        alerting: { alertmanagers: [{ namespace: args.alertmanagerNamespace, name: "alertmanager-operated", port: "web", apiVersion: "v2" }] },
        securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000 },
      },
    }, child({ dependsOn: [binding, discoveryBinding] }));

    new k8s.apiextensions.CustomResource(`${name}-service-monitor`, {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "tenant-services", namespace, labels },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/part-of": "matih" } },
        namespaceSelector: { matchNames: [namespace] },
        endpoints: [{ port: "metrics", interval: "30s", path: "/metrics" }],
      },
    }, child());

    // Container and kube-state series come from the platform Prometheus, filtered to this namespace.
    new k8s.apiextensions.CustomResource(`${name}-federation`, {
      apiVersion: "monitoring.coreos.com/v1alpha1",
      kind: "ScrapeConfig",
      metadata: { name: "platform-federation", namespace, labels },
      spec: {
        staticConfigs: [{ targets: [args.platformPrometheus] }],
        metricsPath: "/federate",
        params: { "match[]": [pulumi.interpolate`{namespace="${namespace}"}`] },
        honorLabels: true,
        scrapeInterval: "30s",
      },
    }, child());

    const ns = pulumi.output(namespace);
    new k8s.apiextensions.CustomResource(`${name}-alert-rules`, {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: "tenant-default-alerts", namespace, labels },
      spec: {
        groups: [{
          name: "tenant-defaults",
          rules: ns.apply((n) => DEFAULT_ALERT_RULES.map((r) => ({
            alert: r.alert,
            expr: r.expr(n),
            ...(r.for ? { for: r.for } : {}),
            labels: { severity: r.severity, matih_tenant: args.slug },
            annotations: { summary: `${r.condition} in ${n}`, description: `${r.alert} fired for {{ $labels.pod }}{{ $labels.service }}{{ $labels.persistentvolumeclaim }} in ${n}` },
          }))),
        }],
      },
    }, child());

    // Alert routes live on the shared Alertmanager; it scopes this config to alerts from this namespace.
    let slackSecret: k8s.core.v1.Secret | undefined;
    if (args.slack) {
      const ref = args.slack.secretRef;
      const source = k8s.core.v1.Secret.get(`${name}-slack-webhook-source`, `${ref.namespace}/${ref.name}`, child());
      slackSecret = new k8s.core.v1.Secret(`${name}-slack-webhook`, {
        metadata: { name: "alertmanager-slack-webhook", namespace, labels },
        type: "Opaque",
        // The value is secret, the key is not: a review sees that `url` exists or changes, never the webhook.
        data: {
          url: pulumi.secret(source.data.apply((d) => {
            const url = d?.[ref.key];
            if (!url) throw new Error(`Secret ${ref.namespace}/${ref.name} has no key "${ref.key}" holding the Slack webhook`);
            return url;
          })),
        },
      }, child());
    }
    const emailReceiver = {
      name: "email",
      emailConfigs: args.email.to.map((to) => ({ to, from: args.email.from, smarthost: args.email.smarthost, sendResolved: true })),
    };
    const receivers: Record<string, unknown>[] = [emailReceiver];
    // Alertmanager sends an alert to the first child route that matches and
    // stops there unless that route says `continue`; the parent's receiver is
    // used only when no child matches. So e-mail is a catch-all child that
    // continues, and Slack (when configured) takes the critical alerts after it:
    // every alert is mailed, critical ones also go to Slack.
    const routes: Record<string, unknown>[] = [];
    if (slackSecret && args.slack) {
      receivers.push({ name: "slack", slackConfigs: [{ apiURL: { name: slackSecret.metadata.name, key: "url" }, channel: args.slack.channel, sendResolved: true }] });
      routes.push({ receiver: "email", continue: true });
      routes.push({ receiver: "slack", matchers: [{ name: "severity", value: "critical", matchType: "=" }] });
    }
    new k8s.apiextensions.CustomResource(`${name}-alert-routes`, {
      apiVersion: "monitoring.coreos.com/v1alpha1",
      kind: "AlertmanagerConfig",
      metadata: { name: "tenant-alert-routes", namespace, labels },
      spec: {
        route: { receiver: "email", groupBy: ["alertname", "namespace"], groupWait: "30s", groupInterval: "5m", repeatInterval: "4h", routes },
        receivers,
      },
    }, child({ dependsOn: slackSecret ? [slackSecret] : [] }));

    const grafana = { ...labels };
    new k8s.core.v1.ConfigMap(`${name}-grafana-dashboard`, {
      metadata: { name: "grafana-dashboard-tenant", namespace, labels: { ...grafana, grafana_dashboard: "1" }, annotations: { grafana_folder: `Tenant ${args.slug}` } },
      data: { "tenant-overview.json": ns.apply((n) => JSON.stringify(tenantDashboard(args.slug, n), null, 2)) },
    }, child());
    const prometheusUrl = pulumi.interpolate`http://prometheus-operated.${namespace}.svc:9090`;
    new k8s.core.v1.ConfigMap(`${name}-grafana-datasource`, {
      metadata: { name: "grafana-datasource-prometheus", namespace, labels: { ...grafana, grafana_datasource: "1" } },
      data: {
        "prometheus.yaml": prometheusUrl.apply((url) => JSON.stringify({
          apiVersion: 1,
          datasources: [{ name: `Prometheus (${args.slug})`, uid: grafanaUid("prometheus", args.slug), type: "prometheus", access: "proxy", url, editable: false }],
        }, null, 2)),
      },
    }, child({ dependsOn: [prometheus] }));

    const outputs = whenChildrenDone(this, { prometheusUrl, alertRuleNames: DEFAULT_ALERT_RULES.map((r) => r.alert) });
    this.prometheusUrl = outputs.prometheusUrl;
    this.alertRuleNames = outputs.alertRuleNames;
    this.registerOutputs(outputs);
  }
}
