import { AZURE_REGIONS } from "./regions.ts";
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
    /**
     * Addresses of the Kubernetes API server's endpoints (not the `kubernetes`
     * Service's ClusterIP: network policy engines see egress after DNAT), for
     * the pods that watch the API (ingress controller, Prometheus). Read them
     * with `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes
     * -o jsonpath='{.items[*].endpoints[*].addresses[*]}'` and give each as `/32`.
     * Default none: renders then show no egress to the API, and a real run is refused.
     */
    readonly apiServerCidrs: readonly string[];
    /** The cluster's Service CIDR; API server CIDRs inside it are refused (ClusterIPs never match egress rules). Default `10.0.0.0/16` (AKS). */
    readonly serviceCidr: string;
    /** Namespace and pod labels of the cluster DNS. Default `kube-system`, `k8s-app=kube-dns`. */
    readonly dnsNamespace: string;
    readonly dnsPodLabels: Readonly<Record<string, string>>;
    /**
     * The cluster's network policy engine, which enforces phase 4's isolation:
     * `azure-npm` (Azure Network Policy Manager), `calico` or `cilium`. A real
     * run refuses `cilium` unless `ciliumPolicyCidrMatchMode` is `nodes`: by
     * default Cilium does not match the ipBlock egress rules to
     * `apiServerCidrs` (it gives the API server's addresses the kube-apiserver
     * identity, which CIDR rules do not select). Default `azure-npm`.
     */
    readonly networkPolicyEngine: NetworkPolicyEngine;
    /**
     * Cilium only: set to `nodes` once Cilium runs with
     * `policy-cidr-match-mode: nodes` (Helm value `policyCIDRMatchMode: nodes`,
     * Cilium 1.15 or newer), which lets ipBlock rules select the API server.
     * Default none.
     */
    readonly ciliumPolicyCidrMatchMode?: "nodes";
  };
  readonly azure: {
    /** Subscription that holds DNS and enterprise databases. Default `00000000-0000-0000-0000-000000000000` (renders only). */
    readonly subscriptionId: string;
    /** Resource group for enterprise tenants' dedicated PostgreSQL servers. Default `matih-tenant-databases`. */
    readonly databaseResourceGroup: string;
    /**
     * How pods, migration Jobs and this service's hosts reach enterprise tenants'
     * dedicated servers. `private`: VNet integration (`databaseSubnetId`,
     * `databasePrivateDnsZoneId`, `databaseSubnetCidr`; the hosts must route to
     * that subnet). `public`: a public endpoint with one firewall rule per
     * address in `clusterEgressIps` and `serviceHostIps`. Default `private`.
     */
    readonly databaseAccess: "private" | "public";
    /** Private access: the subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers. Default: a subnet in the placeholder subscription (renders only). */
    readonly databaseSubnetId: string;
    /** Private access: the private DNS zone the servers register in. Default: a zone in the placeholder subscription (renders only). */
    readonly databasePrivateDnsZoneId: string;
    /** Private access: the delegated subnet's CIDR, opened by tenants' egress policy on the database port. Default `10.20.1.0/24`. */
    readonly databaseSubnetCidr: string;
    /**
     * Private access: the region of `databaseSubnetId`'s virtual network. A
     * flexible server joins only a subnet in its own region, so enterprise
     * tenants in another region need a subnet of theirs in `databaseSubnets`.
     * Default `eastus`.
     */
    readonly databaseSubnetRegion: string;
    /**
     * Private access: delegated subnets of further regions, by region name, each
     * `{subnetId, subnetCidr}` (its virtual network peered with the cluster's and
     * linked to `databasePrivateDnsZoneId`). Default none.
     */
    readonly databaseSubnets: Readonly<Record<string, DatabaseSubnet>>;
    /** Public access: the cluster's outbound addresses (NAT gateway or load-balancer outbound IPs), IPv4 or CIDR. Default none. */
    readonly clusterEgressIps: readonly string[];
    /** Public access: outbound addresses of the hosts running this service (its postgresql provider connects from there). Default none. */
    readonly serviceHostIps: readonly string[];
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
    /**
     * The contract of the matih charts: the Services (name and port) each chart
     * creates in the tenant namespace. Ingress backends may only name these
     * (a backend no release provides would keep the Ingress waiting forever).
     * Default: every chart `{chart}:8080`; `query-engine` also the tenant's
     * `api-gateway:8080` and `bi-service` also the `bi-workbench:3000` UI,
     * the two backends of the provisioning flow's Ingress.
     */
    readonly services: Readonly<Record<string, readonly ChartService[]>>;
  };
  readonly images: {
    /** Registry of the matih images. Default `matih.azurecr.io`. */
    readonly registry: string;
    /**
     * Tag used for every service without its own entry in `tags`. Default `latest`.
     * A real run requires every image it deploys pinned by digest: here and in
     * `tags` as `tag@sha256:<digest>`, in the image settings below as `image@sha256:<digest>`.
     */
    readonly defaultTag: string;
    /** Per-service tag overrides, keyed by service name. Default none. */
    readonly tags: Readonly<Record<string, string>>;
    /** Flyway image that runs the tenant migrations. Default `flyway/flyway:11-alpine`. */
    readonly flyway: string;
    /** Image with psql for the connectivity check. Default `postgres:16-alpine`. */
    readonly postgresClient: string;
    /**
     * PgBouncer image for pooled tiers. Default `bitnamilegacy/pgbouncer:1.24.1`
     * (Bitnami moved its versioned tags to `bitnamilegacy`); a real run requires
     * it pinned by digest (`...@sha256:<digest>`), since tags there are frozen but not immutable.
     */
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
  /**
   * What one cluster, subscription and shared server can hold (model/capacity.ts).
   * The service refuses a tenant, or a change, that would take the fleet past
   * one of these (409 `capacity_exceeded`). Each is a count; 0 turns that limit off.
   */
  readonly capacity: {
    /**
     * Certificates issued per rolling 7 days for tenants (all under the base
     * domain's registered domain). Default 50: Let's Encrypt's "new
     * certificates per registered domain" limit. Lower it by what other
     * certificates of that domain take.
     */
    readonly certificatesPerWeek: number;
    /**
     * Public IP addresses tenants may hold (one each, the ingress controller's
     * LoadBalancer Service), per region and subscription. Default 10: Azure's
     * documented default for Standard public IPs (an Enterprise Agreement
     * subscription's is 1000); set it to the subscription's quota less the
     * addresses other resources (the cluster's outbound IP) take.
     */
    readonly publicIpsPerSubscription: number;
    /**
     * Frontend IP configurations on the cluster's load balancer tenants may
     * hold (one each). Default 600: a Standard load balancer's maximum.
     */
    readonly loadBalancerFrontends: number;
    /**
     * Public DNS zones tenants may hold (one each, phase 7), per subscription.
     * Default 250: Azure DNS's default; lower it by the zones others keep there (the parent zone).
     */
    readonly dnsZonesPerSubscription: number;
    /**
     * `max_connections` of the shared PostgreSQL server (`SHOW max_connections`).
     * Default 1718: Azure's default for a 4-vCore, 16 GiB flexible server (D4ds_v5).
     */
    readonly sharedServerMaxConnections: number;
    /**
     * Connections of the shared server no tenant may take: Azure keeps 15 for
     * replication and monitoring; add this service's own admin connections.
     * Default 15.
     */
    readonly sharedServerReservedConnections: number;
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

/** A subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers, and its CIDR (opened by the tenant's egress policy). */
export interface DatabaseSubnet {
  readonly subnetId: string;
  readonly subnetCidr: string;
}

export const NETWORK_POLICY_ENGINES = ["azure-npm", "calico", "cilium"] as const;
export type NetworkPolicyEngine = (typeof NETWORK_POLICY_ENGINES)[number];

/** A Service a chart provides, by name and port. */
export interface ChartService {
  readonly service: string;
  readonly port: number;
}

/** The matih charts, phase 3 then phase 5, as the default contract lists them. */
const MATIH_CHARTS = ["query-engine", "ai-service", "catalog-service", "pipeline-service", "semantic-layer", "bi-service", "data-quality-service", "ml-service", "render-service"];
const DEFAULT_CHART_SERVICES: Record<string, ChartService[]> = Object.fromEntries(MATIH_CHARTS.map((chart) => [chart, [{ service: chart, port: 8080 }]]));
DEFAULT_CHART_SERVICES["query-engine"]!.push({ service: "api-gateway", port: 8080 });
DEFAULT_CHART_SERVICES["bi-service"]!.push({ service: "bi-workbench", port: 3000 });

/** The placeholder subscription of the defaults: renders only, refused by a real run. */
export const PLACEHOLDER_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000";

export interface PartialSettingsInput {
  [key: string]: unknown;
}

export const DEFAULT_PLATFORM_SETTINGS: PlatformSettings = {
  baseDomain: "matih.ai",
  controlPlaneNamespace: "matih-control-plane",
  kubernetes: { apiServerCidrs: [], serviceCidr: "10.0.0.0/16", dnsNamespace: "kube-system", dnsPodLabels: { "k8s-app": "kube-dns" }, networkPolicyEngine: "azure-npm" },
  azure: {
    subscriptionId: PLACEHOLDER_SUBSCRIPTION_ID,
    databaseResourceGroup: "matih-tenant-databases",
    databaseAccess: "private",
    databaseSubnetId: `/subscriptions/${PLACEHOLDER_SUBSCRIPTION_ID}/resourceGroups/matih-network/providers/Microsoft.Network/virtualNetworks/matih-aks/subnets/tenant-databases`,
    databasePrivateDnsZoneId: `/subscriptions/${PLACEHOLDER_SUBSCRIPTION_ID}/resourceGroups/matih-network/providers/Microsoft.Network/privateDnsZones/matih.private.postgres.database.azure.com`,
    databaseSubnetCidr: "10.20.1.0/24",
    databaseSubnetRegion: "eastus",
    databaseSubnets: {},
    clusterEgressIps: [],
    serviceHostIps: [],
  },
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
    services: DEFAULT_CHART_SERVICES,
  },
  images: {
    registry: "matih.azurecr.io",
    defaultTag: "latest",
    tags: {},
    flyway: "flyway/flyway:11-alpine",
    postgresClient: "postgres:16-alpine",
    pgbouncer: "bitnamilegacy/pgbouncer:1.24.1",
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
  capacity: {
    certificatesPerWeek: 50,
    publicIpsPerSubscription: 10,
    loadBalancerFrontends: 600,
    dnsZonesPerSubscription: 250,
    sharedServerMaxConnections: 1718,
    sharedServerReservedConnections: 15,
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
  ["kubernetes", ["context", "kubeconfig", "ciliumPolicyCidrMatchMode"]],
  ["alerts", ["slackWebhookSecret"]],
]);
/** Settings that are free-form maps, replaced rather than merged key by key. */
const RECORD_SETTINGS = new Set(["kubernetes.dnsPodLabels", "images.tags", "charts.services", "azure.databaseSubnets"]);

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
  if (!Array.isArray(settings.postgres.networkCidrs) || settings.postgres.networkCidrs.length === 0 || !settings.postgres.networkCidrs.every((c) => typeof c === "string" && CIDR.test(c))) {
    p("postgres.networkCidrs", "must be a non-empty list of IPv4 CIDRs such as 10.0.0.0/24");
  }
  if (typeof settings.kubernetes.serviceCidr !== "string" || !CIDR.test(settings.kubernetes.serviceCidr)) p("kubernetes.serviceCidr", "must be an IPv4 CIDR such as 10.0.0.0/16");
  const apiCidrs = settings.kubernetes.apiServerCidrs;
  if (!Array.isArray(apiCidrs) || !apiCidrs.every((c) => typeof c === "string" && CIDR.test(c))) {
    p("kubernetes.apiServerCidrs", "must be a list of IPv4 CIDRs such as 20.62.1.15/32");
  } else if (CIDR.test(settings.kubernetes.serviceCidr)) {
    for (const c of apiCidrs.filter((cidr) => cidrsOverlap(cidr, settings.kubernetes.serviceCidr))) {
      p("kubernetes.apiServerCidrs", `${c} is inside the Service CIDR ${settings.kubernetes.serviceCidr}: that is the kubernetes Service's ClusterIP, which egress rules never match after DNAT; give the API server's endpoint addresses (kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes)`);
    }
  }
  problems.push(...databaseAccessProblems(settings.azure));
  problems.push(...chartServiceProblems(settings.charts.services));
  if (!Number.isInteger(settings.postgres.port) || settings.postgres.port < 1 || settings.postgres.port > 65535) p("postgres.port", "must be a TCP port (1-65535)");
  if (!Array.isArray(settings.alerts.emails) || !settings.alerts.emails.every((e) => typeof e === "string" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e))) p("alerts.emails", "must be a list of e-mail addresses");
  const slack = settings.alerts.slackWebhookSecret;
  if (slack !== undefined && !(isPlainObject(slack) && [slack.namespace, slack.name].every((v) => typeof v === "string" && K8S_NAME.test(v)) && typeof slack.key === "string" && slack.key.length > 0)) {
    p("alerts.slackWebhookSecret", "must name a Kubernetes Secret as {namespace, name, key}; the webhook URL itself never goes in settings");
  }
  if (!Number.isInteger(settings.tls.readyTimeoutSeconds) || settings.tls.readyTimeoutSeconds <= 0) p("tls.readyTimeoutSeconds", "must be a positive whole number of seconds");
  if (!(NETWORK_POLICY_ENGINES as readonly unknown[]).includes(settings.kubernetes.networkPolicyEngine)) p("kubernetes.networkPolicyEngine", `must be one of ${NETWORK_POLICY_ENGINES.map((e) => `"${e}"`).join(", ")}: the cluster's network policy engine`);
  const cidrMode = settings.kubernetes.ciliumPolicyCidrMatchMode;
  if (cidrMode !== undefined && cidrMode !== "nodes") p("kubernetes.ciliumPolicyCidrMatchMode", 'must be "nodes" (Cilium\'s policy-cidr-match-mode) or left unset');
  for (const [field, v] of Object.entries(settings.capacity)) {
    if (!Number.isInteger(v) || (v as number) < 0) p(`capacity.${field}`, "must be a whole number, 0 or more");
  }
  for (const field of ["nsTtl", "aTtl"] as const) {
    if (!Number.isInteger(settings.dns[field]) || settings.dns[field] <= 0) p(`dns.${field}`, "must be a positive whole number of seconds");
  }
  if (problems.length > 0) throw new ValidationError(problems, "platform settings");
  return settings;
}

const AZURE_ID = /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/.+/i;
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;

/**
 * Enterprise tenants' dedicated servers must be reachable from the tenant's
 * pods and from this service's hosts: either privately or through firewall
 * rules. A configuration that gives neither is refused, naming what to set.
 */
function databaseAccessProblems(azure: PlatformSettings["azure"]): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const p = (field: string, message: string) => problems.push({ field: `azure.${field}`, message });
  const neither = 'or set azure.databaseAccess to "public" with azure.clusterEgressIps and azure.serviceHostIps';
  if (azure.databaseAccess === "private") {
    if (typeof azure.databaseSubnetId !== "string" || !AZURE_ID.test(azure.databaseSubnetId)) p("databaseSubnetId", `must be the resource id of the subnet delegated to the servers for private access (${neither})`);
    if (typeof azure.databasePrivateDnsZoneId !== "string" || !AZURE_ID.test(azure.databasePrivateDnsZoneId)) p("databasePrivateDnsZoneId", `must be the resource id of the servers' private DNS zone for private access (${neither})`);
    if (typeof azure.databaseSubnetCidr !== "string" || !CIDR.test(azure.databaseSubnetCidr)) p("databaseSubnetCidr", `must be the delegated subnet's IPv4 CIDR, which tenants' egress policy opens (${neither})`);
    if (typeof azure.databaseSubnetRegion !== "string" || !AZURE_REGIONS.includes(azure.databaseSubnetRegion)) {
      p("databaseSubnetRegion", `must be the Azure region of azure.databaseSubnetId's virtual network, e.g. eastus, got ${JSON.stringify(azure.databaseSubnetRegion ?? null)}`);
    }
    if (!isPlainObject(azure.databaseSubnets)) {
      p("databaseSubnets", "must map Azure regions to delegated subnets, e.g. {\"westeurope\": {\"subnetId\": \"/subscriptions/…/subnets/pg\", \"subnetCidr\": \"10.30.1.0/24\"}}");
    } else {
      for (const [region, subnet] of Object.entries(azure.databaseSubnets)) {
        if (!AZURE_REGIONS.includes(region)) p(`databaseSubnets.${region}`, "is not a supported Azure region");
        else if (region === azure.databaseSubnetRegion) p(`databaseSubnets.${region}`, `is azure.databaseSubnetRegion, served by azure.databaseSubnetId; give each region one subnet`);
        if (!isPlainObject(subnet) || typeof subnet.subnetId !== "string" || !AZURE_ID.test(subnet.subnetId) || typeof subnet.subnetCidr !== "string" || !CIDR.test(subnet.subnetCidr)) {
          p(`databaseSubnets.${region}`, "must be {subnetId, subnetCidr}: the resource id of a subnet delegated to the servers and its IPv4 CIDR");
        }
      }
    }
  } else if (azure.databaseAccess === "public") {
    const list = (field: "clusterEgressIps" | "serviceHostIps", what: string) => {
      const v = azure[field];
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string" && (IPV4.test(x) || CIDR.test(x)))) {
        p(field, `must list ${what} (IPv4 addresses or CIDRs) for public access, each gets a firewall rule; or set azure.databaseAccess to "private" with azure.databaseSubnetId, azure.databasePrivateDnsZoneId and azure.databaseSubnetCidr`);
      }
    };
    list("clusterEgressIps", "the cluster's outbound addresses");
    list("serviceHostIps", "the outbound addresses of the hosts running this service");
  } else {
    p("databaseAccess", 'must be "private" (azure.databaseSubnetId, azure.databasePrivateDnsZoneId, azure.databaseSubnetCidr) or "public" (azure.clusterEgressIps, azure.serviceHostIps)');
  }
  return problems;
}

function chartServiceProblems(services: PlatformSettings["charts"]["services"]): ValidationProblem[] {
  if (!isPlainObject(services)) return [{ field: "charts.services", message: "must map each chart to the Services it provides, e.g. {\"bi-service\": [{\"service\": \"bi-workbench\", \"port\": 3000}]}" }];
  const problems: ValidationProblem[] = [];
  for (const [chart, list] of Object.entries(services)) {
    const ok = Array.isArray(list) && list.every((s) => isPlainObject(s) && typeof s.service === "string" && K8S_NAME.test(s.service) && Number.isInteger(s.port) && (s.port as number) >= 1 && (s.port as number) <= 65535);
    if (!ok) problems.push({ field: `charts.services.${chart}`, message: "must be a list of {service, port} with a Kubernetes Service name and a TCP port" });
  }
  return problems;
}

function ipToNumber(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The first and last address of an IPv4 CIDR (or of a single address). */
export function cidrRange(cidrOrIp: string): { first: string; last: string } {
  const [ip, bitsText] = cidrOrIp.split("/");
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const size = 2 ** (32 - bits);
  const first = Math.floor(ipToNumber(ip!) / size) * size;
  const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
  return { first: toIp(first), last: toIp(first + size - 1) };
}

function cidrsOverlap(a: string, b: string): boolean {
  const ra = cidrRange(a);
  const rb = cidrRange(b);
  return ipToNumber(ra.first) <= ipToNumber(rb.last) && ipToNumber(rb.first) <= ipToNumber(ra.last);
}

/**
 * The delegated subnet a dedicated server in `region` joins under private
 * access: `databaseSubnetId` in its own region, else that region's entry of
 * `databaseSubnets`; null where there is none (the tenant is refused, see
 * model/placement.ts).
 */
export function databaseSubnetFor(settings: PlatformSettings, region: string): DatabaseSubnet | null {
  const a = settings.azure;
  if (region === a.databaseSubnetRegion) return { subnetId: a.databaseSubnetId, subnetCidr: a.databaseSubnetCidr };
  return Object.hasOwn(a.databaseSubnets, region) ? a.databaseSubnets[region]! : null;
}

/** The image reference of a matih service: registry, service name and its tag. */
export function serviceImage(settings: PlatformSettings, service: string): { repository: string; tag: string } {
  return { repository: `${settings.images.registry}/${service}`, tag: settings.images.tags[service] ?? settings.images.defaultTag };
}

/** An image a run deploys, by the setting that chooses it. */
export interface DeployedImage {
  /** The setting, e.g. `images.flyway` or `images.tags.ai-service`. */
  readonly setting: string;
  /** Its value: an image reference, or a tag of the matih images. */
  readonly value: string;
  /** The full reference the cluster pulls (the first service's, for a tag several services share). */
  readonly image: string;
  /** The matih services a tag setting applies to; empty for an image setting. */
  readonly services: readonly string[];
}

/**
 * Every image a run up to `lastPhase` deploys, with the setting it comes
 * from: Flyway and psql (phase 2, the psql check again in phase 4), PgBouncer
 * (phase 2, tiers with a pool), the matih services (phases 3 and 5, by tag),
 * the collector, telemetrygen and curl (phase 10). The real-run preflight
 * requires each pinned by digest.
 */
export function deployedImages(settings: PlatformSettings, run: { readonly lastPhase: number; readonly pooled: boolean }): DeployedImage[] {
  const i = settings.images;
  const image = (setting: keyof PlatformSettings["images"] & string, value: string): DeployedImage => ({ setting: `images.${setting}`, value, image: value, services: [] });
  const out: DeployedImage[] = [];
  if (run.lastPhase >= 2) {
    out.push(image("flyway", i.flyway), image("postgresClient", i.postgresClient));
    if (run.pooled) out.push(image("pgbouncer", i.pgbouncer));
  }
  // MATIH_CHARTS lists phase 3's three charts, then phase 5's.
  const services = MATIH_CHARTS.filter((_, n) => run.lastPhase >= (n < 3 ? 3 : 5));
  const byDefault = services.filter((service) => !Object.hasOwn(i.tags, service));
  for (const service of services.filter((s) => Object.hasOwn(i.tags, s))) {
    out.push({ setting: `images.tags.${service}`, value: i.tags[service]!, image: `${i.registry}/${service}:${i.tags[service]}`, services: [service] });
  }
  if (byDefault.length > 0) out.push({ setting: "images.defaultTag", value: i.defaultTag, image: `${i.registry}/${byDefault[0]}:${i.defaultTag}`, services: byDefault });
  if (run.lastPhase >= 10) out.push(image("otelCollector", i.otelCollector), image("telemetrygen", i.telemetrygen), image("curl", i.curl));
  return out;
}
