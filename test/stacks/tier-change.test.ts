/**
 * The program a change of tier's first update runs (TenantProgramOptions.tierChangeFrom):
 * rendered under the mock runtime and held to the seed's quotas and the tier
 * table's limits as literals. On the real cluster, professional → free with
 * the new tier's quota applied first was refused pod by pod (`exceeded
 * quota`); the first update must keep room for both tiers' pods, keep the old
 * pool's pods as they are while its clients leave, and already point every
 * reader of the credentials at the new settings.
 */
import { describe, expect, it } from "vitest";
import { CREDENTIALS_CHECKSUM_ANNOTATION } from "../../components/02-database.ts";
import { renderUnderMocks, type RenderedResource } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import type { Tier } from "../../model/tiers.ts";
import { quantityValue, tierChangeProfile, widerQuota } from "../../model/tier-change.ts";
import { acmeSpec } from "../support/acme.ts";

const settings = resolvePlatformSettings();

async function render(tier: Tier, tierChangeFrom?: Tier) {
  const { resources } = await renderUnderMocks(acmeSpec(tier, {}, settings), settings, { lastPhase: 6, ...(tierChangeFrom ? { tierChangeFrom } : {}) });
  return resources;
}

const byName = (resources: readonly RenderedResource[], name: string) => resources.find((r) => r.custom && r.name === name);
const inputs = (r: RenderedResource | undefined) => r?.inputs as Record<string, any> | undefined;
const quotaOf = (resources: readonly RenderedResource[]) => inputs(byName(resources, "namespace-quota"))?.spec?.hard;
const digestOf = (r: RenderedResource | undefined) => inputs(r)?.spec?.template?.metadata?.annotations?.[CREDENTIALS_CHECKSUM_ANNOTATION];

describe("the first update of a change of tier", () => {
  it("professional → free keeps professional's quota and connection limit, and its pool as it ran, while the readers switch", async () => {
    const during = await render("free", "professional");
    const professional = await render("professional");
    const free = await render("free");

    expect(quotaOf(during)).toEqual({ "requests.cpu": "8", "limits.cpu": "16", "requests.memory": "16Gi", "limits.memory": "32Gi", pods: "50" });
    expect(inputs(byName(during, "database-role"))?.connectionLimit).toBe(60);
    // The pool stays, with its replicas and the digest it ran with: its pods do not roll on the way out.
    const pool = byName(during, "database-pool");
    expect(inputs(pool)?.spec?.replicas).toBe(2);
    expect(digestOf(pool)).toBe(digestOf(byName(professional, "database-pool")));
    expect(byName(during, "database-pool-service")).toBeDefined();
    // Every other reader already has free's digest (the Secret points at the server), not professional's.
    for (const name of ["database-migrate", "database-connectivity-check", "networking-database-check"]) {
      expect(digestOf(byName(during, name)), name).toBe(digestOf(byName(free, name)));
      expect(digestOf(byName(during, name)), name).not.toBe(digestOf(byName(professional, name)));
    }
    // The workloads themselves take free's sizes at once.
    const release = (rs: readonly RenderedResource[]) => inputs(byName(rs, "core-services-ai-service"))?.values;
    expect(release(during)?.replicaCount).toBe(1);
    expect(release(during)?.resources).toEqual(release(free)?.resources);
  });

  it("the update after it (no tierChangeFrom) is free as it is: free's quota and limit, no pool", async () => {
    const free = await render("free");
    expect(quotaOf(free)).toEqual({ "requests.cpu": "2", "limits.cpu": "4", "requests.memory": "4Gi", "limits.memory": "8Gi", pods: "20" });
    expect(inputs(byName(free, "database-role"))?.connectionLimit).toBe(20);
    expect(byName(free, "database-pool")).toBeUndefined();
    expect(byName(free, "database-pool-service")).toBeUndefined();
  });

  it("free → professional is professional from the first update: nothing of free is kept", async () => {
    const during = await render("professional", "free");
    const professional = await render("professional");
    const view = (rs: readonly RenderedResource[]) => rs.filter((r) => r.custom).map((r) => [r.name, r.inputs]);
    expect(view(during)).toEqual(view(professional));
  });

  it("a change to or from enterprise (no quota) has no quota during it, and keeps no pool for another server", async () => {
    expect(tierChangeProfile("enterprise", "free").quota).toBeNull();
    expect(tierChangeProfile("professional", "enterprise").quota).toBeNull();
    const during = await render("free", "enterprise");
    expect(byName(during, "namespace-quota")).toBeUndefined();
    expect(byName(during, "database-pool")).toBeUndefined();
    expect(inputs(byName(during, "database-role"))?.connectionLimit).toBe(-1);
  });
});

describe("comparing quantities for the wider quota", () => {
  it("compares CPU and memory by value, not as text", () => {
    expect(quantityValue("500m")).toBe(0.5);
    expect(quantityValue("16")).toBe(16);
    expect(quantityValue("4Gi")).toBe(4 * 2 ** 30);
    expect(quantityValue("512Mi")).toBeLessThan(quantityValue("1Gi"));
    // As text "9" > "16"; as quantities it is not.
    expect(widerQuota(
      { cpuRequest: "9", cpuLimit: "16", memoryRequest: "900Mi", memoryLimit: "2Gi", pods: 9 },
      { cpuRequest: "16", cpuLimit: "9", memoryRequest: "1Gi", memoryLimit: "1500Mi", pods: 10 },
    )).toEqual({ cpuRequest: "16", cpuLimit: "16", memoryRequest: "1Gi", memoryLimit: "2Gi", pods: 10 });
  });

  it("refuses a quantity it does not know rather than compare it wrongly", () => {
    expect(() => quantityValue("1e3")).toThrow('not a Kubernetes quantity this comparison knows: "1e3"');
    expect(() => quantityValue("2 Gi")).toThrow(RangeError);
  });
});
