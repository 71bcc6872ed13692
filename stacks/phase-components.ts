/**
 * The component column of the phase registry (model/phases.ts): for each
 * phase, the component that implements it, how its arguments follow from the
 * tenant spec, the platform settings, the tier profile and the phases before
 * it, and the stack outputs it contributes. `tenantProgram` walks the registry
 * and calls these in order. The map is keyed by phase name and typed so that
 * a registry row without its component, or a component that does not produce
 * exactly the row's outputs, does not compile.
 */
import * as pulumi from "@pulumi/pulumi";
import { TenantNamespace } from "../components/01-namespace.ts";
import { CREDENTIALS_SECRET_NAME, TenantDatabase, type DedicatedServerAccess } from "../components/02-database.ts";
import { CORE_SERVICES, CoreServices } from "../components/03-core-services.ts";
import { NetworkIsolation } from "../components/04-networking.ts";
import { DATA_SERVICES, DataServices } from "../components/05-data-services.ts";
import { IngressController } from "../components/06-ingress-controller.ts";
import { TenantDnsZone } from "../components/07-dns-zone.ts";
import { TenantIngress, unprovidedIngressBackends, type ServiceBackend } from "../components/08-tenant-ingress.ts";
import { TenantMonitoring } from "../components/09-monitoring.ts";
import { TenantObservability } from "../components/10-observability.ts";
import type { PhaseName, PhaseOutputName } from "../model/phases.ts";
import { dedicatedServerHighAvailability } from "../model/placement.ts";
import { cidrRange, databaseSubnetFor, serviceImage, type PlatformSettings } from "../model/settings.ts";
import { postgresIdentifier, ValidationError, type TenantSpec } from "../model/spec.ts";
import type { ConnectionPoolProfile, TierProfile } from "../model/tiers.ts";

/** Secrets the program needs, passed in by whoever runs it (never read from the environment here). */
export interface TenantCredentials {
  /**
   * Password of the shared Postgres server's admin login
   * (`settings.postgres.adminUser`). Default: empty, which only an offline
   * render accepts; the Pulumi engine refuses a real run without it.
   */
  readonly postgresAdminPassword?: string;
}

/** The component each phase declares. */
export interface PhaseComponentTypes {
  CREATE_NAMESPACE: TenantNamespace;
  SETUP_DATABASE: TenantDatabase;
  DEPLOY_CORE_SERVICES: CoreServices;
  CONFIGURE_NETWORKING: NetworkIsolation;
  DEPLOY_DATA_SERVICES: DataServices;
  DEPLOY_INGRESS_CONTROLLER: IngressController;
  CREATE_DNS_ZONE: TenantDnsZone;
  CREATE_TENANT_INGRESS: TenantIngress;
  DEPLOY_MONITORING: TenantMonitoring;
  SETUP_OBSERVABILITY: TenantObservability;
}

/** What a phase's arguments may be made of. */
export interface PhaseContext {
  readonly spec: TenantSpec;
  readonly settings: PlatformSettings;
  /** The tier's profile; in the first update of a tier change, widened to hold both tiers' workloads (model/tier-change.ts). */
  readonly profile: TierProfile;
  /** The old tier's connection pool, kept through the first update of a change to a tier without one; else null. */
  readonly retiringConnectionPool: ConnectionPoolProfile | null;
  /**
   * Whether the tenant's workloads may reach a dedicated server: its tier has
   * one, or a tier change to or from one is under way (its expand and
   * switch). Phase 4 then lets them reach it before the credentials Secret
   * points there, and until the contract: phase 2's Jobs run on the new
   * Secret before phase 4 is updated, and the old pods talk to the old
   * server until they are replaced.
   */
  readonly reachesDedicatedServer: boolean;
  readonly credentials: TenantCredentials;
  /** Whether phases read back what their releases made; false in a teardown (see TenantProgramOptions.readBack). */
  readonly readBack: boolean;
  /** `matih-{slug}` */
  readonly namespace: string;
  /** The component of an earlier phase; phases only ever look back. */
  earlier<N extends PhaseName>(phase: N): PhaseComponentTypes[N];
}

export interface PhaseComponent<N extends PhaseName> {
  /** Declares the phase's component with `opts` (providers and the dependency on the phase before). */
  declare(context: PhaseContext, opts: pulumi.ComponentResourceOptions): PhaseComponentTypes[N];
  /** The stack outputs the phase contributes, exactly those its registry row names. */
  outputs(component: PhaseComponentTypes[N]): { [K in PhaseOutputName<N>]: pulumi.Output<unknown> };
}

const none = () => ({});

/** The matih charts released by phases up to `throughPhase` (3: core services, 5: data services). */
function chartsThrough(throughPhase: number): string[] {
  return [...(throughPhase >= 3 ? CORE_SERVICES : []), ...(throughPhase >= 5 ? DATA_SERVICES : [])];
}

/** The Services that releases of phases up to `throughPhase` provide, by the charts' contract (`charts.services`). */
export function providedServices(settings: PlatformSettings, throughPhase: number): ServiceBackend[] {
  return chartsThrough(throughPhase).flatMap((chart) => settings.charts.services[chart] ?? []);
}

/** Refuses settings under which the tenant Ingress would route to a Service no earlier phase provides. */
export function assertIngressBackendsProvided(settings: PlatformSettings): void {
  const missing = unprovidedIngressBackends(providedServices(settings, 5));
  if (missing.length > 0) {
    throw new ValidationError([{
      field: "charts.services",
      message: `no chart of phases 3 or 5 (${chartsThrough(5).join(", ")}) provides the Ingress backend of ${missing.join(", ")}: the Ingress would wait for it forever`,
    }], "platform settings");
  }
}

/** How a dedicated server in `region` is reached, from the settings (already validated, placement included). */
export function dedicatedServerAccess(settings: PlatformSettings, region: string): DedicatedServerAccess {
  const a = settings.azure;
  if (a.databaseAccess === "private") {
    // A server joins only a subnet of its own region (model/placement.ts refuses a region without one).
    const subnet = databaseSubnetFor(settings, region);
    if (subnet === null) throw new Error(`no delegated database subnet in region ${region}`);
    return { kind: "private", subnetId: subnet.subnetId, privateDnsZoneId: a.databasePrivateDnsZoneId };
  }
  const rule = (prefix: string) => (ip: string, i: number) => {
    const { first, last } = cidrRange(ip);
    return { name: `${prefix}-${i + 1}`, startIpAddress: first, endIpAddress: last };
  };
  return { kind: "public", allowed: [...a.clusterEgressIps.map(rule("cluster-egress")), ...a.serviceHostIps.map(rule("service-host"))] };
}

/** Where a tenant's database endpoints live, for its egress policy: the shared network, plus the delegated subnet (of the tenant's region) of a private dedicated server. */
export function databaseCidrs(settings: PlatformSettings, dedicated: boolean, region: string): string[] {
  const cidrs = [...settings.postgres.networkCidrs];
  const subnetCidr = databaseSubnetFor(settings, region)?.subnetCidr;
  if (dedicated && settings.azure.databaseAccess === "private" && subnetCidr !== undefined && !cidrs.includes(subnetCidr)) cidrs.push(subnetCidr);
  return cidrs;
}

/** Settings of the matih service releases of phases 3 and 5. */
function releaseSettings(c: PhaseContext, service: { replicas: number; resources: TierProfile["coreServices"]["resources"] }) {
  const { spec, settings } = c;
  return {
    namespace: c.earlier("CREATE_NAMESPACE").namespaceName,
    tenantId: spec.id,
    slug: spec.slug,
    chartRepository: settings.charts.repository,
    chartVersion: settings.charts.version,
    image: (name: string) => serviceImage(settings, name),
    // The Secret's fixed name, not phase 2's output: a tier change replaces the Secret, its name output is unknown
    // in the preview, and the CLI then refuses the reviewed plan for every release whose values held it (found by a
    // real run). Phase 3 comes after phase 2 all the same.
    credentialsSecretName: CREDENTIALS_SECRET_NAME,
    // Known in a preview (see TenantDatabase): the pods roll when the connection settings change.
    credentialsChecksum: c.earlier("SETUP_DATABASE").credentialsChecksum,
    replicas: service.replicas,
    resources: service.resources,
  };
}

export const PHASE_COMPONENTS: { readonly [N in PhaseName]: PhaseComponent<N> } = {
  CREATE_NAMESPACE: {
    declare: ({ spec, profile }, opts) => new TenantNamespace("namespace", {
      tenantId: spec.id,
      slug: spec.slug,
      tier: spec.tier,
      region: spec.region,
      provisionedAt: spec.requestedAt,
      provisionedBy: spec.requestedBy,
      quota: profile.quota,
      containerDefaults: profile.containerDefaults,
    }, opts),
    outputs: (namespace) => ({ namespace: namespace.namespaceName }),
  },

  SETUP_DATABASE: {
    declare: (c, opts) => {
      const { spec, settings, profile } = c;
      return new TenantDatabase("database", {
        tenantId: spec.id,
        slug: spec.slug,
        namespace: c.earlier("CREATE_NAMESPACE").namespaceName,
        identifier: postgresIdentifier(spec.slug),
        strategy: profile.database.strategy,
        connectionPool: profile.database.connectionPool,
        retiringConnectionPool: c.retiringConnectionPool,
        // Zone-redundant HA only where the region has zones (model/placement.ts).
        dedicatedServer: profile.database.dedicatedServer && { ...profile.database.dedicatedServer, highAvailability: dedicatedServerHighAvailability(profile.database.dedicatedServer, spec.region) },
        roleConnectionLimit: profile.database.roleConnectionLimit,
        ...(profile.database.dedicatedServer
          ? { azure: { resourceGroupName: settings.azure.databaseResourceGroup, location: spec.region, access: dedicatedServerAccess(settings, spec.region) } }
          : {
            shared: {
              host: settings.postgres.host,
              port: settings.postgres.port,
              database: settings.postgres.database,
              adminUser: settings.postgres.adminUser,
              adminPassword: pulumi.secret(c.credentials.postgresAdminPassword ?? ""),
              sslMode: settings.postgres.sslMode,
            },
          }),
        images: { flyway: settings.images.flyway, postgresClient: settings.images.postgresClient, pgbouncer: settings.images.pgbouncer },
      }, opts);
    },
    outputs: (database) => ({ credentialsSecretName: database.credentialsSecretName, databaseSchema: database.schemaName }),
  },

  DEPLOY_CORE_SERVICES: {
    declare: (c, opts) => new CoreServices("core-services", releaseSettings(c, c.profile.coreServices), opts),
    outputs: none,
  },

  CONFIGURE_NETWORKING: {
    declare: (c, opts) => new NetworkIsolation("networking", {
      slug: c.spec.slug,
      namespace: c.earlier("CREATE_NAMESPACE").namespaceName,
      controlPlaneNamespace: c.settings.controlPlaneNamespace,
      databaseCidrs: databaseCidrs(c.settings, c.reachesDedicatedServer, c.spec.region),
      publicDatabaseEndpoints: c.reachesDedicatedServer && c.settings.azure.databaseAccess === "public",
      databasePort: c.settings.postgres.port,
      dns: { namespace: c.settings.kubernetes.dnsNamespace, podLabels: { ...c.settings.kubernetes.dnsPodLabels } },
      apiServerCidrs: c.settings.kubernetes.apiServerCidrs,
      telemetryNamespaces: [c.settings.observability.namespace, c.settings.observability.monitoringNamespace],
      // Phase 2's check ran before these policies on a first run; this one runs under them.
      databaseCheck: { image: c.settings.images.postgresClient, credentialsSecretName: CREDENTIALS_SECRET_NAME, credentialsChecksum: c.earlier("SETUP_DATABASE").credentialsChecksum },
    }, opts),
    outputs: none,
  },

  DEPLOY_DATA_SERVICES: {
    declare: (c, opts) => new DataServices("data-services", {
      ...releaseSettings(c, c.profile.dataServices),
      coreReleases: c.earlier("DEPLOY_CORE_SERVICES").releases,
      contractServices: c.readBack ? Object.fromEntries(chartsThrough(5).map((chart) => [chart, c.settings.charts.services[chart] ?? []])) : {},
    }, opts),
    outputs: none,
  },

  DEPLOY_INGRESS_CONTROLLER: {
    declare: (c, opts) => new IngressController("ingress-controller", {
      slug: c.spec.slug,
      namespace: c.earlier("CREATE_NAMESPACE").namespaceName,
      chartRepository: c.settings.charts.ingressNginxRepository,
      chartVersion: c.settings.charts.ingressNginxVersion,
      readLoadBalancerAddress: c.readBack,
    }, opts),
    outputs: (controller) => ({ loadBalancerIp: controller.loadBalancerIp, ingressClassName: controller.ingressClassName }),
  },

  CREATE_DNS_ZONE: {
    declare: (c, opts) => new TenantDnsZone("dns", {
      slug: c.spec.slug,
      tenantId: c.spec.id,
      baseDomain: c.settings.baseDomain,
      parentZoneName: c.settings.dns.parentZoneName,
      resourceGroupName: c.settings.dns.resourceGroup,
      loadBalancerIp: c.earlier("DEPLOY_INGRESS_CONTROLLER").loadBalancerIp,
      nsTtl: c.settings.dns.nsTtl,
      aTtl: c.settings.dns.aTtl,
    }, opts),
    outputs: (zone) => ({ zoneName: zone.zoneName, zoneNameServers: zone.nameServers }),
  },

  CREATE_TENANT_INGRESS: {
    declare: (c, opts) => new TenantIngress("tenant-ingress", {
      slug: c.spec.slug,
      namespace: c.earlier("CREATE_NAMESPACE").namespaceName,
      baseDomain: c.settings.baseDomain,
      ingressClassName: c.earlier("DEPLOY_INGRESS_CONTROLLER").ingressClassName,
      clusterIssuer: c.settings.tls.clusterIssuer,
      certificateTimeoutSeconds: c.settings.tls.readyTimeoutSeconds,
      providedServices: providedServices(c.settings, 5),
    }, opts),
    outputs: (ingress) => ({ urls: ingress.urls }),
  },

  DEPLOY_MONITORING: {
    declare: ({ spec, settings, profile, earlier }, opts) => new TenantMonitoring("monitoring", {
      slug: spec.slug,
      namespace: earlier("CREATE_NAMESPACE").namespaceName,
      replicas: profile.monitoring.prometheusReplicas,
      retention: profile.monitoring.retention,
      resources: profile.monitoring.resources,
      alertmanagerNamespace: settings.observability.monitoringNamespace,
      platformPrometheus: settings.observability.platformPrometheus,
      email: { to: settings.alerts.emails, from: settings.alerts.emailFrom, smarthost: settings.alerts.smarthost },
      ...(settings.alerts.slackWebhookSecret ? { slack: { secretRef: { ...settings.alerts.slackWebhookSecret }, channel: settings.alerts.slackChannel } } : {}),
    }, opts),
    outputs: (monitoring) => ({ prometheusUrl: monitoring.prometheusUrl }),
  },

  SETUP_OBSERVABILITY: {
    declare: ({ spec, settings, profile, namespace }, opts) => new TenantObservability("observability", {
      slug: spec.slug,
      tenantId: spec.id,
      namespace,
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
    }, opts),
    outputs: (observability) => ({ collectorEndpoint: observability.collectorEndpoint }),
  },
};
