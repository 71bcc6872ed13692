/**
 * Output: `--output table|json|yaml`, colours only where the terminal takes
 * them, and tables that fit 80 columns.
 */
import Table from "cli-table3";
import pc from "picocolors";
import { stringify as toYaml } from "yaml";
import { stripVTControlCharacters } from "node:util";

export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The width every table keeps within, whatever the terminal: output pasted into a ticket or a log stays readable. */
export const TABLE_WIDTH = 80;

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colours on a terminal that is not "dumb", never with NO_COLOR or --no-color,
 * always with FORCE_COLOR. (picocolors' own guess also turns them on whenever
 * CI is set, which would put escapes into CI logs and piped output.)
 */
export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env, flag = true): Colors {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0";
  const enabled = flag && !("NO_COLOR" in env && env.NO_COLOR !== "") && (forced || (stream.isTTY === true && env.TERM !== "dumb"));
  return pc.createColors(enabled);
}

export function formatData(data: unknown, format: "json" | "yaml"): string {
  return format === "json" ? `${JSON.stringify(data, null, 2)}\n` : toYaml(data, { lineWidth: 0 });
}

/** Columns a text takes on screen, colour escapes aside (the API's texts are ASCII). */
export const visibleWidth = (text: string) => stripVTControlCharacters(text).length;

/**
 * A borderless table (kubectl's look): the header, then one row per item,
 * two spaces between columns. When the natural widths pass `width`, the
 * widest columns are narrowed and their cells wrap.
 */
export function table(head: string[], rows: string[][], colors: Colors, width = TABLE_WIDTH): string {
  if (rows.length === 0) return "";
  const gap = 2;
  const natural = head.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => Math.max(...String(r[i] ?? "").split("\n").map(visibleWidth)))) + gap);
  const widths = [...natural];
  // The last column needs no gap after it.
  const total = () => widths.reduce((a, b) => a + b, 0) - gap;
  while (total() > width) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest]! <= 8 + gap) break;
    widths[widest]! -= 1;
  }
  const narrowed = widths.some((w, i) => w < natural[i]!);
  const t = new Table({
    head: head.map((h) => colors.bold(h)),
    // Widths include the gap as right padding, so that wrapped cells keep it too; the last column's is trimmed below.
    colWidths: widths,
    wordWrap: narrowed,
    wrapOnWordBoundary: true,
    chars: { top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "", left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "" },
    style: { head: [], border: [], "padding-left": 0, "padding-right": gap },
  });
  for (const row of rows) t.push(row.map((c) => c ?? ""));
  // cli-table3 pads the last column too; trailing blanks only make copies messy.
  return `${t.toString().split("\n").map((l) => l.trimEnd()).join("\n")}\n`;
}

/** `key  value` lines, keys aligned, for one object. */
export function fields(pairs: Array<[string, string | number | boolean | null | undefined]>, colors: Colors): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const keyWidth = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${colors.dim(`${k}:`.padEnd(keyWidth + 1))}  ${v === null ? "-" : String(v)}`).join("\n") + "\n";
}

/** Seconds with one decimal under a minute, then m:ss. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** An ISO time as "YYYY-MM-DD HH:MM" UTC, short enough for a table. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  return iso.replace("T", " ").slice(0, 16);
}

/** An ISO time as "MM-DD HH:MM" UTC, for tables of recent things. */
export function shorterTime(iso: string | null | undefined): string {
  return iso ? shortTime(iso).slice(5) : "-";
}

/** The colour of a tenant, run, phase, change or drift status. */
export function statusColor(status: string | null | undefined, colors: Colors): string {
  const s = status ?? "-";
  if (/^(ACTIVE|SUCCEEDED|APPLIED|IN_SYNC)$/.test(s)) return colors.green(s);
  if (/FAILED|DRIFTED|REJECTED|EXPIRED|STALE/.test(s)) return colors.red(s);
  if (/^(PENDING|DELETED|ROLLED_BACK|-)$/.test(s)) return colors.dim(s);
  return colors.yellow(s);
}
