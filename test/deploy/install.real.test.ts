/**
 * helm install of the service's chart into the local cluster
 * (scripts/local-cluster: a real API server, kwok nodes), with Helm's own Go
 * library (scripts/deploy/helm-release.sh: helm-java, as the render tests),
 * in a namespace of its own: the API server must accept every object the
 * chart renders (read back one by one), the migration hook Job must run
 * before the release is deployed, and helm uninstall must remove them all.
 *
 * kwok runs no containers: the pods are scheduled and reported Running, but
 * the image is never pulled or started, so this proves the objects, not the
 * process (the three-process test in test/soak proves the process). The Key
 * Vault class and the ServiceMonitor are left out: the cluster has neither
 * the Secrets Store CSI driver's CRD nor the Prometheus operator's (the render
 * test checks both objects against their schemas).
 *
 * Skipped, with the reason, when no local cluster is up; under CI=true a
 * missing cluster fails.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { CHART, PRODUCTION_VALUES, REPO } from "./chart.ts";
import { helmTemplate, KUBE_VERSION } from "../support/helm.ts";
import { kubectl, kubectlJson, probeLocalCluster, waitUntil } from "../support/local-cluster.ts";

const run = promisify(execFile);
const cluster = await probeLocalCluster();
const NAMESPACE = `matih-deploy-${process.pid}`;
const RELEASE = "matih";

/** Production values, less what needs CRDs the local cluster lacks. */
const VALUES: Record<string, any> = {
  ...PRODUCTION_VALUES,
  secrets: { ...PRODUCTION_VALUES.secrets, keyVault: { enabled: false }, existingSecrets: ["matih-service"] },
  serviceMonitor: { enabled: false },
};

async function helmRelease(args: string[]): Promise<string> {
  try {
    const { stdout } = await run("bash", [join(REPO, "scripts/deploy/helm-release.sh"), ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    return stdout;
  } catch (error) {
    throw new Error(`helm ${args[0]}: ${(error as { stderr?: string }).stderr || String(error)}`);
  }
}

describe.skipIf(!cluster.available)(`helm install into the local cluster${cluster.available ? "" : ` (skipped: ${(cluster as { reason: string }).reason})`}`, () => {
  const work = mkdtempSync(join(tmpdir(), "matih-deploy-"));
  afterAll(async () => {
    await helmRelease(["uninstall", RELEASE, NAMESPACE, process.env.KUBECONFIG!]).catch(() => undefined);
    await kubectl(["delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  it("installs every object the chart renders, runs the migration hook first, and uninstalls them", async () => {
    // The Secrets the values refer to exist before the release, as a platform team creates them.
    await kubectl(["create", "namespace", NAMESPACE]);
    await kubectl(["-n", NAMESPACE, "create", "secret", "generic", "matih-service", "--from-literal=DATABASE_URL=postgresql://matih_service:not-real@db.example:5432/matih"]);
    await kubectl(["-n", NAMESPACE, "create", "secret", "generic", "matih-migration", "--from-literal=DATABASE_URL=postgresql://matih_service:not-real@db.example:5432/matih", "--from-literal=MATIH_MIGRATION_DATABASE_URL=postgresql://matih_owner:not-real@db.example:5432/matih"]);
    await kubectl(["-n", NAMESPACE, "create", "secret", "generic", VALUES.secrets.kubeconfig.secretName, "--from-literal=kubeconfig=apiVersion: v1"]);

    const [rendered] = await helmTemplate(CHART, [{ release: RELEASE, namespace: NAMESPACE, values: VALUES }]);
    const valuesFile = join(work, "values.json");
    writeFileSync(valuesFile, JSON.stringify(VALUES));
    const out = await helmRelease(["install", CHART, RELEASE, NAMESPACE, valuesFile, process.env.KUBECONFIG!]);
    expect(out).toMatch(/^status deployed revision 1$/m);

    // Every object back from the API server, as the chart wrote it and owned by the release.
    expect(rendered!.objects.length).toBeGreaterThanOrEqual(7);
    for (const o of rendered!.objects) {
      const live = await kubectlJson(["-n", NAMESPACE, "get", `${o.kind}.${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}`.replace(/\.$/, ""), o.metadata.name]);
      expect(live.metadata.annotations?.["meta.helm.sh/release-name"], `${o.kind} ${o.metadata.name}`).toBe(RELEASE);
      expect(live.metadata.labels).toMatchObject(o.metadata.labels ?? {});
    }
    const deployment = await kubectlJson(["-n", NAMESPACE, "get", "deployment", `${RELEASE}-matih-provisioning`]);
    expect(deployment.spec.replicas).toBe(VALUES.replicaCount);
    expect(deployment.spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds).toBe(5);
    // The hook ran before install finished (Helm waits for a hook Job to complete; kwok completes Job pods).
    const job = await kubectlJson(["-n", NAMESPACE, "get", "job", `${RELEASE}-matih-provisioning-migrate`]);
    expect(job.status.succeeded).toBe(1);
    expect(job.spec.template.spec.containers[0].command).toEqual(["node", "server/migrate-cli.ts"]);
    // kwok schedules the pods (hard anti-affinity: one per node) though it runs nothing.
    const pods = await waitUntil("three scheduled pods", 60_000, async () => {
      const list = await kubectlJson(["-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=api"]);
      const scheduled = list.items.filter((p: any) => p.spec.nodeName);
      return scheduled.length === VALUES.replicaCount ? scheduled : undefined;
    }, 1_000);
    expect(new Set(pods.map((p: any) => p.spec.nodeName)).size).toBe(VALUES.replicaCount);

    expect(await helmRelease(["uninstall", RELEASE, NAMESPACE, process.env.KUBECONFIG!])).toMatch(/uninstalled/);
    for (const o of rendered!.objects) {
      const left = await kubectl(["-n", NAMESPACE, "get", o.kind, o.metadata.name, "--ignore-not-found", "-o", "name"]);
      expect(left.trim(), `${o.kind} ${o.metadata.name} outlived helm uninstall`).toBe("");
    }
  }, 300_000);
});
