/**
 * Scores from a Stryker JSON report (mutation-testing-report-schema): per file
 * and for the whole report, counted as Stryker counts its mutation score.
 *
 *   score = (Killed + Timeout) / (Killed + Timeout + Survived + NoCoverage)
 *
 * CompileError (the TypeScript checker rejected the mutant), RuntimeError,
 * Ignored and Pending are not valid mutants and count in neither.
 */
export type MutantStatus = "Killed" | "Survived" | "NoCoverage" | "Timeout" | "CompileError" | "RuntimeError" | "Ignored" | "Pending";

export interface ReportMutant {
  readonly id: string;
  readonly mutatorName: string;
  readonly replacement?: string;
  readonly status: MutantStatus;
  readonly location: { readonly start: { readonly line: number; readonly column: number }; readonly end: { readonly line: number; readonly column: number } };
}

export interface MutationReport {
  readonly schemaVersion: string;
  readonly files: Readonly<Record<string, { readonly source: string; readonly mutants: readonly ReportMutant[] }>>;
  readonly testFiles?: Readonly<Record<string, { readonly source?: string }>>;
}

export interface Tally {
  readonly killed: number;
  readonly timeout: number;
  readonly survived: number;
  readonly noCoverage: number;
  readonly compileErrors: number;
  readonly ignored: number;
  /** Killed + Timeout + Survived + NoCoverage. */
  readonly valid: number;
  /** In %, or null when there is no valid mutant. */
  readonly score: number | null;
}

export function tally(mutants: readonly ReportMutant[]): Tally {
  const count = (...statuses: MutantStatus[]) => mutants.filter((m) => statuses.includes(m.status)).length;
  const killed = count("Killed");
  const timeout = count("Timeout");
  const survived = count("Survived");
  const noCoverage = count("NoCoverage");
  const valid = killed + timeout + survived + noCoverage;
  return {
    killed,
    timeout,
    survived,
    noCoverage,
    compileErrors: count("CompileError"),
    ignored: count("Ignored", "RuntimeError", "Pending"),
    valid,
    score: valid === 0 ? null : ((killed + timeout) / valid) * 100,
  };
}

/** One tally per mutated file, and the report's total. */
export function scores(report: MutationReport): { files: Map<string, Tally>; total: Tally } {
  const files = new Map(Object.entries(report.files).map(([file, { mutants }]) => [file, tally(mutants)] as const));
  return { files, total: tally(Object.values(report.files).flatMap((f) => f.mutants)) };
}

/** The mutants that survived or were not covered, with the code they replaced. */
export function survivors(report: MutationReport): { file: string; line: number; mutator: string; original: string; replacement: string; status: MutantStatus }[] {
  return Object.entries(report.files).flatMap(([file, { source, mutants }]) => {
    const lines = source.split("\n");
    return mutants
      .filter((m) => m.status === "Survived" || m.status === "NoCoverage")
      .map((m) => {
        const { start, end } = m.location;
        const original =
          start.line === end.line
            ? (lines[start.line - 1] ?? "").slice(start.column - 1, end.column - 1)
            : `${(lines[start.line - 1] ?? "").slice(start.column - 1)}…`;
        return { file, line: start.line, mutator: m.mutatorName, original: original.trim(), replacement: m.replacement ?? "", status: m.status };
      })
      .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  });
}

export const formatScore = (score: number | null) => (score === null ? "n/a" : `${score.toFixed(2)} %`);

export function formatTally(label: string, t: Tally): string {
  return `${label.padEnd(40)} ${formatScore(t.score).padStart(9)}  killed ${t.killed}, timeout ${t.timeout}, survived ${t.survived}, no coverage ${t.noCoverage}, type errors ${t.compileErrors}`;
}
