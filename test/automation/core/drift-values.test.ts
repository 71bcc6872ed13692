/** Property paths and the values a drift check reports for them, secrets redacted. */
import { describe, expect, it } from "vitest";
import { propertyDrift, propertyDriftAt } from "../../../automation/core/drift-values.ts";
import { formatPath, parsePath } from "../../../automation/core/property-paths.ts";

describe("drift values", () => {
  it("reads back every path it writes", () => {
    for (const segments of [["spec", "hard", "pods"], ["metadata", "labels", "matih.ai/tier"], ["spec", "containers", 0, "image"], ["data", 'we"ird]key']]) {
      expect(parsePath(formatPath(segments))).toEqual(segments);
    }
    expect(() => parsePath("spec..pods")).toThrow('cannot read the property path "spec..pods": expected a property name at position 5');
    expect(() => parsePath("spec[x]")).toThrow('"x" is not an array index');
  });

  it("gives recorded and actual values per path, null for a side without one, and hides what may be a secret", () => {
    expect(propertyDrift("kubernetes:core/v1:ResourceQuota", { spec: { hard: { pods: "20" } } }, { spec: { hard: { pods: "99" } }, metadata: { labels: { x: "y" } } })).toEqual([
      { path: "metadata", recorded: null, actual: { labels: { x: "y" } } },
      { path: "spec.hard.pods", recorded: "20", actual: "99" },
    ]);
    expect(propertyDrift("kubernetes:core/v1:Secret", { stringData: { user: "app" } }, { stringData: { user: "root" } })).toEqual([{ path: "stringData.user", recorded: "[secret]", actual: "[secret]" }]);
    expect(propertyDrift("azure-native:dbforpostgresql:Server", { administratorLoginPassword: "[secret]" }, { administratorLoginPassword: "hunter2" })).toEqual([
      { path: "administratorLoginPassword", recorded: "[secret]", actual: "[secret]" },
    ]);
    expect(propertyDriftAt("kubernetes:core/v1:ConfigMap", ["data.url", "data.token"], { data: { url: "a", token: "t1" } }, { data: { url: "b", token: "t2" } })).toEqual([
      { path: "data.url", recorded: "a", actual: "b" },
      { path: "data.token", recorded: "[secret]", actual: "[secret]" },
    ]);
  });
});
