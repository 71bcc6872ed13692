/// <reference lib="dom" />
/**
 * For the fast view tests (issue 27): the dashboard's views rendered with
 * lit-html's own `render()` into happy-dom's document, no browser and no
 * service. The inputs are the API's shapes (admin-ui/types.ts) written out
 * as literals, after the OpenAPI examples (server/routes/examples.ts); the
 * App is the real one, its state set by hand instead of loaded, and the
 * helper classes (change review, drift history, fleet change and rollout
 * pages) are built on an Api that is never called.
 */
import { render, type TemplateResult } from "lit-html";
import { Api } from "../../../admin-ui/api.ts";
import { App, type TenantState } from "../../../admin-ui/app.ts";
import type { Change, Phase, PhaseStatus, ProvisioningStatus, Scope, Tenant } from "../../../admin-ui/types.ts";

export const TENANT_ID = "6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60";
export const RUN_ID = "0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f";
export const CHANGE_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
export const T0 = "2026-12-07T09:00:00.000Z";
export const T1 = "2026-12-07T09:04:12.000Z";
export const T2 = "2026-12-07T10:15:00.000Z";

/** Markup a user could type as a display name, a reason or an error: it must come out as text. */
export const PLANTED = `<img src=x onerror="window.__planted=1"><b>Bold</b> & Sons`;

export const PHASE_NAMES = [
  "CREATE_NAMESPACE", "SETUP_DATABASE", "DEPLOY_CORE_SERVICES", "CONFIGURE_NETWORKING", "DEPLOY_DATA_SERVICES",
  "DEPLOY_INGRESS_CONTROLLER", "CREATE_DNS_ZONE", "CREATE_TENANT_INGRESS", "DEPLOY_MONITORING", "SETUP_OBSERVABILITY",
] as const;

/** Renders a template into a fresh element of the document and returns it. */
export function mount(template: unknown): HTMLElement {
  const root = document.createElement("div");
  document.body.replaceChildren(root);
  render(template as TemplateResult, root);
  return root;
}

/** Elements that start a line (or a cell) of their own: their text is set apart by a space. */
const BLOCKS = new Set(["ADDRESS", "ARTICLE", "BR", "CAPTION", "DD", "DETAILS", "DIALOG", "DIV", "DL", "DT", "FIELDSET", "FORM", "H1", "H2", "H3", "H4", "HEADER", "LABEL", "LEGEND", "LI", "MAIN", "NAV", "OL", "OPTION", "P", "PRE", "SECTION", "SELECT", "SUMMARY", "TABLE", "TBODY", "TD", "TH", "THEAD", "TR", "UL"]);

function collect(node: Node, out: string[]): void {
  if (node.nodeType === 3) out.push(node.textContent ?? "");
  else if (node.nodeType === 1 || node.nodeType === 11) {
    const block = node.nodeType === 1 && BLOCKS.has((node as Element).tagName);
    if (block) out.push(" ");
    for (const child of node.childNodes) collect(child, out);
    if (block) out.push(" ");
  }
}

/** An element's text as a reader sees it: blocks apart, whitespace runs as one space, trimmed. */
export function text(node: Node | null | undefined): string {
  if (!node) return "";
  const out: string[] = [];
  for (const child of node.childNodes) collect(child, out);
  return out.join("").replace(/\s+/g, " ").trim();
}

export function one<E extends Element = HTMLElement>(root: ParentNode, selector: string): E {
  const found = root.querySelector<E>(selector);
  if (!found) throw new Error(`nothing matches ${selector}`);
  return found;
}

export const all = <E extends Element = HTMLElement>(root: ParentNode, selector: string): E[] => [...root.querySelectorAll<E>(selector)];

/** The button whose text is exactly `label`. */
export function button(root: ParentNode, label: string): HTMLButtonElement {
  const found = all<HTMLButtonElement>(root, "button").filter((b) => text(b) === label);
  if (found.length !== 1) throw new Error(`${found.length} buttons read ${JSON.stringify(label)}; there are: ${all(root, "button").map((b) => text(b)).join(" | ")}`);
  return found[0]!;
}

/** Every button's label with whether it is disabled, in document order. */
export const buttons = (root: ParentNode) => all<HTMLButtonElement>(root, "button").map((b) => `${text(b)}${b.disabled ? " (disabled)" : ""}`);

/** What planted markup would have made: elements of its tags and any on* attribute. */
export function planted(root: ParentNode) {
  return {
    img: all(root, "img").length,
    b: all(root, "b").length,
    handlers: all(root, "*").flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName}.${a.name}`)),
  };
}
export const NOTHING_PLANTED = { img: 0, b: 0, handlers: [] };

export const api = () => new Api("test-token");

/** The real App, signed in with the given scope, with no stream, timer or request started. */
export function signedIn(scope: Scope = "admin", principal = "alice"): App {
  const app = new App(() => undefined);
  app.session = { principal, scope };
  app.platform = {
    baseDomain: "matih.ai",
    tiers: ["free", "professional", "enterprise"],
    regions: ["eastus", "westeurope"],
    phases: PHASE_NAMES.map((name, i) => ({ number: i + 1, name, summary: `summary of phase ${i + 1}` })),
  };
  return app;
}

export function tenant(over: Partial<Tenant> = {}): Tenant {
  return {
    id: TENANT_ID, slug: "acme", displayName: "Acme Corp", tier: "professional", region: "eastus", adminEmail: "admin@acme.example",
    requestedBy: "control-plane", requestedAt: T0, status: "ACTIVE", provisioningStartedAt: T0, provisioningCompletedAt: T1, provisioningError: null,
    outputs: { namespace: "matih-acme", databaseSchema: "tenant_acme", urls: { api: "https://acme.matih.ai/api" } },
    profile: { quota: null, databaseStrategy: "schema", connectionPool: true, dedicatedServer: false, replicas: { coreServices: 2, dataServices: 1, prometheus: 1, collector: 1 } },
    createdAt: T0, updatedAt: T1, ...over,
  };
}

export function phase(number: number, status: PhaseStatus, over: Partial<Phase> = {}): Phase {
  return {
    number, name: PHASE_NAMES[number - 1]!, status, attempts: status === "PENDING" ? 0 : 1,
    startedAt: status === "PENDING" ? null : T0, completedAt: status === "SUCCEEDED" ? T1 : null,
    durationMs: status === "SUCCEEDED" ? 15_000 : null, error: null, resources: { done: 4, pending: 0 }, steps: [], ...over,
  };
}

/** The ten phases with these statuses, phase 1 first. */
export const phases = (...statuses: PhaseStatus[]): Phase[] => statuses.map((s, i) => phase(i + 1, s));

export const ALL_DONE: PhaseStatus[] = Array.from({ length: 10 }, () => "SUCCEEDED");

export function provisioningStatus(over: Partial<ProvisioningStatus> = {}): ProvisioningStatus {
  return {
    tenantId: TENANT_ID, slug: "acme", status: "ACTIVE",
    run: { id: RUN_ID, kind: "provision", status: "SUCCEEDED", attempt: 1, maxAttempts: 3, targetPhase: 10, startedAt: T0, completedAt: T1, durationMs: 252_000 },
    currentPhase: { number: 10, name: "SETUP_OBSERVABILITY" }, progress: 100, phases: phases(...ALL_DONE),
    startedAt: T0, completedAt: T1, durationMs: 252_000, error: null, waiting: null, ...over,
  };
}

export function tenantState(over: Partial<TenantState> = {}): TenantState {
  return {
    slug: "acme", tenant: tenant(), status: provisioningStatus(), audit: [], auditPage: 0, feed: [], missing: false, error: null, busy: null, notice: null,
    preview: null, drift: null, review: null, history: null, dialog: null, rollbackTarget: 1, deleteConfirmation: "", watching: false, ...over,
  };
}

export function change(over: Partial<Change> = {}): Change {
  return {
    id: CHANGE_ID, tenantId: TENANT_ID, kind: "update", status: "PENDING_REVIEW",
    requested: { tier: "enterprise", reason: "more users" }, target: { tier: "enterprise", lastPhase: 10 },
    createdBy: "bob", createdAt: T2, expiresAt: "2026-12-08T10:15:00.000Z", previewedAt: T2,
    preview: {
      changeSummary: { create: 1, update: 1, replace: 0, delete: 0, same: 60 }, destructive: false, destructiveResources: [],
      changes: [
        { urn: "urn:pulumi:acme::matih-tenant::matih:tenant:Phase$Namespace::namespace-quota", type: "kubernetes:core/v1:ResourceQuota", name: "namespace-quota", phase: { number: 1, name: "CREATE_NAMESPACE" }, op: "update", diffs: [{ path: "spec.hard.pods", old: "50", new: "200" }] },
        { urn: "urn:pulumi:acme::matih-tenant::matih:tenant:Phase$Database::database-server", type: "azure-native:dbforpostgresql:Server", name: "database-server", phase: { number: 2, name: "SETUP_DATABASE" }, op: "create", diffs: [{ path: "sku.name", new: "Standard_D4ds_v5" }] },
      ],
    },
    error: null, rejectionReason: null, decidedBy: null, decidedAt: null, allowDestructive: false, appliedAt: null, runId: null, ...over,
  };
}

/** Dispatches a cancelable event of this type on the element and returns it, to see whether a handler prevented its default. */
export function fire(target: Element, type: string): Event {
  const event = new Event(type, { cancelable: true, bubbles: true });
  target.dispatchEvent(event);
  return event;
}

/** Sets a field's value as typing or choosing would, and fires the event the view listens for. */
export function enter(field: HTMLInputElement | HTMLSelectElement, value: string, type = field.tagName === "SELECT" ? "change" : "input"): Event {
  field.value = value;
  return fire(field, type);
}
