import { describe, expect, it } from "vitest";
import { runRenderWorkerJob } from "../../../automation/render/worker-job.ts";
import type { RenderOutcome } from "../../../automation/isolation/protocol.ts";
import { renderUnderMocks } from "../../../stacks/mock-render.ts";
import { TIERS } from "../../../model/tiers.ts";
import { platformSettings, tenantSpec } from "../helpers/tenants.ts";

const context = { signal: new AbortController().signal, emit: () => {}, log: () => {} };

describe("the render worker's speed-ups", () => {
  it.each(TIERS)("render the %s tier to exactly the JSON of a plain render", async (tier) => {
    const spec = tenantSpec({ tier });
    const settings = platformSettings();
    const plain = JSON.stringify(await renderUnderMocks(spec, settings, { lastPhase: 10 }));
    const fast = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase: 10 }] }, context)) as RenderOutcome[];
    expect(fast).toHaveLength(1);
    expect(fast[0]!.ok).toBe(true);
    expect(JSON.stringify(fast[0]!.ok ? fast[0]!.result : null)).toBe(plain);
  }, 60_000);

  it("puts the process's stack trace limit back after a render job", async () => {
    const before = Error.stackTraceLimit;
    await runRenderWorkerJob({ kind: "render", renders: [{ spec: tenantSpec(), settings: platformSettings(), lastPhase: 3 }] }, context);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error("traced").stack).toMatch(/\n\s+at /);
  }, 60_000);

  it("reports a failing tenant program with the same message as a plain render", async () => {
    // A tier the program does not know makes it refuse its arguments.
    const spec = { ...tenantSpec(), tier: "platinum" } as unknown as ReturnType<typeof tenantSpec>;
    const settings = platformSettings();
    const plain = await renderUnderMocks(spec, settings, { lastPhase: 10 }).then(() => null, (error: Error) => error.message);
    const fast = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase: 10 }] }, context)) as RenderOutcome[];
    expect(plain).not.toBeNull();
    expect(fast[0]!.ok).toBe(false);
    expect(fast[0]!.ok ? null : fast[0]!.error.message).toBe(`the tenant program failed for "${spec.slug}": ${plain}`);
  }, 60_000);
});
