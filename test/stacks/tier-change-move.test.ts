/**
 * The expand program of a tier change that moves the data to another server
 * (TenantProgramOptions.moveDatabaseTo, the Pulumi engine's first update of
 * professional → enterprise or enterprise → free): the old tier's program
 * untouched, the credentials Secret first, with the new target declared
 * beside it under the URNs the new tier's program gives it. Under the mock
 * runtime (Azure is unreachable here).
 */
import { describe, expect, it } from "vitest";
import { renderUnderMocks, type RenderedResource } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import type { Tier } from "../../model/tiers.ts";
import { SECRET_PLACEHOLDER } from "../../model/constants.ts";
import { acmeSpec } from "../support/acme.ts";
import { contractChanges } from "../../model/tier-change.ts";
import { databaseSubnetFor } from "../../model/settings.ts";

const settings = resolvePlatformSettings();

async function render(tier: Tier, options: { moveDatabaseTo?: Tier; tierChangeFrom?: Tier } = {}) {
  return renderUnderMocks(acmeSpec(tier, {}, settings), settings, { lastPhase: 6, ...options });
}

const custom = (resources: readonly RenderedResource[]) => resources.filter((r) => r.custom);
const byName = (resources: readonly RenderedResource[], name: string) => resources.find((r) => r.custom && r.name === name);
/** The value is there, and nothing of it but secret placeholders (the whole, or every field). */
const onlySecrets = (value: unknown): boolean =>
  value === SECRET_PLACEHOLDER || (typeof value === "object" && value !== null && Object.keys(value).length > 0 && Object.values(value).every(onlySecrets));
const DEDICATED = ["database-server", "database-database", "database-server-admin-password"];
const EGRESS_POLICY = "networking-allow-egress-database";
/** The default settings' delegated subnet for dedicated servers in acme's region. */
const DEDICATED_SUBNET = databaseSubnetFor(settings, acmeSpec("enterprise", {}, settings).region)!.subnetCidr;
/** Where the database egress policy lets the tenant's pods go. */
const egressTo = (resources: readonly RenderedResource[]) => ((byName(resources, EGRESS_POLICY)?.inputs as any)?.spec?.egress ?? []).flatMap((rule: any) => rule.to ?? []);

describe("the expand of a tier change that moves the data", () => {
  it("professional → enterprise: professional's program as it is, plus enterprise's server under enterprise's URNs and the role on it", async () => {
    const expand = await render("professional", { moveDatabaseTo: "enterprise" });
    const professional = await render("professional");
    const enterprise = await render("enterprise", { tierChangeFrom: "professional" });

    // Everything professional declares is declared the same: the Secret still points at the shared server's pool.
    // All but the database egress policy, widened to the new server before the switch (below), and the check Job named after it.
    for (const r of custom(professional.resources).filter((x) => x.name !== EGRESS_POLICY && x.name !== "networking-database-check")) {
      const same = expand.resources.find((e) => e.urn === r.urn);
      expect(same, r.urn).toBeDefined();
      expect(same?.inputs, r.urn).toEqual(r.inputs);
    }
    // The egress to the databases already reaches the dedicated server's subnet, as enterprise's does: phase 2's Jobs run
    // on the switched Secret before phase 4 would otherwise let them through.
    expect(egressTo(expand.resources)).toEqual(egressTo(enterprise.resources));
    expect(egressTo(expand.resources)).toContainEqual({ ipBlock: { cidr: DEDICATED_SUBNET } });
    expect(egressTo(professional.resources)).not.toContainEqual({ ipBlock: { cidr: DEDICATED_SUBNET } });
    // The dedicated server's resources are the switch's own (same URN, same inputs): the switch finds them created.
    for (const name of DEDICATED) {
      const mine = byName(expand.resources, name);
      const theirs = byName(enterprise.resources, name);
      expect(mine, name).toBeDefined();
      expect(mine?.urn).toBe(theirs?.urn);
      expect(mine?.inputs).toEqual(theirs?.inputs);
    }
    // Nothing else is added but the new target's admin provider and the tenant role on it.
    const added = custom(expand.resources).filter((r) => !professional.resources.some((p) => p.urn === r.urn)).map((r) => r.name).sort();
    expect(added).toEqual(["azure-native", "database-database", "database-move-target-postgres", "database-move-target-role", "database-server", "database-server-admin-password"]);
    const provider = byName(expand.resources, "database-move-target-postgres");
    expect(provider?.inputs).toMatchObject({ username: "matih_admin", sslmode: "require", port: "5432" });
    const role = byName(expand.resources, "database-move-target-role");
    expect(role?.provider).toMatch(/::database-move-target-postgres$/);
    // As the switch's Role declares it: enterprise has no connection limit, professional's 60 widens to none.
    expect(role?.inputs).toMatchObject({ name: "tenant_acme", login: true, connectionLimit: -1, searchPaths: ["tenant_acme"] });
    expect(byName(enterprise.resources, "database-role")?.inputs).toMatchObject({ connectionLimit: -1 });
    // The old tier stays the stack's tier until the switch; the server's admin login only as a secret.
    expect(expand.outputs.tier).toBe("professional");
    expect(onlySecrets(expand.outputs.dedicatedDatabaseAdmin)).toBe(true);
    expect(professional.outputs.dedicatedDatabaseAdmin).toBeUndefined();
  });

  it("enterprise → free: enterprise's program as it is, the role declared on the shared server, the dedicated admin exported for the move's source", async () => {
    const expand = await render("enterprise", { moveDatabaseTo: "free" });
    const enterprise = await render("enterprise");
    for (const r of custom(enterprise.resources)) expect(expand.resources.find((e) => e.urn === r.urn)?.inputs, r.urn).toEqual(r.inputs);
    const added = custom(expand.resources).filter((r) => !enterprise.resources.some((p) => p.urn === r.urn)).map((r) => r.name).sort();
    expect(added).toEqual(["database-move-target-postgres", "database-move-target-role"]);
    expect(byName(expand.resources, "database-move-target-postgres")?.inputs).toMatchObject({ host: settings.postgres.host, username: settings.postgres.adminUser });
    // The switch keeps enterprise's "none" while the enterprise pods still run (widerConnectionLimit).
    expect(byName(expand.resources, "database-move-target-role")?.inputs).toMatchObject({ connectionLimit: -1 });
    expect(expand.outputs.tier).toBe("enterprise");
    expect(onlySecrets(expand.outputs.dedicatedDatabaseAdmin)).toBe(true);
  });

  it("enterprise → free: the switch still lets the workloads reach the dedicated server; the contract's program, free's own, no longer does", async () => {
    const enterprise = await render("enterprise");
    const switching = await render("free", { tierChangeFrom: "enterprise" });
    const free = await render("free");
    expect(egressTo(switching.resources)).toEqual(egressTo(enterprise.resources));
    expect(egressTo(switching.resources)).toContainEqual({ ipBlock: { cidr: DEDICATED_SUBNET } });
    expect(egressTo(free.resources)).not.toContainEqual({ ipBlock: { cidr: DEDICATED_SUBNET } });
    // So the contract is a second update, and says so in the review.
    expect(contractChanges("enterprise", "free")).toContain("phase 4's egress to the enterprise tier's dedicated server is removed");
    expect(contractChanges("professional", "enterprise")).toEqual([]);
  });

  it("refuses a move where the data stays on its server, and together with tierChangeFrom", async () => {
    await expect(render("free", { moveDatabaseTo: "professional" })).rejects.toThrow("keeps the data on the same server");
    await expect(render("free", { moveDatabaseTo: "enterprise", tierChangeFrom: "professional" })).rejects.toThrow("not both");
  });
});
