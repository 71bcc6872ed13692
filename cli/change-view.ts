/**
 * A reviewed change in the terminal: what it asks for, what it would
 * destroy (named first), then every resource that would change, grouped by
 * phase, with its property diffs; a long multi-line value is shown as a line
 * diff. Secrets: the service already puts "[secret]" in their place; any
 * value still carrying Pulumi's secret marker is masked here too, so no
 * secret the API marks can reach the screen.
 */
import { diffLines } from "diff";
import { fields, shortTime, statusColor, type Colors } from "./output.ts";
import type { Change, ResourceChange } from "./types.ts";

export const MASK = "[secret]";
/** Pulumi's secret wire form (automation/core/redact.ts): `{[PULUMI_SIG_KEY]: PULUMI_SECRET_SIG, value}`. */
const PULUMI_SIG_KEY = "4dabf18193072939515e22adb298388d";
const PULUMI_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** Values longer than this, or with a line break, are diffed line by line rather than shown whole on one line. */
const LONG_VALUE = 60;
/** Lines of unchanged context kept around each changed stretch of a line diff. */
const CONTEXT = 2;

const DESTRUCTIVE_OPS = new Set(["delete", "replace", "create-replacement", "delete-replaced"]);
const OP_MARK: Record<string, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: "=" };

function isSecret(value: unknown): boolean {
  if (value === MASK) return true;
  if (Array.isArray(value)) return value.some(isSecret);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    return o[PULUMI_SIG_KEY] === PULUMI_SECRET_SIG || Object.values(o).some(isSecret);
  }
  return false;
}

/** A value as one line of JSON, or the mask. */
export function showValue(value: unknown, colors: Colors): string {
  if (value === undefined) return colors.dim("(none)");
  if (isSecret(value)) return colors.magenta(MASK);
  return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

/** The text of a value for a line diff: strings as they are, anything else as indented JSON. */
const asText = (value: unknown) => (value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value, null, 2));

const isLong = (value: unknown) => value !== undefined && !isSecret(value) && (asText(value).includes("\n") || asText(value).length > LONG_VALUE);

/** A unified line diff of two texts with CONTEXT lines around each change; `indent` before every line. */
export function lineDiff(before: string, after: string, colors: Colors, indent: string): string[] {
  const rows: Array<{ mark: " " | "-" | "+"; text: string }> = [];
  for (const part of diffLines(before, after)) {
    const lines = part.value.replace(/\n$/, "").split("\n");
    for (const text of lines) rows.push({ mark: part.added ? "+" : part.removed ? "-" : " ", text });
  }
  const keep = rows.map((r, i) => r.mark !== " " || rows.slice(Math.max(0, i - CONTEXT), i + CONTEXT + 1).some((n) => n.mark !== " "));
  const out: string[] = [];
  let skipped = 0;
  rows.forEach((r, i) => {
    if (!keep[i]) {
      skipped += 1;
      return;
    }
    if (skipped) out.push(`${indent}${colors.dim(`  ... ${skipped} unchanged line${skipped === 1 ? "" : "s"}`)}`);
    skipped = 0;
    const line = `${r.mark} ${r.text}`;
    out.push(`${indent}${r.mark === "+" ? colors.green(line) : r.mark === "-" ? colors.red(line) : colors.dim(line)}`);
  });
  if (skipped) out.push(`${indent}${colors.dim(`  ... ${skipped} unchanged line${skipped === 1 ? "" : "s"}`)}`);
  return out;
}

/** How a tier change moves the tenant's data (the preview's `tierChange`, when the service sends it). */
interface TierChange {
  steps: string[];
  move: { from: string; to: string } | null;
  data: { tables: number; rows: number; bytes: number } | null;
  note?: string;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

const isDestructive = (r: { op: string }) => DESTRUCTIVE_OPS.has(r.op);

function opColor(op: string, text: string, colors: Colors): string {
  if (op === "create") return colors.green(text);
  if (op === "update") return colors.yellow(text);
  if (isDestructive({ op })) return colors.red(text);
  return text;
}

/** The lines of one resource: op, type and name, then its property diffs. */
function resourceLines(r: ResourceChange, colors: Colors): string[] {
  const mark = OP_MARK[r.op] ?? "?";
  const head = opColor(r.op, `${mark.padEnd(2)} ${r.op.padEnd(7)} ${r.name}`, colors);
  const lines = [`  ${head}  ${colors.dim(r.type)}`];
  for (const d of r.diffs) {
    if (isLong(d.old) || isLong(d.new)) {
      lines.push(`      ${d.path}:`);
      lines.push(...lineDiff(asText(d.old), asText(d.new), colors, "        "));
    } else if (d.old === undefined) {
      lines.push(`      ${d.path}: ${colors.green(showValue(d.new, colors))}`);
    } else if (d.new === undefined) {
      lines.push(`      ${d.path}: ${colors.red(showValue(d.old, colors))} ${colors.dim("(removed)")}`);
    } else {
      lines.push(`      ${d.path}: ${showValue(d.old, colors)} ${colors.dim("->")} ${showValue(d.new, colors)}`);
    }
  }
  return lines;
}

/** A restore request: the backup it restores, what it replaces, and that the approval itself restores. */
function restoreLines(change: Change, colors: Colors): string {
  const { backup, backupId, replaces } = change.requested;
  return [
    backup ? `restores: backup ${backup.id} of ${backup.schemaName}, taken ${shortTime(backup.createdAt)} (${backup.reason}, ${bytes(backup.sizeBytes)})` : `restores: backup ${backupId ?? "(not named)"}`,
    ...(replaces ? [`replaces: ${replaces}`] : []),
    colors.dim("A restore request: nothing is previewed; approving it restores the backup then and there (no run)."),
  ].join("\n");
}

/** The whole change as text for `matih changes show`. */
export function renderChange(change: Change, colors: Colors): string {
  const out: string[] = [];
  const requested = change.requested;
  out.push(fields([
    ["change", change.id],
    ["kind", change.kind],
    ["status", statusColor(change.status, colors)],
    ["target", `tier ${change.target.tier}, phases 1-${change.target.lastPhase}`],
    ["requested", `${change.createdBy} at ${shortTime(change.createdAt)}${requested.reason ? `: ${requested.reason}` : ""}`],
    ["expires", shortTime(change.expiresAt)],
    ["decided", change.decidedBy ? `${change.decidedBy} at ${shortTime(change.decidedAt)}` : undefined],
    ["error", change.error ?? undefined],
    // Read loosely: fields the API added lately, shown when the service sends them.
    ["rejected because", (change as { rejectionReason?: string | null }).rejectionReason ?? undefined],
  ], colors).trimEnd());
  const preview = change.preview;
  if (!preview) {
    out.push("");
    out.push(change.kind === "update"
      ? colors.dim(change.status === "PREVIEWING" ? "The preview is still running; show it again in a moment." : "No preview.")
      : change.kind === "restore" ? restoreLines(change, colors)
      : colors.dim(`A ${change.kind} request: nothing is previewed; approving it queues the ${change.kind} run.`));
    return `${out.join("\n")}\n`;
  }
  const s = preview.changeSummary;
  out.push("");
  out.push(`${colors.green(`${s.create} to create`)}, ${colors.yellow(`${s.update} to update`)}, ${colors.red(`${s.replace} to replace`)}, ${colors.red(`${s.delete} to delete`)}, ${s.same} unchanged`);
  const tierChange = (preview as { tierChange?: TierChange }).tierChange;
  if (tierChange && (tierChange.move || tierChange.steps.length > 0 || tierChange.note)) {
    const data = tierChange.data ? `: ${tierChange.data.tables} tables, ${tierChange.data.rows} rows, ${bytes(tierChange.data.bytes)}` : "";
    out.push(`data: ${tierChange.move ? `moves from the ${tierChange.move.from} to a ${tierChange.move.to} database${data}` : "stays where it is"}${tierChange.steps.length ? ` (${tierChange.steps.join(", ")})` : ""}`);
    if (tierChange.note) out.push(colors.dim(tierChange.note));
  }
  // What would be lost comes first, before any detail: it is what a reviewer must not miss.
  if (preview.destructive || preview.destructiveResources.length > 0) {
    out.push("");
    out.push(colors.bold(colors.red(`DESTRUCTIVE: ${preview.destructiveResources.length} resource${preview.destructiveResources.length === 1 ? "" : "s"} holding data or credentials would be deleted or replaced`)));
    for (const d of preview.destructiveResources) {
      const named = preview.changes.find((c) => c.urn === d.urn);
      out.push(colors.red(`  ${d.op.padEnd(7)} ${named?.name ?? d.urn.split("::").at(-1)}  ${colors.dim(d.type)}`));
    }
    out.push(colors.dim("  approving needs --allow-destructive"));
  }
  const byPhase = new Map<number, { name: string; items: ResourceChange[] }>();
  for (const r of preview.changes) {
    const key = r.phase?.number ?? 0;
    if (!byPhase.has(key)) byPhase.set(key, { name: r.phase?.name ?? "(outside the phases)", items: [] });
    byPhase.get(key)!.items.push(r);
  }
  const destructiveUrns = new Set(preview.destructiveResources.map((d) => d.urn));
  for (const [number, { name, items }] of [...byPhase.entries()].sort((a, b) => a[0] - b[0])) {
    out.push("");
    out.push(colors.bold(number === 0 ? name : `Phase ${number} ${name}`));
    // Within a phase too, destructive resources lead.
    const ordered = [...items].sort((a, b) => Number(destructiveUrns.has(b.urn) || isDestructive(b)) - Number(destructiveUrns.has(a.urn) || isDestructive(a)));
    for (const r of ordered) out.push(...resourceLines(r, colors));
  }
  if (change.previewedAt) out.push("", colors.dim(`previewed ${shortTime(change.previewedAt)}`));
  return `${out.join("\n")}\n`;
}

