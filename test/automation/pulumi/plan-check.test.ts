import { describe, expect, it } from "vitest";
import { planDifferences, plannedSteps, PreviewSteps } from "../../../automation/pulumi/plan-check.ts";

const U = (name: string) => `urn:pulumi:acme::matih-tenants::kubernetes:core/v1:Thing::${name}`;
/** A saved plan as `pulumi preview --save-plan` writes it (apitype.DeploymentPlanV1). */
const PLAN = JSON.stringify({
  manifest: { time: "2026-12-06T23:00:00Z", magic: "", version: "v3.276.0" },
  resourcePlans: {
    [U("quota")]: { goal: {}, steps: ["update"] },
    [U("limits")]: { goal: {}, steps: ["update"] },
    [U("secret")]: { goal: {}, steps: ["delete-replaced", "create-replacement"] },
    [U("pool")]: { goal: {}, steps: ["create"] },
    [U("namespace")]: { goal: {}, steps: ["same"] },
  },
});
const pre = (urn: string, op: string) => ({ sequence: 1, timestamp: 1, resourcePreEvent: { metadata: { urn, op, type: "t", provider: "" } } }) as never;

describe("holding an update to its reviewed plan before it starts", () => {
  it("reads the change each resource of a saved plan gets, and leaves out the ones it does not touch", () => {
    expect([...plannedSteps(PLAN)]).toEqual([[U("quota"), "update"], [U("limits"), "update"], [U("secret"), "replace"], [U("pool"), "create"]]);
  });

  it("finds no difference when a preview would do what was reviewed", () => {
    const now = new PreviewSteps();
    for (const [urn, op] of [[U("namespace"), "same"], [U("quota"), "refresh"], [U("quota"), "update"], [U("limits"), "update"], [U("secret"), "replace"], [U("pool"), "create"]]) now.handle(pre(urn!, op!));
    expect(planDifferences(plannedSteps(PLAN), now.steps)).toEqual([]);
  });

  it("names each resource whose step changed: a LimitRange deleted out of band is now a create, a change made by hand is now no change", () => {
    const now = new PreviewSteps();
    for (const [urn, op] of [[U("quota"), "same"], [U("limits"), "create"], [U("secret"), "create-replacement"], [U("secret"), "delete-replaced"], [U("pool"), "create"]]) now.handle(pre(urn!, op!));
    expect(planDifferences(plannedSteps(PLAN), now.steps)).toEqual([
      `${U("quota")}: reviewed update, now no change`,
      `${U("limits")}: reviewed update, now create`,
    ]);
  });
});
