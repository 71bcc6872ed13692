import { ValidationError, type ValidationProblem } from "./spec.ts";

/**
 * Platform settings shared by every tenant: where the shared services are,
 * which charts and images to deploy, and how to reach the cloud. They sit
 * beside the tenant spec and never hold a secret value; secrets are named by
 * reference and read where they are used.
 */
export interface PlatformSettings {
  /** Tenants live under `{slug}.{baseDomain}`. Default `matih.ai`. */
  readonly baseDomain: string;
  /** Namespace of the control plane; tenants may call into it. Default `matih-control-plane`. */
  readonly controlPlaneNamespace: string;
  readonly kubernetes: {
    /** kubeconfig context to use; default: none (the kubeconfig's current context). */
    readonly context?: string;
    /** Path to (or contents of) the kubeconfig; default: none (`KUBECONFIG` or `~/.kube/config` of the engine process). */
    readonly kubeconfig?: string;
    /** CIDRs of the Kubernetes API server, for pods that must watch the API. Default `["10.0.0.1/32"]`. */
    readonly apiServerCidrs: readonly string[];
    /** Namespace and pod labels of the cluster DNS. Default `kube-system`, `k8s-app=kube-dns`. */
    readonly dnsNamespace: string;
    readonly dnsPodLabels: Readonly<Record<string, string>>;
  };
  readonly azure: {
    /** Subscription that holds DNS and enterprise databases. Default `00000000-0000-0000-0000-000000000000` (renders only). */
    readonly subscriptionId: string;
    /** Resource group for enterprise tenants' dedicated PostgreSQL servers. Default `matih-tenant-databases`. */
    readonly databaseResourceGroup: string;
    /** Delegated subnet for dedicated servers (private access); default: none (public access with firewall). */
    readonly databaseSubnetId?: string;
    /** Private DNS zone id for dedicated servers; default: none. */
    readonly databasePrivateDnsZoneId?: string;
  };
  readonly dns: {
    /** Parent zone that delegates to tenant zones. Default: the base domain. */
    readonly parentZoneName: string;
    /** Resource group of the parent zone; child zones are created there too. Default `matih-dns`. */
    readonly resourceGroup: string;
    /** TTL of NS delegation records (seconds). Default 3600. */
    readonly nsTtl: number;
    /** TTL of A records (seconds). Default 300. */
    readonly aTtl: number;
  };
  readonly postgres: {
    /** Shared instance used by free and professional tenants. Default `matih-shared-pg.postgres.database.azure.com`. */
    readonly host: string;
    /** Default 5432. */
    readonly port: number;
    /** Database on the shared instance holding one schema per tenant. Default `matih_tenants`. */
    readonly database: string;
    /** Administrative login used to create roles and schemas. Default `matih_admin`. */
    readonly adminUser: string;
    /** Environment variable holding the admin password in the engine process. Default `MATIH_PG_ADMIN_PASSWORD`. */
    readonly adminPasswordEnv: string;
    /** sslmode for every connection. Default `require`. */
    readonly sslMode: "require" | "verify-full" | "disable";
    /** CIDRs where database endpoints live (shared and dedicated), for egress rules. Default `["10.20.0.0/24"]`. */
    readonly networkCidrs: readonly string[];
  };
  readonly charts: {
    /** Helm repository of the matih charts. Default `https://charts.matih.ai`. */
    readonly repository: string;
    /** Version of the matih charts. Default `1.0.0`. */
    readonly version: string;
    /** Repository of ingress-nginx. Default `https://kubernetes.github.io/ingress-nginx`. */
    readonly ingressNginxRepository: string;
    /** ingress-nginx chart version. Default `4.12.1`. */
    readonly ingressNginxVersion: string;
  };
  readonly images: {
    /** Registry of the matih images. Default `matih.azurecr.io`. */
    readonly registry: string;
    /** Tag used for every service without its own entry in `tags`. Default `latest`. */
    readonly defaultTag: string;
    /** Per-service tag overrides, keyed by service name. Default none. */
    readonly tags: Readonly<Record<string, string>>;
    /** Flyway image that runs the tenant migrations. Default `flyway/flyway:11-alpine`. */
    readonly flyway: string;
    /** Image with psql for the connectivity check. Default `postgres:16-alpine`. */
    readonly postgresClient: string;
    /** PgBouncer image for pooled tiers. Default `bitnami/pgbouncer:1.24.1`. */
    readonly pgbouncer: string;
    /** OpenTelemetry collector image. Default `otel/opentelemetry-collector-contrib:0.120.0`. */
    readonly otelCollector: string;
    /** telemetrygen image for the pipeline check. Default `ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0`. */
    readonly telemetrygen: string;
    /** curl image for HTTP checks. Default `curlimages/curl:8.12.1`. */
    readonly curl: string;
  };
  readonly alerts: {
    /** Addresses that receive every tenant alert. Default `["platform-alerts@matih.ai"]`. */
    readonly emails: readonly string[];
    /** Sender of alert mail. Default `alerts@matih.ai`. */
    readonly emailFrom: string;
    /** SMTP relay used by Alertmanager. Default `smtp.matih.ai:587`. */
    readonly smarthost: string;
    /**
     * Kubernetes Secret that holds the Slack webhook URL, by reference; the
     * program copies it into the tenant namespace as a Secret. Default: none
     * (no Slack route).
     */
    readonly slackWebhookSecret?: { readonly namespace: string; readonly name: string; readonly key: string };
    /** Slack channel for critical alerts. Default `#matih-alerts`. */
    readonly slackChannel: string;
  };
  readonly tls: {
    /** cert-manager ClusterIssuer solving DNS-01. Default `letsencrypt-prod-dns01`. */
    readonly clusterIssuer: string;
    /** Seconds to wait for the certificate to become Ready. Default 600. */
    readonly readyTimeoutSeconds: number;
  };
  readonly observability: {
    /** Namespace of the shared Loki, Tempo and Grafana. Default `matih-observability`. */
    readonly namespace: string;
    /** Namespace of the shared Prometheus and Alertmanager. Default `matih-monitoring`. */
    readonly monitoringNamespace: string;
    /** Loki push/query base URL. Default `http://loki-gateway.matih-observability.svc:80`. */
    readonly lokiUrl: string;
    /** Tempo OTLP gRPC endpoint. Default `tempo-distributor.matih-observability.svc:4317`. */
    readonly tempoOtlpEndpoint: string;
    /** Tempo query base URL. Default `http://tempo-query-frontend.matih-observability.svc:3200`. */
    readonly tempoUrl: string;
    /** Platform Prometheus that scrapes kubelet and kube-state-metrics, federated per tenant. Default `prometheus-operated.matih-monitoring.svc:9090`. */
    readonly platformPrometheus: string;
    /** ConfigMap (in the observability namespace) where each tenant owns one key of Tempo overrides. Default `tempo-tenant-overrides`. */
    readonly tempoOverridesConfigMap: string;
  };
}

export interface PartialSettingsInput {
  [key: string]: unknown;
}

export const DEFAULT_PLATFORM_SETTINGS: PlatformSettings = {
  baseDomain: "matih.ai",
  controlPlaneNamespace: "matih-control-plane",
  kubernetes: { apiServerCidrs: ["10.0.0.1/32"], dnsNamespace: "kube-system", dnsPodLabels: { "k8s-app": "kube-dns" } },
  azure: { subscriptionId: "00000000-0000-0000-0000-000000000000", databaseResourceGroup: "matih-tenant-databases" },
  dns: { parentZoneName: "matih.ai", resourceGroup: "matih-dns", nsTtl: 3600, aTtl: 300 },
  postgres: {
    host: "matih-shared-pg.postgres.database.azure.com",
    port: 5432,
    database: "matih_tenants",
    adminUser: "matih_admin",
    adminPasswordEnv: "MATIH_PG_ADMIN_PASSWORD",
    sslMode: "require",
    networkCidrs: ["10.20.0.0/24"],
  },
  charts: {
    repository: "https://charts.matih.ai",
    version: "1.0.0",
    ingressNginxRepository: "https://kubernetes.github.io/ingress-nginx",
    ingressNginxVersion: "4.12.1",
  },
  images: {
    registry: "matih.azurecr.io",
    defaultTag: "latest",
    tags: {},
    flyway: "flyway/flyway:11-alpine",
    postgresClient: "postgres:16-alpine",
    pgbouncer: "bitnami/pgbouncer:1.24.1",
    otelCollector: "otel/opentelemetry-collector-contrib:0.120.0",
    telemetrygen: "ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0",
    curl: "curlimages/curl:8.12.1",
  },
  alerts: {
    emails: ["platform-alerts@matih.ai"],
    emailFrom: "alerts@matih.ai",
    smarthost: "smtp.matih.ai:587",
    slackChannel: "#matih-alerts",
  },
  tls: { clusterIssuer: "letsencrypt-prod-dns01", readyTimeoutSeconds: 600 },
  observability: {
    namespace: "matih-observability",
    monitoringNamespace: "matih-monitoring",
    lokiUrl: "http://loki-gateway.matih-observability.svc:80",
    tempoOtlpEndpoint: "tempo-distributor.matih-observability.svc:4317",
    tempoUrl: "http://tempo-query-frontend.matih-observability.svc:3200",
    platformPrometheus: "prometheus-operated.matih-monitoring.svc:9090",
    tempoOverridesConfigMap: "tempo-tenant-overrides",
  },
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type PlatformSettingsOverrides = DeepPartial<PlatformSettings>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>, path: string, problems: ValidationProblem[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const field = path ? `${path}.${key}` : key;
    const optionalKeys = OPTIONAL_SETTINGS.get(path) ?? [];
    if (!(key in base) && !optionalKeys.includes(key)) {
      problems.push({ field, message: "is not a known setting" });
      continue;
    }
    const current = base[key];
    if (isPlainObject(current) && !RECORD_SETTINGS.has(field)) {
      if (!isPlainObject(value)) problems.push({ field, message: "must be an object" });
      else out[key] = merge(current, value, field, problems);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Settings that default to absent, by parent path. */
const OPTIONAL_SETTINGS = new Map<string, string[]>([
  ["kubernetes", ["context", "kubeconfig"]],
  ["azure", ["databaseSubnetId", "databasePrivateDnsZoneId"]],
  ["alerts", ["slackWebhookSecret"]],
]);
/** Settings that are free-form maps, replaced rather than merged key by key. */
const RECORD_SETTINGS = new Set(["kubernetes.dnsPodLabels", "images.tags"]);

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/;
const K8S_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Defaults overlaid with the given overrides, then checked. Unknown keys and
 * bad values are reported together, each naming its dotted path. The parent
 * DNS zone follows the base domain unless it is set explicitly.
 */
export function resolvePlatformSettings(overrides: PlatformSettingsOverrides | PartialSettingsInput = {}): PlatformSettings {
  const problems: ValidationProblem[] = [];
  const o = overrides as Record<string, unknown>;
  const base = structuredClone(DEFAULT_PLATFORM_SETTINGS) as unknown as Record<string, unknown>;
  const merged = merge(base, o, "", problems) as unknown as PlatformSettings;
  const parentZoneSet = isPlainObject(o.dns) && typeof o.dns.parentZoneName === "string";
  const settings: PlatformSettings = parentZoneSet ? merged : { ...merged, dns: { ...merged.dns, parentZoneName: merged.baseDomain } };

  const p = (field: string, message: string) => problems.push({ field, message });
  if (typeof settings.baseDomain !== "string" || !HOSTNAME.test(settings.baseDomain)) p("baseDomain", "must be a DNS domain name such as matih.ai");
  if (typeof settings.dns.parentZoneName !== "string" || !HOSTNAME.test(settings.dns.parentZoneName)) p("dns.parentZoneName", "must be a DNS domain name");
  else if (settings.baseDomain !== settings.dns.parentZoneName && !settings.baseDomain.endsWith(`.${settings.dns.parentZoneName}`)) {
    p("dns.parentZoneName", `must be the base domain "${settings.baseDomain}" or a zone that contains it`);
  }
  for (const [field, v] of [["controlPlaneNamespace", settings.controlPlaneNamespace], ["observability.namespace", settings.observability.namespace], ["observability.monitoringNamespace", settings.observability.monitoringNamespace]] as const) {
    if (typeof v !== "string" || !K8S_NAME.test(v)) p(field, "must be a Kubernetes namespace name");
  }
  for (const [field, list] of [["kubernetes.apiServerCidrs", settings.kubernetes.apiServerCidrs], ["postgres.networkCidrs", settings.postgres.networkCidrs]] as const) {
    if (!Array.isArray(list) || list.length === 0 || !list.every((c) => typeof c === "string" && CIDR.test(c))) p(field, "must be a non-empty list of IPv4 CIDRs such as 10.0.0.0/24");
  }
  if (!Number.isInteger(settings.postgres.port) || settings.postgres.port < 1 || settings.postgres.port > 65535) p("postgres.port", "must be a TCP port (1-65535)");
  if (!Array.isArray(settings.alerts.emails) || !settings.alerts.emails.every((e) => typeof e === "string" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e))) p("alerts.emails", "must be a list of e-mail addresses");
  const slack = settings.alerts.slackWebhookSecret;
  if (slack !== undefined && !(isPlainObject(slack) && [slack.namespace, slack.name].every((v) => typeof v === "string" && K8S_NAME.test(v)) && typeof slack.key === "string" && slack.key.length > 0)) {
    p("alerts.slackWebhookSecret", "must name a Kubernetes Secret as {namespace, name, key}; the webhook URL itself never goes in settings");
  }
  if (!Number.isInteger(settings.tls.readyTimeoutSeconds) || settings.tls.readyTimeoutSeconds <= 0) p("tls.readyTimeoutSeconds", "must be a positive whole number of seconds");
  for (const field of ["nsTtl", "aTtl"] as const) {
    if (!Number.isInteger(settings.dns[field]) || settings.dns[field] <= 0) p(`dns.${field}`, "must be a positive whole number of seconds");
  }
  if (problems.length > 0) throw new ValidationError(problems, "platform settings");
  return settings;
}

/** The image reference of a matih service: registry, service name and its tag. */
export function serviceImage(settings: PlatformSettings, service: string): { repository: string; tag: string } {
  return { repository: `${settings.images.registry}/${service}`, tag: settings.images.tags[service] ?? settings.images.defaultTag };
}
