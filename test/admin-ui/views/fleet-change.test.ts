// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * A fleet change's page: the settings it changes (old → new while its base
 * version is current), its impact grouped by identical change with the
 * destructive, failed and never-provisioned tenants listed apart, the status
 * in words, and for admins while it awaits review the approval form (wave
 * options with their defaults, destructive changes needing a tick) and the
 * rejection. The reason and the rejection show as text.
 */
import "./utc.ts";
import { describe, expect, it, vi } from "vitest";
import { FleetChangePage } from "../../../admin-ui/fleet-changes.ts";
import type { FleetChange } from "../../../admin-ui/types.ts";
import { fleetChangeView, patchLeaves } from "../../../admin-ui/views/fleet-change.ts";
import { all, api, buttons, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, T0, T1, text } from "./support.ts";

const ID = "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d";
const ROLLOUT = "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a";
const release = { op: "update", type: "kubernetes:helm.sh/v3:Release", count: 1, paths: ["values.image.tag"] };
const deployment = { op: "update", type: "kubernetes:apps/v1:Deployment", count: 2, paths: ["spec.template.spec.containers[0].image", "spec.replicas"] };
const summary = { create: 0, update: 1, replace: 0, delete: 0, same: 90 };

const fleetChange = (over: Partial<FleetChange> = {}): FleetChange => ({
  id: ID, status: "PENDING_REVIEW", settingsPatch: { images: { tags: { "ai-service": "2.0.0" }, pgbouncer: "bitnamilegacy/pgbouncer:1.24.2" }, monitoring: null },
  changedPaths: ["images.pgbouncer", "images.tags.ai-service", "monitoring"], baseVersion: 3, version: null, selector: {},
  reason: "ai-service 2.0.0 and PgBouncer 1.24.2", createdBy: "alice", createdAt: T0, previewedAt: T0, destructive: false,
  preview: {
    selected: 4,
    groups: [
      { tenants: 2, slugs: ["alpha", "bravo"], summary: "update 1 Release", changeSummary: summary, changes: [release], destructive: false },
      { tenants: 1, slugs: ["charlie"], summary: "update 2 Deployment; update 1 Release", changeSummary: summary, changes: [deployment, { ...release, paths: [] }], destructive: true },
      { tenants: 1, slugs: ["delta"], summary: "no change", changeSummary: summary, changes: [], destructive: false },
    ],
    destructive: [], failed: [], notPreviewed: [],
  },
  decidedBy: null, decidedAt: null, rejectionReason: null, rolloutId: null, previewProgress: null, previewError: null, ...over,
});

function view(change: FleetChange | null, over: Partial<FleetChangePage> = {}, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  const page = new FleetChangePage(api(), ID, () => undefined, () => undefined);
  page.change = change;
  page.current = { version: 3, settings: { images: { tags: { "ai-service": "1.9.0" }, pgbouncer: "" }, monitoring: { enabled: true } }, createdAt: T0, createdBy: "ops", reason: "r" };
  Object.assign(page, over);
  app.fleetChange = page;
  return { app, page, root: mount(fleetChangeView(app)) };
}

describe("patchLeaves", () => {
  it("flattens objects into dotted paths and keeps lists, nulls and empty objects as leaves", () => {
    expect(patchLeaves({ a: { b: 1, c: { d: "x" } }, e: [1, 2], f: null, g: {} })).toEqual([
      { path: "a.b", value: 1 }, { path: "a.c.d", value: "x" }, { path: "e", value: [1, 2] }, { path: "f", value: null }, { path: "g", value: {} },
    ]);
    expect(patchLeaves({ x: 1 }, "p.")).toEqual([{ path: "p.x", value: 1 }]);
  });
});

describe("the settings it changes", () => {
  it("show each path old → new while its base version is current", () => {
    const { root } = view(fleetChange());
    const lines = all(root, "ul.settings-diff > li");
    expect(lines.map((li) => li.dataset.path)).toEqual(["images.tags.ai-service", "images.pgbouncer", "monitoring"]);
    expect(lines.map((li) => text(li))).toEqual(["images.tags.ai-service: 1.9.0 → 2.0.0", "images.pgbouncer: (empty) → bitnamilegacy/pgbouncer:1.24.2", 'monitoring: {"enabled":true} → (removed)']);
    expect(text(one(root, "#settings-diff-title + p"))).toBe("A merge patch of settings version 3.");
  });

  it("say a path not set before, and show only the new values once another version is current", () => {
    const { root } = view(fleetChange({ settingsPatch: { charts: { version: "1.0.2" } } }));
    expect(text(one(root, "ul.settings-diff > li"))).toBe("charts.version: (not set) → 1.0.2");
    const moved = view(fleetChange(), { current: { version: 4, settings: {}, createdAt: T0, createdBy: "ops", reason: "r" } }).root;
    expect(all(moved, "ul.settings-diff > li").map((li) => text(li))).toEqual(["images.tags.ai-service: 2.0.0", "images.pgbouncer: bitnamilegacy/pgbouncer:1.24.2", "monitoring: (removed)"]);
    expect(text(one(moved, "#settings-diff-title + p"))).toBe("A merge patch of settings version 3. The values before are those of version 3, no longer the current one: only the new values are shown.");
    expect(all(view(fleetChange(), { current: null }).root, "ul.settings-diff > li").map((li) => text(li))[0]).toBe("images.tags.ai-service: 2.0.0");
  });

  it("name the version approval recorded", () => {
    expect(text(one(view(fleetChange({ status: "APPROVED", version: 4 })).root, "#settings-diff-title + p"))).toBe("A merge patch of settings version 3, recorded as version 4.");
  });

  it("treat a path through a value that is not an object as not set", () => {
    const { root } = view(fleetChange({ settingsPatch: { images: { pgbouncer: { tag: "1" } } } }));
    expect(text(one(root, "ul.settings-diff > li"))).toBe("images.pgbouncer.tag: (not set) → 1");
  });
});

describe("the impact", () => {
  it("counts the tenants selected and names the selector", () => {
    const { root } = view(fleetChange());
    expect(text(one(root, "#impact-title"))).toBe("Impact: 4 tenants selected");
    expect(text(one(root, "#impact-title + p"))).toBe("Selector: the whole fleet. Previewed Dec 7, 2026, 09:00:00 AM; tenants with identical changes are grouped, the largest group first.");
    const selected = (selector: FleetChange["selector"], selectedCount = 1) => text(one(view(fleetChange({ selector, preview: { ...fleetChange().preview, selected: selectedCount } })).root, "#impact-title + p"));
    expect(selected({ tiers: ["free", "professional"], regions: ["eastus"], slugs: ["a", "b"] })).toMatch(/^Selector: tiers free, professional; regions eastus; 2 named tenants\. /);
    expect(selected({ slugs: ["a"] })).toMatch(/^Selector: 1 named tenant\. /);
    expect(selected({ tiers: [], regions: [], slugs: [] })).toMatch(/^Selector: the whole fleet\. /);
    expect(text(one(view(fleetChange({ preview: { ...fleetChange().preview, selected: 1 } })).root, "#impact-title"))).toBe("Impact: 1 tenant selected");
  });

  it("lists each group with its size, summary, changes and tenants, destructive ones marked", () => {
    const { root } = view(fleetChange());
    const groups = all(root, "ol.impact-groups > li.impact-group");
    expect(groups.map((g) => g.dataset.group)).toEqual(["0", "1", "2"]);
    expect(groups.map((g) => text(one(g, "p")))).toEqual(["2 tenants: update 1 Release", "1 tenant: update 2 Deployment; update 1 Release DESTRUCTIVE", "1 tenant: no change"]);
    expect(all(groups[1]!, "ul.diffs > li").map((li) => text(li))).toEqual([
      "update 2 kubernetes:apps/v1:Deployment: spec.template.spec.containers[0].image, spec.replicas", "update 1 kubernetes:helm.sh/v3:Release",
    ]);
    expect(one(groups[1]!, ".op").className).toBe("op op-update");
    expect(all(groups[2]!, "ul.diffs")).toHaveLength(0);
    expect(text(one(groups[0]!, "p.slugs"))).toBe("alpha, bravo");
    expect(all(groups[0]!, "p.slugs a").map((a) => a.getAttribute("href"))).toEqual(["#/tenants/alpha", "#/tenants/bravo"]);
  });

  it("folds a group of more than twelve tenants", () => {
    const slugs = Array.from({ length: 13 }, (_, i) => `t${i}`);
    const { root } = view(fleetChange({ preview: { ...fleetChange().preview, groups: [{ tenants: 13, slugs, summary: "update 1 Release", changeSummary: summary, changes: [release], destructive: false }] } }));
    const details = one(root, ".impact-group details");
    expect(text(one(details, "summary"))).toBe("13 tenants");
    expect(all(details, "a")).toHaveLength(13);
    const twelve = view(fleetChange({ preview: { ...fleetChange().preview, groups: [{ tenants: 12, slugs: slugs.slice(0, 12), summary: "s", changeSummary: summary, changes: [], destructive: false }] } })).root;
    expect(all(twelve, ".impact-group details")).toHaveLength(0);
    expect(all(twelve, ".impact-group p.slugs a")).toHaveLength(12);
  });

  it("lists the destructive, failed and never-provisioned tenants apart", () => {
    const { root } = view(fleetChange({
      destructive: true,
      preview: {
        ...fleetChange().preview,
        destructive: [
          { tenantId: "t1", slug: "charlie", resources: [{ urn: "urn:pulumi:a::b::x$azure-native:dbforpostgresql:Server::database-server", type: "azure-native:dbforpostgresql:Server", op: "replace" }, { urn: "u::creds", type: "kubernetes:core/v1:Secret", op: "delete" }] },
        ],
        failed: [{ tenantId: "t2", slug: "echo", error: PLANTED }],
        notPreviewed: [{ tenantId: "t3", slug: "foxtrot", status: "PROVISIONING" }],
      },
    }));
    const destructive = one(root, "#destructive-tenants");
    expect(text(one(destructive, "p"))).toBe("Destructive on 1 tenant. Their change deletes or replaces resources that hold data or credentials:");
    expect(all(destructive, "li").map((li) => text(li))).toEqual(["charlie: replace database-server (azure-native:dbforpostgresql:Server); delete creds (kubernetes:core/v1:Secret)"]);
    expect(one(destructive, "a").getAttribute("href")).toBe("#/tenants/charlie");
    expect(all(one(root, "#failed-tenants"), "li").map((li) => text(li))).toEqual([`echo: ${PLANTED}`]);
    expect(text(one(root, "#failed-tenants").previousElementSibling)).toBe("Preview failed");
    const apart = all(root, "ul.apart");
    expect(text(apart[1]!.previousElementSibling)).toBe("Not previewed (never provisioned)");
    expect(all(apart[1]!, "li").map((li) => text(li))).toEqual(["foxtrot (PROVISIONING)"]);
    expect(one(apart[1]!, "a").getAttribute("href")).toBe("#/tenants/foxtrot");
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("counts several destructive tenants, and says when no tenant was previewed", () => {
    const two = [{ tenantId: "a", slug: "a", resources: [] }, { tenantId: "b", slug: "b", resources: [] }];
    expect(text(one(view(fleetChange({ preview: { ...fleetChange().preview, destructive: two } })).root, "#destructive-tenants p"))).toMatch(/^Destructive on 2 tenants\. /);
    const none = view(fleetChange({ preview: { ...fleetChange().preview, groups: [] } })).root;
    expect(text(one(none, "#impact-title + p + p"))).toBe("No tenant was previewed.");
    expect(all(none, "#destructive-tenants, #failed-tenants, ul.apart")).toHaveLength(0);
  });
});

describe("the status", () => {
  it("shows the reason and who proposed it, as text", () => {
    const { root } = view(fleetChange({ reason: PLANTED }));
    expect(text(one(root, "#fleet-change-reason"))).toBe(PLANTED);
    expect(all(root, "dl.facts > div").map((d) => text(d))).toEqual([`Reason ${PLANTED}`, "Proposed by alice, Dec 7, 2026, 09:00:00 AM"]);
    expect(text(one(root, "h1"))).toBe("Fleet change PENDING REVIEW");
    expect(one(root, "p.crumbs a").getAttribute("href")).toBe("#/reviews");
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("says what each status means, linking an approved one to its rollout", () => {
    const said = (over: Partial<FleetChange>) => text(one(view(fleetChange(over)).root, "dl.facts + p"));
    expect(said({})).toBe("Awaiting review: nothing uses these settings until an admin approves them.");
    expect(said({ status: "APPROVED", decidedBy: "bob", decidedAt: T1, version: 4, rolloutId: ROLLOUT })).toBe("Approved by bob Dec 7, 2026, 09:04:12 AM as settings version 4. Follow its rollout");
    expect(said({ status: "APPROVED", decidedAt: T1 })).toBe("Approved by an admin Dec 7, 2026, 09:04:12 AM.");
    expect(one(view(fleetChange({ status: "APPROVED", rolloutId: ROLLOUT })).root, "a.rollout-link").getAttribute("href")).toBe(`#/fleet/rollouts/${ROLLOUT}`);
    expect(said({ status: "REJECTED", decidedBy: "bob", decidedAt: T1, rejectionReason: "wait for the fix" })).toBe("Rejected by bob Dec 7, 2026, 09:04:12 AM: “wait for the fix”. Nothing was changed.");
    expect(said({ status: "REJECTED", decidedAt: T1 })).toBe("Rejected by an admin Dec 7, 2026, 09:04:12 AM. Nothing was changed.");
    expect(said({ status: "STALE" })).toBe("Stale: another settings version became current after its preview. Nothing was changed; propose it again.");
  });

  it("says how far a background preview has come, and shows no impact or decision until it is done", () => {
    const previewing = (progress: FleetChange["previewProgress"]) =>
      view(fleetChange({ status: "PREVIEWING", previewedAt: null, previewProgress: progress, preview: { selected: 4, groups: [], destructive: [], failed: [], notPreviewed: [] } })).root;
    const root = previewing({ done: 1234, total: 2000 });
    const sentence = one(root, "p.preview-progress");
    expect(sentence.getAttribute("role")).toBe("status");
    expect(text(sentence)).toBe("Previewing in the background: 1,234 of 2,000 tenants done. The impact and the review follow once every selected tenant is previewed; this page updates itself.");
    expect(text(one(previewing({ done: 0, total: 1 }), "p.preview-progress"))).toMatch(/^Previewing in the background: 0 of 1 tenant done\./);
    expect(text(one(previewing(null), "p.preview-progress"))).toMatch(/^Previewing in the background\. The impact/);
    expect(root.querySelector("#impact-title")).toBeNull();
    expect(root.querySelector("section.decide")).toBeNull();
    expect(root.querySelector("#settings-diff-title")).not.toBeNull();
  });

  it("says why a background preview failed, as text, with no impact or decision", () => {
    const { root } = view(fleetChange({ status: "PREVIEW_FAILED", previewError: PLANTED }));
    const alert = one(root, "p.notice-bad[role=alert]");
    expect(text(alert)).toBe(`The preview could not finish: ${PLANTED}. Nothing was changed; propose it again.`);
    expect(text(one(view(fleetChange({ status: "PREVIEW_FAILED", previewError: null })).root, "p.notice-bad"))).toBe("The preview could not finish. Nothing was changed; propose it again.");
    expect(root.querySelector("#impact-title")).toBeNull();
    expect(root.querySelector("section.decide")).toBeNull();
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("shows a rejection's reason as text", () => {
    const { root } = view(fleetChange({ status: "REJECTED", decidedBy: "bob", decidedAt: T1, rejectionReason: PLANTED }));
    expect(text(one(root, ".rejection-reason"))).toBe(PLANTED);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("says while loading, when there is no such change, and when it could not be read", () => {
    expect(text(view(null).root)).toBe("Fleet change Loading…");
    const app = signedIn();
    expect(text(mount(fleetChangeView(app)))).toBe("Fleet change Loading…");
    expect(text(view(null, { missing: true }).root)).toBe(`Fleet change No fleet change ${ID}. Back to the reviews`);
    expect(text(one(view(null, { error: "timeout" }).root, "[role=alert]"))).toBe("Could not load the fleet change: timeout");
  });

  it("shows a notice with its detail, and an error beside a loaded change", () => {
    const bad = one(view(fleetChange(), { notice: { text: "Refused.", detail: "same_principal", tone: "bad" } }).root, ".notice-bad");
    expect(bad.getAttribute("role")).toBe("alert");
    expect(text(bad)).toBe("Refused. same_principal");
    const good = one(view(fleetChange(), { notice: { text: "Approved.", tone: "good" } }).root, ".notice-good");
    expect(good.getAttribute("role")).toBe("status");
    expect(text(good)).toBe("Approved.");
    expect(text(one(view(fleetChange(), { error: "timeout" }).root, "p.notice-bad"))).toBe("timeout");
  });
});

describe("approving and rejecting", () => {
  it("offer the wave options with their defaults, approve and reject", () => {
    const { root } = view(fleetChange());
    const fields = all(root, "fieldset .field");
    expect(fields.map((f) => [text(one(f, "label")), one(f, "input").getAttribute("placeholder"), text(one(f, ".hint"))])).toEqual([
      ["Canary size", "2", "Tenants in the first wave; default 2"],
      ["Growth", "2", "Each later wave is this many times the one before; default 2"],
      ["Concurrency", "4", "Tenants previewed or applied at once; default 4"],
      ["Canary failures allowed", "0", "The rollout halts when more canary tenants than this fail; default 0"],
      ["Wave failure threshold (%)", "10", "A later wave halts the rollout when more than this share of its tenants fail; default 10"],
    ]);
    expect(fields.map((f) => one(f, "input").id)).toEqual(["wave-canary", "wave-growth", "wave-concurrency", "wave-canaryMaxFailures", "wave-waveFailurePercent"]);
    expect(one(fields[0]!, "input").getAttribute("aria-describedby")).toBe("wave-canary-hint");
    expect(buttons(one(root, ".decide"))).toEqual(["Approve and roll out", "Reject"]);
    expect(all(root, ".decide input[type=checkbox]")).toHaveLength(0);
  });

  it("keep what was typed", () => {
    const { root } = view(fleetChange(), { waves: { canary: "1", growth: "", concurrency: "8", canaryMaxFailures: "", waveFailurePercent: "" }, rejectReason: "later" });
    expect(one<HTMLInputElement>(root, "#wave-canary").value).toBe("1");
    expect(one<HTMLInputElement>(root, "#wave-concurrency").value).toBe("8");
    expect(one<HTMLInputElement>(root, "#fleet-reject-reason").value).toBe("later");
    const { page, root: typed } = view(fleetChange());
    const input = one<HTMLInputElement>(typed, "#wave-growth");
    input.value = "3";
    input.dispatchEvent(new Event("input"));
    const reason = one<HTMLInputElement>(typed, "#fleet-reject-reason");
    reason.value = "no";
    reason.dispatchEvent(new Event("input"));
    expect(page.waves.growth).toBe("3");
    expect(page.rejectReason).toBe("no");
  });

  it("need destructive changes allowed before approving a destructive change", () => {
    const blocked = view(fleetChange({ destructive: true })).root;
    expect(buttons(one(blocked, ".decide"))).toEqual(["Approve and roll out (disabled)", "Reject"]);
    expect(text(one(blocked, "label.check"))).toBe("Allow destructive changes");
    const allowed = view(fleetChange({ destructive: true }), { allowDestructive: true }).root;
    expect(buttons(one(allowed, ".decide"))).toEqual(["Approve and roll out", "Reject"]);
    expect(one<HTMLInputElement>(allowed, "label.check input").checked).toBe(true);
  });

  it("tick the allowance into the page", () => {
    const { page, root } = view(fleetChange({ destructive: true }));
    const box = one<HTMLInputElement>(root, "label.check input");
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    expect(page.allowDestructive).toBe(true);
  });

  it("wait while one is sent", () => {
    expect(buttons(one(view(fleetChange(), { busy: "approve" }).root, ".decide"))).toEqual(["Approving… (disabled)", "Reject (disabled)"]);
    expect(buttons(one(view(fleetChange(), { busy: "reject" }).root, ".decide"))).toEqual(["Approve and roll out (disabled)", "Rejecting… (disabled)"]);
  });

  it("send the approval and the rejection", () => {
    const { page, root } = view(fleetChange());
    const calls: string[] = [];
    page.approve = async () => void calls.push("approve");
    page.reject = async () => void calls.push("reject");
    one<HTMLFormElement>(root, "form.waves").dispatchEvent(new Event("submit", { cancelable: true }));
    one<HTMLFormElement>(root, "form.reject").dispatchEvent(new Event("submit", { cancelable: true }));
    expect(calls).toEqual(["approve", "reject"]);
  });

  it("are offered only to admins, and only while it awaits review", () => {
    expect(all(view(fleetChange(), {}, "read").root, ".decide")).toHaveLength(0);
    expect(all(view(fleetChange({ status: "APPROVED" })).root, ".decide")).toHaveLength(0);
  });
});

describe("the forms' events", () => {
  it("approve and reject without leaving the page", () => {
    const { page, root } = view(fleetChange());
    page.approve = async () => undefined;
    page.reject = async () => undefined;
    expect(fire(one(root, "form.waves"), "submit").defaultPrevented).toBe(true);
    expect(fire(one(root, "form.reject"), "submit").defaultPrevented).toBe(true);
  });

  it("render again once the allowance is ticked", () => {
    const { app, root } = view(fleetChange({ destructive: true }));
    let renders = 0;
    app.changed = () => void renders++;
    const box = one<HTMLInputElement>(root, "label.check input");
    box.checked = true;
    fire(box, "change");
    expect(renders).toBe(1);
  });
});

describe("more of the page", () => {
  it("links a failed tenant and lists several regions", () => {
    const { root } = view(fleetChange({ selector: { regions: ["eastus", "westeurope"] }, preview: { ...fleetChange().preview, failed: [{ tenantId: "t", slug: "echo", error: "e" }] } }));
    expect(one(root, "#failed-tenants a").getAttribute("href")).toBe("#/tenants/echo");
    expect(text(one(root, "#impact-title + p"))).toMatch(/^Selector: regions eastus, westeurope\. /);
  });

  it("ties each wave field's label and hint to its input", () => {
    const fields = all(view(fleetChange()).root, "fieldset .field");
    expect(fields.map((f) => [one(f, "label").getAttribute("for"), one(f, ".hint").id])).toEqual([
      ["wave-canary", "wave-canary-hint"], ["wave-growth", "wave-growth-hint"], ["wave-concurrency", "wave-concurrency-hint"],
      ["wave-canaryMaxFailures", "wave-canaryMaxFailures-hint"], ["wave-waveFailurePercent", "wave-waveFailurePercent-hint"],
    ]);
  });

  it("says nothing of a status it has no words for", () => {
    const unknown = "SOMETHING_NEW" as FleetChange["status"];
    expect(text(one(view(fleetChange({ status: unknown })).root, "dl.facts").nextElementSibling)).not.toMatch(/^(Awaiting|Approved|Rejected|Stale|Previewing|The preview)/);
  });
});

describe("a change previewed in the background", () => {
  /** A page whose API answers the given statuses in turn (the last one again after that). */
  function polled(statuses: FleetChange["status"][]) {
    const a = api();
    let reads = 0;
    a.fleetChange = async () => fleetChange({ status: statuses[Math.min(reads++, statuses.length - 1)] });
    a.platformSettings = async () => { throw new Error("not needed"); };
    let renders = 0;
    const page = new FleetChangePage(a, ID, () => { renders++; }, () => undefined);
    return { page, reads: () => reads, renders: () => renders };
  }

  it("is read again every 3 seconds until its preview is done, then no more", async () => {
    vi.useFakeTimers();
    try {
      const p = polled(["PREVIEWING", "PREVIEWING", "PENDING_REVIEW"]);
      await p.page.load();
      expect(p.reads()).toBe(1);
      await vi.advanceTimersByTimeAsync(2_999);
      expect(p.reads()).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(p.reads()).toBe(2);
      await vi.advanceTimersByTimeAsync(3_000);
      expect(p.reads()).toBe(3);
      expect(p.page.change?.status).toBe("PENDING_REVIEW");
      await vi.advanceTimersByTimeAsync(30_000);
      expect(p.reads()).toBe(3);
      expect(p.renders()).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it("is not read again once the page is left", async () => {
    vi.useFakeTimers();
    try {
      const p = polled(["PREVIEWING"]);
      await p.page.load();
      p.page.dispose();
      await vi.advanceTimersByTimeAsync(30_000);
      expect(p.reads()).toBe(1);
      // A read already under way when the page is left does not start another.
      const q = polled(["PREVIEWING"]);
      const loading = q.page.load();
      q.page.dispose();
      await loading;
      await vi.advanceTimersByTimeAsync(30_000);
      expect(q.reads()).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("is read once when it is not previewing", async () => {
    vi.useFakeTimers();
    try {
      for (const status of ["PENDING_REVIEW", "PREVIEW_FAILED", "APPROVED", "REJECTED", "STALE"] as const) {
        const p = polled([status]);
        await p.page.load();
        await vi.advanceTimersByTimeAsync(30_000);
        expect(p.reads(), status).toBe(1);
      }
    } finally {
      vi.useRealTimers();
    }
  });
});
