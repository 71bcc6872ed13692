/**
 * Checks before a real run that the providers will be configured from
 * platform settings and not from whatever the host has: a run that fell back
 * to the host's current kube context could create a tenant in the wrong
 * cluster. The render engine needs none of this.
 */
import path from "node:path";
import { PHASE_COUNT } from "../../model/phases.ts";
import { deployedImages, PLACEHOLDER_SUBSCRIPTION_ID, type PlatformSettings } from "../../model/settings.ts";
import { reachesAzure, tierProfile, type Tier } from "../../model/tiers.ts";
import { ConfigurationError } from "../core/errors.ts";

/**
 * What a run will touch: the tenant's tier and the last phase it runs. Azure
 * settings are needed only where the run reaches Azure (a dedicated server
 * in phase 2, DNS from phase 7), the PgBouncer image only where the tier has
 * a pool. Default: every phase of a tier that needs everything.
 */
export interface RunScope {
  readonly tier?: Tier;
  readonly lastPhase?: number;
}

const PLACEHOLDER_SUBSCRIPTION = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;

/**
 * The setting holds a path or the kubeconfig itself; the Kubernetes provider
 * takes contents when the text parses as a kubeconfig. Contents span lines or
 * are JSON; a path is one line.
 */
function isPath(kubeconfig: string): boolean {
  const text = kubeconfig.trim();
  return !text.includes("\n") && !text.startsWith("{");
}

/**
 * Cilium gives the API server's addresses the kube-apiserver identity, and by
 * default its CIDR rules select no such identity: the ipBlock egress rules to
 * kubernetes.apiServerCidrs would match nothing, and every pod that watches
 * the API (the ingress controller of phase 6, Prometheus) would hang.
 */
export const CILIUM_REFUSAL =
  'settings.kubernetes.networkPolicyEngine is "cilium", which by default does not match the ipBlock egress rules to kubernetes.apiServerCidrs ' +
  "(it gives the API server the kube-apiserver identity), so the ingress controller and Prometheus could not reach the API server; " +
  'run Cilium 1.15 or newer with policy-cidr-match-mode "nodes" (Helm value policyCIDRMatchMode: nodes) and set kubernetes.ciliumPolicyCidrMatchMode to "nodes", ' +
  'or use "azure-npm" or "calico"';

export function realRunProblems(settings: PlatformSettings, env: NodeJS.ProcessEnv, scope: RunScope = {}): string[] {
  const problems: string[] = [];
  const lastPhase = scope.lastPhase ?? PHASE_COUNT;
  const profile = scope.tier ? tierProfile(scope.tier) : null;
  const needsAzure = scope.tier === undefined || reachesAzure(scope.tier, lastPhase);
  const dedicatedServer = profile === null || (profile.database.dedicatedServer !== null && lastPhase >= 2);
  const pooled = profile === null || (profile.database.connectionPool !== null && lastPhase >= 2);
  if (!settings.kubernetes.context && !settings.kubernetes.kubeconfig) {
    problems.push("settings.kubernetes.context (or kubernetes.kubeconfig) must name the cluster; without it the provider would use the host's current kube context");
  }
  const kubeconfig = settings.kubernetes.kubeconfig;
  if (kubeconfig && isPath(kubeconfig) && !path.isAbsolute(kubeconfig)) {
    problems.push(
      `settings.kubernetes.kubeconfig is the relative path ${JSON.stringify(kubeconfig)}; the provider would resolve it against the tenant's work directory, ` +
        "not the service's; give an absolute path (or the kubeconfig's contents)",
    );
  }
  if (needsAzure && PLACEHOLDER_SUBSCRIPTION.test(settings.azure.subscriptionId)) {
    problems.push("settings.azure.subscriptionId is the render placeholder; set the subscription that holds DNS and enterprise databases");
  }
  if (settings.kubernetes.apiServerCidrs.length === 0) {
    problems.push("settings.kubernetes.apiServerCidrs must list the API server's endpoint addresses, or the ingress controller and Prometheus cannot reach the API: read them with `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}'` and give each as /32");
  }
  if (settings.kubernetes.networkPolicyEngine === "cilium" && settings.kubernetes.ciliumPolicyCidrMatchMode !== "nodes") {
    // The ingress controller and Prometheus reach the API server only through ipBlock egress rules (phase 4).
    problems.push(CILIUM_REFUSAL);
  }
  if (dedicatedServer && settings.azure.databaseAccess === "private") {
    for (const field of ["databaseSubnetId", "databasePrivateDnsZoneId"] as const) {
      if (settings.azure[field].includes(PLACEHOLDER_SUBSCRIPTION_ID)) {
        problems.push(`settings.azure.${field} is the render placeholder; set the real one (or azure.databaseAccess "public" with azure.clusterEgressIps and azure.serviceHostIps)`);
      }
    }
  }
  // Every image the run deploys, not PgBouncer's alone: a tag can be moved or withdrawn by its publisher.
  for (const d of deployedImages(settings, { lastPhase, pooled })) {
    if (/@sha256:[0-9a-f]{64}$/.test(d.image)) continue;
    const form = d.services.length === 0 ? "image@sha256:..." : `tag@sha256:..., the tag of ${d.services.join(", ")}`;
    problems.push(`settings.${d.setting} must be pinned by digest (${form}), got "${d.value}": a tag can be moved or withdrawn by its publisher; read the digest with \`docker buildx imagetools inspect ${d.image}\``);
  }
  if (!env[settings.postgres.adminPasswordEnv]) {
    problems.push(`${settings.postgres.adminPasswordEnv} (settings.postgres.adminPasswordEnv) must hold the Postgres admin password in the service's environment`);
  }
  return problems;
}

/**
 * What a run may do without, but should not do without unnoticed: reported as
 * warnings of the operation (diagnostic events), the run goes ahead.
 */
export function realRunWarnings(settings: PlatformSettings, scope: RunScope = {}): string[] {
  const warnings: string[] = [];
  // Phase 9 declares the Slack route only with a webhook; without one, critical alerts reach e-mail alone, silently.
  if ((scope.lastPhase ?? PHASE_COUNT) >= 9 && !settings.alerts.slackWebhookSecret) {
    warnings.push(`settings.alerts.slackWebhookSecret is not set: critical alerts go by e-mail only (to ${settings.alerts.emails.join(", ")}), none to Slack ${settings.alerts.slackChannel}`);
  }
  return warnings;
}

/** Refuses a run with problems (ConfigurationError); returns the warnings for the operation to report. */
export function assertReadyForRealRun(settings: PlatformSettings, env: NodeJS.ProcessEnv, scope: RunScope = {}): string[] {
  const problems = realRunProblems(settings, env, scope);
  if (problems.length > 0) throw new ConfigurationError(`cannot run against real infrastructure: ${problems.join("; ")}`);
  return realRunWarnings(settings, scope);
}
