import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PLATFORM_SETTINGS, type PlatformSettings } from "../model/settings.ts";
import type { TenantSpec } from "../model/spec.ts";

/**
 * What the offline render pretends the cloud answered. Values are placeholders
 * that cannot be mistaken for real ones: the load-balancer IP is from the
 * documentation range 203.0.113.0/24, generated passwords say "render".
 */
export const RENDER_PLACEHOLDER_NOTE = "cloud-assigned values (load-balancer IP, name servers, server FQDN) are render placeholders";

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A stable documentation-range IP for a tenant, so renders are repeatable. */
export function placeholderLoadBalancerIp(slug: string): string {
  return `203.0.113.${(parseInt(digest(slug).slice(0, 4), 16) % 254) + 1}`;
}

export function placeholderNameServers(zone: string): string[] {
  const n = String((parseInt(digest(zone).slice(0, 2), 16) % 9) + 1).padStart(2, "0");
  return [`ns1-${n}.azure-dns.com.`, `ns2-${n}.azure-dns.net.`, `ns3-${n}.azure-dns.org.`, `ns4-${n}.azure-dns.info.`];
}

function k8sId(inputs: Record<string, any>, fallbackName: string): string {
  const meta = inputs.metadata ?? {};
  const name = meta.name ?? fallbackName;
  return meta.namespace ? `${meta.namespace}/${name}` : name;
}

/**
 * Mocks for Pulumi's mock runtime that answer like the providers would, by
 * type token. Invokes are not used by the program; any call fails loudly so a
 * new dependency on one cannot slip in unnoticed.
 */
export function cloudMocks(spec: Pick<TenantSpec, "slug">, settings?: Pick<PlatformSettings, "alerts" | "charts">): pulumi.runtime.Mocks {
  const slackKey = settings?.alerts.slackWebhookSecret?.key ?? "url";
  const contractServices = settings?.charts.services ?? DEFAULT_PLATFORM_SETTINGS.charts.services;
  return {
    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
      throw new Error(`the offline render does not answer invoke "${args.token}"; the program should not need it`);
    },
    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
      const inputs = args.inputs as Record<string, any>;
      switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
          return { id: args.name, state: { ...inputs, result: `render-${digest(args.name).slice(0, 24)}` } };
        case "azure-native:dns:Zone":
          return { id: `/dns/${inputs.zoneName}`, state: { ...inputs, name: inputs.zoneName, nameServers: placeholderNameServers(String(inputs.zoneName)) } };
        case "azure-native:dns:RecordSet":
          return { id: `/dns/${inputs.zoneName}/${inputs.recordType}/${inputs.relativeRecordSetName}`, state: { ...inputs, name: inputs.relativeRecordSetName } };
        case "azure-native:dbforpostgresql:Server":
          return { id: `/postgres/${inputs.serverName}`, state: { ...inputs, name: inputs.serverName, fullyQualifiedDomainName: `${inputs.serverName}.postgres.database.azure.com`, state: "Ready" } };
        case "azure-native:dbforpostgresql:Database":
          return { id: `/postgres/${inputs.serverName}/${inputs.databaseName}`, state: { ...inputs, name: inputs.databaseName } };
        case "kubernetes:core/v1:Service": {
          // Read of a matih chart's Service (phase 5's check): the chart created
          // it as the charts' contract says; the real check is against a cluster.
          const name = args.id?.split("/").pop();
          const contracted = name ? Object.values(contractServices).flat().filter((s) => s.service === name) : [];
          if (args.id && contracted.length > 0) {
            return {
              id: args.id,
              state: { metadata: { name, namespace: args.id.split("/")[0] }, spec: { selector: { "app.kubernetes.io/name": name }, ports: contracted.map((s) => ({ port: s.port })) } },
            };
          }
          // Read of the ingress controller's Service: the cloud assigns the IP.
          return {
            id: args.id || k8sId(inputs, args.name),
            state: { ...inputs, status: { loadBalancer: { ingress: [{ ip: placeholderLoadBalancerIp(spec.slug) }] } } },
          };
        }
        case "kubernetes:core/v1:Secret":
          if (args.id) {
            // Read of an existing platform Secret (the Slack webhook): its data is unknown offline.
            return { id: args.id, state: { data: { [slackKey]: Buffer.from("https://hooks.slack.invalid/render-placeholder").toString("base64") } } };
          }
          return { id: k8sId(inputs, args.name), state: inputs };
        case "kubernetes:helm.sh/v3:Release":
          return { id: `${inputs.namespace}/${inputs.name}`, state: { ...inputs, status: { name: inputs.name, namespace: inputs.namespace, status: "deployed", revision: 1, chart: inputs.chart, version: inputs.version } } };
        default:
          if (args.type.startsWith("kubernetes:")) return { id: args.id || k8sId(inputs, args.name), state: inputs };
          return { id: args.id || `${args.name}-id`, state: inputs };
      }
    },
  };
}
