/**
 * Under server-side apply a kubectl edit makes kubectl the manager of the
 * field it changed, and the program's next apply conflicts: a real run's
 * converge change failed so. The program claims its fields back.
 */
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";

const settings = resolvePlatformSettings();

describe("field ownership under server-side apply", () => {
  it("marks every Kubernetes object the program declares to take back its fields from another manager, and nothing else", async () => {
    const rendered = await renderUnderMocks(acmeSpec("professional", {}, settings), settings);
    const objects = rendered.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh/") && r.inputs.metadata !== undefined);
    expect(objects.length).toBeGreaterThan(40);
    const unmarked = objects.filter((r) => (r.inputs.metadata as { annotations?: Record<string, string> }).annotations?.["pulumi.com/patchForce"] !== "true").map((r) => r.name);
    expect(unmarked).toEqual([]);
    const releases = rendered.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
    expect(releases.every((r) => r.inputs.metadata === undefined)).toBe(true);
  });
});
