/** Property paths and the values a drift check reports for them, secrets redacted. */
import { describe, expect, it } from "vitest";
import { unredactedDrift, unredactedDriftAt } from "../../../automation/core/drift-values.ts";
import { formatPath, parsePath } from "../../../automation/core/property-paths.ts";
import { redactDriftedResources } from "../../../automation/core/redact.ts";

/** One resource's differences as a drift check reports them: found, then redacted as both engines do. */
const drift = (type: string, recorded: Record<string, unknown>, actual: Record<string, unknown>) =>
  redactDriftedResources([{ type, differences: unredactedDrift(recorded, actual) }])[0]!.differences;
const driftAt = (type: string, paths: string[], recorded: unknown, actual: unknown) => redactDriftedResources([{ type, differences: unredactedDriftAt(paths, recorded, actual) }])[0]!.differences;

describe("drift values", () => {
  it("reads back every path it writes", () => {
    for (const segments of [["spec", "hard", "pods"], ["metadata", "labels", "matih.ai/tier"], ["spec", "containers", 0, "image"], ["data", 'we"ird]key']]) {
      expect(parsePath(formatPath(segments))).toEqual(segments);
    }
    expect(() => parsePath("spec..pods")).toThrow('cannot read the property path "spec..pods": expected a property name at position 5');
    expect(() => parsePath("spec[x]")).toThrow('"x" is not an array index');
  });

  it("gives recorded and actual values per path, null for a side without one, and hides what is secret", () => {
    expect(drift("kubernetes:core/v1:ResourceQuota", { spec: { hard: { pods: "20" } } }, { spec: { hard: { pods: "99" } }, metadata: { labels: { x: "y" } } })).toEqual([
      { path: "metadata", recorded: null, actual: { labels: { x: "y" } } },
      { path: "spec.hard.pods", recorded: "20", actual: "99" },
    ]);
    // Every key of a Secret, whatever it is called.
    expect(drift("kubernetes:core/v1:Secret", { stringData: { user: "app" } }, { stringData: { user: "root" } })).toEqual([{ path: "stringData.user", recorded: "[secret]", actual: "[secret]" }]);
    expect(drift("azure-native:dbforpostgresql:Server", { administratorLoginPassword: "[secret]" }, { administratorLoginPassword: "hunter2" })).toEqual([
      { path: "administratorLoginPassword", recorded: "[secret]", actual: "[secret]" },
    ]);
    // A property's name makes nothing secret: only what is marked, typed or known as one.
    expect(driftAt("kubernetes:core/v1:ConfigMap", ["data.url", "data.token"], { data: { url: "a", token: "t1" } }, { data: { url: "b", token: "t2" } })).toEqual([
      { path: "data.url", recorded: "a", actual: "b" },
      { path: "data.token", recorded: "t1", actual: "t2" },
    ]);
  });

  it("gives null for a path that leads through null or a non-object, or cannot be read, on either side", () => {
    expect(unredactedDriftAt(["spec.hard.pods", "spec..pods", "metadata.name.length"], { spec: null, metadata: { name: "acme" } }, { spec: { hard: { pods: "20" } } })).toEqual([
      { path: "spec.hard.pods", recorded: null, actual: "20" },
      { path: "spec..pods", recorded: null, actual: null },
      { path: "metadata.name.length", recorded: null, actual: null },
    ]);
  });

  it("hides a recorded secret at an ordinary-looking path whose actual value is plain, and that value wherever else it appears (issue 27)", () => {
    const canary = "canary-note-Jd82kLq0";
    const found = redactDriftedResources([
      { type: "kubernetes:core/v1:ConfigMap", differences: unredactedDrift({ data: { note: "[secret]", mode: "ro" } }, { data: { note: canary, mode: "rw" } }) },
      { type: "kubernetes:apps/v1:Deployment", differences: unredactedDriftAt(["spec.template.metadata.annotations.note"], {}, { spec: { template: { metadata: { annotations: { note: `copied: ${canary}` } } } } }) },
    ]);
    expect(JSON.stringify(found)).not.toContain(canary);
    expect(found[0]!.differences).toEqual([
      { path: "data.mode", recorded: "ro", actual: "rw" },
      { path: "data.note", recorded: "[secret]", actual: "[secret]" },
    ]);
    expect(found[1]!.differences).toEqual([{ path: "spec.template.metadata.annotations.note", recorded: null, actual: "copied: [secret]" }]);
  });
});
