// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The pieces every view shares, as a reader sees them: a status badge's word
 * and class, a property value (a secret as "[secret]", text kept as text,
 * anything else as JSON) and the ten-step phase bar's text equivalent.
 */
import { describe, expect, it } from "vitest";
import { phaseBar, statusBadge, value } from "../../../admin-ui/views/parts.ts";
import { all, mount, NOTHING_PLANTED, one, PLANTED, planted, text } from "./support.ts";

describe("statusBadge", () => {
  it("words the status with spaces and names its class in lower case with hyphens", () => {
    const root = mount(statusBadge("ROLLED_BACK"));
    const badge = one(root, "span");
    expect(text(badge)).toBe("ROLLED BACK");
    expect(badge.className).toBe("badge badge-rolled-back");
  });

  it("replaces every underscore, not only the first", () => {
    const badge = one(mount(statusBadge("NOT_YET_CHECKED")), "span");
    expect(text(badge)).toBe("NOT YET CHECKED");
    expect(badge.className).toBe("badge badge-not-yet-checked");
  });

  it("keeps a one-word status as it is", () => {
    const badge = one(mount(statusBadge("ACTIVE")), "span");
    expect(text(badge)).toBe("ACTIVE");
    expect(badge.className).toBe("badge badge-active");
  });
});

describe("value", () => {
  it("says a redacted secret is one and never shows a value", () => {
    const root = mount(value("[secret]"));
    const secret = one(root, "span.secret");
    expect(text(secret)).toBe("[secret]");
    expect(secret.getAttribute("title")).toBe("A secret value: the service never shows it");
    expect(all(root, "code")).toHaveLength(0);
  });

  it("shows one line of text as code, and empty text as (empty)", () => {
    expect(one(mount(value("200")), "code.value").textContent).toBe("200");
    expect(one(mount(value("")), "code.value").textContent).toBe("(empty)");
  });

  it("keeps the lines of text of several lines in a pre", () => {
    const root = mount(value("line one\nline two"));
    expect(one(root, "pre.value").textContent).toBe("line one\nline two");
    expect(all(root, "code")).toHaveLength(0);
  });

  it("shows null as null and anything else as JSON", () => {
    expect(one(mount(value(null)), "code.value").textContent).toBe("null");
    expect(one(mount(value(3)), "code.value").textContent).toBe("3");
    expect(one(mount(value({ a: [1, "b"] })), "code.value").textContent).toBe('{"a":[1,"b"]}');
    expect(one(mount(value(false)), "code.value").textContent).toBe("false");
  });

  it("shows markup in a value as text", () => {
    const root = mount(value(PLANTED));
    expect(one(root, "code").textContent).toBe(PLANTED);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });
});

describe("phaseBar", () => {
  const label = (root: HTMLElement) => one(root, ".bar").getAttribute("aria-label");

  it("counts the phases done", () => {
    const root = mount(phaseBar(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING"]));
    const bar = one(root, ".bar");
    expect(bar.getAttribute("aria-label")).toBe("3 of 10 phases done");
    expect(bar.getAttribute("title")).toBe("3 of 10 phases done");
    expect(bar.getAttribute("role")).toBe("img");
    expect(bar.dataset.done).toBe("3");
  });

  it("names the phase running, the one that failed and how many were removed", () => {
    expect(label(mount(phaseBar(["SUCCEEDED", "SUCCEEDED", "RUNNING", "PENDING"])))).toBe("2 of 4 phases done, phase 3 running");
    expect(label(mount(phaseBar(["SUCCEEDED", "FAILED", "PENDING"])))).toBe("1 of 3 phases done, phase 2 failed");
    expect(label(mount(phaseBar(["RUNNING", "FAILED"])))).toBe("0 of 2 phases done, phase 1 running, phase 2 failed");
    expect(label(mount(phaseBar(["SUCCEEDED", "ROLLED_BACK", "ROLLED_BACK"])))).toBe("1 of 3 phases done, 2 removed");
  });

  it("draws one step per phase with its status as a class, and its number, title and status word as a title", () => {
    const root = mount(phaseBar(["SUCCEEDED", "RUNNING", "FAILED", "ROLLED_BACK", "PENDING"], ["CREATE_NAMESPACE", "SETUP_DATABASE", "CREATE_DNS_ZONE", "DEPLOY_MONITORING", "SETUP_OBSERVABILITY"]));
    const steps = all(root, ".step");
    expect(steps.map((s) => s.className)).toEqual(["step step-succeeded", "step step-running", "step step-failed", "step step-rolled-back", "step step-pending"]);
    expect(steps.map((s) => s.getAttribute("title"))).toEqual([
      "1 Create namespace: done",
      "2 Setup database: running",
      "3 Create DNS zone: failed",
      "4 Deploy monitoring: removed",
      "5 Setup observability: pending",
    ]);
  });

  it("titles a step without a name by its number and status", () => {
    const root = mount(phaseBar(["SUCCEEDED", "PENDING"], ["CREATE_NAMESPACE"]));
    expect(all(root, ".step").map((s) => s.getAttribute("title"))).toEqual(["1 Create namespace: done", "2 : pending"]);
  });
});

describe("phaseBar's edges", () => {
  it("titles steps by number alone when no names are given, and names a failed first phase", () => {
    const root = mount(phaseBar(["FAILED", "PENDING"]));
    expect(all(root, ".step").map((s) => s.getAttribute("title"))).toEqual(["1 : failed", "2 : pending"]);
    expect(one(root, ".bar").getAttribute("aria-label")).toBe("0 of 2 phases done, phase 1 failed");
  });
});
