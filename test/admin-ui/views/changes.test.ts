// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * Changes through review on the tenant page: what each change asks for and
 * what its status means, its preview grouped by phase (old → new, secrets as
 * "[secret]", destructive resources listed first and marked), a tier
 * change's plan, the request form (blocked while the tenant cannot take a
 * change), approve and reject for admins, the dialogs, and a reason or a
 * rejection shown as text.
 */
import "./utc.ts";
import { describe, expect, it } from "vitest";
import { ChangeReview } from "../../../admin-ui/review.ts";
import type { Change, TierChangePlan } from "../../../admin-ui/types.ts";
import { changeDialogs, changePreview, changesSection, describeChange, diffLine, tierChangePlan } from "../../../admin-ui/views/changes.ts";
import type { TenantState } from "../../../admin-ui/app.ts";
import {
  all, api, button, buttons, change, enter, fire, CHANGE_ID, mount, NOTHING_PLANTED, one, PLANTED, planted, provisioningStatus, signedIn, T2, tenant, TENANT_ID, tenantState, text,
} from "./support.ts";

const BACKUP = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";

/** 2026-12-07T10:15:00Z plus one hour: the pending examples expire a day after T2. */
const NOW = Date.parse("2026-12-07T11:15:00.000Z");

function review(items: Change[], over: Partial<ChangeReview> = {}): ChangeReview {
  const r = new ChangeReview(api(), TENANT_ID, () => undefined, async () => undefined);
  r.items = items;
  r.loaded = true;
  return Object.assign(r, over);
}

function section(items: Change[], opts: { scope?: "admin" | "read"; state?: Partial<TenantState>; runActive?: boolean; review?: Partial<ChangeReview>; route?: string } = {}) {
  const app = signedIn(opts.scope ?? "admin");
  const r = review(items, opts.review);
  app.route = { view: "tenant", slug: "acme", ...(opts.route ? { change: opts.route } : {}) };
  app.tenant = tenantState({ review: r, ...opts.state });
  return { app, review: r, root: mount(changesSection(app, app.tenant, opts.runActive ?? false, NOW)) };
}

const article = (root: HTMLElement, id = CHANGE_ID) => one(root, `article[data-change='${id}']`);
const sentence = (root: HTMLElement, id = CHANGE_ID) => text(article(root, id).querySelector("dl + p"));

describe("describeChange", () => {
  const t = tenant();
  it("words a tier change from the tenant's tier while undecided, and the tier alone after", () => {
    expect(describeChange(change(), t)).toBe("Tier professional → enterprise");
    expect(describeChange(change({ status: "PREVIEWING" }), t)).toBe("Tier professional → enterprise");
    expect(describeChange(change({ status: "APPLIED" }), t)).toBe("Tier enterprise");
    expect(describeChange(change({ requested: { tier: "professional" } }), t)).toBe("Tier professional");
  });

  it("adds the phases, says a converge, a teardown and a rollback", () => {
    expect(describeChange(change({ requested: { tier: "enterprise", lastPhase: 6 } }), t)).toBe("Tier professional → enterprise, phases 1 to 6");
    expect(describeChange(change({ requested: { lastPhase: 0 } }), t)).toBe("phases 1 to 0");
    expect(describeChange(change({ requested: {} }), t)).toBe("Converge to the recorded spec");
    expect(describeChange(change({ kind: "teardown", target: { tier: "professional", lastPhase: 0 } }), t)).toBe("Tear down the tenant");
    expect(describeChange(change({ kind: "rollback", target: { tier: "professional", lastPhase: 4 } }), t)).toBe("Roll back to the end of phase 4");
    expect(describeChange(change({ kind: "restore", requested: { backupId: BACKUP }, target: { tier: "professional", lastPhase: 10 } }), t)).toBe("Restore a backup into its database");
  });
});

describe("a change's status in words", () => {
  it("says an update awaits review and for how long its preview is valid", () => {
    expect(sentence(section([change()]).root)).toBe("Awaiting review: nothing changes until an admin approves it. The preview is valid for 23 h 0 min more (until Dec 8, 2026, 10:15:00 AM).");
  });

  it("says an expired preview must be requested again", () => {
    const { root } = section([change({ expiresAt: "2026-12-07T11:00:00.000Z" })]);
    expect(sentence(root)).toBe("This preview expired at Dec 7, 2026, 11:00:00 AM: request the change again for a fresh one.");
    expect(article(root).querySelector("dl + p")!.className).toBe("notice notice-bad");
  });

  it("words every later status of an update", () => {
    const say = (over: Partial<Change>) => sentence(section([change(over)], { review: { notice: { changeId: CHANGE_ID, text: "n", tone: "good" } } }).root);
    expect(say({ status: "PREVIEWING", preview: null })).toBe("Previewing: the service is working out what this change would do. Nothing is changed.");
    expect(say({ status: "APPROVED", decidedBy: "carol" })).toBe("Approved by carol; the update run that applies it is queued.");
    expect(say({ status: "APPLYING" })).toBe("Applying the reviewed plan: the tenant is UPDATING.");
    expect(say({ status: "APPLIED", appliedAt: T2, decidedBy: "carol" })).toBe("Applied Dec 7, 2026, 10:15:00 AM, approved by carol.");
    expect(say({ status: "APPLIED", appliedAt: T2, decidedBy: null })).toBe("Applied Dec 7, 2026, 10:15:00 AM.");
    expect(say({ status: "REJECTED", decidedBy: "carol", decidedAt: T2, rejectionReason: "not now" })).toBe("Rejected by carol Dec 7, 2026, 10:15:00 AM: “not now”. Nothing was changed.");
    expect(say({ status: "REJECTED", decidedBy: null, decidedAt: T2 })).toBe("Rejected by an admin Dec 7, 2026, 10:15:00 AM. Nothing was changed.");
    expect(say({ status: "PREVIEW_FAILED", error: "the engine crashed" })).toBe("The preview failed: the engine crashed. Nothing was changed; request the change again.");
    expect(say({ status: "PREVIEW_FAILED" })).toBe("The preview failed: no reason given. Nothing was changed; request the change again.");
    expect(say({ status: "FAILED", error: "phase 3 failed" })).toBe("The update failed: phase 3 failed. Retry the tenant to apply this change again.");
    expect(say({ status: "FAILED" })).toBe("The update failed: no reason given. Retry the tenant to apply this change again.");
    expect(say({ status: "STALE" })).toBe("Stale: the tenant changed after this preview, so it no longer shows what would happen. Nothing was changed; request the change again.");
    expect(say({ status: "EXPIRED" })).toBe("Expired before it was approved. Nothing was changed; request the change again.");
  });

  it("words a teardown or rollback request awaiting another admin, and what came of it", () => {
    const teardown = { kind: "teardown" as const, preview: null, requested: {}, target: { tier: "professional" as const, lastPhase: 0 } };
    const rollback = { kind: "rollback" as const, preview: null, requested: {}, target: { tier: "professional" as const, lastPhase: 4 } };
    const say = (over: Partial<Change>) => sentence(section([change(over)], { review: { notice: { changeId: CHANGE_ID, text: "n", tone: "good" } } }).root);
    expect(say(teardown)).toBe("Awaiting approval by another admin than bob: this service requires two people for a teardown. Nothing is removed until then. The request is valid for 23 h 0 min more (until Dec 8, 2026, 10:15:00 AM).");
    expect(say({ ...rollback, expiresAt: "2026-12-07T11:00:00.000Z" })).toBe("This request expired at Dec 7, 2026, 11:00:00 AM: ask for the rollback again.");
    expect(say({ ...rollback, status: "APPROVED", decidedBy: "carol", decidedAt: T2 })).toBe("Approved by carol Dec 7, 2026, 10:15:00 AM; the rollback run was queued: follow it in the phases above.");
    expect(say({ ...teardown, status: "REJECTED", decidedBy: "carol", decidedAt: T2, rejectionReason: "keep it" })).toBe("Rejected by carol Dec 7, 2026, 10:15:00 AM: “keep it”. Nothing was removed.");
    expect(say({ ...teardown, status: "REJECTED", decidedBy: null, decidedAt: T2 })).toBe("Rejected by an admin Dec 7, 2026, 10:15:00 AM. Nothing was removed.");
    expect(say({ ...teardown, status: "STALE" })).toBe("Stale: the tenant changed after this was requested. Nothing was removed; ask again if it is still wanted.");
    expect(say({ ...teardown, status: "EXPIRED" })).toBe("Expired before it was approved. Nothing was removed.");
    expect(say({ ...teardown, status: "APPLIED" })).toBe("");
  });
});

describe("a restore request", () => {
  const restore = (over: Partial<Change> = {}) => change({
    kind: "restore", preview: null, previewedAt: null, target: { tier: "professional", lastPhase: 10 },
    requested: {
      backupId: BACKUP,
      backup: { id: BACKUP, tenantId: TENANT_ID, schemaName: "tenant_acme", reason: "teardown", sizeBytes: 48_213, createdAt: T2 },
      replaces: "everything now in acme's database schema, backed up first (reason before-restore)",
    },
    ...over,
  });
  const say = (over: Partial<Change>) => sentence(section([restore(over)], { review: { notice: { changeId: CHANGE_ID, text: "n", tone: "good" } } }).root);

  it("names the backup it restores and what it replaces, instead of what it brings the tenant to", () => {
    const a = article(section([restore()]).root);
    expect(text(one(a, "h3"))).toBe("Restore a backup into its database PENDING REVIEW");
    expect(all(a, "dl.facts > div").map((d) => text(d))).toEqual([
      "Requested by bob, Dec 7, 2026, 10:15:00 AM",
      `Restores backup ${BACKUP} of schema tenant_acme, taken Dec 7, 2026, 10:15:00 AM (teardown, 47 kB)`,
      "Replaces everything now in acme's database schema, backed up first (reason before-restore)",
    ]);
    expect(text(one(article(section([restore({ requested: { backupId: BACKUP } })]).root), "dd.restored-backup"))).toBe(`backup ${BACKUP}`);
  });

  it("says what it waits for and what came of it", () => {
    expect(say({})).toBe("Awaiting review: the backup is restored when an admin approves it, after a backup of what it replaces. Nothing is changed until then. The request is valid for 23 h 0 min more (until Dec 8, 2026, 10:15:00 AM).");
    expect(say({ requested: { backupId: BACKUP, skipBackup: true } })).toBe("Awaiting review: the backup is restored when an admin approves it. Nothing is changed until then. The request is valid for 23 h 0 min more (until Dec 8, 2026, 10:15:00 AM).");
    expect(say({ expiresAt: "2026-12-07T11:00:00.000Z" })).toBe("This request expired at Dec 7, 2026, 11:00:00 AM: ask for the restore again.");
    expect(say({ status: "APPLIED", appliedAt: T2, decidedBy: "carol" })).toBe("Restored Dec 7, 2026, 10:15:00 AM, approved by carol.");
    expect(say({ status: "FAILED", error: "backup abc does not match its recorded sha256" })).toBe("The restore failed: backup abc does not match its recorded sha256. The tenant's data is as it was.");
    expect(say({ status: "FAILED", error: null })).toBe("The restore failed: no reason given. The tenant's data is as it was.");
    expect(say({ status: "REJECTED", decidedBy: "carol", decidedAt: T2, rejectionReason: "wrong backup" })).toBe("Rejected by carol Dec 7, 2026, 10:15:00 AM: “wrong backup”. Nothing was restored.");
    expect(say({ status: "STALE" })).toBe("Stale: the tenant changed after this was requested. Nothing was restored; ask again if it is still wanted.");
    expect(say({ status: "EXPIRED" })).toBe("Expired before it was approved. Nothing was restored.");
  });

  it("offers admins 'Approve restore' while it awaits review, and shows the failure as text", () => {
    expect(buttons(article(section([restore()]).root))).toEqual(["Approve restore", "Reject…"]);
    const failed = section([restore({ status: "FAILED", error: PLANTED })]).root;
    expect(planted(failed)).toEqual(NOTHING_PLANTED);
  });
});

describe("a change", () => {
  it("shows what it asks, who asked and why, what it brings the tenant to, and its status", () => {
    const { root } = section([change({ requested: { tier: "enterprise", lastPhase: 8, reason: "more users" }, target: { tier: "enterprise", lastPhase: 8 } })]);
    const a = article(root);
    expect(a.dataset.status).toBe("PENDING_REVIEW");
    expect(a.getAttribute("aria-labelledby")).toBe(`change-${CHANGE_ID}-title`);
    expect(text(one(a, "h3"))).toBe("Tier professional → enterprise, phases 1 to 8 PENDING REVIEW");
    expect(all(a, "dl.facts > div").map((d) => text(d))).toEqual(["Requested by bob, Dec 7, 2026, 10:15:00 AM", "Reason more users", "Brings it to enterprise, phases 1 to 8"]);
  });

  it("says what a teardown and a rollback bring the tenant to", () => {
    const teardown = change({ kind: "teardown", preview: null, requested: {}, target: { tier: "professional", lastPhase: 0 } });
    const rollback = change({ id: "r", kind: "rollback", preview: null, requested: {}, target: { tier: "professional", lastPhase: 4 } });
    const { root } = section([teardown, rollback]);
    expect(text(all(article(root), "dl.facts > div").at(-1))).toBe("Brings it to nothing: every phase is removed, newest first");
    expect(text(all(article(root, "r"), "dl.facts > div").at(-1))).toBe("Brings it to phases 1 to 4; phases 5 to 10 are removed");
    expect(all(article(root), "dl.facts > div").map((d) => text(d.querySelector("dt")))).toEqual(["Requested by", "Brings it to"]);
  });

  it("shows a reason and a rejection as text", () => {
    const { root } = section([change({ status: "REJECTED", requested: { tier: "enterprise", reason: PLANTED }, decidedBy: "carol", decidedAt: T2, rejectionReason: PLANTED })]);
    const a = article(root);
    expect(text(all(a, "dl.facts > div")[1])).toBe(`Reason ${PLANTED}`);
    expect(sentence(root)).toContain(`“${PLANTED}”`);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("offers approve and reject to admins while it awaits review", () => {
    const { root, review: r } = section([change()]);
    expect(buttons(article(root))).toEqual(["Approve and apply", "Reject…"]);
    const calls: string[] = [];
    r.startApproval = (id) => void calls.push(`approve ${id}`);
    r.startRejection = (id) => void calls.push(`reject ${id}`);
    button(root, "Approve and apply").click();
    button(root, "Reject…").click();
    expect(calls).toEqual([`approve ${CHANGE_ID}`, `reject ${CHANGE_ID}`]);
  });

  it("asks more before approving a destructive change, names a request's action, and waits while busy", () => {
    const destructive = change({ preview: { ...change().preview!, destructive: true } });
    expect(buttons(article(section([destructive]).root))).toEqual(["Approve…", "Reject…"]);
    const teardown = change({ kind: "teardown", preview: null, requested: {}, target: { tier: "professional", lastPhase: 0 } });
    expect(buttons(article(section([teardown]).root))).toEqual(["Approve teardown", "Reject…"]);
    expect(buttons(article(section([change()], { review: { busy: "approve" } }).root))).toEqual(["Approving… (disabled)", "Reject… (disabled)"]);
    expect(buttons(article(section([change()], { review: { busy: "request" } }).root))).toEqual(["Approve and apply (disabled)", "Reject… (disabled)"]);
  });

  it("offers nothing to a read-only token, nor once decided", () => {
    expect(buttons(section([change()], { scope: "read" }).root)).toEqual([]);
    expect(buttons(article(section([change({ status: "APPROVED", decidedBy: "carol" })]).root))).toEqual([]);
  });

  it("shows its own notice, with the service's words", () => {
    const { root } = section([change()], { review: { notice: { changeId: CHANGE_ID, text: "Refused.", detail: "plan_stale", tone: "bad" } } });
    const notice = one(article(root), ".notice-bad");
    expect(notice.getAttribute("role")).toBe("alert");
    expect(text(notice)).toBe("Refused. The service said: plan_stale");
    const good = one(article(section([change()], { review: { notice: { changeId: CHANGE_ID, text: "Approved.", tone: "good" } } }).root), ".notice-good");
    expect(good.getAttribute("role")).toBe("status");
    expect(text(good)).toBe("Approved.");
  });

  it("is marked when the Reviews page linked to it", () => {
    const { root } = section([change()], { route: CHANGE_ID });
    expect(article(root).className).toBe("change change-targeted");
    expect(article(root).getAttribute("tabindex")).toBe("-1");
    const plain = article(section([change()]).root);
    expect(plain.className).toBe("change");
    expect(plain.hasAttribute("tabindex")).toBe(false);
  });
});

describe("the section", () => {
  it("keeps open changes in view and folds decided ones below, counted", () => {
    const items = [change({ id: "open" }), change({ id: "applied", status: "APPLIED", appliedAt: T2 }), change({ id: "approved-teardown", kind: "teardown", status: "APPROVED", preview: null, target: { tier: "professional", lastPhase: 0 } })];
    const { root } = section(items);
    const earlier = one<HTMLDetailsElement>(root, "details.earlier-changes");
    expect(text(one(earlier, "summary"))).toBe("Earlier changes (2)");
    expect(earlier.open).toBe(false);
    expect(all(earlier, "article").map((a) => a.dataset.change)).toEqual(["applied", "approved-teardown"]);
    expect(all(root, "section > article").map((a) => a.dataset.change)).toEqual(["open"]);
  });

  it("opens the earlier changes when the linked one is among them", () => {
    const { root } = section([change({ id: "applied", status: "APPLIED", appliedAt: T2 })], { route: "applied" });
    expect(one<HTMLDetailsElement>(root, "details.earlier-changes").open).toBe(true);
  });

  it("keeps a change just acted on in view, whatever its status", () => {
    const { root } = section([change({ status: "APPLIED", appliedAt: T2 })], { review: { notice: { changeId: CHANGE_ID, text: "Applied.", tone: "good" } } });
    expect(all(root, "details")).toHaveLength(0);
    expect(all(root, "section > article")).toHaveLength(1);
  });

  it("says while the changes load, when there are none, and when they could not be read", () => {
    expect(text(one(section([], { review: { loaded: false } }).root, "p.muted:not(.hint)"))).toBe("Loading the changes…");
    expect(text(one(section([]).root, "section > p.muted"))).toBe("No change has been requested for this tenant.");
    const failed = one(section([], { review: { error: PLANTED } }).root, ".notice-bad");
    expect(text(failed)).toBe(`Could not load the changes: ${PLANTED}`);
    expect(failed.getAttribute("role")).toBe("alert");
  });

  it("is not shown without a review", () => {
    const app = signedIn();
    app.tenant = tenantState();
    expect(mount(changesSection(app, app.tenant, false, NOW)).children).toHaveLength(0);
  });
});

describe("the request form", () => {
  const form = (opts: Parameters<typeof section>[1] = {}, items: Change[] = []) => one(section(items, opts).root, "form.change-form");

  it("offers the other tiers and phases 1 to 9, and a converge when both are kept", () => {
    const f = form();
    expect(all<HTMLOptionElement>(f, "#change-tier option").map((o) => [o.value, text(o)])).toEqual([["", "Keep professional"], ["free", "free"], ["enterprise", "enterprise"]]);
    expect(all<HTMLOptionElement>(f, "#change-last-phase option").map((o) => text(o))).toEqual(["All ten", "1 to 1", "1 to 2", "1 to 3", "1 to 4", "1 to 5", "1 to 6", "1 to 7", "1 to 8", "1 to 9"]);
    expect(buttons(f)).toEqual(["Request a converge"]);
    expect(text(one(f, ".hint"))).toBe("With tier and phases kept, the change converges the tenant to its recorded spec: its preview shows what would be set back (after drift, say).");
  });

  it("offers a change once a tier or phases are chosen, keeping the choice", () => {
    const f = form({ review: { form: { tier: "enterprise", lastPhase: "6", reason: "" } } });
    expect(buttons(f)).toEqual(["Request change"]);
    expect(all<HTMLOptionElement>(f, "#change-tier option").map((o) => o.hasAttribute("selected"))).toEqual([false, false, true]);
    expect(all<HTMLOptionElement>(f, "#change-last-phase option").filter((o) => o.hasAttribute("selected")).map((o) => o.value)).toEqual(["6"]);
    expect(text(one(f, ".hint"))).toBe("The change is previewed first; nothing happens to the tenant until an admin approves it, and then exactly the reviewed plan is applied.");
    expect(buttons(form({ review: { form: { tier: "", lastPhase: "3", reason: "" } } }))).toEqual(["Request change"]);
  });

  it("is blocked until the tenant is ACTIVE, and while a run or a change is moving", () => {
    const failed = form({ state: { tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED" }) } });
    expect(buttons(failed)).toEqual(["Request a converge (disabled)"]);
    expect(text(one(failed, ".hint"))).toBe("A change can be requested once the tenant is ACTIVE (it is FAILED).");
    const running = form({ runActive: true });
    expect(buttons(running)).toEqual(["Request a converge (disabled)"]);
    expect(text(one(running, ".hint"))).toBe("A run is in progress for this tenant; a change can be requested once it has finished.");
    const applying = form({}, [change({ status: "APPLYING" })]);
    expect(text(one(applying, ".hint"))).toBe("A run is in progress for this tenant; a change can be requested once it has finished.");
    expect(buttons(form({ review: { busy: "request" } }))).toEqual(["Requesting… (disabled)"]);
    expect(buttons(form({ review: { busy: "approve" } }))).toEqual(["Request a converge (disabled)"]);
  });

  it("shows the form's own notice", () => {
    const notice = one(form({ review: { notice: { changeId: null, text: "Refused.", detail: "invalid", tone: "bad" } } }), ".notice-bad");
    expect(text(notice)).toBe("Refused. The service said: invalid");
    expect(notice.getAttribute("role")).toBe("alert");
    expect(all(form({ review: { notice: { changeId: CHANGE_ID, text: "x", tone: "good" } } }), ".notice")).toHaveLength(0);
  });

  it("is not offered to a read-only token nor on a deleted tenant", () => {
    expect(all(section([], { scope: "read" }).root, "form")).toHaveLength(0);
    expect(all(section([], { state: { tenant: tenant({ status: "DELETED" }) } }).root, "form")).toHaveLength(0);
  });
});

describe("a change's preview", () => {
  it("sums up, groups by phase in order with the resources outside last, and shows each diff", () => {
    const preview = {
      changeSummary: { create: 1, update: 2, replace: 3, delete: 4, same: 5 }, destructive: false, destructiveResources: [],
      changes: [
        { urn: "u::outside", type: "pulumi:providers:kubernetes", name: "outside", phase: null, op: "update", diffs: [] },
        { urn: "u::quota", type: "kubernetes:core/v1:ResourceQuota", name: "quota", phase: { number: 3, name: "DEPLOY_CORE_SERVICES" }, op: "update", diffs: [{ path: "spec.hard.pods", old: "50", new: "200" }, { path: "password", old: "[secret]", new: "[secret]" }] },
        { urn: "u::ns", type: "kubernetes:core/v1:Namespace", name: "ns", phase: { number: 1, name: "CREATE_NAMESPACE" }, op: "create", diffs: [{ path: "metadata.name", new: "matih-acme" }] },
        { urn: "u::label", type: "kubernetes:core/v1:Namespace", name: "label", phase: { number: 3, name: "DEPLOY_CORE_SERVICES" }, op: "delete", diffs: [{ path: "metadata.labels.x", old: "y" }] },
      ],
    };
    const root = mount(changePreview(preview, "c1"));
    expect(one(root, ".change-preview").id).toBe("preview-c1");
    expect(text(one(root, ".change-summary"))).toBe("1 to create, 2 to update, 3 to replace, 4 to delete, 5 unchanged.");
    const phasesShown = all(root, "section.change-phase");
    expect(phasesShown.map((s) => [s.dataset.phase, text(one(s, "h4"))])).toEqual([
      ["1", "Phase 1. Create namespace: 1 change"], ["3", "Phase 3. Deploy core services: 2 changes"], ["0", "Outside the phases: 1 change"],
    ]);
    expect(all(phasesShown[1]!, "li.reviewed").map((li) => [li.dataset.op, text(li)])).toEqual([
      ["update", "update quota kubernetes:core/v1:ResourceQuota spec.hard.pods: 50 → 200 password: [secret] → [secret]"],
      ["delete", "delete label kubernetes:core/v1:Namespace metadata.labels.x: y → (removed)"],
    ]);
    expect(text(one(phasesShown[0]!, "li.reviewed"))).toBe("create ns kubernetes:core/v1:Namespace metadata.name: (not set) → matih-acme");
    expect(all(phasesShown[1]!, ".secret")).toHaveLength(2);
    expect(all(root, ".destructive, .badge-destructive")).toHaveLength(0);
    expect(all(phasesShown[2]!, "ul.diffs")).toHaveLength(0);
  });

  it("lists the destructive resources first and marks them", () => {
    const preview = {
      changeSummary: { create: 0, update: 0, replace: 1, delete: 0, same: 5 }, destructive: true,
      destructiveResources: [{ urn: "urn:pulumi:acme::matih-tenant::x$azure-native:dbforpostgresql:Server::database-server", type: "azure-native:dbforpostgresql:Server", op: "replace" }],
      changes: [
        { urn: "urn:pulumi:acme::matih-tenant::x$azure-native:dbforpostgresql:Server::database-server", type: "azure-native:dbforpostgresql:Server", name: "database-server", phase: { number: 2, name: "SETUP_DATABASE" }, op: "replace", diffs: [] },
        { urn: "u::other", type: "t", name: "other", phase: { number: 2, name: "SETUP_DATABASE" }, op: "update", diffs: [] },
      ],
    };
    const root = mount(changePreview(preview, "c1"));
    const notice = one(root, ".destructive");
    expect(notice.getAttribute("role")).toBe("note");
    expect(text(one(notice, "p"))).toBe("Destructive change. It deletes or replaces resources that hold data or credentials; what they hold is lost unless it has been moved first:");
    expect(all(notice, "li").map((li) => text(li))).toEqual(["replace database-server (azure-native:dbforpostgresql:Server)"]);
    expect(all(root, "li.reviewed").map((li) => all(li, ".badge-destructive").map((b) => text(b)))).toEqual([["DESTRUCTIVE"], []]);
  });

  it("says when nothing changes", () => {
    const root = mount(changePreview({ changeSummary: { create: 0, update: 0, replace: 0, delete: 0, same: 9 }, destructive: false, destructiveResources: [], changes: [] }, "c"));
    expect(text(one(root, ".change-summary + p"))).toBe("Nothing to change: the tenant already matches.");
  });

  it("is shown in the change, after a tier change's plan", () => {
    const plan: TierChangePlan = { steps: ["expand"], move: null, data: null };
    const a = article(section([change({ preview: { ...change().preview!, tierChange: plan } })]).root);
    expect(all(a, ".tier-change, .change-preview").map((e) => e.className)).toEqual(["tier-change", "change-preview"]);
  });
});

describe("diffLine", () => {
  it("says a value is not set or removed, and shows JSON", () => {
    expect(text(mount(diffLine({ path: "a", new: 1 })))).toBe("a: (not set) → 1");
    expect(text(mount(diffLine({ path: "a", old: 1 })))).toBe("a: 1 → (removed)");
    expect(text(mount(diffLine({ path: "a", old: undefined, new: undefined })))).toBe("a: (not set) → (removed)");
    expect(text(mount(diffLine({ path: "a", old: null, new: { b: 2 } })))).toBe('a: null → {"b":2}');
    expect(one(mount(diffLine({ path: "a.b", old: 1, new: 2 })), "code.path").textContent).toBe("a.b");
  });
});

describe("a tier change's plan", () => {
  const plan = (p: TierChangePlan, over: Partial<Change> = {}) => one(mount(tierChangePlan(change(over), tenant(), p)), "section.tier-change");

  it("names the tiers, the move, every step in order and the data measured", () => {
    const s = plan({ steps: ["expand", "move", "verify", "switch", "contract"], move: { from: "shared", to: "dedicated" }, data: { tables: 12, rows: 340, bytes: 2048 } });
    expect(s.getAttribute("aria-labelledby")).toBe(`tier-change-${CHANGE_ID}`);
    expect(text(one(s, "h4"))).toBe("Tier change plan: professional → enterprise");
    expect(text(one(s, ".tier-move"))).toBe("The tenant's data moves from the shared database server to a dedicated database server.");
    expect(all(s, "ol.tier-steps li").map((li) => [li.dataset.step, text(li)])).toEqual([
      ["expand", "Expand: creates the new database target (server, database, pool, role and schema); the tenant still uses the old one"],
      ["move", "Move data: stops writes on the source and copies the tenant's schema to the new target"],
      ["verify", "Verify: compares every table's row count and checksum on both sides"],
      ["switch", "Switch: points the database credentials at the new target; the workloads of phases 3 to 10 roll onto it"],
      ["contract", "Contract: removes what the new tier no longer has (the old server, or the pool) once every later phase has rolled, then the tenant's data from the old target"],
    ]);
    expect(text(one(s, ".tier-data"))).toBe("Data to move: 12 tables, 340 rows, 2.0 kB on disk (measured on the source when previewed).");
    expect(text(one(s, ".tier-move + p"))).toBe("Phase 2 runs these steps, in this order:");
  });

  it("counts one table and one row in the singular, and says a move back to shared", () => {
    const s = plan({ steps: ["expand"], move: { from: "dedicated", to: "shared" }, data: { tables: 1, rows: 1, bytes: 10 } });
    expect(text(one(s, ".tier-move"))).toBe("The tenant's data moves from a dedicated database server to the shared database server.");
    expect(text(one(s, ".tier-data"))).toBe("Data to move: 1 table, 1 row, 10 bytes on disk (measured on the source when previewed).");
  });

  it("says the target stays, with the note", () => {
    const s = plan({ steps: [], move: null, data: null, note: "free and professional share a server" });
    expect(text(one(s, ".tier-move"))).toBe("The tenant's data stays on its database server.");
    expect(text(one(s, ".tier-steps-none"))).toBe("Phase 2 keeps its database target: it runs no tier change steps.");
    expect(text(one(s, ".tier-data"))).toBe("free and professional share a server");
    expect(one(s, ".tier-data").className).toBe("tier-data tier-note");
    expect(all(plan({ steps: [], move: null, data: null }), ".tier-data")).toHaveLength(0);
  });

  it("says why a move's data is not measured", () => {
    expect(text(one(plan({ steps: ["move"], move: { from: "shared", to: "dedicated" }, data: null, note: "the source is unreachable" }), ".tier-data"))).toBe("Data to move: not measured: the source is unreachable.");
    expect(text(one(plan({ steps: ["move"], move: { from: "shared", to: "dedicated" }, data: null }), ".tier-data"))).toBe("Data to move: not measured.");
  });

  it("names only the target once decided, or when the tier stays", () => {
    expect(text(one(plan({ steps: [], move: null, data: null }, { status: "APPLIED" }), "h4"))).toBe("Tier change plan: to enterprise");
    expect(text(one(plan({ steps: [], move: null, data: null }, { target: { tier: "professional", lastPhase: 10 } }), "h4"))).toBe("Tier change plan: to professional");
    expect(text(one(plan({ steps: [], move: null, data: null }, { status: "PREVIEWING" }), "h4"))).toBe("Tier change plan: professional → enterprise");
  });
});

describe("the dialogs", () => {
  function dialogs(r: ChangeReview, scope: "admin" | "read" = "admin") {
    const app = signedIn(scope);
    app.tenant = tenantState({ review: r });
    return mount(changeDialogs(app, r));
  }
  const destructive = change({ preview: { ...change().preview!, destructive: true, destructiveResources: [{ urn: "urn:pulumi:a::b::x$azure-native:dbforpostgresql:Server::database-server", type: "azure-native:dbforpostgresql:Server", op: "replace" }] } });

  it("asks to allow a destructive change before approving it", () => {
    const d = one(dialogs(review([destructive], { dialog: { kind: "approve", changeId: CHANGE_ID, allowDestructive: false } })), "#approve-dialog");
    expect(text(one(d, "h2"))).toBe("Approve a destructive change");
    expect(all(d, "ul li").map((li) => text(li))).toEqual(["replace database-server (azure-native:dbforpostgresql:Server)"]);
    expect(buttons(d)).toEqual(["Approve destructive change (disabled)", "Cancel"]);
    expect(one<HTMLInputElement>(d, "#allow-destructive").checked).toBe(false);
    const allowed = one(dialogs(review([destructive], { dialog: { kind: "approve", changeId: CHANGE_ID, allowDestructive: true } })), "#approve-dialog");
    expect(buttons(allowed)).toEqual(["Approve destructive change", "Cancel"]);
    expect(one<HTMLInputElement>(allowed, "#allow-destructive").checked).toBe(true);
  });

  it("says what is rejected and who asked", () => {
    const r = review([change()], { dialog: { kind: "reject", changeId: CHANGE_ID, reason: "" } });
    const d = one(dialogs(r), "#reject-dialog");
    expect(text(one(d, "h2"))).toBe("Reject this change");
    expect(text(one(d, "h2 + p"))).toBe("Tier professional → enterprise, requested by bob. Rejecting changes nothing on the tenant.");
    expect(buttons(d)).toEqual(["Reject change", "Cancel"]);
    let closed = 0;
    r.closeDialog = () => void closed++;
    button(d, "Cancel").click();
    expect(closed).toBe(1);
  });

  it("are not shown to a read-only token, for an unknown change, or when none is open", () => {
    expect(dialogs(review([change()], { dialog: { kind: "reject", changeId: CHANGE_ID, reason: "" } }), "read").children).toHaveLength(0);
    expect(dialogs(review([change()], { dialog: { kind: "reject", changeId: "other", reason: "" } })).children).toHaveLength(0);
    expect(dialogs(review([change()])).children).toHaveLength(0);
  });
});

describe("the controls", () => {
  it("put the request form's choices into the review, and request on submit", () => {
    const { app, review: r, root } = section([]);
    let renders = 0;
    app.changed = () => void renders++;
    const requested: unknown[] = [];
    r.request = async (...args: unknown[]) => void requested.push(args);
    enter(one<HTMLSelectElement>(root, "#change-tier"), "enterprise");
    enter(one<HTMLSelectElement>(root, "#change-last-phase"), "4");
    enter(one<HTMLInputElement>(root, "#change-reason"), "more users");
    expect(r.form).toEqual({ tier: "enterprise", lastPhase: "4", reason: "more users" });
    expect(renders).toBe(3);
    expect(fire(one(root, "form.change-form"), "submit").defaultPrevented).toBe(true);
    expect(requested).toEqual([[]]);
    expect(one<HTMLInputElement>(section([], { review: { form: { tier: "", lastPhase: "", reason: "typed" } } }).root, "#change-reason").value).toBe("typed");
  });

  it("approve a destructive change only once allowed, and close on cancel", () => {
    const destructive = change({ preview: { ...change().preview!, destructive: true } });
    const r = review([destructive], { dialog: { kind: "approve", changeId: CHANGE_ID, allowDestructive: false } });
    const app = signedIn();
    app.tenant = tenantState({ review: r });
    let renders = 0;
    app.changed = () => void renders++;
    const calls: string[] = [];
    r.approve = async (id, allow) => void calls.push(`approve ${id} ${allow}`);
    r.closeDialog = () => void calls.push("close");
    const root = mount(changeDialogs(app, r));
    expect(fire(one(root, "#approve-dialog form"), "submit").defaultPrevented).toBe(true);
    expect(calls).toEqual([]);
    const box = one<HTMLInputElement>(root, "#allow-destructive");
    box.checked = true;
    fire(box, "change");
    expect(r.dialog).toEqual({ kind: "approve", changeId: CHANGE_ID, allowDestructive: true });
    expect(renders).toBe(1);
    fire(one(root, "#approve-dialog form"), "submit");
    expect(calls).toEqual([`approve ${CHANGE_ID} true`]);
    expect(fire(one(root, "#approve-dialog"), "cancel").defaultPrevented).toBe(true);
    button(root, "Cancel").click();
    expect(calls).toEqual([`approve ${CHANGE_ID} true`, "close", "close"]);
  });

  it("reject with the reason typed, and close on cancel", () => {
    const r = review([change()], { dialog: { kind: "reject", changeId: CHANGE_ID, reason: "" } });
    const app = signedIn();
    app.tenant = tenantState({ review: r });
    const calls: string[] = [];
    r.reject = async (id, reason) => void calls.push(`reject ${id} ${reason}`);
    r.closeDialog = () => void calls.push("close");
    const root = mount(changeDialogs(app, r));
    enter(one<HTMLInputElement>(root, "#reject-reason"), "not now");
    expect(fire(one(root, "#reject-dialog form"), "submit").defaultPrevented).toBe(true);
    expect(fire(one(root, "#reject-dialog"), "cancel").defaultPrevented).toBe(true);
    expect(calls).toEqual([`reject ${CHANGE_ID} not now`, "close"]);
  });
});

describe("edges", () => {
  it("counts a preview or request expiring right now as expired", () => {
    const at = new Date(NOW).toISOString();
    expect(sentence(section([change({ expiresAt: at })]).root)).toBe("This preview expired at Dec 7, 2026, 11:15:00 AM: request the change again for a fresh one.");
    const teardown = change({ kind: "teardown", preview: null, requested: {}, target: { tier: "professional", lastPhase: 0 }, expiresAt: at });
    expect(sentence(section([teardown]).root)).toBe("This request expired at Dec 7, 2026, 11:15:00 AM: ask for the teardown again.");
  });

  it("names an unknown tier change step by itself", () => {
    const s = mount(tierChangePlan(change(), tenant(), { steps: ["rewind" as "expand"], move: null, data: null }));
    expect(all(s, "ol.tier-steps li").map((li) => text(li))).toEqual(["rewind:"]);
  });

  it("offers the default tiers without the platform's", () => {
    const app = signedIn();
    app.platform = null;
    const r = review([]);
    app.tenant = tenantState({ review: r });
    const root = mount(changesSection(app, app.tenant, false, NOW));
    expect(all<HTMLOptionElement>(root, "#change-tier option").map((o) => o.value)).toEqual(["", "free", "enterprise"]);
  });

  it("lists nothing to be lost when approving a request without a preview", () => {
    const teardown = change({ kind: "teardown", preview: null, requested: {}, target: { tier: "professional", lastPhase: 0 } });
    const r = review([teardown], { dialog: { kind: "approve", changeId: CHANGE_ID, allowDestructive: false } });
    const app = signedIn();
    app.tenant = tenantState({ review: r });
    expect(all(mount(changeDialogs(app, r)), "#approve-dialog ul li")).toHaveLength(0);
  });
});

describe("what stays in view", () => {
  it("marks the kept tier and phases as chosen, and says a form notice that went well politely", () => {
    const f = one(section([]).root, "form.change-form");
    expect(all(f, "option").filter((o) => o.hasAttribute("selected")).map((o) => text(o))).toEqual(["Keep professional", "All ten"]);
    const good = one(section([], { review: { notice: { changeId: null, text: "Requested.", tone: "good" } } }).root, "form.change-form .notice-good");
    expect(good.getAttribute("role")).toBe("status");
  });

  it("keeps an approved update and a pending request in view, and says nothing about an empty list when there are changes", () => {
    const teardown = change({ id: "t", kind: "teardown", preview: null, requested: {}, target: { tier: "professional", lastPhase: 0 } });
    const { root } = section([change({ status: "APPROVED", decidedBy: "carol" }), teardown]);
    expect(all(root, "section > article").map((a) => a.dataset.change)).toEqual([CHANGE_ID, "t"]);
    expect(all(root, "details")).toHaveLength(0);
    expect(all(root, "section > p.muted")).toHaveLength(0);
  });

  it("opens the earlier changes when the linked one is one of several", () => {
    const { root } = section([change({ id: "a", status: "APPLIED", appliedAt: T2 }), change({ id: "b", status: "EXPIRED" })], { route: "b" });
    expect(one<HTMLDetailsElement>(root, "details.earlier-changes").open).toBe(true);
  });
});

describe("more of a change's page", () => {
  const at = (phase: number) => ({
    urn: `urn:pulumi:acme::matih-tenant::matih:tenant:Phase::r${phase}`, type: "kubernetes:core/v1:ConfigMap", name: `r${phase}`,
    phase: phase ? { number: phase, name: "SETUP_DATABASE" } : null, op: "update" as const, diffs: [],
  });

  it("orders the phases by number whatever order the preview gives, the resources outside the phases last", () => {
    const preview = { ...change().preview!, changes: [at(3), at(0), at(1), at(7)] };
    const root = mount(changePreview(preview, CHANGE_ID));
    expect(all(root, "section.change-phase").map((s) => s.dataset.phase)).toEqual(["1", "3", "7", "0"]);
    expect(root.textContent).not.toContain("Nothing to change");
  });

  it("ties each change's heading, and a tier change plan's, to what they label", () => {
    const a = article(section([change()]).root);
    expect(one(a, "h3").id).toBe(`change-${CHANGE_ID}-title`);
    const plan = mount(tierChangePlan(change(), tenant(), { move: null, steps: [], data: null, note: null } as unknown as TierChangePlan));
    const labelled = one(plan, "section.tier-change");
    expect(labelled.getAttribute("aria-labelledby")).toBe(`tier-change-${CHANGE_ID}`);
    expect(one(plan, "h4").id).toBe(`tier-change-${CHANGE_ID}`);
  });

  it("shows a notice only beside the change it is about", () => {
    const { root } = section([change(), change({ id: "other", status: "REJECTED", decidedBy: "carol", decidedAt: T2 })], { review: { notice: { changeId: "other", text: "Rejected: nothing was changed.", tone: "good" } } });
    expect(article(root).querySelector(".notice")).toBeNull();
    expect(text(one(article(root, "other"), ".notice"))).toBe("Rejected: nothing was changed.");
  });

  it("words a restore request at the last moment of its validity as expired, and the rest of its states", () => {
    const restore = (over: Partial<Change>) => change({ kind: "restore", preview: null, previewedAt: null, requested: {}, target: { tier: "professional", lastPhase: 10 }, ...over });
    const say = (over: Partial<Change>) => sentence(section([restore(over)], { review: { notice: { changeId: CHANGE_ID, text: "n", tone: "good" } } }).root);
    expect(say({ expiresAt: new Date(NOW).toISOString() })).toBe("This request expired at Dec 7, 2026, 11:15:00 AM: ask for the restore again.");
    expect(say({ expiresAt: new Date(NOW + 60_000).toISOString() })).toBe("Awaiting review: the backup is restored when an admin approves it, after a backup of what it replaces. Nothing is changed until then. The request is valid for 1 min 0 s more (until Dec 7, 2026, 11:16:00 AM).");
    expect(say({ status: "REJECTED", decidedBy: null, decidedAt: T2, rejectionReason: null })).toBe("Rejected by an admin Dec 7, 2026, 10:15:00 AM. Nothing was restored.");
    expect(say({ status: "APPROVED", decidedBy: "carol", decidedAt: T2 })).toBe("");
    expect(say({ status: "APPLIED", appliedAt: T2, decidedBy: null })).toBe("Restored Dec 7, 2026, 10:15:00 AM.");
    expect(text(one(article(section([restore({})]).root), "dd.restored-backup"))).toBe("backup (not named)");
  });
});
