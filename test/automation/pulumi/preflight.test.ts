import { describe, expect, it } from "vitest";
import { assertReadyForRealRun, realRunProblems } from "../../../automation/pulumi/preflight.ts";
import { ConfigurationError } from "../../../automation/core/errors.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { realRunSettings } from "../helpers/tenants.ts";

const ENV = { MATIH_PG_ADMIN_PASSWORD: "from-the-vault" };

describe("the real-run preflight", () => {
  it("accepts settings that name the cluster, the subscription, the API endpoint, the database network and a pinned PgBouncer", () => {
    expect(realRunProblems(realRunSettings(), ENV)).toEqual([]);
    expect(() => assertReadyForRealRun(realRunSettings(), ENV)).not.toThrow();
  });

  it("refuses a run without the API server's endpoint addresses and says how to read them", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), kubernetes: { context: "aks-matih-prod" } });
    const problems = realRunProblems(settings, ENV);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^settings\.kubernetes\.apiServerCidrs must list the API server's endpoint addresses/);
    expect(problems[0]).toContain("kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes");
  });

  it("refuses the render placeholders of private database access", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), azure: { subscriptionId: "11111111-2222-3333-4444-555555555555" } });
    expect(realRunProblems(settings, ENV)).toEqual([
      expect.stringMatching(/^settings\.azure\.databaseSubnetId is the render placeholder/),
      expect.stringMatching(/^settings\.azure\.databasePrivateDnsZoneId is the render placeholder/),
    ]);
  });

  it("accepts public database access with its addresses instead", () => {
    const settings = resolvePlatformSettings({
      ...realRunSettingsOverrides(),
      azure: { subscriptionId: "11111111-2222-3333-4444-555555555555", databaseAccess: "public", clusterEgressIps: ["20.10.0.4"], serviceHostIps: ["52.1.2.3"] },
    });
    expect(realRunProblems(settings, ENV)).toEqual([]);
  });

  it("refuses a PgBouncer image that is not pinned by digest, the default tag included", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), images: {} });
    expect(settings.images.pgbouncer).toBe("bitnamilegacy/pgbouncer:1.24.1");
    const problems = realRunProblems(settings, ENV);
    expect(problems).toEqual([expect.stringMatching(/^settings\.images\.pgbouncer must be pinned by digest \(image@sha256:\.\.\.\), got "bitnamilegacy\/pgbouncer:1\.24\.1"/)]);
    expect(() => assertReadyForRealRun(settings, ENV)).toThrow(ConfigurationError);
  });

  it("asks for Azure settings only where the run reaches Azure, and for a pinned PgBouncer only where the tier has a pool", () => {
    // The defaults: the placeholder subscription and private-access subnet, PgBouncer by tag.
    const settings = resolvePlatformSettings({ kubernetes: { kubeconfig: "/etc/matih/kubeconfig", apiServerCidrs: ["20.1.2.3/32"] } });
    const subscription = expect.stringMatching(/^settings\.azure\.subscriptionId is the render placeholder/);
    const subnet = expect.stringMatching(/^settings\.azure\.databaseSubnetId is the render placeholder/);
    const zone = expect.stringMatching(/^settings\.azure\.databasePrivateDnsZoneId is the render placeholder/);
    const pgbouncer = expect.stringMatching(/^settings\.images\.pgbouncer must be pinned by digest/);
    // Free and professional up to phase 6 touch only the cluster and the shared PostgreSQL server.
    expect(realRunProblems(settings, ENV, { tier: "free", lastPhase: 6 })).toEqual([]);
    expect(realRunProblems(settings, ENV, { tier: "professional", lastPhase: 6 })).toEqual([pgbouncer]);
    // Phase 7 creates the tenant's DNS zone in the subscription.
    expect(realRunProblems(settings, ENV, { tier: "free", lastPhase: 7 })).toEqual([subscription]);
    // Enterprise creates its dedicated server in phase 2.
    expect(realRunProblems(settings, ENV, { tier: "enterprise", lastPhase: 2 })).toEqual([subscription, subnet, zone]);
    // Without a scope, everything.
    expect(realRunProblems(settings, ENV)).toEqual([subscription, subnet, zone, pgbouncer]);
  });
});

/** realRunSettings() as overrides, so one part at a time can be taken away. */
function realRunSettingsOverrides(): Record<string, unknown> {
  const s = realRunSettings();
  return {
    kubernetes: { context: s.kubernetes.context, apiServerCidrs: [...s.kubernetes.apiServerCidrs] },
    azure: { subscriptionId: s.azure.subscriptionId, databaseSubnetId: s.azure.databaseSubnetId, databasePrivateDnsZoneId: s.azure.databasePrivateDnsZoneId },
    images: { pgbouncer: s.images.pgbouncer },
  };
}
