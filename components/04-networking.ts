import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, INTERNET_EGRESS_LABEL, whenChildrenDone, requireArg, tenantLabels } from "./common.ts";
import { typeTokenOf } from "../model/phases.ts";
import { CREDENTIALS_CHECKSUM_ANNOTATION } from "./02-database.ts";

// Defined beside the list of connector services that carry it (common.ts); re-exported for callers of this phase.
export { INTERNET_EGRESS_LABEL };
/** Pod label values of workloads that must watch the Kubernetes API. */
export const KUBE_API_CLIENTS = ["ingress-nginx", "prometheus"] as const;

/** Private ranges internet egress never reaches, so a connector cannot reach other tenants' pods. */
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];

export interface NetworkIsolationArgs {
  /** Tenant slug; the ingress controller's namespace is matched by the `matih.ai/tenant-slug` label. Required. */
  slug: string;
  /** The tenant namespace. Required. */
  namespace: pulumi.Input<string>;
  /** Namespace of the control plane, reachable by egress. Required. */
  controlPlaneNamespace: string;
  /** CIDRs of database endpoints (shared instance, dedicated servers), reachable on `databasePort`. Required, at least one. */
  databaseCidrs: readonly string[];
  /** Port of the database endpoints. Default 5432. */
  databasePort?: number;
  /** Namespace and pod labels of the cluster DNS. Required. */
  dns: { namespace: string; podLabels: Record<string, string> };
  /**
   * Endpoint addresses of the Kubernetes API server (after DNAT, not the
   * `kubernetes` Service's ClusterIP), reachable by the ingress controller and
   * Prometheus. Default none: no egress to the API (a real run refuses that).
   */
  apiServerCidrs?: readonly string[];
  /**
   * Whether databases also sit behind public endpoints (a dedicated server
   * with public access): then the database port is open to public addresses,
   * never to private ranges. Default false.
   */
  publicDatabaseEndpoints?: boolean;
  /** Platform namespaces telemetry goes to (Loki, Tempo, Alertmanager, Prometheus federation). Default none. */
  telemetryNamespaces?: readonly string[];
  /**
   * A check run after every policy of this phase exists: a Job in the tenant
   * namespace, under the policies' default-deny egress, that connects with
   * `DATABASE_URL` of the Secret `credentialsSecretName` (`image` holds
   * `psql`). Phase 2's connectivity check runs before these policies on a
   * first run, so it cannot test them; this one does, and a new one runs
   * whenever the policies' arguments change, or the Secret's digest
   * `credentialsChecksum` (phase 2's; a pod annotation) does. Default: none.
   */
  databaseCheck?: { image: string; credentialsSecretName: string; credentialsChecksum?: pulumi.Input<string> };
}

const byNamespaceName = (ns: pulumi.Input<string>) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } });

/**
 * Phase 4, CONFIGURE_NETWORKING: the three ingress policies of the
 * provisioning flow plus the egress rules that complete the isolation table:
 * other tenants blocked both ways, the namespace open to itself, the ingress
 * controller reachable from outside and able to reach the services, egress to
 * the control plane, the databases and cluster DNS, and the internet only for
 * pods labelled as connectors. With `databaseCheck`, a Job proves the database
 * reachable under these policies before the phase completes.
 */
export class NetworkIsolation extends pulumi.ComponentResource {
  public readonly policyNames: pulumi.Output<string[]>;

  constructor(name: string, args: NetworkIsolationArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("CONFIGURE_NETWORKING"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "NetworkIsolation";
    requireArg(args.databaseCidrs.length > 0, C, "databaseCidrs must name at least one CIDR: without it the tenant cannot reach its database");
    requireArg(Object.keys(args.dns.podLabels).length > 0, C, "dns.podLabels must select the cluster DNS pods");
    requireArg(!args.databaseCheck || args.databaseCheck.image.length > 0, C, "databaseCheck.image must name an image with psql");
    requireArg(!args.databaseCheck || /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(args.databaseCheck.credentialsSecretName), C,
      `databaseCheck.credentialsSecretName must be a Kubernetes Secret name, got "${args.databaseCheck?.credentialsSecretName}"`);

    const namespace = args.namespace;
    const labels = tenantLabels(args.slug, "networking");
    const dbPort = args.databasePort ?? 5432;
    const names: pulumi.Output<string>[] = [];
    const policies: k8s.networking.v1.NetworkPolicy[] = [];
    const policy = (role: string, policyName: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) => {
      const p = new k8s.networking.v1.NetworkPolicy(`${name}-${role}`, { metadata: { name: policyName, namespace, labels }, spec }, child());
      names.push(p.metadata.name);
      policies.push(p);
      return p;
    };

    // The three policies of the provisioning flow, as written there.
    policy("default-deny-ingress", "default-deny-ingress", { podSelector: {}, policyTypes: ["Ingress"] });
    policy("allow-same-namespace", "allow-same-namespace", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
    policy("allow-ingress-controller", "allow-ingress-controller", {
      podSelector: {},
      ingress: [{
        from: [{
          namespaceSelector: { matchLabels: { "matih.ai/tenant-slug": args.slug } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } },
        }],
      }],
    });

    // The controller is the tenant's front door: the load balancer forwards client traffic to it.
    policy("allow-external-to-ingress-controller", "allow-external-to-ingress-controller", {
      podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 80 }, { protocol: "TCP", port: 443 }] }],
    });

    // Egress: deny by default, then open what the isolation table allows.
    policy("default-deny-egress", "default-deny-egress", { podSelector: {}, policyTypes: ["Egress"] });
    policy("allow-egress-same-namespace", "allow-egress-same-namespace", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: {} }] }] });
    policy("allow-egress-dns", "allow-egress-dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{
        to: [{ ...byNamespaceName(args.dns.namespace), podSelector: { matchLabels: args.dns.podLabels } }],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
      }],
    });
    policy("allow-egress-control-plane", "allow-egress-control-plane", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [byNamespaceName(args.controlPlaneNamespace)] }],
    });
    policy("allow-egress-database", "allow-egress-database", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{
        to: [
          ...args.databaseCidrs.map((cidr) => ({ ipBlock: { cidr } })),
          ...(args.publicDatabaseEndpoints ? [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE_RANGES } }] : []),
        ],
        ports: [{ protocol: "TCP", port: dbPort }],
      }],
    });
    const apiServerCidrs = args.apiServerCidrs ?? [];
    if (apiServerCidrs.length > 0) {
      policy("allow-egress-kube-api", "allow-egress-kube-api", {
        podSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "In", values: [...KUBE_API_CLIENTS] }] },
        policyTypes: ["Egress"],
        egress: [{ to: apiServerCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 6443 }] }],
      });
    }
    if (args.telemetryNamespaces && args.telemetryNamespaces.length > 0) {
      policy("allow-egress-telemetry", "allow-egress-telemetry", {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: args.telemetryNamespaces.map(byNamespaceName) }],
      });
      // The platform's Grafana reads the tenant Prometheus; nothing else from those namespaces gets in.
      policy("allow-telemetry-to-prometheus", "allow-telemetry-to-prometheus", {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
        policyTypes: ["Ingress"],
        ingress: [{ from: args.telemetryNamespaces.map(byNamespaceName), ports: [{ protocol: "TCP", port: 9090 }] }],
      });
    }
    policy("allow-connector-internet-egress", "allow-connector-internet-egress", {
      podSelector: { matchLabels: { [INTERNET_EGRESS_LABEL]: "true" } },
      policyTypes: ["Egress"],
      // Nor the API server's endpoint (public on AKS): only KUBE_API_CLIENTS reach the API.
      egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...PRIVATE_RANGES, ...apiServerCidrs] } }] }],
    });

    if (args.databaseCheck) {
      // Named after everything the policies are made of: changed policies make a new Job, so the check runs again.
      const { databaseCheck: _check, namespace: _ns, ...policyArgs } = args;
      const hash = createHash("sha256").update(JSON.stringify({ policyArgs, dbPort, image: args.databaseCheck.image })).digest("hex").slice(0, 10);
      new k8s.batch.v1.Job(`${name}-database-check`, {
        // The provider waits a minute past the Job's own deadline, so the Job's failure and its reason are what is reported.
        metadata: { name: `database-egress-check-${hash}`, namespace, labels, annotations: { "pulumi.com/timeoutSeconds": "360" } },
        spec: {
          backoffLimit: 5,
          activeDeadlineSeconds: 300,
          template: {
            // A changed Secret (new connection settings, say through a new pool) re-runs the check through them.
            metadata: {
              labels: { ...labels, "app.kubernetes.io/name": "database-egress-check" },
              ...(args.databaseCheck.credentialsChecksum === undefined ? {} : { annotations: { [CREDENTIALS_CHECKSUM_ANNOTATION]: args.databaseCheck.credentialsChecksum } }),
            },
            spec: {
              restartPolicy: "Never",
              serviceAccountName: "tenant-workload",
              containers: [{
                name: "psql",
                image: args.databaseCheck.image,
                // Through the application URL: cluster DNS, the pool when there is one, the database egress rule.
                // $(DATABASE_URL) is expanded by the kubelet; no shell involved.
                command: ["psql", "$(DATABASE_URL)", "-v", "ON_ERROR_STOP=1", "-tAc", "SELECT 1"],
                env: [
                  { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: args.databaseCheck.credentialsSecretName, key: "DATABASE_URL" } } },
                  { name: "PGCONNECT_TIMEOUT", value: "10" },
                ],
                resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
              }],
            },
          },
        },
      }, child({ dependsOn: policies, deleteBeforeReplace: true, replaceOnChanges: ["spec"] }));
    }

    const outputs = whenChildrenDone(this, { policyNames: pulumi.all(names) });
    this.policyNames = outputs.policyNames;
    this.registerOutputs(outputs);
  }
}
