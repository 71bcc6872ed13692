/**
 * The notification mails, built from the outbox row's template name and
 * payload (written by the run executor at completion and at final failure).
 * Plain text: nothing to escape, readable in any client.
 */
import type { OutboxRow } from "../db/outbox.ts";

export interface RenderedMail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

export class MailTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MailTemplateError";
  }
}

const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v : null);

function seconds(ms: unknown): string | null {
  return typeof ms === "number" && Number.isFinite(ms) ? `${Math.round(ms / 1000)} s` : null;
}

const ENDPOINT_LABELS: Record<string, string> = { app: "Application", api: "API", bi: "BI / dashboards" };

function completed(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const endpoints = (p.endpoints && typeof p.endpoints === "object" ? p.endpoints : {}) as Record<string, unknown>;
  const urls = Object.entries(endpoints).filter(([, url]) => typeof url === "string" && url !== "") as [string, string][];
  const order = ["app", "api", "bi"];
  urls.sort(([a], [b]) => (order.indexOf(a) === -1 ? 99 : order.indexOf(a)) - (order.indexOf(b) === -1 ? 99 : order.indexOf(b)));
  const took = seconds(p.durationMs);
  const lines = [
    `Hello,`,
    ``,
    `your matih tenant "${name}" is ready.`,
    ``,
    ...(urls.length > 0
      ? [`You can reach it here:`, ...urls.flatMap(([key, url]) => [``, `  ${ENDPOINT_LABELS[key] ?? key}:`, `    ${url}`])]
      : [`Its addresses are being published; they appear in the tenant's details shortly.`]),
    ``,
    `Tenant:   ${str(p.slug) ?? "?"} (${str(p.tenantId) ?? "?"})`,
    `Tier:     ${str(p.tier) ?? "?"}`,
    `Region:   ${str(p.region) ?? "?"}`,
    ...(took ? [`Provisioned in ${took}.`] : []),
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Your matih tenant is ready: ${name}`, text: `${lines.join("\n")}\n` };
}

function failed(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const tenantId = str(p.tenantId) ?? "?";
  const attempts = typeof p.attempts === "number" ? p.attempts : null;
  const lines = [
    `Hello,`,
    ``,
    `setting up your matih tenant "${name}" failed${attempts ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}.`,
    ``,
    `What went wrong:`,
    `  ${str(p.error) ?? "no reason was recorded"}`,
    ``,
    `Tenant:   ${str(p.slug) ?? "?"} (${tenantId})`,
    `Tier:     ${str(p.tier) ?? "?"}`,
    `Region:   ${str(p.region) ?? "?"}`,
    ``,
    `What to do: once the cause above is fixed (or if it looks`,
    `temporary), an administrator retries the provisioning with`,
    ``,
    `  POST /api/v1/tenants/${tenantId}/provisioning/retry`,
    ``,
    `and follows it at GET /api/v1/tenants/${tenantId}/provisioning/status.`,
    `If it keeps failing, contact matih support and quote the tenant id.`,
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Setting up your matih tenant failed: ${name}`, text: `${lines.join("\n")}\n` };
}

/** One line per drifted resource: what drifted and at which properties. */
function driftLines(resources: unknown): string[] {
  if (!Array.isArray(resources)) return [];
  return resources.flatMap((r) => {
    const res = (r ?? {}) as Record<string, unknown>;
    const properties = Array.isArray(res.properties) ? res.properties.filter((p) => typeof p === "string") : [];
    const what = res.drift === "gone" ? "deleted outside the service" : res.drift === "untracked" ? "not in the recorded state" : `changed: ${properties.join(", ") || "(properties unknown)"}`;
    return [`  - ${str(res.type) ?? "?"} ${str(res.urn)?.split("::").at(-1) ?? "?"}`, `      ${what}`];
  });
}

function driftDetected(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const tenantId = str(p.tenantId) ?? "?";
  const lines = [
    `Tenant "${name}" no longer matches its recorded stack.`,
    ``,
    `Drift found at ${str(p.detectedAt) ?? "?"}:`,
    ...driftLines(p.resources),
    ``,
    `Tenant:   ${str(p.slug) ?? "?"} (${tenantId})`,
    `Tier:     ${str(p.tier) ?? "?"}`,
    `Region:   ${str(p.region) ?? "?"}`,
    ``,
    `Recorded and actual values: GET /api/v1/tenants/${tenantId}/drift`,
    `This mail is sent once; the next one says when the drift is gone.`,
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Drift detected: ${name}`, text: `${lines.join("\n")}\n` };
}

function driftResolved(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const lines = [
    `Tenant "${name}" matches its recorded stack again.`,
    ``,
    `Drifted since: ${str(p.driftedSince) ?? "?"}`,
    `In sync at:    ${str(p.resolvedAt) ?? "?"}`,
    `Tenant:        ${str(p.slug) ?? "?"} (${str(p.tenantId) ?? "?"})`,
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Drift resolved: ${name}`, text: `${lines.join("\n")}\n` };
}

const OP_WORDS: Record<string, string> = { create: "added", update: "changed", replace: "replaced", delete: "removed" };

/** A tier's namespace quota as the customer reads it; null: no quota. */
function quotaLine(quota: unknown): string {
  if (quota === null) return "no limit";
  const q = (quota && typeof quota === "object" ? quota : {}) as Record<string, unknown>;
  if (q.cpuLimit === undefined && q.memoryLimit === undefined && q.pods === undefined) return "?";
  return `up to ${String(q.cpuLimit ?? "?")} CPU, ${String(q.memoryLimit ?? "?")} memory, ${String(q.pods ?? "?")} pods`;
}

/** The tenant's addresses, app first, as in the ready mail. */
function endpointLines(endpoints: unknown): string[] {
  const urls = Object.entries((endpoints && typeof endpoints === "object" ? endpoints : {}) as Record<string, unknown>)
    .filter(([, url]) => typeof url === "string" && url !== "") as [string, string][];
  const order = ["app", "api", "bi"];
  urls.sort(([a], [b]) => (order.indexOf(a) === -1 ? 99 : order.indexOf(a)) - (order.indexOf(b) === -1 ? 99 : order.indexOf(b)));
  return urls.flatMap(([key, url]) => [`  ${ENDPOINT_LABELS[key] ?? key}:`, `    ${url}`]);
}

/**
 * A reviewed change was applied, told to the tenant's admin in what they see:
 * the tier, the quota it gives, where the tenant is reached. The resources
 * behind it (names and types of the platform's own objects) are operator
 * detail: they go to the operators' mail (`updateForOperators`).
 */
function updated(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const from = str(p.fromTier);
  const to = str(p.tier);
  const tierChanged = from !== null && to !== null && from !== to;
  const endpoints = endpointLines(p.endpoints);
  const lines = [
    `Hello,`,
    ``,
    `a reviewed change to your matih tenant "${name}" has been applied.`,
    ``,
    tierChanged ? `Tier:     ${from} -> ${to}` : `Tier:     ${to ?? "?"} (unchanged)`,
    ...("quota" in p
      ? [tierChanged && "fromQuota" in p ? `Quota:    ${quotaLine(p.quota)} (was ${quotaLine(p.fromQuota)})` : `Quota:    ${quotaLine(p.quota)}`]
      : []),
    ...(str(p.reason) ? [`Reason:   ${str(p.reason)}`] : []),
    `Requested by ${str(p.requestedBy) ?? "?"}, approved by ${str(p.approvedBy) ?? "?"}.`,
    ``,
    ...(endpoints.length > 0 ? [`You can reach your tenant here:`, ...endpoints] : [`Your tenant's addresses are unchanged.`]),
    ``,
    `Tenant:   ${str(p.slug) ?? "?"}`,
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Your matih tenant was updated: ${name}`, text: `${lines.join("\n")}\n` };
}

/** The operators' side of an applied change: what changed, resource by resource. */
function updateForOperators(p: Record<string, unknown>, name: string): Omit<RenderedMail, "to"> {
  const from = str(p.fromTier);
  const to = str(p.tier);
  const changes = Array.isArray(p.changes) ? (p.changes as Record<string, unknown>[]) : [];
  const summary = (p.changeSummary ?? {}) as Record<string, unknown>;
  const count = (k: string) => (typeof summary[k] === "number" ? (summary[k] as number) : 0);
  const lines = [
    `Change ${str(p.changeId) ?? "?"} to tenant "${name}" was applied.`,
    ``,
    from && to && from !== to ? `Tier:     ${from} -> ${to}` : `Tier:     ${to ?? "?"} (unchanged)`,
    ...(str(p.reason) ? [`Reason:   ${str(p.reason)}`] : []),
    `Requested by ${str(p.requestedBy) ?? "?"}, approved by ${str(p.approvedBy) ?? "?"}.`,
    ``,
    `Resources: ${count("create")} added, ${count("update")} changed, ${count("replace")} replaced, ${count("delete")} removed.`,
    ...(changes.length > 0
      ? [``, `What changed:`, ...changes.map((c) => {
        const paths = Array.isArray(c.paths) && c.paths.length > 0 ? ` (${(c.paths as string[]).join(", ")})` : "";
        return `  - ${OP_WORDS[String(c.op)] ?? String(c.op)}: ${String(c.name)} [${String(c.type)}]${paths}`;
      })]
      : [``, `No resource needed a change.`]),
    ``,
    `Tenant:   ${str(p.slug) ?? "?"} (${str(p.tenantId) ?? "?"})`,
    `Change:   GET /api/v1/tenants/${str(p.tenantId) ?? "?"}/changes/${str(p.changeId) ?? "?"}`,
    ``,
    `-- matih tenant provisioning`,
  ];
  return { subject: `Change applied: ${name}`, text: `${lines.join("\n")}\n` };
}

const TEMPLATES: Record<string, (payload: Record<string, unknown>, name: string) => Omit<RenderedMail, "to">> = {
  "provisioning-completed": completed,
  "provisioning-failed": failed,
  "drift-detected": driftDetected,
  "drift-resolved": driftResolved,
  "update-completed": updated,
  "update-applied-operators": updateForOperators,
};

/** Builds the mail of an outbox row; throws MailTemplateError for an unknown template or a missing recipient. */
export function renderMail(row: Pick<OutboxRow, "type" | "payload">): RenderedMail {
  const template = TEMPLATES[row.type];
  if (!template) throw new MailTemplateError(`no mail template "${row.type}"`);
  const to = str(row.payload.to);
  if (!to || !/^[^\s@<>]+@[^\s@<>]+$/.test(to)) throw new MailTemplateError(`the ${row.type} mail has no valid recipient`);
  const name = str(row.payload.displayName) ?? str(row.payload.slug) ?? "your tenant";
  return { to, ...template(row.payload, name) };
}
