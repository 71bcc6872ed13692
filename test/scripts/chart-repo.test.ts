/**
 * The local chart repository of the local test cluster
 * (scripts/local-cluster/chart-repo.sh): the stand-in matih charts, generated
 * from one template per line of charts/contract.txt, and the public
 * ingress-nginx chart, built, served on 127.0.0.1 and rendered out of it by
 * Helm's own engine (helm-java, as test/stacks/real-helm-ingress-nginx.test.ts),
 * found by name and version through index.yaml as the program's
 * helm.v3.Release finds them, with the exact values the program passes.
 *
 * Like the other real-Helm tests this needs Java and the helm-java jars
 * (`bash scripts/helm/helm.sh fetch`, which CI runs first), and python3 for
 * the server; without them it fails rather than skips.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CORE_SERVICES } from "../../components/03-core-services.ts";
import { DATA_SERVICES } from "../../components/05-data-services.ts";
import { ingressControllerServiceName } from "../../components/06-ingress-controller.ts";
import { DEFAULT_PLATFORM_SETTINGS, resolvePlatformSettings, type ChartService } from "../../model/settings.ts";
import { namespaceName, validateTenantSpec } from "../../model/spec.ts";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { helmTemplate, KUBE_VERSION, type ManifestObject } from "../support/helm.ts";
import { schemaProblems } from "../support/k8s-schema.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHART_REPO = join(REPO_ROOT, "scripts/local-cluster/chart-repo.sh");
const GENERATE = join(REPO_ROOT, "scripts/local-cluster/charts/generate.sh");
const CONTRACT = join(REPO_ROOT, "scripts/local-cluster/charts/contract.txt");
const MATIH_CHARTS = [...CORE_SERVICES, ...DATA_SERVICES] as string[];
const SLUG = "acme";

interface Rendered {
  chart: string;
  version: string;
  release: string;
  namespace: string;
  values: Record<string, any>;
  objects: ManifestObject[];
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    execFile("bash", args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`bash ${args.join(" ")} failed: ${stderr || error.message}`));
      else ok({ stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  await new Promise((ok) => server.close(ok));
  return port;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(2_000);
    socket.once("connect", () => { socket.destroy(); ok(true); });
    socket.once("error", () => ok(false));
    socket.once("timeout", () => { socket.destroy(); ok(false); });
  });
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const tarList = async (file: string) => (await run(["-c", 'tar -tzf "$0"', file])).stdout.trim().split("\n");
const tarRead = async (file: string, member: string) => (await run(["-c", 'tar -xzOf "$0" "$1"', file, member])).stdout;
const parseManifests = (text: string) => parseAllDocuments(text)
  .map((d) => d.toJS() as ManifestObject | null)
  .filter((o): o is ManifestObject => !!o && typeof o === "object" && typeof o.kind === "string");

/** The contract file as chart -> Services, in its order. */
function readContract(): Map<string, ChartService[]> {
  const out = new Map<string, ChartService[]>();
  for (const line of readFileSync(CONTRACT, "utf8").split("\n")) {
    const [chart, ...services] = line.trim().split(/\s+/);
    if (!chart || chart.startsWith("#")) continue;
    out.set(chart, services.map((s) => ({ service: s.split(":")[0]!, port: Number(s.split(":")[1]) })));
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "chart-repo-test-"));
const repoDir = join(work, "repo");
let buildStdout = "";
let server: ChildProcess | undefined;
let serverStdout = "";
let serverExit: string | undefined;
let port = 0;
let url = "";
let repositoryUrls: string[] = [];
const rendered = new Map<string, Rendered>();

beforeAll(async () => {
  buildStdout = (await run([CHART_REPO, "build", repoDir])).stdout;

  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn("bash", [CHART_REPO, "serve", repoDir, String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout!.on("data", (d: Buffer) => { serverStdout += d.toString(); });
  server.stderr!.resume();
  server.once("exit", (code, signal) => { serverExit = `exit ${code ?? signal}`; });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (serverExit) throw new Error(`chart-repo.sh serve ended (${serverExit})`);
    const ok = await fetch(`${url}/index.yaml`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`chart-repo.sh serve: nothing on ${url} after 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // The program's own releases, with the served repository in the settings, as a local-cluster run has it.
  const settings = resolvePlatformSettings({
    kubernetes: { apiServerCidrs: ["20.62.1.15/32"] },
    charts: { repository: url, ingressNginxRepository: url },
  });
  const spec = validateTenantSpec({
    id: "550e8400-e29b-41d4-a716-446655440077", slug: SLUG, displayName: "Acme", tier: "professional", region: "eastus",
    adminEmail: "admin@acme.example", requestedBy: "ops@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
  }, { baseDomain: settings.baseDomain });
  const render = await renderUnderMocks(spec, settings, { lastPhase: 6 });
  const releases = render.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").map((r) => ({
    chart: String(r.inputs.chart),
    version: String(r.inputs.version),
    release: String(r.inputs.name),
    namespace: String(r.inputs.namespace),
    values: r.inputs.values as Record<string, any>,
    repo: String((r.inputs.repositoryOpts as { repo: string }).repo),
  }));
  repositoryUrls = [...new Set(releases.map((r) => r.repo))];
  // One more: a chart asked to create its own ServiceAccount.
  const qe = releases.find((r) => r.chart === "query-engine")!;
  releases.push({ ...qe, release: "sa-check", values: { ...qe.values, serviceAccount: { create: true } } });

  const args = [CHART_REPO, "template", url, KUBE_VERSION];
  releases.forEach((r, i) => {
    const file = join(work, `values-${i}.json`);
    writeFileSync(file, JSON.stringify(r.values));
    args.push(r.chart, r.version, r.release, r.namespace, file);
  });
  const { stdout } = await run(args);
  const sections = stdout.split(/^#### release (\S+) (\S+)\n/m).slice(1);
  for (let i = 0; i < sections.length; i += 3) {
    const input = releases[i / 3]!;
    expect(`${sections[i]} ${sections[i + 1]}`).toBe(`${input.release} ${input.namespace}`);
    rendered.set(input.release, { ...input, objects: parseManifests(sections[i + 2]!) });
  }
  expect(rendered.size).toBe(releases.length);
}, 120_000);

afterAll(() => {
  server?.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

describe("the stand-in charts' contract", () => {
  it("lists the program's matih charts, phase 3 then phase 5, with the Services the settings' default contract says each creates", () => {
    const contract = readContract();
    expect([...contract.keys()]).toEqual(MATIH_CHARTS);
    expect(Object.fromEntries(contract)).toEqual(DEFAULT_PLATFORM_SETTINGS.charts.services);
  });
});

describe("chart-repo.sh build", () => {
  it("prints nothing on stdout", () => {
    expect(buildStdout).toBe("");
  });

  it("packages every matih chart at the settings' charts.version and ingress-nginx at its version, as <name>-<version>.tgz", () => {
    const want = [
      ...MATIH_CHARTS.map((c) => `${c}-${DEFAULT_PLATFORM_SETTINGS.charts.version}.tgz`),
      `ingress-nginx-${DEFAULT_PLATFORM_SETTINGS.charts.ingressNginxVersion}.tgz`,
    ];
    expect(readdirSync(repoDir).sort()).toEqual([...want, "index.yaml"].sort());
  });

  it("gives each package the single top folder of its chart's name, with its Chart.yaml", async () => {
    for (const file of readdirSync(repoDir).filter((f) => f.endsWith(".tgz"))) {
      const name = file.replace(/-\d+\.\d+\.\d+\.tgz$/, "");
      const members = await tarList(join(repoDir, file));
      expect(members.filter((m) => m.split("/")[0] !== name), file).toEqual([]);
      expect(members, file).toContain(`${name}/Chart.yaml`);
    }
  });

  it("writes an index.yaml with one entry per package: its Chart.yaml, created, the sha256 digest and its URL relative to the repository", async () => {
    const index = parse(readFileSync(join(repoDir, "index.yaml"), "utf8"));
    expect(index.apiVersion).toBe("v1");
    expect(Number.isNaN(Date.parse(index.generated))).toBe(false);
    expect(Object.keys(index.entries).sort()).toEqual([...MATIH_CHARTS, "ingress-nginx"].sort());
    for (const [name, versions] of Object.entries(index.entries as Record<string, any[]>)) {
      expect(versions, name).toHaveLength(1);
      const entry = versions[0];
      const file = `${name}-${entry.version}.tgz`;
      expect(entry.urls, name).toEqual([file]);
      expect(entry.digest, name).toBe(sha256(join(repoDir, file)));
      expect(Number.isNaN(Date.parse(entry.created)), name).toBe(false);
      const chartYaml = parse(await tarRead(join(repoDir, file), `${name}/Chart.yaml`));
      expect(chartYaml.name).toBe(name);
      expect(chartYaml.apiVersion).toBe("v2");
      expect(typeof chartYaml.appVersion).toBe("string");
      const { created: _c, digest: _d, urls: _u, ...metadata } = entry;
      expect(metadata, name).toEqual(chartYaml);
    }
  });

  it("builds the same bytes again (fixed order, owners and times), so a chart cached by its digest stays valid", async () => {
    const again = join(work, "again");
    await run([CHART_REPO, "build", again]);
    for (const file of readdirSync(repoDir).filter((f) => f.endsWith(".tgz"))) expect(sha256(join(again, file)), file).toBe(sha256(join(repoDir, file)));
  });
});

describe("chart-repo.sh serve", () => {
  it("prints nothing on stdout", () => {
    expect(serverStdout).toBe("");
  });

  it("listens on 127.0.0.1 only", async () => {
    expect(await connects("127.0.0.1", port)).toBe(true);
    const others = Object.values(networkInterfaces()).flat().filter((a) => a && a.family === "IPv4" && !a.internal).map((a) => a!.address);
    for (const address of others) expect(await connects(address, port), address).toBe(false);
  });
});

describe("the stand-in charts out of the served repository, with the values the program passes", () => {
  it("are asked for at the served repository by every release of phases 3, 5 and 6", () => {
    expect(repositoryUrls).toEqual([url]);
    expect([...rendered.keys()].filter((r) => r !== "sa-check").sort()).toEqual([...MATIH_CHARTS, "ingress-nginx"].sort());
  });

  describe.each(MATIH_CHARTS)("%s", (chart) => {
    const r = () => rendered.get(chart)!;
    const ofKind = (kind: string) => r().objects.filter((o) => o.kind === kind);
    const deployment = () => {
      const list = ofKind("Deployment");
      expect(list).toHaveLength(1);
      return list[0]!;
    };

    it("renders one Deployment named after the service, and otherwise only Services", () => {
      expect(deployment().metadata.name).toBe(chart);
      expect(r().objects.filter((o) => o.kind !== "Deployment" && o.kind !== "Service").map((o) => o.kind)).toEqual([]);
    });

    it("runs the program's replicas, image, env (verbatim), resources and pod labels, as the named ServiceAccount, creating none", () => {
      const { values } = r();
      const spec = deployment().spec;
      expect(spec.replicas).toBe(values.replicaCount);
      expect(spec.template.spec.containers).toHaveLength(1);
      const container = spec.template.spec.containers[0];
      expect(container.image).toBe(`${values.image.repository}:${values.image.tag}`);
      expect(container.env).toEqual(values.env);
      expect(container.resources).toEqual(values.resources);
      expect(spec.template.metadata.labels).toMatchObject(values.podLabels);
      expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
      expect(values.serviceAccount).toEqual({ create: false, name: "tenant-workload" });
      expect(spec.template.spec.serviceAccountName).toBe("tenant-workload");
      expect(ofKind("ServiceAccount")).toEqual([]);
    });

    it("creates exactly the Services of the charts' contract, each selecting the Deployment's pods on a port the container declares", () => {
      const services = ofKind("Service");
      expect(services.map((s) => ({ service: s.metadata.name, port: s.spec.ports[0].port })).sort((a, b) => a.service.localeCompare(b.service)))
        .toEqual([...DEFAULT_PLATFORM_SETTINGS.charts.services[chart]!].sort((a, b) => a.service.localeCompare(b.service)));
      const podLabels = deployment().spec.template.metadata.labels;
      const containerPorts = deployment().spec.template.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort);
      for (const s of services) {
        expect(s.spec.ports, s.metadata.name).toHaveLength(1);
        expect(podLabels).toMatchObject(s.spec.selector);
        expect(containerPorts).toContain(s.spec.ports[0].targetPort);
      }
    });

    it("labels every object the standard way and puts it in the release namespace", () => {
      for (const o of r().objects) {
        expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
          "app.kubernetes.io/name": chart,
          "app.kubernetes.io/instance": chart,
          "app.kubernetes.io/managed-by": "Helm",
          "helm.sh/chart": `${chart}-${DEFAULT_PLATFORM_SETTINGS.charts.version}`,
        });
        expect(o.metadata.namespace).toBe(namespaceName(SLUG));
      }
      expect(deployment().spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": chart, "app.kubernetes.io/instance": chart });
    });

    it("renders objects the Kubernetes schema accepts", () => {
      for (const o of r().objects) expect(schemaProblems(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    });
  });

  it("creates the ServiceAccount and runs the pods as it when asked to (serviceAccount.create true)", () => {
    const objects = rendered.get("sa-check")!.objects;
    const accounts = objects.filter((o) => o.kind === "ServiceAccount");
    expect(accounts.map((a) => a.metadata.name)).toEqual(["sa-check-query-engine"]);
    expect(objects.find((o) => o.kind === "Deployment")!.spec.template.spec.serviceAccountName).toBe("sa-check-query-engine");
  });

  it("serves the ingress-nginx chart phase 6 installs, with the LoadBalancer Service the program reads", () => {
    const objects = rendered.get("ingress-nginx")!.objects;
    const service = objects.find((o) => o.kind === "Service" && o.metadata.name === ingressControllerServiceName(SLUG));
    expect(service?.spec.type).toBe("LoadBalancer");
  });
});

describe("charts/generate.sh", () => {
  it("gives a chart with no Service in the contract one Service named after it on port 8080", async () => {
    const contract = join(work, "contract.txt");
    writeFileSync(contract, "# one chart, no Service listed\nreport-service\n");
    const out = join(work, "generated");
    const { stdout } = await run([GENERATE, out, contract], { MATIH_CHART_VERSION: "2.3.4" });
    expect(stdout).toBe("report-service\n");
    const [release] = await helmTemplate(join(out, "report-service"), [{ release: "report-service", namespace: "tenant-acme", values: {} }]);
    expect(release!.objects.filter((o) => o.kind === "Service").map((s) => [s.metadata.name, s.spec.ports[0].port])).toEqual([["report-service", 8080]]);
    const deployment = release!.objects.find((o) => o.kind === "Deployment")!;
    expect(deployment.metadata.labels?.["helm.sh/chart"]).toBe("report-service-2.3.4");
    expect(deployment.spec.template.spec.containers[0].image).toBe("matih.azurecr.io/report-service:2.3.4");
  });

  it("refuses a contract line whose Service is not name:port", async () => {
    const contract = join(work, "bad-contract.txt");
    writeFileSync(contract, "query-engine api-gateway\n");
    await expect(run([GENERATE, join(work, "bad"), contract])).rejects.toThrow(/not service:port/);
  });
});
