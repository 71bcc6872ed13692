/**
 * The phase registry: one row per provisioning phase, in the order they run.
 * It is the single source for phase numbers, names, the Pulumi type token of
 * each phase's component (the component takes it from here; engine events are
 * mapped back to a phase by it), the stack outputs the phase contributes, and
 * the typical duration used by the offline engine's pacing. API schemas, SQL
 * and tests take their bounds from it. The component that implements a row is
 * bound to it in stacks/phase-components.ts (this module loads no Pulumi).
 */
interface PhaseRow {
  /** 1-based position in the chain. */
  readonly number: number;
  /** Stable phase name, as used in APIs, audit rows and events. */
  readonly name: string;
  /** Type token of the phase's ComponentResource, `matih:<module>:<Type>`. */
  readonly typeToken: string;
  /** Stack outputs this phase adds (absent when the stack stops before it). */
  readonly outputs: readonly string[];
  /** Typical duration range in seconds on real infrastructure. */
  readonly typicalSeconds: readonly [number, number];
  /** One line for humans. */
  readonly summary: string;
}

export const PHASES = [
  { number: 1, name: "CREATE_NAMESPACE", typeToken: "matih:namespace:TenantNamespace", outputs: ["namespace"], typicalSeconds: [5, 30], summary: "Namespace, labels, service account, RBAC, quota" },
  { number: 2, name: "SETUP_DATABASE", typeToken: "matih:database:TenantDatabase", outputs: ["credentialsSecretName", "databaseSchema"], typicalSeconds: [30, 120], summary: "Schema or dedicated server, role, migrations, credentials" },
  { number: 3, name: "DEPLOY_CORE_SERVICES", typeToken: "matih:services:CoreServices", outputs: [], typicalSeconds: [60, 300], summary: "query-engine, ai-service, catalog-service" },
  { number: 4, name: "CONFIGURE_NETWORKING", typeToken: "matih:networking:NetworkIsolation", outputs: [], typicalSeconds: [10, 30], summary: "NetworkPolicies for tenant isolation" },
  { number: 5, name: "DEPLOY_DATA_SERVICES", typeToken: "matih:services:DataServices", outputs: [], typicalSeconds: [60, 300], summary: "Pipeline, semantic layer, BI, data quality, ML, render" },
  { number: 6, name: "DEPLOY_INGRESS_CONTROLLER", typeToken: "matih:ingress:IngressController", outputs: ["loadBalancerIp", "ingressClassName"], typicalSeconds: [30, 120], summary: "Per-tenant ingress-nginx and its load-balancer IP" },
  { number: 7, name: "CREATE_DNS_ZONE", typeToken: "matih:dns:TenantDnsZone", outputs: ["zoneName", "zoneNameServers"], typicalSeconds: [10, 60], summary: "Child zone, NS delegation, A records" },
  { number: 8, name: "CREATE_TENANT_INGRESS", typeToken: "matih:ingress:TenantIngress", outputs: ["urls"], typicalSeconds: [10, 30], summary: "Certificate and Ingress with TLS" },
  { number: 9, name: "DEPLOY_MONITORING", typeToken: "matih:monitoring:TenantMonitoring", outputs: ["prometheusUrl"], typicalSeconds: [30, 60], summary: "Prometheus, dashboards, alert rules and routes" },
  { number: 10, name: "SETUP_OBSERVABILITY", typeToken: "matih:observability:TenantObservability", outputs: ["collectorEndpoint"], typicalSeconds: [10, 30], summary: "Logs, traces, collector, pipeline check" },
] as const satisfies readonly PhaseRow[];

export type PhaseName = (typeof PHASES)[number]["name"];
/** The outputs a phase contributes to its tenant's stack. */
export type PhaseOutputName<N extends PhaseName = PhaseName> = Extract<(typeof PHASES)[number], { name: N }>["outputs"][number];

/** A registry row, typed with its phase name. */
export interface PhaseDefinition extends PhaseRow {
  readonly name: PhaseName;
}

export const PHASE_NAMES: readonly PhaseName[] = PHASES.map((p) => p.name);

export const PHASE_COUNT = PHASES.length;

const byToken = new Map<string, PhaseDefinition>(PHASES.map((p) => [p.typeToken, p]));
const byName = new Map<string, PhaseDefinition>(PHASES.map((p) => [p.name, p]));

/** The type token of a phase's component: components take theirs from here. */
export function typeTokenOf(name: PhaseName): string {
  return byName.get(name)!.typeToken;
}

/** The phase whose component has this type token, or undefined. */
export function phaseByTypeToken(typeToken: string): PhaseDefinition | undefined {
  return byToken.get(typeToken);
}

/** The phase with this number; throws on a number outside the registry. */
export function phaseByNumber(n: number): PhaseDefinition {
  const phase = PHASES[n - 1];
  if (!Number.isInteger(n) || phase === undefined) {
    throw new RangeError(`phase number must be an integer from 1 to ${PHASE_COUNT}, got ${n}`);
  }
  return phase;
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
