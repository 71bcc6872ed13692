import * as azure from "@pulumi/azure-native";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { TenantDatabase } from "../components/02-database.ts";
import { TenantDnsZone } from "../components/07-dns-zone.ts";
import { IngressController } from "../components/06-ingress-controller.ts";
import { TenantIngress } from "../components/08-tenant-ingress.ts";
import { TenantMonitoring } from "../components/09-monitoring.ts";
import { TenantNamespace } from "../components/01-namespace.ts";
import { NetworkIsolation } from "../components/04-networking.ts";
import { TenantObservability } from "../components/10-observability.ts";
import { CoreServices } from "../components/03-core-services.ts";
import { DataServices } from "../components/05-data-services.ts";
import { PHASE_COUNT } from "../model/phases.ts";
import { serviceImage, type PlatformSettings } from "../model/settings.ts";
import { namespaceName, postgresIdentifier, type TenantSpec } from "../model/spec.ts";
import { tierProfile } from "../model/tiers.ts";

export { PROJECT_NAME } from "../model/constants.ts";

export interface TenantProgramOptions {
  /**
   * Last phase to declare (1 to 10). Phases after it are left out, so an
   * update with `lastPhase: k` rolls a tenant back to the end of phase k and
   * Pulumi deletes the rest in reverse dependency order. Default 10.
   */
  lastPhase?: number;
}

/**
 * What a tenant stack exports. Outputs of phases beyond `lastPhase` are
 * absent. No output holds a secret value: the credentials are exported by the
 * name of their Secret.
 */
export interface TenantStackOutputs {
  tenantId: string;
  slug: string;
  tier: string;
  lastPhase: number;
  namespace?: pulumi.Output<string>;
  credentialsSecretName?: pulumi.Output<string>;
  databaseSchema?: pulumi.Output<string>;
  loadBalancerIp?: pulumi.Output<string>;
  ingressClassName?: pulumi.Output<string>;
  zoneName?: pulumi.Output<string>;
  zoneNameServers?: pulumi.Output<string[]>;
  urls?: pulumi.Output<{ app: string; api: string; bi: string }>;
  prometheusUrl?: pulumi.Output<string>;
  collectorEndpoint?: pulumi.Output<string>;
}

/** Checks `lastPhase` and returns it, defaulting to all phases. */
export function resolveLastPhase(lastPhase: number | undefined): number {
  const value = lastPhase ?? PHASE_COUNT;
  if (!Number.isInteger(value) || value < 1 || value > PHASE_COUNT) {
    throw new RangeError(`lastPhase must be a whole number from 1 to ${PHASE_COUNT}, got ${lastPhase}`);
  }
  return value;
}

/**
 * The per-tenant Pulumi program: the ten phase components chained by
 * `dependsOn`, with explicitly configured providers. The spec and settings
 * must already be validated (see validateTenantSpec / resolvePlatformSettings).
 */
export function tenantProgram(spec: TenantSpec, settings: PlatformSettings, options: TenantProgramOptions = {}): TenantStackOutputs {
  const lastPhase = resolveLastPhase(options.lastPhase);
  const profile = tierProfile(spec.tier);
  const ns = namespaceName(spec.slug);
  const outputs: TenantStackOutputs = { tenantId: spec.id, slug: spec.slug, tier: spec.tier, lastPhase };

  // Providers are explicit so that a run never falls back to whatever context
  // or credentials the host happens to have.
  const kubernetes = new k8s.Provider("kubernetes", {
    ...(settings.kubernetes.context ? { context: settings.kubernetes.context } : {}),
    // Credentials inside: kept as a secret in state and renders.
    ...(settings.kubernetes.kubeconfig ? { kubeconfig: pulumi.secret(settings.kubernetes.kubeconfig) } : {}),
    enableServerSideApply: true,
    deleteUnreachable: false,
  });
  const azureNative = new azure.Provider("azure-native", {
    subscriptionId: settings.azure.subscriptionId,
    location: spec.region,
  });
  const providers = { kubernetes, "azure-native": azureNative };

  // Each phase depends on the one before; a phase beyond lastPhase is not declared.
  const phases: pulumi.Resource[] = [];
  const after = (): pulumi.ComponentResourceOptions => ({ providers, dependsOn: phases.slice(-1) });
  const declare = <T extends pulumi.Resource>(phase: number, make: () => T): T | undefined => {
    if (phase > lastPhase) return undefined;
    const component = make();
    phases.push(component);
    return component;
  };

  const namespace = declare(1, () => new TenantNamespace("namespace", {
    tenantId: spec.id,
    slug: spec.slug,
    tier: spec.tier,
    region: spec.region,
    provisionedAt: spec.requestedAt,
    provisionedBy: spec.requestedBy,
    quota: profile.quota,
    containerDefaults: profile.containerDefaults,
  }, after()))!;
  outputs.namespace = namespace.namespaceName;

  const database = declare(2, () => new TenantDatabase("database", {
    tenantId: spec.id,
    slug: spec.slug,
    namespace: namespace.namespaceName,
    identifier: postgresIdentifier(spec.slug),
    strategy: profile.database.strategy,
    connectionPool: profile.database.connectionPool,
    dedicatedServer: profile.database.dedicatedServer,
    roleConnectionLimit: profile.database.roleConnectionLimit,
    ...(profile.database.dedicatedServer
      ? {
        azure: {
          resourceGroupName: settings.azure.databaseResourceGroup,
          location: spec.region,
          ...(settings.azure.databaseSubnetId ? { subnetId: settings.azure.databaseSubnetId } : {}),
          ...(settings.azure.databasePrivateDnsZoneId ? { privateDnsZoneId: settings.azure.databasePrivateDnsZoneId } : {}),
        },
      }
      : {
        shared: {
          host: settings.postgres.host,
          port: settings.postgres.port,
          database: settings.postgres.database,
          adminUser: settings.postgres.adminUser,
          // Empty only in offline renders; the Pulumi engine refuses a real run without it.
          adminPassword: pulumi.secret(process.env[settings.postgres.adminPasswordEnv] ?? ""),
          sslMode: settings.postgres.sslMode,
        },
      }),
    images: { flyway: settings.images.flyway, postgresClient: settings.images.postgresClient, pgbouncer: settings.images.pgbouncer },
  }, after()));
  if (database) {
    outputs.credentialsSecretName = database.credentialsSecretName;
    outputs.databaseSchema = database.schemaName;
  }

  const releaseSettings = (service: { replicas: number; resources: typeof profile.coreServices.resources }) => ({
    namespace: namespace.namespaceName,
    tenantId: spec.id,
    slug: spec.slug,
    chartRepository: settings.charts.repository,
    chartVersion: settings.charts.version,
    image: (name: string) => serviceImage(settings, name),
    credentialsSecretName: database!.credentialsSecretName,
    replicas: service.replicas,
    resources: service.resources,
  });
  const core = declare(3, () => new CoreServices("core-services", releaseSettings(profile.coreServices), after()));

  declare(4, () => new NetworkIsolation("networking", {
    slug: spec.slug,
    namespace: namespace.namespaceName,
    controlPlaneNamespace: settings.controlPlaneNamespace,
    databaseCidrs: settings.postgres.networkCidrs,
    databasePort: settings.postgres.port,
    dns: { namespace: settings.kubernetes.dnsNamespace, podLabels: { ...settings.kubernetes.dnsPodLabels } },
    apiServerCidrs: settings.kubernetes.apiServerCidrs,
    telemetryNamespaces: [settings.observability.namespace, settings.observability.monitoringNamespace],
  }, after()));

  declare(5, () => new DataServices("data-services", { ...releaseSettings(profile.dataServices), coreReleases: core!.releases }, after()));

  const ingressController = declare(6, () => new IngressController("ingress-controller", {
    slug: spec.slug,
    namespace: namespace.namespaceName,
    chartRepository: settings.charts.ingressNginxRepository,
    chartVersion: settings.charts.ingressNginxVersion,
  }, after()));
  if (ingressController) {
    outputs.loadBalancerIp = ingressController.loadBalancerIp;
    outputs.ingressClassName = ingressController.ingressClassName;
  }

  const zone = declare(7, () => new TenantDnsZone("dns", {
    slug: spec.slug,
    tenantId: spec.id,
    baseDomain: settings.baseDomain,
    parentZoneName: settings.dns.parentZoneName,
    resourceGroupName: settings.dns.resourceGroup,
    loadBalancerIp: ingressController!.loadBalancerIp,
    nsTtl: settings.dns.nsTtl,
    aTtl: settings.dns.aTtl,
  }, after()));
  if (zone) {
    outputs.zoneName = zone.zoneName;
    outputs.zoneNameServers = zone.nameServers;
  }

  const ingress = declare(8, () => new TenantIngress("tenant-ingress", {
    slug: spec.slug,
    namespace: namespace.namespaceName,
    baseDomain: settings.baseDomain,
    ingressClassName: ingressController!.ingressClassName,
    clusterIssuer: settings.tls.clusterIssuer,
    certificateTimeoutSeconds: settings.tls.readyTimeoutSeconds,
  }, after()));
  if (ingress) outputs.urls = ingress.urls;

  const monitoring = declare(9, () => new TenantMonitoring("monitoring", {
    slug: spec.slug,
    namespace: namespace.namespaceName,
    replicas: profile.monitoring.prometheusReplicas,
    retention: profile.monitoring.retention,
    resources: profile.monitoring.resources,
    alertmanagerNamespace: settings.observability.monitoringNamespace,
    platformPrometheus: settings.observability.platformPrometheus,
    email: { to: settings.alerts.emails, from: settings.alerts.emailFrom, smarthost: settings.alerts.smarthost },
    ...(settings.alerts.slackWebhookSecret ? { slack: { secretRef: { ...settings.alerts.slackWebhookSecret }, channel: settings.alerts.slackChannel } } : {}),
  }, after()));
  if (monitoring) outputs.prometheusUrl = monitoring.prometheusUrl;

  const observability = declare(10, () => new TenantObservability("observability", {
    slug: spec.slug,
    tenantId: spec.id,
    namespace: ns,
    observabilityNamespace: settings.observability.namespace,
    lokiUrl: settings.observability.lokiUrl,
    tempoOtlpEndpoint: settings.observability.tempoOtlpEndpoint,
    tempoUrl: settings.observability.tempoUrl,
    sharedConfigMaps: { tempoOverrides: settings.observability.tempoOverridesConfigMap },
    traceRetention: profile.observability.traceRetention,
    logRetention: profile.observability.logRetention,
    collectorReplicas: profile.observability.collectorReplicas,
    collectorResources: profile.observability.collectorResources,
    images: { otelCollector: settings.images.otelCollector, telemetrygen: settings.images.telemetrygen, curl: settings.images.curl },
  }, after()));
  if (observability) outputs.collectorEndpoint = observability.collectorEndpoint;

  return outputs;
}
