import { describe, expect, it } from "vitest";
import { TIER_PROFILES, TIERS } from "../../model/tiers.ts";
import { metadataOf, render } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";

/** The seed's quota table, row by row. */
const SEED_QUOTAS = {
  free: { "requests.cpu": "2", "limits.cpu": "4", "requests.memory": "4Gi", "limits.memory": "8Gi", pods: "20" },
  professional: { "requests.cpu": "8", "limits.cpu": "16", "requests.memory": "16Gi", "limits.memory": "32Gi", pods: "50" },
  enterprise: null,
} as const;

describe.each(TIERS)("phase 1 CREATE_NAMESPACE for a %s tenant", (tier) => {
  it("creates namespace matih-acme with the five labels and two annotations", async () => {
    const r = await render(tier, { lastPhase: 1 });
    const ns = r.k8s("Namespace", "matih-acme");
    expect(metadataOf(ns).labels).toEqual({
      "matih.ai/tenant-id": TENANT_ID,
      "matih.ai/tenant-slug": "acme",
      "matih.ai/tier": tier,
      "matih.ai/region": "eastus",
      "matih.ai/managed-by": "tenant-service",
    });
    expect(metadataOf(ns).annotations).toEqual({
      "matih.ai/provisioned-at": "2026-02-12T10:00:00Z",
      "matih.ai/provisioned-by": "admin@matih.ai",
      // Not the seed's: the program takes back its fields from a kubectl edit (stacks/tenant-program.ts).
      "pulumi.com/patchForce": "true",
    });
    expect(ns.phase).toEqual({ number: 1, name: "CREATE_NAMESPACE" });
  });

  it("creates a service account bound to a Role confined to the namespace", async () => {
    const r = await render(tier, { lastPhase: 1 });
    const sa = r.k8s("ServiceAccount", "tenant-workload");
    expect(metadataOf(sa).namespace).toBe("matih-acme");
    const role = r.k8s("Role", "tenant-workload");
    expect(metadataOf(role).namespace).toBe("matih-acme");
    const rules = role.inputs.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    // Secrets are readable only by name: the tenant's own credentials.
    expect(rules.find((x) => x.resources.includes("secrets"))?.resourceNames).toEqual(["tenant-database-credentials"]);
    const binding = r.k8s("RoleBinding", "tenant-workload");
    expect(binding.inputs.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant-workload" });
    expect(binding.inputs.subjects).toEqual([{ kind: "ServiceAccount", name: "tenant-workload", namespace: "matih-acme" }]);
    expect(r.ofKind("ClusterRole")).toHaveLength(0);
    expect(r.ofKind("ClusterRoleBinding")).toHaveLength(0);
  });

  it("applies the quota of the seed's table for the tier", async () => {
    const r = await render(tier, { lastPhase: 1 });
    const quotas = r.ofKind("ResourceQuota");
    const expected = SEED_QUOTAS[tier];
    if (expected === null) {
      expect(quotas).toHaveLength(0);
    } else {
      expect(quotas).toHaveLength(1);
      expect((quotas[0]!.inputs.spec as { hard: unknown }).hard).toEqual(expected);
    }
  });

  it("sets container defaults so that pods without requests are admitted under the quota", async () => {
    const r = await render(tier, { lastPhase: 1 });
    const limitRange = r.k8s("LimitRange", "tenant-container-defaults");
    const [limit] = (limitRange.inputs.spec as { limits: { type: string; defaultRequest: unknown; default: unknown }[] }).limits;
    expect(limit!.type).toBe("Container");
    expect(limit!.defaultRequest).toEqual(TIER_PROFILES[tier].containerDefaults.requests);
    expect(limit!.default).toEqual(TIER_PROFILES[tier].containerDefaults.limits);
  });
});
