/**
 * How a reviewed update plan is split into a tier change's steps, on plans
 * of the real tenant program rendered under the mock runtime: the split only
 * reorders the plan's own steps (nothing added, nothing left out), puts the
 * old target's deletes after every phase, and does nothing to a first
 * provision or to a change that leaves phase 2 alone.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { RenderedResource } from "../../../stacks/mock-render.ts";
import { renderUnderMocks } from "../../../stacks/mock-render.ts";
import { planUpdate, stepsInOrder, type PlannedStep, type UpdatePlan } from "../../../automation/render/steps.ts";
import { splitTierChange } from "../../../automation/render/tier-change.ts";
import type { Tier } from "../../../model/tiers.ts";
import { platformSettings, tenantSpec } from "../helpers/tenants.ts";

const rendered: Partial<Record<Tier, readonly RenderedResource[]>> = {};
const tail = (s: PlannedStep) => `${s.op} ${s.resource.urn.slice(s.resource.urn.lastIndexOf("::") + 2)}`;
const everyStep = (plan: UpdatePlan) => stepsInOrder(plan).map((s) => `${s.op} ${s.resource.urn}`).sort();

beforeAll(async () => {
  for (const tier of ["free", "professional", "enterprise"] as const) rendered[tier] = (await renderUnderMocks(tenantSpec({ tier }), platformSettings())).resources;
}, 120_000);

describe("splitting a plan into expand, move, verify, switch, contract", () => {
  it("a first provision has no old target: no steps, the plan as it is", () => {
    const plan = planUpdate(rendered.free!, [], 10);
    const split = splitTierChange(plan, null);
    expect(split.steps).toEqual([]);
    expect(split.plan).toBe(plan);
  });

  it("a change that leaves phase 2 alone (the same tier again) has no steps", () => {
    const plan = planUpdate(rendered.professional!, rendered.professional!, 10);
    expect(splitTierChange(plan, null).steps).toEqual([]);
  });

  it("professional → free: the Secret switches to the server, PgBouncer is deleted after every phase, nothing added or lost", () => {
    const plan = planUpdate(rendered.free!, rendered.professional!, 10);
    const split = splitTierChange(plan, null);
    // expand: the role's connection limit for free, set before the Secret points the workloads at the server.
    expect(split.steps).toEqual(["expand", "switch", "contract"]);
    expect(split.expand.filter((s) => s.op !== "same" && s.op !== "read").map(tail)).toEqual(["update database-role"]);
    expect(split.switchSteps.map(tail)).toContain("update database-credentials");
    expect(split.contract.map(tail).sort()).toEqual(["delete database-pool", "delete database-pool-service"]);
    // Phase 2 of the plan that runs deletes nothing; the deletes are the contract, run after the phases.
    expect(split.plan.apply.find((p) => p.phase === 2)!.children.some((s) => s.op === "delete")).toBe(false);
    expect([...everyStep(split.plan), ...split.contract.map((s) => `${s.op} ${s.resource.urn}`)].sort()).toEqual(everyStep(plan));
  });

  it("free → enterprise with a move: the new server is declared before anything switches, and a second split is the same", () => {
    const plan = planUpdate(rendered.enterprise!, rendered.free!, 10);
    const split = splitTierChange(plan, { from: "shared", to: "dedicated" });
    expect(split.steps).toEqual(["expand", "move", "verify", "switch", "contract"]);
    expect(split.expand.map(tail)).toEqual(expect.arrayContaining(["create database-server", "create database-database", "replace database-schema"]));
    expect(split.switchSteps.map(tail)).toEqual(expect.arrayContaining(["update database-credentials", "replace database-migrate"]));
    const phase2 = split.plan.apply.find((p) => p.phase === 2)!.children;
    const lastExpand = Math.max(...split.expand.map((s) => phase2.indexOf(s)));
    const firstSwitch = Math.min(...split.switchSteps.map((s) => phase2.indexOf(s)));
    expect(lastExpand).toBeLessThan(firstSwitch);
    expect(everyStep(split.plan)).toEqual(everyStep(plan));
    expect(splitTierChange(planUpdate(rendered.enterprise!, rendered.free!, 10), { from: "shared", to: "dedicated" }).steps).toEqual(split.steps);
  });

  it("enterprise → free: the dedicated server, its database and password are the contract", () => {
    const split = splitTierChange(planUpdate(rendered.free!, rendered.enterprise!, 10), { from: "dedicated", to: "shared" });
    expect(split.steps).toEqual(["expand", "move", "verify", "switch", "contract"]);
    expect(split.contract.map(tail).sort()).toEqual(["delete database-database", "delete database-server", "delete database-server-admin-password"]);
  });
});
