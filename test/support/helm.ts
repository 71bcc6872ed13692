/**
 * A real Helm engine for tests: renders a public chart from ../shared/charts
 * with Helm's own Go library (scripts/helm/helm.sh, helm-java from Maven
 * Central), exactly as `helm template` would, so a test sees what a real
 * `helm install` creates instead of trusting the values it passes.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HELM_SCRIPT = join(REPO_ROOT, "scripts/helm/helm.sh");
/** Kubernetes version the charts are rendered for (AKS's current minor). */
export const KUBE_VERSION = "1.31.0";

/**
 * Folder of the shared public charts: `MATIH_SHARED_CHARTS` when set, else
 * `../shared/charts` beside the repository (where CI puts them).
 */
export function sharedChartsDir(): string {
  return resolve(process.env.MATIH_SHARED_CHARTS ?? join(REPO_ROOT, "../shared/charts"));
}

/** The folder of a shared chart, e.g. `ingress-nginx` 4.12.1; throws naming the override when absent. */
export function sharedChart(name: string, version: string): string {
  const dir = join(sharedChartsDir(), `${name}-${version}`);
  if (!existsSync(join(dir, "Chart.yaml"))) {
    throw new Error(`chart ${name} ${version} not found at ${dir}; set MATIH_SHARED_CHARTS to the folder holding ${name}-${version}/`);
  }
  return dir;
}

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // Manifests are free-form below metadata; tests read what they need.
  spec?: any;
  [key: string]: unknown;
}

export interface HelmRelease {
  readonly release: string;
  readonly namespace: string;
  readonly values: Record<string, unknown>;
}

/** What `helm template` produced for one release, keyed like the input. */
export interface RenderedRelease extends HelmRelease {
  readonly objects: readonly ManifestObject[];
}

/**
 * Renders `chartDir` for every release in one JVM (a few seconds in all).
 * Objects without a namespace of their own get the release namespace only if
 * their kind is namespaced: that is for the caller to decide, so `metadata`
 * is returned as the chart wrote it.
 */
export async function helmTemplate(chartDir: string, releases: readonly HelmRelease[]): Promise<RenderedRelease[]> {
  const work = mkdtempSync(join(tmpdir(), "helm-values-"));
  try {
    const args = ["template", chartDir, KUBE_VERSION];
    releases.forEach((r, i) => {
      const file = join(work, `values-${i}.json`);
      // JSON is YAML: the values reach Helm exactly as the program passes them.
      writeFileSync(file, JSON.stringify(r.values));
      args.push(r.release, r.namespace, file);
    });
    const stdout = await new Promise<string>((ok, fail) => {
      execFile("bash", [HELM_SCRIPT, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
        if (error) fail(new Error(`helm template failed: ${err || error.message}`));
        else ok(out);
      });
    });
    const sections = stdout.split(/^#### release (\S+) (\S+)\n/m).slice(1);
    const out: RenderedRelease[] = [];
    for (let i = 0; i < sections.length; i += 3) {
      const [release, namespace, text] = [sections[i]!, sections[i + 1]!, sections[i + 2]!];
      const input = releases[i / 3]!;
      if (input.release !== release || input.namespace !== namespace) throw new Error(`helm output out of order: ${release}/${namespace}`);
      const objects = parseAllDocuments(text)
        .map((d) => d.toJS() as ManifestObject | null)
        .filter((o): o is ManifestObject => !!o && typeof o === "object" && typeof o.kind === "string");
      out.push({ ...input, objects });
    }
    if (out.length !== releases.length) throw new Error(`helm rendered ${out.length} of ${releases.length} releases`);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Kinds that have no namespace: two releases creating one of these by the same name collide cluster-wide. */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "CustomResourceDefinition", "PriorityClass",
  "StorageClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PersistentVolume",
  "ClusterIssuer", "APIService", "RuntimeClass", "CSIDriver", "VolumeAttachment", "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding", "FlowSchema", "PriorityLevelConfiguration", "Node",
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED_KINDS.has(kind);
}
