/**
 * Checks before a real run that the providers will be configured from
 * platform settings and not from whatever the host has: a run that fell back
 * to the host's current kube context could create a tenant in the wrong
 * cluster. The render engine needs none of this.
 */
import { PLACEHOLDER_SUBSCRIPTION_ID, type PlatformSettings } from "../../model/settings.ts";
import { ConfigurationError } from "../core/errors.ts";

const PLACEHOLDER_SUBSCRIPTION = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;

export function realRunProblems(settings: PlatformSettings, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (!settings.kubernetes.context && !settings.kubernetes.kubeconfig) {
    problems.push("settings.kubernetes.context (or kubernetes.kubeconfig) must name the cluster; without it the provider would use the host's current kube context");
  }
  if (PLACEHOLDER_SUBSCRIPTION.test(settings.azure.subscriptionId)) {
    problems.push("settings.azure.subscriptionId is the render placeholder; set the subscription that holds DNS and enterprise databases");
  }
  if (settings.kubernetes.apiServerCidrs.length === 0) {
    problems.push("settings.kubernetes.apiServerCidrs must list the API server's endpoint addresses, or the ingress controller and Prometheus cannot reach the API: read them with `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}'` and give each as /32");
  }
  if (settings.azure.databaseAccess === "private") {
    for (const field of ["databaseSubnetId", "databasePrivateDnsZoneId"] as const) {
      if (settings.azure[field].includes(PLACEHOLDER_SUBSCRIPTION_ID)) {
        problems.push(`settings.azure.${field} is the render placeholder; set the real one (or azure.databaseAccess "public" with azure.clusterEgressIps and azure.serviceHostIps)`);
      }
    }
  }
  if (!/@sha256:[0-9a-f]{64}$/.test(settings.images.pgbouncer)) {
    problems.push(`settings.images.pgbouncer must be pinned by digest (image@sha256:...), got "${settings.images.pgbouncer}": a tag can be moved or withdrawn by its publisher; read the digest with \`docker buildx imagetools inspect ${settings.images.pgbouncer}\``);
  }
  if (!env[settings.postgres.adminPasswordEnv]) {
    problems.push(`${settings.postgres.adminPasswordEnv} (settings.postgres.adminPasswordEnv) must hold the Postgres admin password in the service's environment`);
  }
  return problems;
}

export function assertReadyForRealRun(settings: PlatformSettings, env: NodeJS.ProcessEnv): void {
  const problems = realRunProblems(settings, env);
  if (problems.length > 0) throw new ConfigurationError(`cannot run against real infrastructure: ${problems.join("; ")}`);
}
