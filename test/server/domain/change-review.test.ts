/**
 * What a reviewer of a change sees (server/domain/change-service.ts, the pure
 * part): which resource changes count as destructive (stateful types, and a
 * credentials Secret by its name), the review form of a preview (changes
 * only, in phase order, each with its diffs, the tier change copied), and the
 * one-line description of a request that goes into the audit log. No service,
 * no database: the service-level flow is in test/server/changes.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { ResourceChange, TierChangePreview } from "../../../automation/index.ts";
import { describeRequest, isDestructive, reviewOf, statefulPhasesRemoved } from "../../../server/domain/change-service.ts";

const STACK = "urn:pulumi:acme::matih-tenant";
function change(op: ResourceChange["op"], type: string, name: string, phase: [number, string] | null, extra: Partial<ResourceChange> = {}): ResourceChange {
  return {
    urn: `${STACK}::matih:tenant$${type}::${name}`,
    type,
    phase: phase ? ({ number: phase[0], name: phase[1] } as ResourceChange["phase"]) : null,
    op,
    changedPaths: [],
    replaceReasons: [],
    diffs: [],
    ...extra,
  };
}
const summary = { create: 1, update: 2, replace: 0, delete: 1, same: 3 };

describe("destructive resource changes", () => {
  const SECRET = "kubernetes:core/v1:Secret";
  it("counts a delete or replace of the tenant's schema, role, databases, dedicated server and DNS zone", () => {
    const stateful = [
      "postgresql:index/schema:Schema",
      "postgresql:index/role:Role",
      "postgresql:index/database:Database",
      "azure-native:dbforpostgresql:Server",
      "azure-native:dbforpostgresql:Database",
      "azure-native:dns:Zone",
    ];
    for (const type of stateful) {
      expect([isDestructive(change("delete", type, "x", null)), isDestructive(change("replace", type, "x", null))], type).toEqual([true, true]);
      expect(["create", "update", "same", "read"].map((op) => isDestructive(change(op as ResourceChange["op"], type, "x", null))), type).toEqual([false, false, false, false]);
    }
  });

  it("does not count a delete of a stateless resource (a Deployment, a ConfigMap, a record set)", () => {
    for (const type of ["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap", "azure-native:dns:RecordSet", "postgresql:index/grant:Grant"]) {
      expect(isDestructive(change("delete", type, "x", null)), type).toBe(false);
    }
  });

  it("counts a credentials Secret by its own name, not by a name elsewhere in its URN, and no other Secret", () => {
    expect(isDestructive(change("delete", SECRET, "db-credentials", null))).toBe(true);
    expect(isDestructive(change("replace", SECRET, "acme-credentials-v2", null))).toBe(true);
    expect(isDestructive(change("update", SECRET, "db-credentials", null))).toBe(false);
    expect(isDestructive(change("delete", SECRET, "tls-cert", null))).toBe(false);
    // "credentials" in the stack or parent part of the URN says nothing about this Secret.
    expect(isDestructive({ op: "delete", type: SECRET, urn: "urn:pulumi:credentials::matih-credentials::kubernetes:core/v1:Secret::app-config" })).toBe(false);
    // A ConfigMap named like credentials holds none.
    expect(isDestructive(change("delete", "kubernetes:core/v1:ConfigMap", "db-credentials", null))).toBe(false);
  });

  it("names the stateful phases a rollback removes, of those the tenant reached", () => {
    expect(statefulPhasesRemoved(1, 10)).toEqual([2, 7]);
    expect(statefulPhasesRemoved(2, 10)).toEqual([7]);
    expect(statefulPhasesRemoved(7, 10)).toEqual([]);
    expect(statefulPhasesRemoved(1, 7)).toEqual([2, 7]);
    expect(statefulPhasesRemoved(1, 2)).toEqual([2]);
    expect(statefulPhasesRemoved(1, 1)).toEqual([]);
  });
});

describe("the review form of a preview", () => {
  it("keeps changes only, in phase order (none first), stable within a phase, with names, phases and diffs", () => {
    const changes = [
      change("update", "kubernetes:core/v1:ResourceQuota", "quota", [5, "APPLY_QUOTAS"], {
        changedPaths: ["spec.hard.pods"], diffs: [{ path: "spec.hard.pods", old: "10", new: "50" }],
      }),
      change("same", "kubernetes:core/v1:Namespace", "ns", [1, "CREATE_NAMESPACE"]),
      change("create", "kubernetes:apps/v1:Deployment", "api", [5, "APPLY_QUOTAS"], { changedPaths: ["spec.replicas", "metadata.labels"] }),
      change("read", "azure-native:resources:ResourceGroup", "rg", [1, "CREATE_NAMESPACE"]),
      change("delete", "postgresql:index/schema:Schema", "acme", [2, "SETUP_DATABASE"]),
      change("replace", "kubernetes:core/v1:Secret", "acme-db-credentials", [2, "SETUP_DATABASE"], { diffs: [{ path: "data.password", old: "[secret]", new: "[secret]" }] }),
      change("update", "pulumi:providers:kubernetes", "k8s", null, { changedPaths: ["kubeconfig"] }),
    ];
    const review = reviewOf(changes, summary);
    expect(review).toEqual({
      changeSummary: summary,
      destructive: true,
      destructiveResources: [
        { urn: changes[4]!.urn, type: "postgresql:index/schema:Schema", op: "delete" },
        { urn: changes[5]!.urn, type: "kubernetes:core/v1:Secret", op: "replace" },
      ],
      changes: [
        { urn: changes[6]!.urn, type: "pulumi:providers:kubernetes", name: "k8s", phase: null, op: "update", diffs: [] },
        { urn: changes[4]!.urn, type: "postgresql:index/schema:Schema", name: "acme", phase: { number: 2, name: "SETUP_DATABASE" }, op: "delete", diffs: [] },
        { urn: changes[5]!.urn, type: "kubernetes:core/v1:Secret", name: "acme-db-credentials", phase: { number: 2, name: "SETUP_DATABASE" }, op: "replace", diffs: [{ path: "data.password", old: "[secret]", new: "[secret]" }] },
        { urn: changes[0]!.urn, type: "kubernetes:core/v1:ResourceQuota", name: "quota", phase: { number: 5, name: "APPLY_QUOTAS" }, op: "update", diffs: [{ path: "spec.hard.pods", old: "10", new: "50" }] },
        { urn: changes[2]!.urn, type: "kubernetes:apps/v1:Deployment", name: "api", phase: { number: 5, name: "APPLY_QUOTAS" }, op: "create", diffs: [] },
      ],
    });
    expect("tierChange" in review).toBe(false);
  });

  it("falls back to the changed paths when a change carries no diffs, and copies what it returns", () => {
    const diffs = [{ path: "spec.replicas", old: 1, new: 2 }];
    const withDiffs = change("update", "kubernetes:apps/v1:Deployment", "api", [5, "APPLY_QUOTAS"], { diffs });
    const withoutDiffs = { ...change("update", "kubernetes:apps/v1:Deployment", "web", [5, "APPLY_QUOTAS"], { changedPaths: ["spec.replicas", "metadata.labels"] }), diffs: undefined } as unknown as ResourceChange;
    const review = reviewOf([withDiffs, withoutDiffs], summary);
    expect(review.changes.map((c) => c.diffs)).toEqual([[{ path: "spec.replicas", old: 1, new: 2 }], [{ path: "spec.replicas" }, { path: "metadata.labels" }]]);
    expect(review.changes[0]!.diffs[0]).not.toBe(diffs[0]);
    expect(review.destructive).toBe(false);
    expect(review.destructiveResources).toEqual([]);
  });

  it("sorts a change without a phase before phase 1, and keeps the engine's order within a phase", () => {
    const a = change("update", "t:a", "a", [1, "CREATE_NAMESPACE"]);
    const b = change("update", "t:b", "b", null);
    const c = change("update", "t:c", "c", [1, "CREATE_NAMESPACE"]);
    const d = change("update", "t:d", "d", [3, "CREATE_IDENTITY"]);
    const e = change("update", "t:e", "e", [1, "CREATE_NAMESPACE"]);
    expect(reviewOf([d, a, b, c, e], summary).changes.map((x) => x.name)).toEqual(["b", "a", "c", "e", "d"]);
    expect(reviewOf([e, c, a], summary).changes.map((x) => x.name)).toEqual(["e", "c", "a"]);
  });

  it("copies the tier change: its steps, the move and the data figures, and its note only when there is one", () => {
    const tierChange: TierChangePreview = {
      steps: ["create-dedicated-server", "copy-data"] as unknown as TierChangePreview["steps"],
      move: { from: "shared", to: "dedicated" } as unknown as TierChangePreview["move"],
      data: { tables: 3, rows: 120, bytes: 4096 } as unknown as TierChangePreview["data"],
    };
    const review = reviewOf([], summary, tierChange);
    expect(review).toEqual({
      changeSummary: summary, destructive: false, destructiveResources: [], changes: [],
      tierChange: { steps: ["create-dedicated-server", "copy-data"], move: { from: "shared", to: "dedicated" }, data: { tables: 3, rows: 120, bytes: 4096 } },
    });
    expect("note" in review.tierChange!).toBe(false);
    expect(review.tierChange!.steps).not.toBe(tierChange.steps);
    expect(review.tierChange!.move).not.toBe(tierChange.move);
    expect(review.tierChange!.data).not.toBe(tierChange.data);

    const unmeasured = reviewOf([], summary, { steps: [], move: { from: "shared", to: "dedicated" } as unknown as TierChangePreview["move"], data: null, note: "the source cannot be reached" });
    expect(unmeasured.tierChange).toEqual({ steps: [], move: { from: "shared", to: "dedicated" }, data: null, note: "the source cannot be reached" });
    expect(reviewOf([], summary, { steps: [], move: null, data: null }).tierChange).toEqual({ steps: [], move: null, data: null });
  });
});

describe("a change request in words", () => {
  it("says the tier move, the phases and the reason, in that order", () => {
    expect(describeRequest({ tier: "professional" }, "free")).toBe("tier free -> professional");
    expect(describeRequest({ tier: "free" }, "free")).toBe("tier stays free");
    expect(describeRequest({ lastPhase: 7 }, "free")).toBe("phases 1-7");
    expect(describeRequest({ tier: "enterprise", lastPhase: 10, reason: "bigger customer" }, "professional")).toBe("tier professional -> enterprise; phases 1-10; reason: bigger customer");
    expect(describeRequest({ tier: "free", reason: "re-run" }, "free")).toBe("tier stays free; reason: re-run");
  });

  it("says a request that names nothing converges to the recorded spec, and keeps a reason beside it", () => {
    expect(describeRequest({}, "free")).toBe("converge to the recorded spec");
    expect(describeRequest({ reason: "repair drift" }, "enterprise")).toBe("converge to the recorded spec; reason: repair drift");
  });
});
