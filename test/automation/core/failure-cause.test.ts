import { describe, expect, it } from "vitest";
import { failureCause, isRetryable } from "../../../automation/core/failure-cause.ts";

describe("failure causes", () => {
  it.each([
    ["no external IP assigned to ingress-nginx-controller within 600s", "transient"],
    ["resource matih-acme/ingress-nginx-controller was not successfully created by the Kubernetes API server: no external IP assigned within 600s", "transient"],
    ["timed out waiting for the condition", "transient"],
    ["dial tcp 10.0.0.1:443: connect: connection refused", "transient"],
    ["Status=429 Code=\"TooManyRequests\"", "transient"],
    ['Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again', "transient"],
    ['rendered manifests contain a resource that already exists. Unable to continue with install: ClusterRole "ingress-nginx" in namespace "" exists and cannot be imported into the current release', "conflict"],
    ["cannot re-use a name that is still in use", "conflict"],
    ['configmaps is forbidden: User "system:serviceaccount:matih:provisioner" cannot create resource', "rejected"],
    ['exceeded quota: tenant-quota, requested: limits.cpu=2, used: limits.cpu=4, limited: limits.cpu=4', "rejected"],
    ["TypeError: Cannot read properties of undefined (reading 'ingress')", "unknown"],
  ])("classifies %j as %s", (message, cause) => {
    expect(failureCause(message)).toBe(cause);
  });

  it("retries an unrecognised resource failure but not an unrecognised program error", () => {
    const message = "TypeError: Cannot read properties of undefined (reading 'ingress')";
    expect(isRetryable(message, true)).toBe(true);
    expect(isRetryable(message, false)).toBe(false);
    expect(isRetryable("exists and cannot be imported into the current release", true)).toBe(false);
    expect(isRetryable("no external IP assigned yet", false)).toBe(true);
  });
});
