/** The goals table: one row per figure, a reference or a goal with its ratio and whether it is met. */
export interface Row {
  readonly figure: string;
  readonly goal: string;
  readonly measured: string;
  /** Measured against the goal's reference or limit; null for a reference row. */
  readonly ratio: number | null;
  /** The ratio's limit; null for a row that only informs. */
  readonly limit: number | null;
  /** The ratio must reach the limit rather than stay under it (throughput). */
  readonly atLeast?: boolean;
}

export const reference = (figure: string, measured: string): Row => ({ figure, goal: "reference", measured, ratio: null, limit: null });
export const info = (figure: string, measured: string, ratio: number | null = null): Row => ({ figure, goal: "-", measured, ratio, limit: null });
export const atMost = (figure: string, goal: string, measured: string, ratio: number, limit: number): Row => ({ figure, goal, measured, ratio, limit });
export const atLeast = (figure: string, goal: string, measured: string, ratio: number, limit: number): Row => ({ figure, goal, measured, ratio, limit, atLeast: true });

export const ms = (value: number) => `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`;
export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)]!;
}

export function result(row: Row): string {
  if (row.limit === null || row.ratio === null) return "-";
  if (!Number.isFinite(row.ratio)) return "falls short";
  return (row.atLeast ? row.ratio >= row.limit : row.ratio <= row.limit) ? "pass" : "falls short";
}

export function printTable(rows: readonly Row[]): void {
  const header = ["figure", "goal", "measured", "ratio", "result"];
  const body = rows.map((row) => [row.figure, row.goal, row.measured, row.ratio === null ? "-" : row.ratio.toFixed(2), result(row)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}
