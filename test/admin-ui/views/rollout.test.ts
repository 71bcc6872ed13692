// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * A rollout's page: its status in words and its wave, the halt's reason,
 * the controls (Pause only while RUNNING, Resume while PAUSED or HALTED,
 * Abort until it is over; none for a read-only token), the abort dialog,
 * each wave with its tenants linking to their pages, and the held and
 * skipped tenants with their reasons as text.
 */
import "./utc.ts";
import { render } from "lit-html"; import { describe, expect, it } from "vitest";
import { RolloutPage } from "../../../admin-ui/fleet-changes.ts";
import type { FleetRollout, RolloutStatus, RolloutTenant } from "../../../admin-ui/types.ts";
import { rolloutView } from "../../../admin-ui/views/rollout.ts";
import { all, api, button, buttons, fire, mount, NOTHING_PLANTED, one, PLANTED, planted, signedIn, T1, T2, text } from "./support.ts";

const ID = "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a";
const FLEET_CHANGE = "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d";

const member = (slug: string, wave: number, status: RolloutTenant["status"], over: Partial<RolloutTenant> = {}): RolloutTenant => ({
  tenantId: `id-${slug}`, slug, wave, status, attempts: status === "PENDING" ? 0 : 1, changeId: null, runId: null, reason: null, updatedAt: T2, ...over,
});

const alpha = member("alpha", 1, "SUCCEEDED");
const bravo = member("bravo", 2, "APPLYING", { attempts: 2 });
const charlie = member("charlie", 2, "HELD", { reason: "its stack changed after the fleet preview" });
const delta = member("delta", 2, "UNCHANGED", { reason: "the new settings change none of its resources" });

const rollout = (over: Partial<FleetRollout> = {}): FleetRollout => ({
  id: ID, fleetChangeId: FLEET_CHANGE, settingsVersion: 4, status: "RUNNING",
  config: { canary: 1, growth: 3, concurrency: 4, canaryMaxFailures: 0, waveFailurePercent: 10, allowDestructive: false },
  currentWave: 2, waveCount: 3, haltedReason: null, createdBy: "bob", createdAt: T1, updatedAt: T2, finishedAt: null,
  counts: { SUCCEEDED: 1, APPLYING: 1, HELD: 1, UNCHANGED: 1, FAILED: 0 },
  waves: [
    { number: 1, status: "completed", counts: { SUCCEEDED: 1 }, tenants: [alpha] },
    { number: 2, status: "running", counts: { APPLYING: 1, HELD: 1, UNCHANGED: 1 }, tenants: [bravo, charlie, delta] },
    { number: 3, status: "pending", counts: {}, tenants: [] },
  ],
  skipped: [], held: [charlie], ...over,
});

function view(r: FleetRollout | null, over: Partial<RolloutPage> = {}, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  const page = new RolloutPage(api(), ID, () => undefined);
  page.rollout = r;
  Object.assign(page, over);
  app.rollout = page;
  return { app, page, root: mount(rolloutView(app)) };
}

const controls = (root: HTMLElement) => buttons(one(root, ".rollout-controls"));

describe("the controls", () => {
  const expected: Record<RolloutStatus, string[]> = {
    RUNNING: ["Pause", "Resume (disabled)", "Abort"],
    PAUSED: ["Pause (disabled)", "Resume", "Abort"],
    HALTED: ["Pause (disabled)", "Resume", "Abort"],
    COMPLETED: ["Pause (disabled)", "Resume (disabled)", "Abort (disabled)"],
    ABORTED: ["Pause (disabled)", "Resume (disabled)", "Abort (disabled)"],
  };
  for (const [status, labels] of Object.entries(expected)) {
    it(`are enabled on a ${status} rollout only where they apply`, () => {
      expect(controls(view(rollout({ status: status as RolloutStatus })).root)).toEqual(labels);
    });
  }

  it("are all disabled while one is sent, the one sent saying so", () => {
    expect(controls(view(rollout(), { busy: "pause" }).root)).toEqual(["Pausing… (disabled)", "Resume (disabled)", "Abort (disabled)"]);
    expect(controls(view(rollout({ status: "PAUSED" }), { busy: "resume" }).root)).toEqual(["Pause (disabled)", "Resuming… (disabled)", "Abort (disabled)"]);
    expect(controls(view(rollout({ status: "HALTED" }), { busy: "abort" }).root)).toEqual(["Pause (disabled)", "Resume (disabled)", "Aborting… (disabled)"]);
  });

  it("pause and resume at once, and ask before aborting", () => {
    const { page, root } = view(rollout({ status: "PAUSED" }));
    const calls: string[] = [];
    page.control = async (verb) => void calls.push(verb);
    page.askAbort = (asking) => void calls.push(`ask ${asking}`);
    button(root, "Resume").click();
    button(root, "Abort").click();
    expect(calls).toEqual(["resume", "ask true"]);
    const running = view(rollout());
    running.page.control = async (verb) => void calls.push(verb);
    button(running.root, "Pause").click();
    expect(calls.at(-1)).toBe("pause");
  });

  it("are marked as a group, the abort as dangerous", () => {
    const { root } = view(rollout());
    const group = one(root, ".rollout-controls");
    expect(group.getAttribute("role")).toBe("group");
    expect(group.getAttribute("aria-label")).toBe("Rollout controls");
    expect(button(root, "Abort").className).toBe("danger");
    expect(button(root, "Pause").className).toBe("secondary");
  });

  it("are not shown to a read-only token", () => {
    const { root } = view(rollout(), {}, "read");
    expect(all(root, ".rollout-controls")).toHaveLength(0);
    expect(buttons(root)).toEqual([]);
  });
});

describe("the abort dialog", () => {
  it("says how many tenants not started are skipped and which version stays", () => {
    const { page, root } = view(rollout({ counts: { PENDING: 7, SUCCEEDED: 1 } }), { confirmingAbort: true });
    const dialog = one(root, "#abort-dialog");
    expect(text(one(dialog, "h2"))).toBe("Abort this rollout");
    expect(text(one(dialog, "p"))).toBe("No tenant starts any more: the 7 not started are listed as skipped, and those under way finish. Settings version 4 stays current; the tenants not on it show in the fleet as behind.");
    expect(buttons(dialog)).toEqual(["Abort the rollout", "Cancel"]);
    const calls: string[] = [];
    page.askAbort = (asking) => void calls.push(`ask ${asking}`);
    page.control = async (verb) => void calls.push(verb);
    button(dialog, "Cancel").click();
    one<HTMLFormElement>(dialog, "form").dispatchEvent(new Event("submit", { cancelable: true }));
    expect(calls).toEqual(["ask false", "abort"]);
  });

  it("counts none not started when nothing is pending, and is closed unless asked", () => {
    expect(text(one(view(rollout(), { confirmingAbort: true }).root, "#abort-dialog p"))).toMatch(/^No tenant starts any more: the 0 not started/);
    expect(all(view(rollout()).root, "dialog")).toHaveLength(0);
  });
});

describe("the rollout", () => {
  it("names its version and status, says what the status means and which wave it is in", () => {
    const { root } = view(rollout());
    expect(text(one(root, "h1"))).toBe("Rollout of settings version 4 RUNNING");
    expect(text(one(root, ".rollout-sentence"))).toBe("Running: tenants are previewed and applied wave by wave. Wave 2 of 3.");
    expect(one(root, ".fleet-change-link").getAttribute("href")).toBe(`#/fleet/changes/${FLEET_CHANGE}`);
    const said = (status: RolloutStatus) => text(one(view(rollout({ status })).root, ".rollout-sentence"));
    expect(said("PAUSED")).toBe("Paused: no tenant starts until it is resumed. Wave 2 of 3.");
    expect(said("HALTED")).toBe("Halted: too many tenants failed; nothing starts until it is resumed (the failed tenants are applied again) or aborted. Wave 2 of 3.");
    expect(said("COMPLETED")).toBe("Completed: every wave is done. Wave 2 of 3.");
    expect(said("ABORTED")).toBe("Aborted: no tenant starts any more; the settings version stays current. Wave 2 of 3.");
  });

  it("shows why it halted, as text", () => {
    const { root } = view(rollout({ status: "HALTED", haltedReason: PLANTED }));
    const reason = one(root, ".halted-reason");
    expect(text(reason)).toBe(PLANTED);
    expect(reason.getAttribute("role")).toBe("alert");
    expect(planted(root)).toEqual(NOTHING_PLANTED);
    expect(all(view(rollout()).root, ".halted-reason")).toHaveLength(0);
  });

  it("states who approved it, its waves, its tenants by status and when it finished", () => {
    const facts = (r: FleetRollout) => all(view(r).root, "dl.facts > div").map((d) => text(d));
    expect(facts(rollout())).toEqual([
      "Approved by bob, Dec 7, 2026, 09:04:12 AM",
      "Waves canary 1, growth 3, concurrency 4, canary failures allowed 0, wave failure threshold 10 %",
      "Tenants 1 succeeded, 1 applying, 1 held, 1 unchanged",
    ]);
    expect(facts(rollout({ config: { ...rollout().config, allowDestructive: true }, finishedAt: T2, counts: {} }))).toEqual([
      "Approved by bob, Dec 7, 2026, 09:04:12 AM",
      "Waves canary 1, growth 3, concurrency 4, canary failures allowed 0, wave failure threshold 10 %, destructive changes allowed",
      "Tenants no tenants",
      "Finished Dec 7, 2026, 10:15:00 AM",
    ]);
  });

  it("shows each wave with its status, tenants and counts, the first as the canary", () => {
    const { root } = view(rollout());
    const waves = all(root, "section.wave");
    expect(waves.map((w) => [w.dataset.wave, w.dataset.status, w.getAttribute("aria-labelledby")])).toEqual([["1", "completed", "wave-1"], ["2", "running", "wave-2"], ["3", "pending", "wave-3"]]);
    expect(waves.map((w) => text(one(w, "h3")))).toEqual(["Wave 1 (canary) completed", "Wave 2 running", "Wave 3 pending"]);
    expect(waves.map((w) => text(one(w, "p.muted")))).toEqual(["1 tenant: 1 succeeded", "3 tenants: 1 applying, 1 held, 1 unchanged", "0 tenants: no tenants"]);
    expect(all(waves[2]!, "table")).toHaveLength(0);
    const rows = all(waves[1]!, "tbody tr");
    expect(rows.map((r) => [r.dataset.slug, r.dataset.status])).toEqual([["bravo", "APPLYING"], ["charlie", "HELD"], ["delta", "UNCHANGED"]]);
    expect(rows.map((r) => all(r, "th, td").map((c) => text(c)))).toEqual([
      ["bravo", "APPLYING", "2", "—"],
      ["charlie", "HELD", "1", "its stack changed after the fleet preview"],
      ["delta", "UNCHANGED", "1", "the new settings change none of its resources"],
    ]);
    expect(all(waves[1]!, "thead th").map((th) => text(th))).toEqual(["Tenant", "Status", "Attempts", "Reason"]);
    expect(one(rows[0]!, "a").getAttribute("href")).toBe("#/tenants/bravo");
  });

  it("lists the held tenants with their wave and a link to the reviews, and the skipped ones", () => {
    const skipped = member("echo", 3, "SKIPPED", { reason: PLANTED });
    const { root } = view(rollout({ skipped: [skipped] }));
    const held = one(root, "section.held");
    expect(text(one(held, "h2"))).toBe("Held: 1");
    expect(one(held, "p.muted a").getAttribute("href")).toBe("#/reviews");
    expect(all(held, "thead th").map((th) => text(th))).toEqual(["Tenant", "Wave", "Status", "Attempts", "Reason"]);
    expect(all(one(held, "tbody tr"), "th, td").map((c) => text(c))).toEqual(["charlie", "2", "HELD", "1", "its stack changed after the fleet preview"]);
    const skippedSection = one(root, "section.skipped");
    expect(text(one(skippedSection, "h2"))).toBe("Skipped: 1");
    expect(all(one(skippedSection, "tbody tr"), "th, td").map((c) => text(c))).toEqual(["echo", "3", "SKIPPED", "1", PLANTED]);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
    const none = view(rollout({ held: [], skipped: [] })).root;
    expect(all(none, "section.held, section.skipped")).toHaveLength(0);
  });

  it("shows a notice with its detail", () => {
    const bad = one(view(rollout(), { notice: { text: "Refused.", detail: "invalid_transition", tone: "bad" } }).root, ".notice-bad");
    expect(bad.getAttribute("role")).toBe("alert");
    expect(text(bad)).toBe("Refused. invalid_transition");
    const good = one(view(rollout(), { notice: { text: "Paused.", tone: "good" } }).root, ".notice-good");
    expect(good.getAttribute("role")).toBe("status");
    expect(text(good)).toBe("Paused.");
  });

  it("says while loading, when there is no such rollout, and when it could not be read", () => {
    expect(text(mount(rolloutView(signedIn())))).toBe("Rollout Loading…");
    expect(text(view(null).root)).toBe("Rollout Loading…");
    expect(text(one(view(null, { missing: true }).root, "[role=alert]"))).toBe(`No rollout ${ID}.`);
    expect(text(one(view(null, { error: "timeout" }).root, "[role=alert]"))).toBe("Could not load the rollout: timeout");
  });
});

describe("the abort dialog's events", () => {
  it("close on Escape and abort on submit, without leaving the page", () => {
    const { page, root } = view(rollout(), { confirmingAbort: true });
    const calls: string[] = [];
    page.askAbort = (asking) => void calls.push(`ask ${asking}`);
    page.control = async (verb) => void calls.push(verb);
    expect(fire(one(root, "#abort-dialog"), "cancel").defaultPrevented).toBe(true);
    expect(fire(one(root, "#abort-dialog form"), "submit").defaultPrevented).toBe(true);
    expect(calls).toEqual(["ask false", "abort"]);
  });
});

describe("more of the waves", () => {
  it("heads each wave with the id its section is labelled by", () => {
    expect(all(view(rollout()).root, "section.wave h3").map((h) => h.id)).toEqual(["wave-1", "wave-2", "wave-3"]);
  });

  it("keeps each tenant's row when a wave's tenants move", () => {
    const app = signedIn();
    const page = new RolloutPage(api(), ID, () => undefined);
    page.rollout = rollout();
    app.rollout = page;
    const root = mount(rolloutView(app));
    const row = one(root, "section.wave[data-wave='2'] tr[data-slug=bravo]");
    page.rollout = rollout({ waves: [rollout().waves[0]!, { ...rollout().waves[1]!, tenants: [charlie, delta, bravo] }, rollout().waves[2]!] });
    render(rolloutView(app), root);
    expect(all(root, "section.wave[data-wave='2'] tbody tr").map((r) => r.dataset.slug)).toEqual(["charlie", "delta", "bravo"]);
    expect(one(root, "section.wave[data-wave='2'] tr[data-slug=bravo]")).toBe(row);
  });
});
