/**
 * A teardown runs the program only to configure providers
 * (`destroy --run-program`), and a read the program declares there for a
 * phase that never finished is added to the state under a component being
 * deleted: the CLI then refuses the snapshot ("refers to missing parent"),
 * which a real run showed with phase 5's read. So a teardown's program
 * (readBack: false) declares no read in any phase, for every tier, while an
 * update's program does read (phase 5's contracted Services, phase 6's
 * controller Service).
 */
import { describe, expect, it } from "vitest";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { acmeSpec } from "../support/acme.ts";

const settings = resolvePlatformSettings();

describe("reads in a teardown's program", () => {
  for (const tier of TIERS) {
    it(`declares none for ${tier}, through phase 10`, async () => {
      const { resources } = await renderUnderMocks(acmeSpec(tier, {}, settings), settings, { readBack: false });
      expect(resources.filter((r) => r.read).map((r) => r.name)).toEqual([]);
    });
  }

  it("while an update's program reads back what phases 5 and 6 released", async () => {
    const { resources } = await renderUnderMocks(acmeSpec("free", {}, settings), settings, {});
    const reads = resources.filter((r) => r.read);
    expect(new Set(reads.map((r) => r.phase?.number))).toEqual(new Set([5, 6]));
    expect(reads.map((r) => r.name)).toContain("ingress-controller-service");
  });
});
