/**
 * Phase 4's objects field by field, as the API server receives them. The
 * isolation tables (04-networking.test.ts, 04-networking-egress.test.ts) judge
 * who may reach whom; they cannot see a field that does not change a verdict
 * there but does on a real cluster or in Pulumi's state: a `policyTypes` the
 * API server defaults differently, a protocol it refuses, a label, the check
 * Job's command, environment, sizes and lifecycle options. Every expected
 * value here is a literal of the design (docs/program.md, docs/real-run.md),
 * not read from the component's tables.
 *
 * The component is constructed directly under Pulumi's mock runtime, and the
 * resource monitor's requests are recorded: the inputs, but also the options
 * a render does not show (parent, dependencies, deleteBeforeReplace,
 * replaceOnChanges). Each test constructs its own component and asserts on it
 * (mutation testing's per-test coverage only credits the test that ran the
 * code).
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import type { NetworkIsolationArgs } from "../../components/04-networking.ts";

interface Registered {
  urn: string;
  type: string;
  name: string;
  parent: string;
  dependencies: string[];
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  inputs: Record<string, any>;
}

await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
const registered: Registered[] = [];
const componentOutputs = new Map<string, unknown>();
{
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: any, cb: (err: any, res: any) => void): Promise<void>;
    registerResourceOutputs(req: any, cb: (err: any, res: any) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResource = (req, cb) => register(req, (err, res) => {
    if (!err && res) {
      registered.push({
        urn: res.getUrn(),
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent(),
        dependencies: req.getDependenciesList(),
        deleteBeforeReplace: req.getDeletebeforereplace(),
        replaceOnChanges: req.getReplaceonchangesList(),
        inputs: (req.getObject()?.toJavaScript() ?? {}) as Record<string, any>,
      });
    }
    cb(err, res);
  });
  monitor.registerResourceOutputs = (req, cb) => {
    componentOutputs.set(req.getUrn(), req.getOutputs()?.toJavaScript());
    registerOutputs(req, cb);
  };
}
const { NetworkIsolation } = await import("../../components/04-networking.ts");

const REQUIRED: NetworkIsolationArgs = {
  slug: "acme",
  namespace: "matih-acme",
  controlPlaneNamespace: "matih-control-plane",
  databaseCidrs: ["10.20.0.0/24"],
  dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } },
};
const CHECK = { image: "postgres:16-alpine", credentialsSecretName: "tenant-database-credentials" };
/** Every optional part used: the API server, two telemetry namespaces, public database endpoints, another port, the check. */
const FULL: NetworkIsolationArgs = {
  ...REQUIRED,
  databaseCidrs: ["10.20.0.0/24", "10.21.0.0/24"],
  databasePort: 6432,
  apiServerCidrs: ["20.62.1.15/32"],
  telemetryNamespaces: ["matih-observability", "matih-monitoring"],
  publicDatabaseEndpoints: true,
  databaseCheck: { ...CHECK, credentialsChecksum: "c0ffee" },
};

const LABELS = {
  "app.kubernetes.io/managed-by": "pulumi",
  "app.kubernetes.io/part-of": "matih",
  "app.kubernetes.io/component": "networking",
  "matih.ai/tenant-slug": "acme",
};
const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];
const NAMESPACE_NAMED = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
const CHECK_NAME = /^database-egress-check-[0-9a-f]{10}$/;

let serial = 0;

/** Constructs the component and waits until the monitor has every request of it; returns them with its policy names. */
async function declare(args: NetworkIsolationArgs) {
  const name = `net${++serial}`;
  const component = new NetworkIsolation(name, args);
  const policyNames = await new Promise<string[]>((resolve) => component.policyNames.apply((v) => { resolve(v); return v; }));
  const componentUrn = await new Promise<string>((resolve) => component.urn.apply((v) => { resolve(v); return v; }));
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  const mine = registered.filter((r) => r.name.startsWith(`${name}-`));
  const policies = mine.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy");
  const jobs = mine.filter((r) => r.type === "kubernetes:batch/v1:Job");
  const policy = (metadataName: string) => {
    const found = policies.filter((p) => p.inputs.metadata?.name === metadataName);
    if (found.length !== 1) throw new Error(`expected one NetworkPolicy ${metadataName}, found ${found.length}`);
    return found[0]!;
  };
  return { name, componentUrn, policyNames, mine, policies, jobs, policy, outputs: componentOutputs.get(componentUrn) };
}

/** The ten policies every tenant gets, with their exact specs (database port 5432, one database CIDR, no API server endpoint). */
const ALWAYS: Record<string, unknown> = {
  // The provisioning flow's three, as written there.
  "default-deny-ingress": { podSelector: {}, policyTypes: ["Ingress"] },
  "allow-same-namespace": { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] },
  "allow-ingress-controller": {
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { "matih.ai/tenant-slug": "acme" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } } }] }],
  },
  "allow-external-to-ingress-controller": {
    podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } },
    policyTypes: ["Ingress"],
    ingress: [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 80 }, { protocol: "TCP", port: 443 }] }],
  },
  "default-deny-egress": { podSelector: {}, policyTypes: ["Egress"] },
  "allow-egress-same-namespace": { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: {} }] }] },
  "allow-egress-dns": {
    podSelector: {},
    policyTypes: ["Egress"],
    egress: [{
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
      ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
    }],
  },
  "allow-egress-control-plane": { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [NAMESPACE_NAMED("matih-control-plane")] }] },
  "allow-egress-database": { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "10.20.0.0/24" } }], ports: [{ protocol: "TCP", port: 5432 }] }] },
  "allow-connector-internet-egress": {
    podSelector: { matchLabels: { "matih.ai/internet-egress": "true" } },
    policyTypes: ["Egress"],
    egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE } }] }],
  },
};
const ALWAYS_ORDER = Object.keys(ALWAYS);

describe("phase 4's NetworkPolicies, field by field", () => {
  // Exact specs matter beyond the tables: the API server defaults an empty `policyTypes` to Ingress (plus Egress
  // only when the policy has egress rules), so `default-deny-egress` without "Egress" would deny ingress and leave
  // egress open; it refuses a port whose protocol is not TCP, UDP or SCTP; and a field that differs from what the
  // program declares shows as drift (the drift check compares spec paths such as `spec.policyTypes`).
  it("declares the ten policies every tenant gets, and nothing else, with the required arguments alone", async () => {
    const d = await declare(REQUIRED);
    expect(d.jobs).toEqual([]);
    expect(d.policies.map((p) => p.inputs.metadata.name).sort()).toEqual([...ALWAYS_ORDER].sort());
    for (const [policyName, spec] of Object.entries(ALWAYS)) {
      expect(d.policy(policyName).inputs, policyName).toEqual({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: policyName, namespace: "matih-acme", labels: LABELS },
        spec,
      });
    }
  });

  it("adds no API-server or telemetry policy for empty lists (a rule with no peers would open every destination)", async () => {
    const d = await declare({ ...REQUIRED, apiServerCidrs: [], telemetryNamespaces: [] });
    expect(d.policies.map((p) => p.inputs.metadata.name).sort()).toEqual([...ALWAYS_ORDER].sort());
    expect(d.policy("allow-connector-internet-egress").inputs.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE } }] }]);
  });

  it("with every option: the database port and CIDRs, public database endpoints, the API server, telemetry both ways", async () => {
    const d = await declare(FULL);
    expect(d.policies.map((p) => p.inputs.metadata.name).sort()).toEqual([...ALWAYS_ORDER, "allow-egress-kube-api", "allow-egress-telemetry", "allow-telemetry-to-prometheus"].sort());
    const spec = (policyName: string) => d.policy(policyName).inputs.spec;
    expect(spec("allow-egress-database")).toEqual({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{
        // The public endpoint of a dedicated server: any public address on the database port, never a private one.
        to: [{ ipBlock: { cidr: "10.20.0.0/24" } }, { ipBlock: { cidr: "10.21.0.0/24" } }, { ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE } }],
        ports: [{ protocol: "TCP", port: 6432 }],
      }],
    });
    expect(spec("allow-egress-kube-api")).toEqual({
      podSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "In", values: ["ingress-nginx", "prometheus"] }] },
      policyTypes: ["Egress"],
      egress: [{ to: [{ ipBlock: { cidr: "20.62.1.15/32" } }], ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 6443 }] }],
    });
    expect(spec("allow-egress-telemetry")).toEqual({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [NAMESPACE_NAMED("matih-observability"), NAMESPACE_NAMED("matih-monitoring")] }],
    });
    expect(spec("allow-telemetry-to-prometheus")).toEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [NAMESPACE_NAMED("matih-observability"), NAMESPACE_NAMED("matih-monitoring")], ports: [{ protocol: "TCP", port: 9090 }] }],
    });
    // The API server's endpoint is public on AKS: connectors' internet egress must not reach it.
    expect(spec("allow-connector-internet-egress").egress).toEqual([{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...PRIVATE, "20.62.1.15/32"] } }] }]);
    for (const p of d.policies) {
      expect(p.inputs.metadata, p.name).toEqual({ name: p.inputs.metadata.name, namespace: "matih-acme", labels: LABELS });
    }
    // The policies not affected by the options are as with the required arguments alone (the control plane's and DNS's included).
    for (const policyName of ALWAYS_ORDER.filter((n) => n !== "allow-egress-database" && n !== "allow-connector-internet-egress")) {
      expect(spec(policyName), policyName).toEqual(ALWAYS[policyName]);
    }
  });

  it("parents every policy to the phase component under a stable resource name, and names them in its outputs", async () => {
    const d = await declare(REQUIRED);
    // The parent gives the children the tenant's Kubernetes provider; without it they would go to the ambient cluster.
    // The resource names are part of the URNs in every tenant's state: a renamed one is a delete and a create.
    expect(d.policies.map((p) => [p.name, p.parent]).sort()).toEqual(ALWAYS_ORDER.map((n) => [`${d.name}-${n}`, d.componentUrn]).sort());
    for (const p of d.policies) expect(p.urn).toBe(`urn:pulumi:acme::matih-tenants::matih:networking:NetworkIsolation$kubernetes:networking.k8s.io/v1:NetworkPolicy::${p.name}`);
    expect(d.policyNames).toEqual(ALWAYS_ORDER);
    expect(d.outputs).toEqual({ policyNames: ALWAYS_ORDER });
  });

  it("names the optional policies in its outputs too, in declaration order", async () => {
    const d = await declare(FULL);
    const expected = [...ALWAYS_ORDER.slice(0, -1), "allow-egress-kube-api", "allow-egress-telemetry", "allow-telemetry-to-prometheus", "allow-connector-internet-egress"];
    expect(d.policyNames).toEqual(expected);
    expect(d.outputs).toEqual({ policyNames: expected });
    expect(d.policies.map((p) => p.name).sort()).toEqual(expected.map((n) => `${d.name}-${n}`).sort());
  });
});

describe("phase 4's database-egress-check Job", () => {
  it("runs psql through the application URL, once, under a deadline, after every policy exists", async () => {
    const d = await declare(FULL);
    expect(d.jobs).toHaveLength(1);
    const job = d.jobs[0]!;
    expect(job.name).toBe(`${d.name}-database-check`);
    expect(job.parent).toBe(d.componentUrn);
    expect(job.inputs.metadata.name).toMatch(CHECK_NAME);
    expect(job.inputs).toEqual({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: job.inputs.metadata.name,
        namespace: "matih-acme",
        labels: LABELS,
        // The provider gives up a minute after the Job's own deadline, so the Job's failure and reason are what is reported.
        annotations: { "pulumi.com/timeoutSeconds": "360" },
      },
      spec: {
        backoffLimit: 5,
        activeDeadlineSeconds: 300,
        template: {
          metadata: {
            // An ordinary workload's labels: not a connector, not ingress-nginx or prometheus, so it tests the path every service takes.
            labels: { ...LABELS, "app.kubernetes.io/name": "database-egress-check" },
            // Phase 2's digest of the Secret: new connection settings change the pod template, so the check runs again.
            annotations: { "matih.ai/database-credentials-checksum": "c0ffee" },
          },
          spec: {
            // A Job's pods must not restart in place (the API server accepts only Never or OnFailure); backoffLimit counts new pods.
            restartPolicy: "Never",
            serviceAccountName: "tenant-workload",
            containers: [{
              name: "psql",
              image: "postgres:16-alpine",
              // The kubelet expands $(DATABASE_URL) from the env below (there is no shell); ON_ERROR_STOP makes a failed
              // query a non-zero exit, -tAc runs one command and prints its bare result.
              command: ["psql", "$(DATABASE_URL)", "-v", "ON_ERROR_STOP=1", "-tAc", "SELECT 1"],
              env: [
                { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "tenant-database-credentials", key: "DATABASE_URL" } } },
                // Blocked egress drops packets: without libpq's connect timeout each attempt would hang for minutes, not 10 s.
                { name: "PGCONNECT_TIMEOUT", value: "10" },
              ],
              // Counted against the tenant's quota like any pod; a check needs little.
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
            }],
          },
        },
      },
    });
    // Started before a policy exists, the check would prove nothing about it (default-deny egress included).
    expect([...new Set(job.dependencies)].sort()).toEqual(d.policies.map((p) => p.urn).sort());
    expect(d.policies).toHaveLength(13);
  });

  it("is replaced, deleted first, whenever its spec changes: a Job's pod template is immutable on a real API server", async () => {
    const d = await declare({ ...REQUIRED, databaseCheck: CHECK });
    const job = d.jobs[0]!;
    // An update of spec.template is refused ("field is immutable"), so any spec change must be a replacement; and a new
    // checksum keeps the Job's name, so the old Job has to go first or the new one would collide with it.
    expect(job.replaceOnChanges).toEqual(["spec"]);
    expect(job.deleteBeforeReplace).toBe(true);
    // The policies themselves are updated in place.
    for (const p of d.policies) expect([p.name, p.replaceOnChanges, p.deleteBeforeReplace]).toEqual([p.name, [], false]);
  });

  it("carries no checksum annotation when phase 2 gives none", async () => {
    const d = await declare({ ...REQUIRED, databaseCheck: CHECK });
    expect(d.jobs[0]!.inputs.spec.template.metadata).toEqual({ labels: { ...LABELS, "app.kubernetes.io/name": "database-egress-check" } });
  });

  it("is named after the policies' arguments and the image: changed policies run a new check, a changed Secret digest reuses the name", async () => {
    const jobName = async (args: NetworkIsolationArgs) => {
      const d = await declare(args);
      expect(d.jobs).toHaveLength(1);
      return d.jobs[0]!.inputs.metadata.name as string;
    };
    const base = await jobName({ ...REQUIRED, databaseCheck: CHECK });
    expect(base).toMatch(CHECK_NAME);
    expect(await jobName({ ...REQUIRED, databaseCheck: CHECK })).toBe(base);
    // The digest changes the pod template (replaced in place, deleted first), not the name.
    expect(await jobName({ ...REQUIRED, databaseCheck: { ...CHECK, credentialsChecksum: "c0ffee" } })).toBe(base);
    const changed = [
      await jobName({ ...REQUIRED, databaseCidrs: ["10.21.0.0/24"], databaseCheck: CHECK }),
      await jobName({ ...REQUIRED, databasePort: 6432, databaseCheck: CHECK }),
      await jobName({ ...REQUIRED, publicDatabaseEndpoints: true, databaseCheck: CHECK }),
      await jobName({ ...REQUIRED, dns: { namespace: "kube-system", podLabels: { "k8s-app": "coredns" } }, databaseCheck: CHECK }),
      await jobName({ ...REQUIRED, databaseCheck: { ...CHECK, image: "postgres:17-alpine" } }),
    ];
    for (const name of changed) expect(name).toMatch(CHECK_NAME);
    expect(new Set([base, ...changed]).size).toBe(6);
  });
});
