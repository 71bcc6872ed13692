// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * Drift on the tenant page: a drifted resource with its recorded and actual
 * values (secrets as "[secret]"), the drift history's state line, its checks
 * newest first, a fleet drift run under way, and for admins the fleet check
 * and the converge request, enabled only when they apply.
 */
import "./utc.ts";
import { describe, expect, it } from "vitest";
import { TenantDriftHistory } from "../../../admin-ui/drift-history.ts";
import { ChangeReview } from "../../../admin-ui/review.ts";
import type { DriftCheck, DriftedResource, DriftHistory } from "../../../admin-ui/types.ts";
import { driftedResource, driftHistorySection } from "../../../admin-ui/views/drift.ts";
import type { TenantState } from "../../../admin-ui/app.ts";
import { all, api, button, buttons, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, T1, T2, TENANT_ID, tenantState, text } from "./support.ts";

const QUOTA = "urn:pulumi:acme::matih-tenant::matih:tenant:Phase$kubernetes:core/v1:ResourceQuota::namespace-quota";

const resource = (over: Partial<DriftedResource> = {}): DriftedResource => ({
  urn: QUOTA, type: "kubernetes:core/v1:ResourceQuota", phase: { number: 1, name: "CREATE_NAMESPACE" }, drift: "changed",
  properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: "50", actual: "99" }], ...over,
});

describe("a drifted resource", () => {
  it("names the drift, the resource, its type and phase, and each property's recorded and actual value", () => {
    const root = mount(driftedResource(resource({ differences: [{ path: "spec.hard.pods", recorded: "50", actual: "99" }, { path: "data.password", recorded: "[secret]", actual: "[secret]" }, { path: "spec.extra", recorded: 1, actual: null }] })));
    const div = one(root, ".drifted-resource");
    expect(div.dataset.urn).toBe(QUOTA);
    expect(text(one(div, "p"))).toBe("changed namespace-quota kubernetes:core/v1:ResourceQuota · phase 1 Create namespace");
    expect(one(div, ".op").className).toBe("op op-changed");
    expect(text(one(div, "caption"))).toBe("Recorded and actual values of namespace-quota");
    expect(all(div, "tbody tr").map((tr) => text(tr))).toEqual(["spec.hard.pods 50 99", "data.password [secret] [secret]", "spec.extra 1 (not set)"]);
    expect(all(div, "tbody tr")[1]!.querySelectorAll(".secret")).toHaveLength(2);
  });

  it("says a gone resource will be created again", () => {
    const root = mount(driftedResource(resource({ drift: "gone", phase: null })));
    expect(text(one(root, "p"))).toBe("gone namespace-quota kubernetes:core/v1:ResourceQuota");
    expect(text(all(root, "p")[1])).toBe("The resource no longer exists, though the stack records it; converging creates it again.");
    expect(all(root, "table")).toHaveLength(0);
  });

  it("names the properties that differ when the values are not given", () => {
    expect(text(all(mount(driftedResource(resource({ differences: undefined, properties: ["spec.a", "spec.b"] }))), "p")[1])).toBe("Differs in spec.a, spec.b.");
    expect(all(mount(driftedResource(resource({ differences: [], properties: [] }))), "p")).toHaveLength(1);
  });

  it("shows values as text", () => {
    const root = mount(driftedResource(resource({ differences: [{ path: PLANTED, recorded: PLANTED, actual: PLANTED }] })));
    expect(text(one(root, "tbody tr"))).toBe(`${PLANTED} ${PLANTED} ${PLANTED}`);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });
});

const check = (over: Partial<DriftCheck> = {}): DriftCheck => ({ id: "c1", driftRunId: null, state: "IN_SYNC", reason: null, checkedAt: T2, durationMs: 38, resources: [], ...over });

function historyOf(over: Partial<DriftHistory> | null, extra: Partial<TenantDriftHistory> = {}) {
  const h = new TenantDriftHistory(api(), TENANT_ID, () => undefined);
  h.history = over === null ? null : { tenantId: TENANT_ID, slug: "acme", state: "IN_SYNC", since: T1, driftedSince: null, items: [], total: 0, limit: 10, offset: 0, ...over };
  return Object.assign(h, extra);
}

function section(history: TenantDriftHistory | null, opts: { scope?: "admin" | "read"; canConverge?: boolean; state?: Partial<TenantState> } = {}) {
  const app = signedIn(opts.scope ?? "admin");
  app.tenant = tenantState({ history, ...opts.state });
  return { app, root: mount(driftHistorySection(app, app.tenant, opts.canConverge ?? true)) };
}

describe("the drift history", () => {
  it("says since when the tenant has been in sync", () => {
    const { root } = section(historyOf({ state: "IN_SYNC", since: T1 }));
    expect(text(one(root, ".drift-state"))).toBe("IN SYNC Every resource matches its recorded state since Dec 7, 2026, 09:04:12 AM.");
    expect(text(one(section(historyOf({ state: "IN_SYNC", since: null })).root, ".drift-state"))).toBe("IN SYNC Every resource matches its recorded state.");
  });

  it("says since when it has drifted, and that a converge sets it back", () => {
    expect(text(one(section(historyOf({ state: "DRIFTED", since: T2, driftedSince: T1 })).root, ".drift-state"))).toBe("DRIFTED Resources differ from the recorded state since Dec 7, 2026, 09:04:12 AM. A converge change sets them back, through review.");
    expect(text(one(section(historyOf({ state: "DRIFTED", since: T2, driftedSince: null })).root, ".drift-state"))).toBe("DRIFTED Resources differ from the recorded state since Dec 7, 2026, 10:15:00 AM. A converge change sets them back, through review.");
  });

  it("says the latest check could not run", () => {
    expect(text(one(section(historyOf({ state: "CHECK_FAILED", since: T2 })).root, ".drift-state"))).toBe("CHECK FAILED The latest check could not run since Dec 7, 2026, 10:15:00 AM; the state before it is in the history below.");
  });

  it("says a tenant not checked yet, and while the history loads", () => {
    const unchecked = section(historyOf({ state: null })).root;
    expect(text(one(unchecked, ".drift-state"))).toBe("Not checked yet. Fleet drift runs check every ACTIVE tenant on the service's schedule (hourly unless configured otherwise); a one-off check (Check drift) is kept here too.");
    expect(text(one(unchecked, ".drift-state + .buttons + p"))).toBe("No drift check has been recorded for this tenant.");
    const loading = section(historyOf(null)).root;
    expect(text(one(loading, ".drift-state"))).toMatch(/^Not checked yet\./);
    expect(text(all(loading, "p.muted").at(-1))).toBe("Loading the drift history…");
  });

  it("lists the checks newest first, each with its state, findings, kind and duration", () => {
    const items = [
      check({ id: "a", state: "DRIFTED", driftRunId: "run-1", resources: [resource(), resource({ urn: "u::other", drift: "gone" })] }),
      check({ id: "b", state: "DRIFTED", resources: [resource()] }),
      check({ id: "c", state: "CHECK_FAILED", reason: "the cluster did not answer", durationMs: 1500 }),
      check({ id: "d", state: "CHECK_FAILED" }),
      check({ id: "e", state: "IN_SYNC", checkedAt: T1 }),
    ];
    const { root } = section(historyOf({ state: "DRIFTED", items, total: 12 }));
    const list = one(root, "ol.drift-checks");
    expect(list.getAttribute("aria-label")).toBe("Drift checks, newest first");
    const checks = all(list, "li.drift-check");
    expect(checks.map((c) => c.dataset.state)).toEqual(["DRIFTED", "DRIFTED", "CHECK_FAILED", "CHECK_FAILED", "IN_SYNC"]);
    expect(checks.map((c) => text(one(c, ".drift-check-head")))).toEqual([
      "Dec 7, 2026, 10:15:00 AM DRIFTED 2 resources differ · fleet drift run, 38 ms",
      "Dec 7, 2026, 10:15:00 AM DRIFTED 1 resource differs · single check, 38 ms",
      "Dec 7, 2026, 10:15:00 AM CHECK FAILED single check, 1.5 s",
      "Dec 7, 2026, 10:15:00 AM CHECK FAILED single check, 38 ms",
      "Dec 7, 2026, 09:04:12 AM IN SYNC single check, 38 ms",
    ]);
    expect(one(checks[0]!, "time").getAttribute("datetime")).toBe(T2);
    expect(all(checks[0]!, ".drifted-resource")).toHaveLength(2);
    expect(all(checks[4]!, ".drifted-resource")).toHaveLength(0);
    expect(text(one(checks[2]!, ".phase-error"))).toBe("The check could not run: the cluster did not answer");
    expect(text(one(checks[3]!, ".phase-error"))).toBe("The check could not run: no reason given");
    expect(all(checks[0]!, ".phase-error")).toHaveLength(0);
    expect(text(list.nextElementSibling)).toBe("5 of 12 checks shown.");
    expect(buttons(root)).toEqual(["Check every tenant for drift now", "Show older checks"]);
  });

  it("counts one check in the singular and offers no older ones when all are shown", () => {
    const { root } = section(historyOf({ items: [check()], total: 1 }));
    expect(text(one(root, "ol.drift-checks").nextElementSibling)).toBe("1 of 1 check shown.");
    expect(buttons(root)).toEqual(["Check every tenant for drift now"]);
  });

  it("asks for older checks and a fleet check when pressed", () => {
    const h = historyOf({ items: [check()], total: 3 });
    const calls: string[] = [];
    h.showOlder = async () => void calls.push("older");
    h.checkFleet = async () => void calls.push("fleet");
    const { root } = section(h);
    button(root, "Show older checks").click();
    button(root, "Check every tenant for drift now").click();
    expect(calls).toEqual(["older", "fleet"]);
  });
});

describe("the admin's buttons", () => {
  const review = (over: Partial<ChangeReview> = {}) => Object.assign(new ChangeReview(api(), TENANT_ID, () => undefined, async () => undefined), over);

  it("offer a converge only for a drifted tenant with its changes known, enabled when it can take one", () => {
    const drifted = () => historyOf({ state: "DRIFTED", since: T2 });
    expect(buttons(section(drifted(), { state: { review: review() } }).root)).toEqual(["Check every tenant for drift now", "Request a converge"]);
    expect(buttons(section(drifted(), { state: { review: review() }, canConverge: false }).root)).toEqual(["Check every tenant for drift now", "Request a converge (disabled)"]);
    expect(buttons(section(drifted(), { state: { review: review({ busy: "request" }) } }).root)).toEqual(["Check every tenant for drift now", "Request a converge (disabled)"]);
    expect(buttons(section(drifted()).root)).toEqual(["Check every tenant for drift now"]);
    expect(buttons(section(historyOf({ state: "IN_SYNC" }), { state: { review: review() } }).root)).toEqual(["Check every tenant for drift now"]);
  });

  it("request the converge with its reason", () => {
    const r = review();
    const bodies: unknown[] = [];
    r.request = async (body) => void bodies.push(body);
    const { root } = section(historyOf({ state: "DRIFTED", since: T2 }), { state: { review: r } });
    button(root, "Request a converge").click();
    expect(bodies).toEqual([{ reason: "converge after drift" }]);
  });

  it("wait while the fleet check is being asked for", () => {
    expect(buttons(section(historyOf({ state: "IN_SYNC" }, { busy: true })).root)).toEqual(["Checking the fleet… (disabled)"]);
  });

  it("are not shown to a read-only token", () => {
    expect(buttons(section(historyOf({ state: "DRIFTED" }), { scope: "read" }).root)).toEqual([]);
  });
});

describe("a fleet drift run and notices", () => {
  const run = (status: "QUEUED" | "RUNNING" | "SUCCEEDED", skipped = 0) => ({
    id: "r", trigger: "manual" as const, requestedBy: "alice", status, total: 120, checked: 40, drifted: 1, failed: 0, skipped, error: null, createdAt: T2, startedAt: T2, finishedAt: null,
  });

  it("follows a run under way, with the busy tenants left for later", () => {
    expect(text(one(section(historyOf({}, { run: run("RUNNING") })).root, "p[role=status]"))).toBe("Fleet drift run running: 40 of 120 tenants checked.");
    expect(text(one(section(historyOf({}, { run: run("QUEUED", 3) })).root, "p[role=status]"))).toBe("Fleet drift run queued: 40 of 120 tenants checked, 3 busy (checked later).");
    expect(all(section(historyOf({}, { run: run("SUCCEEDED") })).root, "p[role=status]")).toHaveLength(0);
  });

  it("shows a notice with the service's words, and a load error", () => {
    const bad = one(section(historyOf({}, { notice: { text: "Refused.", detail: PLANTED, tone: "bad" } })).root, ".notice-bad");
    expect(bad.getAttribute("role")).toBe("alert");
    expect(text(bad)).toBe(`Refused. The service said: ${PLANTED}`);
    expect(planted(bad)).toEqual(NOTHING_PLANTED);
    const good = one(section(historyOf({}, { notice: { text: "Started.", tone: "good" } })).root, ".notice-good");
    expect(good.getAttribute("role")).toBe("status");
    expect(text(good)).toBe("Started.");
    const failed = one(section(historyOf({}, { error: "timeout" })).root, ".notice-bad");
    expect(text(failed)).toBe("Could not load the drift history: timeout");
    expect(failed.getAttribute("role")).toBe("alert");
  });

  it("is not shown before the history is set up", () => {
    expect(section(null).root.children).toHaveLength(0);
  });
});

describe("edges", () => {
  it("says an actual value that is absent is not set", () => {
    const root = mount(driftedResource(resource({ differences: [{ path: "spec.a", recorded: "1", actual: undefined }] })));
    expect(text(one(root, "tbody tr"))).toBe("spec.a 1 (not set)");
  });
});

describe("more edges", () => {
  it("lists resources only for a check that found drift", () => {
    const { root } = section(historyOf({ items: [check({ state: "CHECK_FAILED", reason: "r", resources: [resource()] })], total: 1 }));
    expect(all(root, ".drifted-resource")).toHaveLength(0);
  });
});
