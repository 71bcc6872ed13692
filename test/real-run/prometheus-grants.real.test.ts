/**
 * The tenant Prometheus's grants, as the real API server decides them.
 * Phase 9 (monitoring) runs only with Azure, so no real run reaches it on the
 * local cluster; test/stacks/grants.test.ts reads its RBAC offline
 * (test/support/grants.ts), which models the authorizer but not the
 * cluster's default roles. Here the same objects go to a real API server.
 *
 * Two tenants (`hprom-a`, `hprom-b`) are rendered under the mock runtime; the
 * RBAC objects phase 9 declares for each (the ServiceAccount `prometheus`,
 * its Role and RoleBinding in the tenant namespace, the Role and RoleBinding
 * letting it discover the shared Alertmanager in the monitoring namespace)
 * are applied verbatim, with their tenants' Namespaces from phase 1. No
 * chart is involved: the Prometheus Operator and Alertmanager are the
 * platform's, and the grants check renders no Prometheus chart either.
 *
 * One table, EXPECTED, holds the answers as literals. Its yes answers outside
 * the tenant namespace are exactly the documented exceptions for `prometheus`
 * (docs/real-run.md, the table test/stacks/grants.test.ts holds the render
 * to). It is checked twice: offline, against the grants test/support/grants.ts
 * computes from every phase's render (always runs), and against the local cluster's
 * API server with `kubectl auth can-i --as=system:serviceaccount:...`
 * (skipped, with the reason, when no local cluster is up; under CI=true a
 * missing cluster fails the suite, .ci/run starts one).
 *
 * The test creates the namespaces `matih-hprom-a` and `matih-hprom-b`, two
 * Roles and RoleBindings in the monitoring namespace, and that namespace
 * only if it is missing; it removes exactly these.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { namespaceName, validateTenantSpec } from "../../model/spec.ts";
import { renderUnderMocks, type RenderedResource, type RenderResult } from "../../stacks/mock-render.ts";
import { directGrants, documentedExceptions, mayDirectly, rbacObjects, type RbacObject } from "../support/grants.ts";
import { canI, kubectl, kubectlJson, probeLocalCluster, waitUntil } from "../support/local-cluster.ts";

const cluster = await probeLocalCluster();
const skipReason = cluster.available ? "" : cluster.reason;

/** Slugs no other test uses: their namespaces are the program's own names. */
const SLUGS = ["hprom-a", "hprom-b"] as const;
const settings = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] } });
const MONITORING = settings.observability.monitoringNamespace;
/** Marks the monitoring namespace when this test had to create it, so a later run knows it may remove it. */
const CREATED_BY = "matih.ai/created-by";
const CREATED_BY_VALUE = "prometheus-grants-real-test";

/** Where a question is asked, seen from the tenant whose Prometheus asks. */
type Where = "own" | "other tenant" | "monitoring" | "kube-system" | "cluster-wide";
/** [verb, resource as kubectl names it, where, the answer]. */
type Question = readonly [verb: string, resource: string, where: Where, allowed: boolean];

/**
 * What the tenant Prometheus may do: discover its own namespace's targets and
 * the shared Alertmanager, read a ConfigMap at home, nothing else.
 */
const EXPECTED: readonly Question[] = [
  // Its own namespace: service discovery of its targets.
  ["list", "pods", "own", true],
  ["watch", "pods", "own", true],
  ["list", "services", "own", true],
  ["watch", "services", "own", true],
  ["list", "endpoints", "own", true],
  ["watch", "endpoints", "own", true],
  ["list", "endpointslices.discovery.k8s.io", "own", true],
  ["watch", "endpointslices.discovery.k8s.io", "own", true],
  ["get", "configmaps", "own", true],
  ["list", "configmaps", "own", false],
  ["get", "secrets", "own", false],
  ["list", "secrets", "own", false],
  ["create", "pods", "own", false],
  ["delete", "services", "own", false],
  // The monitoring namespace: discovery of the shared Alertmanager, nothing more.
  ["get", "endpoints", "monitoring", true],
  ["list", "endpoints", "monitoring", true],
  ["watch", "endpoints", "monitoring", true],
  ["get", "services", "monitoring", true],
  ["list", "services", "monitoring", true],
  ["watch", "services", "monitoring", true],
  ["get", "pods", "monitoring", true],
  ["list", "pods", "monitoring", true],
  ["watch", "pods", "monitoring", true],
  ["get", "endpointslices.discovery.k8s.io", "monitoring", true],
  ["list", "endpointslices.discovery.k8s.io", "monitoring", true],
  ["watch", "endpointslices.discovery.k8s.io", "monitoring", true],
  ["get", "secrets", "monitoring", false],
  ["list", "secrets", "monitoring", false],
  ["get", "configmaps", "monitoring", false],
  ["list", "configmaps", "monitoring", false],
  ["create", "services", "monitoring", false],
  ["delete", "pods", "monitoring", false],
  ["list", "alertmanagerconfigs.monitoring.coreos.com", "monitoring", false],
  // The other tenant's namespace: nothing.
  ["list", "pods", "other tenant", false],
  ["list", "services", "other tenant", false],
  ["list", "endpoints", "other tenant", false],
  ["list", "endpointslices.discovery.k8s.io", "other tenant", false],
  ["get", "configmaps", "other tenant", false],
  ["get", "secrets", "other tenant", false],
  ["list", "secrets", "other tenant", false],
  // Elsewhere: nothing.
  ["get", "secrets", "kube-system", false],
  ["list", "configmaps", "kube-system", false],
  ["list", "pods", "kube-system", false],
  ["list", "pods", "cluster-wide", false],
  ["list", "services", "cluster-wide", false],
  ["list", "endpoints", "cluster-wide", false],
  ["list", "endpointslices.discovery.k8s.io", "cluster-wide", false],
  ["list", "secrets", "cluster-wide", false],
  ["list", "configmaps", "cluster-wide", false],
  ["list", "namespaces", "cluster-wide", false],
  ["list", "nodes", "cluster-wide", false],
];

const otherOf = (slug: string) => SLUGS.find((s) => s !== slug)!;
/** The namespace a question is asked in for `slug`'s Prometheus; null for cluster-wide. */
function namespaceFor(slug: string, where: Where): string | null {
  switch (where) {
    case "own": return namespaceName(slug);
    case "other tenant": return namespaceName(otherOf(slug));
    case "monitoring": return MONITORING;
    case "kube-system": return "kube-system";
    case "cluster-wide": return null;
  }
}
/** `endpointslices.discovery.k8s.io` as [group, resource]; a bare name is the core group. */
function groupAndResource(resource: string): [string, string] {
  const dot = resource.indexOf(".");
  return dot < 0 ? ["", resource] : [resource.slice(dot + 1), resource.slice(0, dot)];
}
const prometheusAccount = (slug: string) => `${namespaceName(slug)}/prometheus`;
const describeQuestion = (slug: string, [verb, resource, where]: Question) => `prometheus of ${slug}: ${verb} ${resource} in ${where === "cluster-wide" ? "the cluster" : namespaceFor(slug, where)}`;

/** Questions answered otherwise than EXPECTED says, for both tenants. */
async function mismatches(answer: (account: string, verb: string, resource: string, namespace: string | null) => Promise<boolean> | boolean): Promise<string[]> {
  const out: string[] = [];
  for (const slug of SLUGS) {
    for (const q of EXPECTED) {
      const [verb, resource, where, allowed] = q;
      const got = await answer(prometheusAccount(slug), verb, resource, namespaceFor(slug, where));
      if (got !== allowed) out.push(`${describeQuestion(slug, q)}: ${got ? "yes" : "no"}, expected ${allowed ? "yes" : "no"}`);
    }
  }
  return out;
}

const kindOf = (r: RenderedResource) => String(r.inputs.kind);
const metaOf = (r: RenderedResource) => r.inputs.metadata as { name: string; namespace?: string };
const RBAC_AND_ACCOUNTS = new Set(["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]);

/** Phase 9's ServiceAccounts and RBAC objects, as declared (created, not read). */
const phase9Rbac = (r: RenderResult) => r.resources.filter((x) => x.custom && !x.read && x.phase?.number === 9 && RBAC_AND_ACCOUNTS.has(kindOf(x)));

const renders: RenderResult[] = [];
/** Every phase's RBAC objects of both tenants: what the offline model judges. */
let allObjects: RbacObject[] = [];

beforeAll(async () => {
  for (const [i, slug] of SLUGS.entries()) {
    const spec = validateTenantSpec({
      id: `5d0b3a52-9c1e-4f7a-8b2d-3e6f9a1c7d0${i}`, slug, displayName: slug, tier: "professional", region: "eastus",
      adminEmail: "admin@example.com", requestedBy: "ops@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
    }, { baseDomain: settings.baseDomain });
    renders.push(await renderUnderMocks(spec, settings));
  }
  allObjects = renders.flatMap((r) => rbacObjects(r.resources));
}, 120_000);

describe("the tenant Prometheus's grants, offline: the table against the program's render", () => {
  it("phase 9 declares, per tenant, one account and two Roles with their bindings, one pair in the monitoring namespace", () => {
    for (const [i, slug] of SLUGS.entries()) {
      const ns = namespaceName(slug);
      expect(ns).toBe(`matih-${slug}`);
      expect(phase9Rbac(renders[i]!).map((x) => `${kindOf(x)} ${metaOf(x).namespace}/${metaOf(x).name}`).sort()).toEqual([
        `Role ${ns}/prometheus`,
        `Role matih-monitoring/alertmanager-discovery-${ns}`,
        `RoleBinding ${ns}/prometheus`,
        `RoleBinding matih-monitoring/alertmanager-discovery-${ns}`,
        `ServiceAccount ${ns}/prometheus`,
      ]);
    }
  });

  it("binds the prometheus account nowhere but in phase 9, in any phase of either tenant", () => {
    for (const slug of SLUGS) {
      const { grants, unknown } = directGrants(allObjects, [prometheusAccount(slug)]);
      expect(unknown).toEqual([]);
      expect([...new Set(grants.map((g) => g.via))].sort()).toEqual([
        `RoleBinding matih-${slug}/prometheus`,
        `RoleBinding matih-monitoring/alertmanager-discovery-matih-${slug}`,
      ]);
    }
  });

  it("says yes outside the tenant namespace exactly where docs/real-run.md's exceptions, which test/stacks/grants.test.ts enforces, allow", () => {
    const documented = documentedExceptions().filter((e) => e.account === "prometheus")
      .flatMap((e) => e.resources.flatMap((r) => e.verbs.map((v) => `${v} ${r}${e.apiGroup ? `.${e.apiGroup}` : ""} in ${e.scope}`)));
    const yesOutside = EXPECTED.filter(([, , where, allowed]) => allowed && where !== "own")
      .map(([verb, resource, where]) => `${verb} ${resource} in ${namespaceFor(SLUGS[0], where) ?? "*"}`);
    expect(yesOutside.sort()).toEqual(documented.sort());
    expect(yesOutside).toHaveLength(12);
  });

  it("gets every answer of the table from the offline model of the authorizer", async () => {
    const grants = directGrants(allObjects, SLUGS.map(prometheusAccount)).grants;
    const offline = (account: string, verb: string, resource: string, namespace: string | null) => mayDirectly(grants, account, ...groupAndResource(resource), verb, namespace);
    expect(await mismatches(offline)).toEqual([]);
  });

  it("would catch a monitoring Role widened to secrets", async () => {
    const widened = allObjects.map((o) => (o.kind === "Role" && o.namespace === MONITORING
      ? { ...o, rules: [...(o.rules ?? []), { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }] }
      : o));
    const grants = directGrants(widened, SLUGS.map(prometheusAccount)).grants;
    const offline = (account: string, verb: string, resource: string, namespace: string | null) => mayDirectly(grants, account, ...groupAndResource(resource), verb, namespace);
    expect(await mismatches(offline)).toEqual(SLUGS.flatMap((slug) => [
      `prometheus of ${slug}: get secrets in matih-monitoring: yes, expected no`,
      `prometheus of ${slug}: list secrets in matih-monitoring: yes, expected no`,
    ]));
  });
});

describe.skipIf(skipReason !== "")(`the tenant Prometheus's grants, as the local cluster's API server decides them${skipReason ? ` [skipped: ${skipReason}]` : ""}`, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const namespaces = SLUGS.map(namespaceName);

  const exists = async (kind: string, name: string, namespace?: string) =>
    (await kubectl(["get", kind, name, "--ignore-not-found", "-o", "name", ...(namespace ? ["-n", namespace] : [])])).trim() !== "";
  /** Deletes namespaces and waits, by polling, until the namespace controller has finished them. */
  async function deleteNamespaces(names: readonly string[]): Promise<void> {
    await kubectl(["delete", "namespace", ...names, "--ignore-not-found", "--wait=false"]);
    for (const name of names) await waitUntil(`namespace ${name} to be gone`, 180_000, async () => ((await exists("namespace", name)) ? undefined : true));
  }

  beforeAll(async () => {
    // A run killed before its cleanup leaves these behind; they are this test's own names.
    await deleteNamespaces(namespaces);
    const dir = await mkdtemp(path.join(tmpdir(), "matih-prometheus-grants-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));

    const objects: unknown[] = [];
    if (!(await exists("namespace", MONITORING))) {
      objects.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: MONITORING, labels: { [CREATED_BY]: CREATED_BY_VALUE } } });
    }
    for (const r of renders) {
      const namespace = r.resources.find((x) => x.custom && !x.read && x.phase?.number === 1 && kindOf(x) === "Namespace")!;
      objects.push(namespace.inputs, ...phase9Rbac(r).map((x) => x.inputs));
    }
    // Registered first: whatever part of the apply succeeded is removed.
    cleanup.push(async () => {
      for (const slug of SLUGS) {
        const name = `alertmanager-discovery-${namespaceName(slug)}`;
        await kubectl(["delete", "rolebinding,role", name, "-n", MONITORING, "--ignore-not-found"]);
      }
      await deleteNamespaces(namespaces);
      const monitoring = await kubectlJson(["get", "namespace", MONITORING, "--ignore-not-found"]).catch(() => null);
      if (monitoring?.metadata?.labels?.[CREATED_BY] === CREATED_BY_VALUE) await deleteNamespaces([MONITORING]);
    });
    const file = path.join(dir, "objects.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
    await kubectl(["apply", "-f", file]);
    // The authorizer reads RBAC from its informers: wait until both tenants' bindings are seen.
    for (const slug of SLUGS) {
      await waitUntil(`the API server to see ${slug}'s bindings`, 60_000, async () =>
        ((await canI(`system:serviceaccount:${namespaceName(slug)}:prometheus`, "list", "pods", namespaceName(slug)))
          && (await canI(`system:serviceaccount:${namespaceName(slug)}:prometheus`, "list", "endpoints", MONITORING)) ? true : undefined), 1_000);
    }
  }, 300_000);

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch((error) => console.error(`cleanup: ${error instanceof Error ? error.message : String(error)}`));
  }, 300_000);

  it("holds the applied account, Roles and bindings where the program puts them", async () => {
    for (const slug of SLUGS) {
      const ns = namespaceName(slug);
      expect(await exists("serviceaccount", "prometheus", ns)).toBe(true);
      expect(await exists("role", "prometheus", ns)).toBe(true);
      expect(await exists("rolebinding", "prometheus", ns)).toBe(true);
      expect(await exists("role", `alertmanager-discovery-${ns}`, MONITORING)).toBe(true);
      expect(await exists("rolebinding", `alertmanager-discovery-${ns}`, MONITORING)).toBe(true);
    }
  });

  it("answers every question of the table as the table says, for both tenants", async () => {
    const real = (account: string, verb: string, resource: string, namespace: string | null) => {
      const [ns, name] = account.split("/");
      return canI(`system:serviceaccount:${ns}:${name}`, verb, resource, namespace);
    };
    expect(await mismatches(real)).toEqual([]);
  }, 300_000);
});
