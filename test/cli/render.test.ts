/**
 * The CLI's renderers on shapes the API answers (types from the API's own
 * schemas): tables that wrap to 80 columns, a change whose values carry
 * Pulumi's secret marker or span many lines, a phase's error in words.
 */
import { describe, expect, it } from "vitest";
import { lineDiff, renderChange } from "../../cli/change-view.ts";
import { colorsFor, table } from "../../cli/output.ts";
import type { Change } from "../../cli/types.ts";
import { failureInWords, plainError } from "../../cli/watch.ts";

const noColor = colorsFor({ isTTY: false }, {});
const URN = (type: string, name: string) => `urn:pulumi:acme::matih-tenant::matih:tenant:Phase$${type}::${name}`;

function change(changes: NonNullable<Change["preview"]>["changes"], destructive: Array<{ urn: string; type: string; op: string }> = []): Change {
  return {
    id: "3d61b9b8-de21-400c-b4a8-be2e440fb12d", tenantId: "dee979d6-5a08-45c2-af27-973f38324b9f", kind: "update",
    status: "PENDING_REVIEW",
    requested: { tier: "enterprise" }, target: { tier: "enterprise", lastPhase: 10 }, createdBy: "admin",
    createdAt: "2026-12-07T05:20:00.000Z", expiresAt: "2026-12-08T05:20:00.000Z", previewedAt: "2026-12-07T05:20:03.000Z",
    preview: { changeSummary: { create: 0, update: 2, replace: 0, delete: 1, same: 9 }, destructive: destructive.length > 0, destructiveResources: destructive, changes },
    error: null, rejectionReason: null, decidedBy: null, decidedAt: null, allowDestructive: false, appliedAt: null, runId: null,
  };
}

describe("matih's renderers", () => {
  it("wraps a table's widest columns to stay within 80 columns, keeping a gap between columns", () => {
    const long = "a rather long description that would never fit on one line of a terminal eighty columns wide";
    const out = table(["NAME", "DESCRIPTION", "STATE"], [["first", long, "ACTIVE"], ["second", "short", "FAILED"]], noColor);
    const lines = out.trimEnd().split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    expect(lines.length).toBeGreaterThan(3);
    // The words all survive the wrap, in order, and every row's state stays in its column after a gap.
    const [from, to] = [lines[0]!.indexOf("DESCRIPTION"), lines[0]!.indexOf("STATE")];
    expect(lines.slice(1, -1).map((l) => l.slice(from, to).trim()).join(" ")).toBe(long);
    for (const line of lines.filter((l) => /ACTIVE|FAILED/.test(l))) expect(line).toMatch(/\S {2,}(ACTIVE|FAILED)$/);
    expect(table(["A"], [], noColor)).toBe("");
  });

  it("masks values carrying Pulumi's secret marker anywhere inside them, and names destructive resources before any phase", () => {
    const wire = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "hunter2-plain-text" };
    const out = renderChange(change([
      { urn: URN("Cm", "settings"), type: "kubernetes:core/v1:ConfigMap", name: "settings", phase: { number: 1, name: "CREATE_NAMESPACE" }, op: "update", diffs: [{ path: "data.mode", old: "a", new: "b" }] },
      { urn: URN("Pw", "admin-password"), type: "random:index/randomPassword:RandomPassword", name: "admin-password", phase: { number: 2, name: "SETUP_DATABASE" }, op: "update", diffs: [{ path: "result", old: wire, new: { nested: [wire] } }] },
      { urn: URN("Db", "schema"), type: "postgresql:index/schema:Schema", name: "schema", phase: { number: 2, name: "SETUP_DATABASE" }, op: "delete", diffs: [] },
    ], [{ urn: URN("Db", "schema"), type: "postgresql:index/schema:Schema", op: "delete" }]), noColor);
    expect(out).not.toContain("hunter2");
    expect(out).toContain("      result: [secret] -> [secret]");
    const lines = out.split("\n");
    const destructive = lines.indexOf("DESTRUCTIVE: 1 resource holding data or credentials would be deleted or replaced");
    expect(destructive).toBeGreaterThan(0);
    expect(lines[destructive + 1]).toBe("  delete  schema  postgresql:index/schema:Schema");
    expect(destructive).toBeLessThan(lines.indexOf("Phase 1 CREATE_NAMESPACE"));
    // Within phase 2 the deleted schema leads, before the update listed ahead of it by the API.
    const phase2 = lines.indexOf("Phase 2 SETUP_DATABASE");
    expect(lines[phase2 + 1]).toMatch(/^ {2}- +delete +schema/);
    expect(lines[phase2 + 2]).toMatch(/^ {2}~ +update +admin-password/);
  });

  it("shows a long multi-line value as a line diff with context, and short ones on one line", () => {
    const before = ["overrides:", "  acme:", "    retention_period: 336h", "    a: 1", "    b: 2", "    c: 3", "    d: 4", "    e: 5"].join("\n");
    const after = before.replace("336h", "720h");
    const out = renderChange(change([{ urn: URN("Cm", "loki"), type: "kubernetes:core/v1:ConfigMapPatch", name: "loki", phase: { number: 10, name: "SETUP_OBSERVABILITY" }, op: "update", diffs: [{ path: 'data["acme.yaml"]', old: before, new: after }, { path: "spec.replicas", old: 1, new: 2 }] }]), noColor);
    expect(out).toContain([
      '      data["acme.yaml"]:',
      "          overrides:",
      "            acme:",
      "        -     retention_period: 336h",
      "        +     retention_period: 720h",
      "              a: 1",
      "              b: 2",
      "          ... 3 unchanged lines",
      "      spec.replicas: 1 -> 2",
    ].join("\n"));
    expect(lineDiff("same\n", "same\n", noColor, "")).toEqual(["  ... 1 unchanged line"]);
  });

  it("puts a phase's error in words: the resource's name and type instead of its URN", () => {
    const error = `no external IP assigned within 600s (${URN("Svc", "ingress-controller-service").replace("Phase$Svc", "Phase$kubernetes:core/v1:Service")})`;
    expect(plainError(error)).toBe("no external IP assigned within 600s (resource ingress-controller-service, kubernetes:core/v1:Service)");
    const phases = [{ number: 6, name: "DEPLOY_INGRESS_CONTROLLER", status: "FAILED", attempts: 3, startedAt: null, completedAt: null, durationMs: 5, error, resources: { done: 1, pending: 3 } }] as const;
    const status = { tenantId: "t", slug: "acme", status: "FAILED", run: null, currentPhase: null, progress: 50, phases: [...phases], startedAt: null, completedAt: null, durationMs: null, error: "run failed" } as never;
    expect(failureInWords(status, "run failed")).toBe("phase 6 DEPLOY_INGRESS_CONTROLLER (deploy ingress controller) failed: no external IP assigned within 600s (resource ingress-controller-service, kubernetes:core/v1:Service)");
  });

  it("colours only a terminal, never with NO_COLOR, always with FORCE_COLOR, and not merely because CI is set", () => {
    expect(colorsFor({ isTTY: true }, { TERM: "xterm" }).red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(colorsFor({ isTTY: true }, { TERM: "xterm", NO_COLOR: "1" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: true }, { TERM: "dumb" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: false }, { CI: "true" }).red("x")).toBe("x");
    expect(colorsFor({ isTTY: false }, { FORCE_COLOR: "1" }).red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(colorsFor({ isTTY: true }, { TERM: "xterm" }, false).red("x")).toBe("x");
  });
});
