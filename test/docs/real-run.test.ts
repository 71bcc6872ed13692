/**
 * docs/real-run.md lists every wait of a real run with its limit. The table is
 * checked against the rendered program, so a timeout changed in code and not
 * in the document (or an await added without a row) fails here.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { renderUnderMocks, type RenderResult } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";

const doc = readFileSync(new URL("../../docs/real-run.md", import.meta.url), "utf8");
/** The await table's rows as [phase, resource, waits for, timeout, on failure]. */
const rows = doc.split("\n").filter((l) => /^\| \d+ [A-Z_]+ \|/.test(l)).map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
const rowFor = (phase: number, resource: string) => rows.find((r) => r[0]!.startsWith(`${phase} `) && r[1]!.includes(resource));

let r: RenderResult;
beforeAll(async () => {
  const settings = resolvePlatformSettings();
  r = await renderUnderMocks(acmeSpec("professional", {}, settings), settings);
});

describe("docs/real-run.md", () => {
  it("has a row for each of the ten phases", () => {
    expect(new Set(rows.map((x) => Number(x[0]!.split(" ")[0]))).size).toBe(10);
  });

  it("gives every Job its activeDeadlineSeconds and the provider's own limit", () => {
    const jobs = r.resources.filter((x) => x.inputs.kind === "Job");
    expect(jobs).toHaveLength(4);
    for (const job of jobs) {
      const meta = job.inputs.metadata as { name: string; annotations: Record<string, string> };
      const stable = meta.name.replace(/-[0-9a-f]{10}$/, "-<hash>");
      const row = rowFor(job.phase!.number, `\`${stable}\``);
      expect(row, `row for Job ${stable}`).toBeDefined();
      const deadline = (job.inputs.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds;
      expect(row![3]).toContain(`${deadline} s activeDeadlineSeconds`);
      expect(row![3]).toContain(`gives up at ${meta.annotations["pulumi.com/timeoutSeconds"]} s`);
      expect(Number(meta.annotations["pulumi.com/timeoutSeconds"])).toBeGreaterThan(deadline);
    }
  });

  it("gives every Helm release its timeout", () => {
    for (const release of r.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release")) {
      const row = rows.find((x) => x[0]!.startsWith(`${release.phase!.number} `) && (x[1]!.includes(`\`${String(release.inputs.name)}\``) || x[1]!.startsWith("six releases")));
      expect(row, `row for release ${String(release.inputs.name)}`).toBeDefined();
      expect(row![3]).toMatch(new RegExp(`^${String(release.inputs.timeout)} s`));
    }
  });

  it("gives the Certificate its waitFor and timeout", () => {
    const cert = r.resources.find((x) => x.inputs.kind === "Certificate")!;
    const annotations = (cert.inputs.metadata as { annotations: Record<string, string> }).annotations;
    const row = rowFor(8, "Certificate");
    expect(row![2]).toContain(`pulumi.com/waitFor: ${annotations["pulumi.com/waitFor"]}`);
    expect(row![3]).toMatch(new RegExp(`^${annotations["pulumi.com/timeoutSeconds"]} s`));
  });

  it("names the Ingress backends the program routes to", () => {
    const ingress = r.resources.find((x) => x.inputs.kind === "Ingress")!;
    const row = rowFor(8, "Ingress");
    for (const rule of (ingress.inputs.spec as { rules: { http: { paths: { backend: { service: { name: string; port: { number: number } } } }[] } }[] }).rules) {
      for (const p of rule.http.paths) expect(row![2]).toContain(`${p.backend.service.name}:${p.backend.service.port.number}`);
    }
  });

  it("states the platform contract on the TLS Secret and how to read the API server's endpoints", () => {
    expect(doc).toContain("--enable-certificate-owner-ref=true");
    expect(doc).toContain("kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes");
  });
});
