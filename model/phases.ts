/**
 * The ten provisioning phases, in the order they run. This table is the single
 * source for phase numbers, names, the Pulumi type token of each phase's
 * component (how engine events are mapped back to a phase) and the typical
 * duration range used by the offline engine's pacing.
 */
export interface PhaseDefinition {
  /** 1-based position in the chain. */
  readonly number: number;
  /** Stable phase name, as used in APIs, audit rows and events. */
  readonly name: PhaseName;
  /** Type token of the phase's ComponentResource. */
  readonly typeToken: string;
  /** Typical duration range in seconds on real infrastructure. */
  readonly typicalSeconds: readonly [number, number];
  /** One line for humans. */
  readonly summary: string;
}

export const PHASE_NAMES = [
  "CREATE_NAMESPACE",
  "SETUP_DATABASE",
  "DEPLOY_CORE_SERVICES",
  "CONFIGURE_NETWORKING",
  "DEPLOY_DATA_SERVICES",
  "DEPLOY_INGRESS_CONTROLLER",
  "CREATE_DNS_ZONE",
  "CREATE_TENANT_INGRESS",
  "DEPLOY_MONITORING",
  "SETUP_OBSERVABILITY",
] as const;

export type PhaseName = (typeof PHASE_NAMES)[number];

export const PHASES: readonly PhaseDefinition[] = [
  { number: 1, name: "CREATE_NAMESPACE", typeToken: "matih:namespace:TenantNamespace", typicalSeconds: [5, 30], summary: "Namespace, labels, service account, RBAC, quota" },
  { number: 2, name: "SETUP_DATABASE", typeToken: "matih:database:TenantDatabase", typicalSeconds: [30, 120], summary: "Schema or dedicated server, role, migrations, credentials" },
  { number: 3, name: "DEPLOY_CORE_SERVICES", typeToken: "matih:services:CoreServices", typicalSeconds: [60, 300], summary: "query-engine, ai-service, catalog-service" },
  { number: 4, name: "CONFIGURE_NETWORKING", typeToken: "matih:networking:NetworkIsolation", typicalSeconds: [10, 30], summary: "NetworkPolicies for tenant isolation" },
  { number: 5, name: "DEPLOY_DATA_SERVICES", typeToken: "matih:services:DataServices", typicalSeconds: [60, 300], summary: "Pipeline, semantic layer, BI, data quality, ML, render" },
  { number: 6, name: "DEPLOY_INGRESS_CONTROLLER", typeToken: "matih:ingress:IngressController", typicalSeconds: [30, 120], summary: "Per-tenant ingress-nginx and its load-balancer IP" },
  { number: 7, name: "CREATE_DNS_ZONE", typeToken: "matih:dns:TenantDnsZone", typicalSeconds: [10, 60], summary: "Child zone, NS delegation, A records" },
  { number: 8, name: "CREATE_TENANT_INGRESS", typeToken: "matih:ingress:TenantIngress", typicalSeconds: [10, 30], summary: "Certificate and Ingress with TLS" },
  { number: 9, name: "DEPLOY_MONITORING", typeToken: "matih:monitoring:TenantMonitoring", typicalSeconds: [30, 60], summary: "Prometheus, dashboards, alert rules and routes" },
  { number: 10, name: "SETUP_OBSERVABILITY", typeToken: "matih:observability:TenantObservability", typicalSeconds: [10, 30], summary: "Logs, traces, collector, pipeline check" },
];

export const PHASE_COUNT = PHASES.length;

const byToken = new Map(PHASES.map((p) => [p.typeToken, p]));
const byName = new Map(PHASES.map((p) => [p.name, p]));

/** The phase whose component has this type token, or undefined. */
export function phaseByTypeToken(typeToken: string): PhaseDefinition | undefined {
  return byToken.get(typeToken);
}

/** The phase with this number; throws on a number outside 1..10. */
export function phaseByNumber(n: number): PhaseDefinition {
  const phase = PHASES[n - 1];
  if (!Number.isInteger(n) || phase === undefined) {
    throw new RangeError(`phase number must be an integer from 1 to ${PHASE_COUNT}, got ${n}`);
  }
  return phase;
}

export function phaseByName(name: string): PhaseDefinition | undefined {
  return byName.get(name as PhaseName);
}

/**
 * The phase a resource URN belongs to: the innermost phase component type in the
 * URN's qualified type chain (`parent$child$...`). Null for resources outside any
 * phase (providers, the stack itself).
 */
export function phaseOfUrn(urn: string): PhaseDefinition | null {
  const qualifiedType = urn.split("::")[2] ?? "";
  const chain = qualifiedType.split("$");
  for (let i = chain.length - 1; i >= 0; i--) {
    const phase = byToken.get(chain[i]!);
    if (phase) return phase;
  }
  return null;
}
