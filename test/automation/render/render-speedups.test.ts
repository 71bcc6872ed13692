import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { runRenderWorkerJob } from "../../../automation/render/worker-job.ts";
import { withLeanRuntime } from "../../../automation/render/lean-runtime.ts";
import type { RenderOutcome } from "../../../automation/isolation/protocol.ts";
import { renderUnderMocks } from "../../../stacks/mock-render.ts";
import { TIERS } from "../../../model/tiers.ts";
import { platformSettings, realRunSettings, tenantSpec } from "../helpers/tenants.ts";

const context = { signal: new AbortController().signal, emit: () => {}, log: () => {} };
const require = createRequire(import.meta.url);
const debuggable = require("@pulumi/pulumi/runtime/debuggable.js") as { debuggablePromise: unknown };
const { Resource } = require("@pulumi/pulumi/resource.js") as { Resource: { stackTrace: unknown } };

async function fastRender(spec: ReturnType<typeof tenantSpec>, settings: ReturnType<typeof platformSettings>, lastPhase: number): Promise<string> {
  const outcomes = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase }] }, context)) as RenderOutcome[];
  expect(outcomes).toHaveLength(1);
  expect(outcomes[0]!.ok).toBe(true);
  return JSON.stringify(outcomes[0]!.ok ? outcomes[0]!.result : null);
}

describe("the render worker's speed-ups", () => {
  it.each(TIERS)("render the %s tier to exactly the JSON of a plain render", async (tier) => {
    const spec = tenantSpec({ tier });
    const settings = platformSettings();
    const plain = JSON.stringify(await renderUnderMocks(spec, settings, { lastPhase: 10 }));
    expect(await fastRender(spec, settings, 10)).toBe(plain);
  }, 60_000);

  it.each([3, 7])("render up to phase %i, with other settings, to exactly the JSON of a plain render", async (lastPhase) => {
    const spec = tenantSpec({ tier: "professional", slug: "speedups" });
    const settings = realRunSettings();
    const plain = JSON.stringify(await renderUnderMocks(spec, settings, { lastPhase }));
    expect(await fastRender(spec, settings, lastPhase)).toBe(plain);
  }, 60_000);

  it("finds in this SDK what it replaces during a render (an SDK upgrade that renames them would silently slow renders)", () => {
    expect(typeof debuggable.debuggablePromise).toBe("function");
    expect(typeof Resource.stackTrace).toBe("function");
  });

  it("puts the SDK's debugging aids and the stack trace limit back after a render job, also after one that throws", async () => {
    const before = { limit: Error.stackTraceLimit, wrapper: debuggable.debuggablePromise, stackTrace: Resource.stackTrace };
    let inside: unknown[] = [];
    await withLeanRuntime(async () => {
      inside = [Error.stackTraceLimit, debuggable.debuggablePromise, Resource.stackTrace];
    });
    expect(inside[0]).toBe(0);
    expect(inside[1]).not.toBe(before.wrapper);
    expect(inside[2]).not.toBe(before.stackTrace);
    await runRenderWorkerJob({ kind: "render", renders: [{ spec: tenantSpec(), settings: platformSettings(), lastPhase: 3 }] }, context);
    await expect(withLeanRuntime(async () => { throw new Error("render failed"); })).rejects.toThrow("render failed");
    expect({ limit: Error.stackTraceLimit, wrapper: debuggable.debuggablePromise, stackTrace: Resource.stackTrace }).toEqual(before);
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
