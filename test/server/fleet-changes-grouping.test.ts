/**
 * The fleet preview grouped as it streams (issue 23, item 5): entries come
 * chunk by chunk, in whatever order the workers finish, and only a digest of
 * each is kept. The groups, lists and tenants must be what grouping them all
 * at once gives, in the selected tenants' order. (The propose path through the
 * render engine, which hands over entries only this way, is covered by
 * fleet-changes.test.ts on real PostgreSQL.)
 */
import { describe, expect, it } from "vitest";
import { FleetPreviewGrouper, groupFleetPreview } from "../../server/domain/fleet-changes.ts";

const summary = (update: number, replace = 0) => ({ create: 0, update, replace, delete: 0, same: 40 });
const change = (slug: string, op: string, type: string, name: string, paths: string[]) =>
  ({ urn: `urn:pulumi:${slug}::matih-tenant::${type}::${name}`, type, op, phase: null, changedPaths: paths, replaceReasons: [], diffs: paths.map((path) => ({ path })) });
const release = (slug: string, service: string) => change(slug, "update", "kubernetes:helm.sh/v3:Release", `${slug}-${service}`, ["version"]);
const role = (slug: string) => change(slug, "replace", "postgresql:index/role:Role", `${slug}-role`, ["name"]);

const slugs = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, "0")}`);
const selected = slugs.map((slug, i) => ({ id: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, "0")}`, slug, status: "ACTIVE" }));
// Three kinds of change, a failure, a tenant never reached (t11), and one not selected (other).
const entries = [
  ...slugs.slice(0, 6).map((slug) => ({ slug, ok: true as const, changeSummary: summary(2), changes: [release(slug, "ai-service"), release(slug, "query-engine")] })),
  ...slugs.slice(6, 8).map((slug) => ({ slug, ok: true as const, changeSummary: summary(1, 1), changes: [release(slug, "ai-service"), role(slug)] })),
  ...slugs.slice(8, 10).map((slug) => ({ slug, ok: true as const, changeSummary: summary(0), changes: [] })),
  { slug: "t10", ok: false as const, error: { code: "engine_error", message: "render failed", retryable: false } },
  { slug: "other", ok: true as const, changeSummary: summary(1), changes: [release("other", "ai-service")] },
];

describe("grouping a fleet preview as it streams", () => {
  it("gives what grouping every entry at once gives, whatever order the chunks arrive in", () => {
    const whole = groupFleetPreview(selected, entries as any);
    const chunks = [entries.slice(9), entries.slice(3, 9), entries.slice(0, 3)];
    const grouper = new FleetPreviewGrouper(selected);
    for (const chunk of chunks) grouper.add(chunk as any);
    const streamed = grouper.finish();
    expect(streamed).toEqual(whole);
    // And what that is: the largest group first, slugs in selected order, the unselected tenant nowhere.
    expect(streamed.preview.groups.map((g) => [g.tenants, g.slugs, g.summary, g.destructive])).toEqual([
      [6, slugs.slice(0, 6), "update 2 Release", false],
      [2, ["t06", "t07"], "replace 1 Role; update 1 Release", true],
      [2, ["t08", "t09"], "no change", false],
    ]);
    expect(streamed.preview.destructive.map((d) => d.slug)).toEqual(["t06", "t07"]);
    expect(streamed.preview.failed).toEqual([{ tenantId: selected[10]!.id, slug: "t10", error: "render failed" }]);
    expect(streamed.preview.notPreviewed.map((t) => t.slug)).toEqual(["t11"]);
    expect(streamed.tenants.map((t) => t.slug)).toEqual(slugs);
    expect(streamed.tenants.map((t) => t.group)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, null, null]);
    expect(streamed.tenants[6]!.resources).toEqual([
      "replace urn:pulumi:t06::matih-tenant::postgresql:index/role:Role::t06-role",
      "update urn:pulumi:t06::matih-tenant::kubernetes:helm.sh/v3:Release::t06-ai-service",
    ]);
  });
});
