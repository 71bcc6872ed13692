/**
 * `npm run mutation`: StrykerJS over the mutation groups of
 * scripts/mutation/groups.ts, one group at a time, each with only its own test
 * files, then the score per file and per group from Stryker's JSON report, and
 * a failure for each group below its threshold.
 *
 *   npm run mutation                        every group (long: measure, then commit the incremental files)
 *   npm run mutation -- tiers-phases auth   these groups
 *   npm run mutation -- --changed           CI: the groups that have a baseline (their incremental file);
 *                                           an unchanged group is judged from its baseline at once, a group
 *                                           whose mutated or test files differ from it runs incrementally
 *   npm run mutation -- --report            print the scores of the last reports, run nothing
 *
 * Options: --incremental (reuse the group's results in reports/stryker-incremental/<group>.json
 * for unchanged code and tests, and update that file), --concurrency N (default 1),
 * --survivors (list the surviving mutants), --force (with --incremental: run every
 * mutant again and rewrite the baseline), --time-limit S (stop a group's run
 * after S seconds and fail: refresh that group's baseline locally instead;
 * default 300 with --changed, none otherwise).
 */
import { spawnSync } from "node:child_process";
import { existsSync, globSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fileOfPattern, GROUPS, groupNamed, reportPaths, type MutationGroup } from "./groups.ts";
import { formatScore, formatTally, scores, survivors, type MutationReport } from "./score.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const STRYKER = path.join(ROOT, "node_modules/@stryker-mutator/core/bin/stryker.js");

// A `mutate` entry narrowed to line ranges counts as its whole file: a change anywhere in it runs the group again.
const expand = (patterns: readonly string[]) => [...new Set(patterns.flatMap((p) => globSync(fileOfPattern(p), { cwd: ROOT })))].sort();

function readReport(file: string): MutationReport | null {
  const full = path.join(ROOT, file);
  return existsSync(full) ? (JSON.parse(readFileSync(full, "utf8")) as MutationReport) : null;
}

/**
 * Why the group must run again against its incremental baseline, or null when
 * its mutated files and test files are byte for byte those the baseline
 * measured. (Stryker's incremental mode diffs the same two sets; a change in a
 * module the tests import but the group does not mutate is not seen.)
 */
export function changeAgainstBaseline(group: MutationGroup, baseline: MutationReport): string | null {
  const source = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
  const mutated = expand(group.mutate);
  const tests = expand(group.testFiles);
  const known = Object.keys(baseline.files).sort();
  const knownTests = Object.keys(baseline.testFiles ?? {}).sort();
  if (mutated.join("\n") !== known.join("\n")) return "its set of mutated files changed";
  if (tests.join("\n") !== knownTests.join("\n")) return "its set of test files changed";
  const changed = [
    ...mutated.filter((f) => baseline.files[f]!.source !== source(f)),
    ...tests.filter((f) => baseline.testFiles![f]!.source !== undefined && baseline.testFiles![f]!.source !== source(f)),
  ];
  return changed.length > 0 ? `changed: ${changed.join(", ")}` : null;
}

function runStryker(group: MutationGroup, options: { incremental: boolean; force: boolean; concurrency: number; timeLimitS: number | null }): boolean {
  const args = [STRYKER, "run", "stryker.config.mjs", "--concurrency", String(options.concurrency)];
  if (options.incremental) args.push("--incremental");
  if (options.force) args.push("--force");
  const started = Date.now();
  console.log(`\n== mutation: ${group.name} (${group.summary}): ${expand(group.mutate).join(", ")}`);
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, MUTATION_GROUP: group.name },
    // SIGINT lets Stryker stop its test runners and remove its sandbox.
    ...(options.timeLimitS === null ? {} : { timeout: options.timeLimitS * 1000, killSignal: "SIGINT" as const }),
  });
  console.log(`== mutation: ${group.name} took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  // Stryker exits on its own after the SIGINT, so the time limit shows as spawnSync's ETIMEDOUT, not as a signal.
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT") {
    console.log(
      `${group.name}: stopped after the time limit of ${options.timeLimitS} s: too much of the group changed since its baseline for an incremental run here; ` +
        `run \`npm run mutation -- --incremental ${group.name}\` and commit ${reportPaths(group.name).incremental}`,
    );
  }
  return result.status === 0;
}

/** Prints the group's scores; false when it falls below its threshold or has no report. */
function judge(group: MutationGroup, listSurvivors: boolean, file = reportPaths(group.name).json): boolean {
  const report = readReport(file);
  if (!report) {
    console.log(`${group.name}: no report at ${file}`);
    return false;
  }
  const { files, total } = scores(report);
  for (const [file, t] of files) console.log(formatTally(`  ${file}`, t));
  console.log(formatTally(`${group.name} (threshold ${group.threshold === null ? "none" : `${group.threshold} %`})`, total));
  if (listSurvivors) {
    for (const s of survivors(report)) console.log(`    ${s.status} ${s.file}:${s.line} ${s.mutator}: ${s.original} -> ${s.replacement}`);
  }
  if (group.threshold !== null && (total.score ?? 0) < group.threshold) {
    console.log(`${group.name}: FAIL, mutation score ${formatScore(total.score)} is below its threshold of ${group.threshold} %`);
    return false;
  }
  return true;
}

function main(argv: readonly string[]): number {
  const flag = (name: string) => argv.includes(name);
  const concurrencyAt = argv.indexOf("--concurrency");
  const concurrency = concurrencyAt >= 0 ? Number(argv[concurrencyAt + 1]) : 1;
  const limitAt = argv.indexOf("--time-limit");
  const changed = flag("--changed");
  const timeLimitS = limitAt >= 0 ? Number(argv[limitAt + 1]) : changed ? 300 : null;
  const values = new Set([concurrencyAt, limitAt].filter((i) => i >= 0).map((i) => i + 1));
  const names = argv.filter((a, i) => !a.startsWith("--") && !values.has(i));
  let groups = names.length > 0 ? names.map(groupNamed) : [...GROUPS];
  const incremental = flag("--incremental") || changed;
  let ok = true;

  if (changed) {
    const started = Date.now();
    const toRun: MutationGroup[] = [];
    for (const group of groups) {
      const baseline = readReport(reportPaths(group.name).incremental);
      if (!baseline) {
        console.log(`mutation: ${group.name}: no baseline (${reportPaths(group.name).incremental}); not run (to enforce it, create it with \`npm run mutation -- --incremental ${group.name}\` and commit it)`);
        continue;
      }
      const why = changeAgainstBaseline(group, baseline);
      if (why === null) {
        console.log(`mutation: ${group.name}: unchanged since its baseline; its scores:`);
        ok = judge(group, flag("--survivors"), reportPaths(group.name).incremental) && ok;
      } else {
        console.log(`mutation: ${group.name}: ${why}`);
        toRun.push(group);
      }
    }
    console.log(`mutation: change check took ${Date.now() - started} ms`);
    if (toRun.length === 0) {
      console.log("mutation: nothing changed since the baselines; nothing to run");
      return ok ? 0 : 1;
    }
    groups = toRun;
  }

  for (const group of groups) {
    if (!flag("--report") && !runStryker(group, { incremental, force: flag("--force"), concurrency, timeLimitS })) {
      console.log(`${group.name}: Stryker failed`);
      ok = false;
      continue;
    }
    ok = judge(group, flag("--survivors")) && ok;
  }
  return ok ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
