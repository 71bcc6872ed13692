/**
 * docs/program.md states each place the program departs from the seed, with
 * its reason; model/tiers.ts gives the reason next to the number it explains.
 * A departure without its line fails here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const doc = readFileSync(new URL("../../docs/program.md", import.meta.url), "utf8");
const tiers = readFileSync(new URL("../../model/tiers.ts", import.meta.url), "utf8");
const section = doc.slice(doc.indexOf("### Where the program departs from the seed"));
/** The section's bullets, by their bold lead. */
const bullets = new Map([...section.matchAll(/^- \*\*(.+?)\*\*([\s\S]*?)(?=^- \*\*|(?![\s\S]))/gm)].map((m) => [m[1]!, m[2]!.replace(/\s+/g, " ")]));

describe("docs/program.md: departures from the seed", () => {
  it("has the section", () => {
    expect(doc).toContain("### Where the program departs from the seed");
  });

  it.each([
    ["Professional core services run 2 replicas, not 1.", "replicaCount: 1"],
    ["`tenant-workload`, not `default`, as the service account.", "any pod that names no account"],
    ["Pulumi, not Terraform, for the enterprise server.", "drift checks cover it"],
    ['No separate "provisioning infrastructure" step.', "inside phase 2, SETUP_DATABASE"],
    ["Regions.", "same-zone HA instead"],
    ["Names at their limits.", "Grafana uids (40"],
    ["Images pinned by digest.", "not pinned by digest"],
  ])("%s, with its reason", (lead, reason) => {
    expect(bullets.get(lead), lead).toContain(reason);
  });

  it("model/tiers.ts says why professional core services run 2 where the seed's example says 1", () => {
    expect(tiers).toMatch(/2, not the seed's `replicaCount: 1`[^\n]*\n[^\n]*\n[^\n]*docs\/program\.md lists this\.\n\s*coreServices: \{ replicas: 2,/);
  });
});
