// @vitest-environment happy-dom
/// <reference lib="dom" />
/**
 * The tenant page as a reader sees it: which actions are enabled in which
 * state (Retry and Roll back only for a FAILED tenant, nothing while a run is
 * in progress, none for a read-only token), the failure told in words, the
 * phase timeline and its bar, outputs, the audit log's pages, a preview's and
 * a drift check's answers, the rollback and delete dialogs, and user text
 * (a display name, an engine error) shown as text.
 */
import "./utc.ts";
import { describe, expect, it } from "vitest";
import { TenantDriftHistory } from "../../../admin-ui/drift-history.ts";
import { ChangeReview } from "../../../admin-ui/review.ts";
import { auditPageOf, previewGroups, tenantView } from "../../../admin-ui/views/tenant.ts";
import type { AuditEntry, PreviewResult } from "../../../admin-ui/types.ts";
import {
  all, api, button, buttons, change, CHANGE_ID, enter, fire, mount, NOTHING_PLANTED, one, phase, phases, PLANTED, planted, provisioningStatus, RUN_ID, signedIn, T0, T1, tenant, TENANT_ID,
  tenantState, text,
} from "./support.ts";
import type { TenantState } from "../../../admin-ui/app.ts";

function page(over: Partial<TenantState> = {}, scope: "admin" | "read" = "admin") {
  const app = signedIn(scope);
  app.route = { view: "tenant", slug: "acme" };
  app.tenant = tenantState(over);
  return { app, root: mount(tenantView(app)) };
}

const FAILED_AT_4 = phases("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING");
FAILED_AT_4[3] = phase(4, "FAILED", {
  attempts: 3,
  error: "NetworkPolicy rejected (urn:pulumi:acme::matih-tenant::matih:networking:NetworkIsolation$kubernetes:networking.k8s.io/v1:NetworkPolicy::default-deny)",
});
const failedRun = { id: RUN_ID, kind: "provision" as const, status: "FAILED", attempt: 3, maxAttempts: 3, targetPhase: 10, startedAt: T0, completedAt: T1, durationMs: 90_000 };

function failed(over: Partial<TenantState> = {}) {
  return page({
    tenant: tenant({ status: "FAILED" }),
    status: provisioningStatus({ status: "FAILED", run: failedRun, progress: 30, phases: FAILED_AT_4, error: "phase 4 failed" }),
    ...over,
  });
}

describe("the actions", () => {
  it("disable Retry and Roll back on an ACTIVE tenant and say why", () => {
    const { root } = page();
    expect(buttons(one(root, ".actions"))).toEqual(["Retry (disabled)", "Roll back… (disabled)", "Delete…", "Preview changes", "Check drift"]);
    expect(text(one(root, ".actions p.muted"))).toBe("Retry and roll back apply to a failed tenant.");
  });

  it("enable Retry and Roll back on a FAILED tenant with phases to keep", () => {
    const { root } = failed();
    expect(buttons(one(root, ".actions"))).toEqual(["Retry", "Roll back…", "Delete…", "Preview changes", "Check drift"]);
    expect(text(one(root, ".actions p.muted"))).toBe("Retry continues from the failed phase; roll back removes the phases after the one you choose.");
  });

  it("disable Roll back on a FAILED tenant with no phase done before the last", () => {
    const { root } = page({
      tenant: tenant({ status: "FAILED" }),
      status: provisioningStatus({ status: "FAILED", run: failedRun, phases: phases("FAILED", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING") }),
    });
    expect(buttons(one(root, ".actions"))).toEqual(["Retry", "Roll back… (disabled)", "Delete…", "Preview changes", "Check drift"]);
  });

  it("do not count phase 10 as one to roll back to", () => {
    const { root } = page({
      tenant: tenant({ status: "FAILED" }),
      status: provisioningStatus({ status: "FAILED", run: failedRun, phases: phases("FAILED", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "SUCCEEDED") }),
    });
    expect(button(root, "Roll back…").disabled).toBe(true);
  });

  it("wait while a run is in progress, inspection excepted", () => {
    const { root } = failed({ status: provisioningStatus({ status: "FAILED", phases: FAILED_AT_4, run: { ...failedRun, status: "RUNNING", completedAt: null } }) });
    expect(buttons(one(root, ".actions"))).toEqual(["Retry (disabled)", "Roll back… (disabled)", "Delete… (disabled)", "Preview changes", "Check drift"]);
    expect(text(one(root, ".actions p.muted"))).toBe("A run is in progress; actions wait for it to finish.");
  });

  it("wait while a run is queued", () => {
    const { root } = failed({ status: provisioningStatus({ status: "FAILED", phases: FAILED_AT_4, run: { ...failedRun, status: "QUEUED", completedAt: null } }) });
    expect(button(root, "Retry").disabled).toBe(true);
    expect(button(root, "Delete…").disabled).toBe(true);
  });

  it("are all disabled while one is being sent, the one sent saying so", () => {
    expect(buttons(one(failed({ busy: "Retry" }).root, ".actions"))).toEqual(["Retrying… (disabled)", "Roll back… (disabled)", "Delete… (disabled)", "Preview changes (disabled)", "Check drift (disabled)"]);
    expect(buttons(one(page({ busy: "Preview" }).root, ".actions"))).toEqual(["Retry (disabled)", "Roll back… (disabled)", "Delete… (disabled)", "Previewing… (disabled)", "Check drift (disabled)"]);
    expect(buttons(one(page({ busy: "Drift check" }).root, ".actions"))).toEqual(["Retry (disabled)", "Roll back… (disabled)", "Delete… (disabled)", "Preview changes (disabled)", "Checking… (disabled)"]);
  });

  it("allow deleting neither a PROVISIONING tenant nor one being updated", () => {
    for (const status of ["PROVISIONING", "UPDATING", "DEPROVISIONING"] as const) {
      const { root } = page({ tenant: tenant({ status }), status: provisioningStatus({ status, run: null }) });
      expect(buttons(one(root, ".actions"))).toEqual(["Retry (disabled)", "Roll back… (disabled)", "Delete… (disabled)", "Preview changes", "Check drift"]);
    }
  });

  it("are not shown to a read-only token, nor on a deleted tenant", () => {
    expect(all(page({}, "read").root, ".actions")).toHaveLength(0);
    expect(all(page({ tenant: tenant({ status: "DELETED" }) }).root, ".actions")).toHaveLength(0);
  });

  it("call the app when pressed", () => {
    const { app, root } = failed();
    const calls: string[] = [];
    app.retry = async () => void calls.push("retry");
    app.openDialog = (d) => void calls.push(`open ${d}`);
    app.runPreview = async () => void calls.push("preview");
    app.runDriftCheck = async () => void calls.push("drift");
    for (const label of ["Retry", "Roll back…", "Delete…", "Preview changes", "Check drift"]) button(root, label).click();
    expect(calls).toEqual(["retry", "open rollback", "open delete", "preview", "drift"]);
  });
});

describe("the head and facts", () => {
  it("show the name, slug, status, tier, region, admin and who asked", () => {
    const { root } = page();
    expect(text(one(root, "h1"))).toBe("Acme Corp acme");
    expect(text(one(root, ".tenant-status"))).toBe("ACTIVE");
    const facts = all(root, ".summary-facts > div").map((d) => text(d));
    expect(facts.slice(0, 4)).toEqual(["Tier professional", "Region eastus", "Admin admin@acme.example", "Requested by control-plane"]);
    expect(facts).toContain("Last run took 4 min 12 s");
    expect(facts).toContain("Run provision, succeeded, attempt 1 of 3");
    expect(facts.at(-1)).toBe("Progress 100%");
    expect(one(root, ".summary-facts .bar").getAttribute("aria-label")).toBe("10 of 10 phases done");
  });

  it("show the tenant's own start and duration when no run has started", () => {
    const { root } = page({ status: provisioningStatus({ run: null, startedAt: T0, completedAt: T1 }) });
    const facts = all(root, ".summary-facts > div").map((d) => text(d));
    expect(facts).toContain("Duration 4 min 12 s");
    expect(facts).toContain("Run —");
    expect(facts.some((f) => f.startsWith("Last run"))).toBe(false);
  });

  it("mark an ACTIVE tenant whose latest check found drift", () => {
    const history = new TenantDriftHistory(api(), TENANT_ID, () => undefined);
    history.history = { tenantId: TENANT_ID, slug: "acme", state: "DRIFTED", since: T1, driftedSince: T1, items: [], total: 0, limit: 10, offset: 0 };
    expect(text(one(page({ history }).root, ".tenant-status"))).toBe("ACTIVE DRIFTED");
    expect(text(one(page({ history, tenant: tenant({ status: "FAILED" }) }).root, ".tenant-status"))).toBe("FAILED");
  });

  it("show a display name as text", () => {
    const { root } = page({ tenant: tenant({ displayName: PLANTED }) });
    expect(text(one(root, "h1"))).toBe(`${PLANTED} acme`);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("say why a running run makes no progress", () => {
    const { root } = page({ status: provisioningStatus({ waiting: { reason: "previous-worker", message: "the worker running it stopped", upToSeconds: 30, lastHeartbeatAt: T0 } }) });
    expect(text(one(root, "#run-waiting"))).toBe("No progress: the worker running it stopped.");
  });
});

describe("a failure", () => {
  it("names the failed phase and the engine's message without the URN, and what Retry does", () => {
    const { root } = failed();
    const box = one(root, "#tenant-error");
    expect(box.getAttribute("role")).toBe("alert");
    expect(text(box)).toBe("Phase 4 Configure networking failed: NetworkPolicy rejected Retry continues from this phase; the phases before it stay as they are.");
  });

  it("says a tenant without a failed phase was not provisioned, with the service's error", () => {
    const { root } = page({
      tenant: tenant({ status: "FAILED" }),
      status: provisioningStatus({ status: "FAILED", run: failedRun, phases: phases("PENDING", "PENDING"), error: "the namespace quota is exhausted" }),
    });
    expect(text(one(root, "#tenant-error"))).toBe("Not provisioned: the namespace quota is exhausted Retry provisions the remaining phases.");
  });

  it("leaves out what Retry does for a read-only token", () => {
    expect(text(one(failed({}).root, "#tenant-error"))).toContain("Retry continues");
    const app = signedIn("read");
    app.tenant = tenantState({ tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED", run: failedRun, phases: FAILED_AT_4 }) });
    expect(text(one(mount(tenantView(app)), "#tenant-error"))).toBe("Phase 4 Configure networking failed: NetworkPolicy rejected");
  });

  it("is not shown for an ACTIVE tenant", () => {
    expect(all(page({ status: provisioningStatus({ error: "old error" }) }).root, "#tenant-error")).toHaveLength(0);
  });

  it("shows an engine error as text", () => {
    const withPlanted = FAILED_AT_4.map((p) => (p.number === 4 ? { ...p, error: PLANTED } : p));
    const { root } = failed({ status: provisioningStatus({ status: "FAILED", run: failedRun, phases: withPlanted }) });
    expect(text(one(root, "#tenant-error"))).toContain(PLANTED);
    expect(text(one(root, "li[data-phase='4'] .phase-error"))).toBe(`What went wrong: ${PLANTED}`);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });
});

describe("the timeline", () => {
  it("lists the ten phases with their number, title, status, summary and facts", () => {
    const { root } = page();
    const items = all(root, "ol.timeline > li");
    expect(items).toHaveLength(10);
    expect(items[0]!.className).toBe("phase phase-succeeded");
    expect(text(one(items[0]!, "h3"))).toBe("Phase 1. Create namespace SUCCEEDED");
    expect(text(one(items[0]!, "p.muted"))).toBe("summary of phase 1");
    expect(all(items[0]!, ".facts > div").map((d) => text(d))).toEqual(["Attempts 1", "Started 09:00:00 AM", "Duration 15 s", "Resources 4 done, 0 pending"]);
    expect(text(one(items[6]!, "h3"))).toBe("Phase 7. Create DNS zone SUCCEEDED");
  });

  it("gives a failed phase its error, split into message and resource", () => {
    const item = one(failed().root, "li[data-phase='4']");
    expect(item.className).toBe("phase phase-failed");
    expect(text(one(item, ".phase-error"))).toBe("What went wrong: NetworkPolicy rejected Resource: default-deny (kubernetes:networking.k8s.io/v1:NetworkPolicy)");
    expect(all(item, ".facts > div").map((d) => text(d))[0]).toBe("Attempts 3");
  });

  it("gives an error without a resource only its message", () => {
    const withPlain = FAILED_AT_4.map((p) => (p.number === 4 ? { ...p, error: "timed out" } : p));
    const item = one(failed({ status: provisioningStatus({ status: "FAILED", run: failedRun, phases: withPlain }) }).root, "li[data-phase='4']");
    expect(text(one(item, ".phase-error"))).toBe("What went wrong: timed out");
  });

  it("shows a pending phase's missing times as dashes, and a rolled-back one's class", () => {
    const { root } = page({ status: provisioningStatus({ phases: phases("SUCCEEDED", "ROLLED_BACK", "PENDING") }) });
    expect(one(root, "li[data-phase='2']").className).toBe("phase phase-rolled-back");
    expect(all(one(root, "li[data-phase='3']"), ".facts > div").map((d) => text(d))).toEqual(["Attempts 0", "Started —", "Duration —", "Resources 4 done, 0 pending"]);
  });

  it("shows a tier change's steps in phase 2, with the data moved", () => {
    const steps = [
      { step: "expand" as const, status: "succeeded" as const, message: "new server ready", at: T0 },
      { step: "move" as const, status: "succeeded" as const, message: "copied", at: T0, data: { tables: 1, rows: 1, bytes: 2048 } },
      { step: "verify" as const, status: "started" as const, message: "checking", at: T0, data: { tables: 12, rows: 340, bytes: 512 } },
    ];
    const { root } = page({ status: provisioningStatus({ phases: [phase(1, "SUCCEEDED"), phase(2, "RUNNING", { steps })] }) });
    const table = one(root, "table.sub-steps");
    expect(table.dataset.phase).toBe("2");
    expect(text(one(table, "caption"))).toBe("Tier change steps");
    const rows = all(table, "tbody tr");
    expect(rows.map((r) => [r.dataset.step, r.dataset.status])).toEqual([["expand", "succeeded"], ["move", "succeeded"], ["verify", "started"]]);
    expect(rows.map((r) => text(one(r, "th")))).toEqual(["Expand", "Move data", "Verify"]);
    expect(rows.map((r) => text(one(r, ".step-status")))).toEqual(["SUCCEEDED", "SUCCEEDED", "STARTED"]);
    expect(one(rows[2]!, ".step-status").className).toBe("badge step-status step-status-started");
    expect(rows.map((r) => text(one(r, ".step-message")))).toEqual(["new server ready", "copied", "checking"]);
    expect(rows.map((r) => text(one(r, ".step-data")))).toEqual(["—", "1 table, 1 row, 2.0 kB", "12 tables, 340 rows, 512 bytes"]);
    expect(one(rows[1]!, ".step-data span").getAttribute("title")).toBe("2,048 bytes");
    expect(all(one(root, "li[data-phase='1']"), "table")).toHaveLength(0);
  });
});

describe("the live feed and outputs", () => {
  it("says there is no run in progress, or that it is live with its entries", () => {
    expect(text(one(page().root, "#feed-title"))).toBe("Live feed (no run in progress)");
    expect(text(one(page().root, "#feed-title + p"))).toBe("Transitions appear here as they happen.");
    const { root } = page({ watching: true, feed: [{ id: 1, at: Date.parse(T0), text: "Phase 1 started", tone: "info" }, { id: 2, at: Date.parse(T1), text: "Phase 1 done", tone: "good" }] });
    expect(text(one(root, "#feed-title"))).toBe("Live feed LIVE");
    expect(all(root, "ol.feed li").map((li) => [li.className, text(li)])).toEqual([["feed-info", "09:00:00 AM Phase 1 started"], ["feed-good", "09:04:12 AM Phase 1 done"]]);
  });

  it("lists the key outputs first, URLs as links while the tenant lives", () => {
    const { root } = page({ tenant: tenant({ outputs: { ingressClassName: "nginx-acme", loadBalancerIp: "20.1.2.3", zoneNameServers: ["ns1", "ns2"], databaseSchema: "tenant_acme", extra: { a: 1 }, namespace: "matih-acme", urls: { api: "https://acme.matih.ai/api" } } }) });
    const outputs = one(root, "dl.outputs");
    expect(all(outputs, "div").map((d) => text(d))).toEqual([
      "API URL https://acme.matih.ai/api", "Namespace matih-acme", "Database schema tenant_acme", "Load balancer IP 20.1.2.3", "Ingress class name nginx-acme", "Zone name servers ns1, ns2", "Extra {\"a\":1}",
    ]);
    const link = one<HTMLAnchorElement>(outputs, "a");
    expect(link.getAttribute("href")).toBe("https://acme.matih.ai/api");
    expect(link.getAttribute("rel")).toBe("noreferrer noopener");
    expect(link.getAttribute("target")).toBe("_blank");
  });

  it("says when there are no outputs yet", () => {
    expect(text(one(page({ tenant: tenant({ outputs: {} }) }).root, "#outputs-title + p"))).toBe("No outputs yet: they are recorded when provisioning finishes.");
  });

  it("keeps a deleted tenant's outputs for reference, URLs not as links, and no drift history", () => {
    const history = new TenantDriftHistory(api(), TENANT_ID, () => undefined);
    const { root } = page({ tenant: tenant({ status: "DELETED" }), history });
    expect(text(one(root, "#outputs-title + p"))).toBe("Removed with the tenant. The last recorded values, for reference:");
    expect(all(root, "dl.outputs a")).toHaveLength(0);
    expect(text(one(root, "dl.outputs code"))).toBe("https://acme.matih.ai/api");
    expect(all(root, "#drift-history")).toHaveLength(0);
    expect(all(page({ history }).root, "#drift-history")).toHaveLength(1);
  });
});

const entry = (id: number): AuditEntry => ({ id, runId: null, entity: "phase", phase: 3, actor: "tenant-service", from: "RUNNING", to: "SUCCEEDED", message: `entry ${id}`, details: {}, createdAt: T0 });

describe("the audit log", () => {
  it("pages newest first", () => {
    const entries = Array.from({ length: 120 }, (_, i) => i + 1);
    expect(auditPageOf(entries, 0)).toEqual({ items: entries.slice(70).reverse(), page: 0, pages: 3 });
    expect(auditPageOf(entries, 2)).toEqual({ items: entries.slice(0, 20).reverse(), page: 2, pages: 3 });
    expect(auditPageOf(entries, 7).page).toBe(2);
    expect(auditPageOf(entries, -1).page).toBe(0);
    expect(auditPageOf([], 0)).toEqual({ items: [], page: 0, pages: 1 });
    expect(auditPageOf([1, 2, 3], 1, 2)).toEqual({ items: [1], page: 1, pages: 2 });
  });

  it("shows each entry's actor, what, change and message", () => {
    const { root } = page({ audit: [entry(1), { ...entry(2), phase: null, from: null, entity: "tenant", to: "ACTIVE", message: PLANTED }] });
    const rows = all(root, "table.audit tbody tr");
    expect(rows.map((r) => all(r, "td").slice(1).map((d) => text(d)))).toEqual([
      ["tenant-service", "tenant", "ACTIVE", PLANTED],
      ["tenant-service", "phase 3", "RUNNING → SUCCEEDED", "entry 1"],
    ]);
    expect(all(root, "nav.pager")).toHaveLength(0);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("says when there are no entries", () => {
    expect(text(one(page().root, "#audit-title + p"))).toBe("No entries yet.");
  });

  it("offers newer and older pages only where there are some", () => {
    const audit = Array.from({ length: 120 }, (_, i) => entry(i + 1));
    const first = one(page({ audit }).root, "nav.pager");
    expect(text(one(first, "span"))).toBe("Page 1 of 3 (120 entries)");
    expect(buttons(first)).toEqual(["Newest (disabled)", "Newer (disabled)", "Older", "Oldest"]);
    const middle = page({ audit, auditPage: 1 });
    expect(buttons(one(middle.root, "nav.pager"))).toEqual(["Newest", "Newer", "Older", "Oldest"]);
    expect(text(all(middle.root, "table.audit tbody tr")[0]!.querySelector("td:last-child"))).toBe("entry 70");
    expect(buttons(one(page({ audit, auditPage: 2 }).root, "nav.pager"))).toEqual(["Newest", "Newer", "Older (disabled)", "Oldest (disabled)"]);
    const pages: number[] = [];
    middle.app.setAuditPage = (p) => void pages.push(p);
    for (const label of ["Newest", "Newer", "Older", "Oldest"]) button(middle.root, label).click();
    expect(pages).toEqual([0, 0, 2, 2]);
  });
});

const PREVIEW: PreviewResult = {
  engine: "render", lastPhase: 10, changeSummary: { create: 1, update: 2, replace: 3, delete: 4, same: 5 }, durationMs: 412, included: "all",
  phases: [
    { number: 0, name: "", changes: [{ urn: "urn:pulumi:acme::matih-tenant::pulumi:providers:kubernetes::k8s", type: "pulumi:providers:kubernetes", op: "same", changedPaths: [], replaceReasons: [], diffs: [] }] },
    { number: 3, name: "DEPLOY_CORE_SERVICES", changes: [
      { urn: "urn:pulumi:acme::matih-tenant::x$kubernetes:core/v1:Secret::db-credentials", type: "kubernetes:core/v1:Secret", op: "read", changedPaths: [], replaceReasons: [], diffs: [] },
      { urn: "urn:pulumi:acme::matih-tenant::x$kubernetes:core/v1:Secret::api-key", type: "kubernetes:core/v1:Secret", op: "replace", changedPaths: ["data"], replaceReasons: ["data", "type"], diffs: [{ path: "data.key", old: "[secret]", new: "[secret]" }] },
    ] },
    { number: 1, name: "CREATE_NAMESPACE", changes: [
      { urn: "urn:pulumi:acme::matih-tenant::x$kubernetes:core/v1:ResourceQuota::namespace-quota", type: "kubernetes:core/v1:ResourceQuota", op: "update", changedPaths: ["spec.hard.pods"], replaceReasons: [], diffs: [{ path: "spec.hard.pods", old: "50", new: "200" }] },
      { urn: "urn:pulumi:acme::matih-tenant::x$kubernetes:core/v1:Namespace::namespace", type: "kubernetes:core/v1:Namespace", op: "update", changedPaths: [], replaceReasons: [], diffs: [] },
    ] },
    { number: 2, name: "SETUP_DATABASE", changes: [{ urn: "urn:pulumi:acme::matih-tenant::x$postgresql:index:Role::role", type: "postgresql:index:Role", op: "same", changedPaths: [], replaceReasons: [], diffs: [] }] },
  ],
};

describe("a preview", () => {
  it("orders phases with changes first, by number, and in each the changes first", () => {
    const groups = previewGroups(PREVIEW);
    expect(groups.map((g) => [g.number, g.changed])).toEqual([[1, 2], [3, 1], [2, 0], [0, 0]]);
    expect(groups[1]!.changes.map((c) => c.op)).toEqual(["replace", "read"]);
  });

  it("shows the summary, each phase's count, each change with its diffs, and secrets as [secret]", () => {
    const { root } = page({ preview: PREVIEW });
    const section = one(root, "#preview");
    expect(text(one(section, "h2"))).toBe("Preview (nothing was changed)");
    expect(text(one(section, "p"))).toBe("1 to create, 2 to update, 3 to replace, 4 to delete, 5 unchanged · render engine, 412 ms");
    const groups = all<HTMLDetailsElement>(section, "details.preview-group");
    expect(groups.map((g) => text(one(g, "summary")))).toEqual([
      "Phase 1. Create namespace: 2 changes (2 resources)",
      "Phase 3. Deploy core services: 1 change (2 resources)",
      "Phase 2. Setup database: no changes (1 resources)",
      "Outside the phases: no changes (1 resources)",
    ]);
    expect(groups.map((g) => g.open)).toEqual([true, true, false, false]);
    expect(groups.map((g) => g.dataset.changed)).toEqual(["2", "1", "0", "0"]);
    const replaced = one(groups[1]!, "ul.changes > li");
    expect(text(replaced)).toBe("replace kubernetes:core/v1:Secret api-key (replaced because of data, type) data.key: [secret] → [secret]");
    expect(all(replaced, ".secret")).toHaveLength(2);
    expect(one(replaced, ".op").className).toBe("op op-replace");
    expect(text(one(groups[0]!, "ul.changes > li"))).toBe("update kubernetes:core/v1:ResourceQuota namespace-quota spec.hard.pods: 50 → 200");
  });
});

describe("a one-off drift check", () => {
  it("says every resource matches, and that the check was kept", () => {
    const { root } = page({ drift: { engine: "render", drifted: [], durationMs: 38, state: "IN_SYNC", recorded: true, checkId: TENANT_ID, notRecordedReason: null } });
    const section = one(root, "#drift");
    expect(section.dataset.recorded).toBe("true");
    expect(text(one(section, "h2"))).toBe("Drift check (just now, kept in the drift history)");
    expect(text(all(section, "p")[0])).toBe("IN SYNC Every resource matches its recorded state (render engine, 38 ms).");
    expect(text(all(section, "p").at(-1))).toBe("The drift history below keeps this check, as it keeps what fleet drift runs find.");
  });

  it("lists what differs, and why it was not kept", () => {
    const drifted = { urn: "urn:pulumi:acme::matih-tenant::x$kubernetes:core/v1:ResourceQuota::namespace-quota", type: "kubernetes:core/v1:ResourceQuota", phase: null, drift: "changed", properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: "50", actual: "99" }] };
    const { root } = page({ drift: { engine: "render", drifted: [drifted, { ...drifted, urn: "u::other" }], durationMs: 38, state: "DRIFTED", recorded: false, checkId: null, notRecordedReason: "a run started while it ran" } });
    const section = one(root, "#drift");
    expect(text(one(section, "h2"))).toBe("Drift check (just now, not kept)");
    expect(text(all(section, "p")[0])).toBe("DRIFTED 2 resources differ from the recorded state:");
    expect(all(section, ".drifted-resource")).toHaveLength(2);
    expect(text(all(section, "p").at(-1))).toBe("Not kept in the drift history: a run started while it ran.");
    const one_ = page({ drift: { engine: "render", drifted: [drifted], durationMs: 38, state: "DRIFTED", recorded: false, checkId: null, notRecordedReason: null } });
    expect(text(all(one(one_.root, "#drift"), "p")[0])).toBe("DRIFTED 1 resource differs from the recorded state:");
    expect(text(all(one(one_.root, "#drift"), "p").at(-1))).toBe("Not kept in the drift history: no reason given.");
  });
});

describe("the dialogs", () => {
  it("offer the phases done before the last to roll back to, and say what goes", () => {
    const { root, app } = failed({ dialog: "rollback", rollbackTarget: 2 });
    const dialog = one(root, "#rollback-dialog");
    expect(text(one(dialog, "h2"))).toBe("Roll acme back");
    expect(all<HTMLOptionElement>(dialog, "option").map((o) => [o.value, text(o), o.selected])).toEqual([["1", "1. Create namespace", false], ["2", "2. Setup database", true], ["3", "3. Deploy core services", false]]);
    expect(text(all(dialog, "p")[0])).toBe("Phases 3 to 10 will be removed, newest first. The tenant stays FAILED until it is retried.");
    expect(buttons(dialog)).toEqual(["Roll back to phase 2", "Cancel"]);
    let closed = 0;
    app.closeDialog = () => void closed++;
    button(dialog, "Cancel").click();
    expect(closed).toBe(1);
  });

  it("enable Delete only once the slug is typed", () => {
    const typed = (deleteConfirmation: string) => one(page({ dialog: "delete", deleteConfirmation }).root, "#delete-dialog");
    expect(text(one(typed(""), "h2"))).toBe("Delete acme");
    expect(text(one(typed(""), "label"))).toBe("Type acme to confirm");
    expect(buttons(typed(""))).toEqual(["Delete acme (disabled)", "Cancel"]);
    expect(buttons(typed("acm"))).toEqual(["Delete acme (disabled)", "Cancel"]);
    expect(buttons(typed("acme"))).toEqual(["Delete acme", "Cancel"]);
  });

  it("are not shown to a read-only token, nor when none is open", () => {
    expect(all(page({ dialog: "delete" }, "read").root, "dialog")).toHaveLength(0);
    expect(all(page().root, "dialog")).toHaveLength(0);
  });
});

describe("before the tenant is known", () => {
  it("says it is loading, that there is no such tenant, or what went wrong", () => {
    const app = signedIn();
    expect(text(mount(tenantView(app)))).toBe("Loading…");
    app.tenant = tenantState({ missing: true, slug: "ghost" });
    expect(text(one(mount(tenantView(app)), "h1"))).toBe("No tenant “ghost”");
    app.tenant = tenantState({ tenant: null, status: null, slug: "acme" });
    expect(text(mount(tenantView(app)))).toBe("← Fleet acme Loading…");
    app.tenant = tenantState({ tenant: null, status: null, slug: "acme", error: PLANTED });
    const root = mount(tenantView(app));
    expect(text(one(root, "[role=alert]"))).toBe(PLANTED);
    expect(planted(root)).toEqual(NOTHING_PLANTED);
  });

  it("shows a notice with its tone", () => {
    const { root } = page({ notice: { text: "Retry queued", tone: "good" } });
    const notice = one(root, ".notice-good");
    expect(text(notice)).toBe("Retry queued");
    expect(notice.getAttribute("role")).toBe("status");
    expect(one(page({ notice: { text: "Refused", tone: "bad" } }).root, ".notice-bad").getAttribute("role")).toBe("alert");
  });
});


describe("the dialogs' controls", () => {
  it("keep the rollback target chosen and confirm it on submit, without leaving the page", () => {
    const { app, root } = failed({ dialog: "rollback", rollbackTarget: 3 });
    let renders = 0;
    app.changed = () => void renders++;
    const calls: string[] = [];
    app.confirmRollback = async () => void calls.push("rollback");
    app.closeDialog = () => void calls.push("close");
    enter(one<HTMLSelectElement>(root, "#rollback-target"), "2");
    expect(app.tenant!.rollbackTarget).toBe(2);
    expect(renders).toBe(1);
    expect(fire(one(root, "#rollback-dialog form"), "submit").defaultPrevented).toBe(true);
    expect(fire(one(root, "#rollback-dialog"), "cancel").defaultPrevented).toBe(true);
    expect(calls).toEqual(["rollback", "close"]);
  });

  it("keep the typed confirmation and delete on submit, without leaving the page", () => {
    const { app, root } = page({ dialog: "delete" });
    let renders = 0;
    app.changed = () => void renders++;
    const calls: string[] = [];
    app.confirmDelete = async () => void calls.push("delete");
    app.closeDialog = () => void calls.push("close");
    enter(one<HTMLInputElement>(root, "#delete-confirmation"), "acm");
    expect(app.tenant!.deleteConfirmation).toBe("acm");
    expect(renders).toBe(1);
    expect(fire(one(root, "#delete-dialog form"), "submit").defaultPrevented).toBe(true);
    expect(fire(one(root, "#delete-dialog"), "cancel").defaultPrevented).toBe(true);
    button(root, "Cancel").click();
    expect(calls).toEqual(["delete", "close", "close"]);
  });
});

describe("edges of the page", () => {
  const SECONDS_AGO = (s: number) => new Date(Date.now() - s * 1000).toISOString();

  it("counts a running phase's and a running run's time up from their start", () => {
    const runningPhase = phase(2, "RUNNING", { startedAt: SECONDS_AGO(125) });
    const { root } = page({ status: provisioningStatus({ phases: [phase(1, "SUCCEEDED"), runningPhase], run: { id: RUN_ID, kind: "update", status: "RUNNING", attempt: 1, maxAttempts: 3, targetPhase: 10, startedAt: SECONDS_AGO(125), completedAt: null, durationMs: null } }) });
    expect(text(all(one(root, "li[data-phase='2']"), ".facts > div")[2])).toMatch(/^Duration 2 min \d+ s$/);
    expect(all(root, ".summary-facts > div").map((d) => text(d)).find((f) => f.startsWith("Last run took"))).toMatch(/^Last run took 2 min \d+ s$/);
  });

  it("takes a finished tenant's duration to its last change when the status has no end", () => {
    const { root } = page({ status: provisioningStatus({ run: null, startedAt: T0, completedAt: null }) });
    expect(all(root, ".summary-facts > div").map((d) => text(d))).toContain("Duration 4 min 12 s");
  });

  it("leaves a phase's summary empty without the platform's", () => {
    const app = signedIn();
    app.platform = null;
    app.tenant = tenantState();
    expect(text(one(mount(tenantView(app)), "li[data-phase='1'] p.muted"))).toBe("");
  });

  it("names an unknown sub-step by itself", () => {
    const steps = [{ step: "rewind" as "expand", status: "started" as const, message: "m", at: T0 }];
    const { root } = page({ status: provisioningStatus({ phases: [phase(1, "SUCCEEDED"), phase(2, "RUNNING", { steps })] }) });
    expect(text(one(root, "table.sub-steps tbody th"))).toBe("rewind");
  });

  it("lists URLs alone as outputs, and a change without diffs without a list", () => {
    const { root } = page({ tenant: tenant({ outputs: { urls: { bi: "https://bi.acme.matih.ai" } } }) });
    expect(all(root, "dl.outputs > div").map((d) => text(d))).toEqual(["BI URL https://bi.acme.matih.ai"]);
    const preview = one(page({ preview: PREVIEW }).root, "#preview");
    const namespace = all(preview, "ul.changes > li").find((li) => text(li).includes("Namespace namespace"))!;
    expect(all(namespace, "ul.diffs")).toHaveLength(0);
    expect(all(preview, "ul.changes > li").filter((li) => text(li).startsWith("update kubernetes:core/v1:Namespace")).map((li) => text(li))).toEqual(["update kubernetes:core/v1:Namespace namespace"]);
  });

  it("offers no phase 10 to roll back to", () => {
    const statuses = phases("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "SUCCEEDED");
    const { root } = page({ tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED", run: failedRun, phases: statuses }), dialog: "rollback", rollbackTarget: 3 });
    expect(all<HTMLOptionElement>(root, "#rollback-target option").map((o) => o.value)).toEqual(["1", "2", "3"]);
  });

  it("shows no failure for a FAILED tenant with neither an error nor a failed phase, and the service's error for a failed phase without one", () => {
    expect(all(page({ tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED", run: failedRun, phases: phases("SUCCEEDED", "PENDING"), error: null }) }).root, "#tenant-error")).toHaveLength(0);
    const quiet = phases("SUCCEEDED", "FAILED");
    const { root } = page({ tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED", run: failedRun, phases: quiet, error: "the run failed" }) });
    expect(text(one(root, "#tenant-error p"))).toBe("Phase 2 Setup database failed: the run failed");
  });

  it("lets a drifted tenant converge only while ACTIVE with no run in progress", () => {
    const converge = (over: Partial<TenantState>) => {
      const history = new TenantDriftHistory(api(), TENANT_ID, () => undefined);
      history.history = { tenantId: TENANT_ID, slug: "acme", state: "DRIFTED", since: T1, driftedSince: T1, items: [], total: 0, limit: 10, offset: 0 };
      const review = new ChangeReview(api(), TENANT_ID, () => undefined, async () => undefined);
      review.loaded = true;
      return button(one(page({ history, review, ...over }).root, "#drift-history"), "Request a converge").disabled;
    };
    expect(converge({})).toBe(false);
    expect(converge({ status: provisioningStatus({ run: { id: RUN_ID, kind: "update", status: "RUNNING", attempt: 1, maxAttempts: 3, targetPhase: 10, startedAt: T0, completedAt: null, durationMs: null } }) })).toBe(true);
    expect(converge({ tenant: tenant({ status: "FAILED" }), status: provisioningStatus({ status: "FAILED", run: failedRun }) })).toBe(true);
  });

  it("blocks a change request while a run is in progress, and shows a change's dialog", () => {
    const review = new ChangeReview(api(), TENANT_ID, () => undefined, async () => undefined);
    review.loaded = true;
    review.items = [change()];
    const running = page({ review, status: provisioningStatus({ run: { id: RUN_ID, kind: "update", status: "QUEUED", attempt: 1, maxAttempts: 3, targetPhase: 10, startedAt: T0, completedAt: null, durationMs: null } }) });
    expect(text(one(running.root, "form.change-form .hint"))).toBe("A run is in progress for this tenant; a change can be requested once it has finished.");
    expect(text(one(page({ review }).root, "form.change-form .hint"))).toMatch(/^With tier and phases kept/);
    review.dialog = { kind: "reject", changeId: CHANGE_ID, reason: "" };
    expect(text(one(page({ review }).root, "#reject-dialog h2"))).toBe("Reject this change");
  });
});

describe("more of the page", () => {
  it("gives each phase its own summary, and none where the platform lists no such phase", () => {
    const { root } = page();
    expect(text(one(root, "li[data-phase='3'] p.muted"))).toBe("summary of phase 3");
    const app = signedIn();
    app.platform = { ...app.platform!, phases: app.platform!.phases.slice(0, 5) };
    app.tenant = tenantState();
    expect(text(one(mount(tenantView(app)), "li[data-phase='7'] p.muted"))).toBe("");
  });

  it("shows no sub-steps for a phase an older service reported without them", () => {
    const bare = { ...phase(2, "SUCCEEDED"), steps: undefined as unknown as [] };
    expect(all(page({ status: provisioningStatus({ phases: [phase(1, "SUCCEEDED"), bare] }) }).root, "table.sub-steps")).toHaveLength(0);
  });

  it("lists outputs without URLs", () => {
    expect(all(page({ tenant: tenant({ outputs: { namespace: "matih-acme" } }) }).root, "dl.outputs > div").map((d) => text(d))).toEqual(["Namespace matih-acme"]);
  });

  it("puts phases with changes before those outside the phases", () => {
    const change = PREVIEW.phases[2]!.changes[0]!;
    const groups = previewGroups({ ...PREVIEW, phases: [{ number: 0, name: "", changes: [change] }, { number: 2, name: "SETUP_DATABASE", changes: [change] }] });
    expect(groups.map((g) => g.number)).toEqual([2, 0]);
    // Out of order, the resources outside the phases first: phases by number, those outside last.
    const three = previewGroups({ ...PREVIEW, phases: [0, 5, 2, 9].map((number) => ({ number, name: number ? "SETUP_DATABASE" : "", changes: [change] })) });
    expect(three.map((g) => g.number)).toEqual([2, 5, 9, 0]);
  });

  it("marks the rollback target chosen", () => {
    const { root } = failed({ dialog: "rollback", rollbackTarget: 2 });
    expect(all<HTMLOptionElement>(root, "#rollback-target option").map((o) => o.hasAttribute("selected"))).toEqual([false, true, false]);
  });

  it("waits for the status once the tenant is known", () => {
    expect(text(one(page({ status: null }).root, "[role=status]"))).toBe("Loading…");
  });

  it("titles the header bar's steps by phase", () => {
    expect(one(page().root, ".summary-facts .step").getAttribute("title")).toBe("1 Create namespace: done");
  });
});
