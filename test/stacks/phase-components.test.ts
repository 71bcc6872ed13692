import { describe, expect, it } from "vitest";
import { PHASE_NAMES, PHASES } from "../../model/phases.ts";
import { PHASE_COMPONENTS } from "../../stacks/phase-components.ts";
import { render } from "../support/fixtures.ts";
import { acmeSpec } from "../support/acme.ts";

const STACK_IDENTITY = ["lastPhase", "slug", "tenantId", "tier"];

describe("the component column of the phase registry", () => {
  it("binds exactly the registry's phases to components", () => {
    expect(Object.keys(PHASE_COMPONENTS).sort()).toEqual([...PHASE_NAMES].sort());
  });

  it("names the outputs the seed's phases contribute to a tenant stack", () => {
    expect(Object.fromEntries(PHASES.map((p) => [p.number, p.outputs]))).toEqual({
      1: ["namespace"],
      2: ["credentialsSecretName", "databaseSchema"],
      3: [],
      4: [],
      5: [],
      6: ["loadBalancerIp", "ingressClassName"],
      7: ["zoneName", "zoneNameServers"],
      8: ["urls"],
      9: ["prometheusUrl"],
      10: ["collectorEndpoint"],
    });
  });

  it.each(PHASES.map((p) => p.number))("makes a stack that stops after phase %i export exactly the outputs of the phases up to it", async (lastPhase) => {
    const r = await render("professional", { lastPhase });
    const expected = PHASES.filter((p) => p.number <= lastPhase).flatMap((p) => p.outputs);
    expect(Object.keys(r.outputs).sort()).toEqual([...STACK_IDENTITY, ...expected].sort());
  });
});

/** Pulumi's wire form of a secret: the special signature key set to the secret signature. */
const secretOnTheWire = (value: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value });

/** The password the shared-database admin provider is given, as the engine would receive it. */
async function adminPasswordSent(credentials?: { postgresAdminPassword?: string }): Promise<unknown[]> {
  const { renderUnderMocks } = await import("../../stacks/mock-render.ts");
  const { resolvePlatformSettings } = await import("../../model/settings.ts");
  const { cloudMocks } = await import("../../stacks/cloud-mocks.ts");
  const spec = acmeSpec("free");
  const settings = resolvePlatformSettings();
  const mocks = cloudMocks(spec, settings);
  const seen: unknown[] = [];
  await renderUnderMocks(spec, settings, {
    lastPhase: 2,
    ...(credentials ? { credentials } : {}),
    mocks: { ...mocks, newResource: (args) => {
      if (args.type === "pulumi:providers:postgresql") seen.push(args.inputs.password);
      return mocks.newResource(args);
    } },
  });
  return seen;
}

describe("credentials", () => {
  it("reach the shared-database admin provider as an argument of the program, kept secret in renders", async () => {
    expect(await adminPasswordSent({ postgresAdminPassword: "from-the-caller" })).toEqual([secretOnTheWire("from-the-caller")]);
    const r = await render("free", { lastPhase: 2, credentials: { postgresAdminPassword: "from-the-caller" } });
    expect(r.resources.find((x) => x.type === "pulumi:providers:postgresql")!.inputs.password).toBe("[secret]");
    expect(JSON.stringify(r)).not.toContain("from-the-caller");
  });

  it("are never read from the environment inside the program", async () => {
    process.env.MATIH_PG_ADMIN_PASSWORD = "env-password-the-program-must-not-see";
    try {
      expect(await adminPasswordSent()).toEqual([secretOnTheWire("")]);
    } finally {
      delete process.env.MATIH_PG_ADMIN_PASSWORD;
    }
  });
});
