/**
 * The mutation-testing set-up (scripts/mutation, issue 27): the groups name
 * files that exist, and the scores are counted as Stryker counts them.
 */
import { existsSync, globSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileOfPattern, GROUPS, reportPaths } from "../../scripts/mutation/groups.ts";
import { scores, survivors, tally, type MutationReport, type ReportMutant } from "../../scripts/mutation/score.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the mutation groups", () => {
  it("each mutate and test pattern matches a file, and the names are unique", () => {
    expect(new Set(GROUPS.map((g) => g.name)).size).toBe(GROUPS.length);
    for (const group of GROUPS) {
      for (const pattern of [...group.mutate.map(fileOfPattern), ...group.testFiles]) {
        expect(globSync(pattern, { cwd: ROOT }), `${group.name}: ${pattern}`).not.toEqual([]);
      }
      if (group.threshold !== null) expect(group.threshold).toBeGreaterThan(0);
      if (group.threshold !== null) expect(group.threshold).toBeLessThanOrEqual(100);
    }
  });

  it("reads a mutate entry narrowed to line ranges as its file, and leaves other entries as they are", () => {
    expect(fileOfPattern("server/domain/change-service.ts:76-118")).toBe("server/domain/change-service.ts");
    expect(fileOfPattern("automation/core/redact.ts:106:3-107:40")).toBe("automation/core/redact.ts");
    expect(fileOfPattern("admin-ui/views/*.ts")).toBe("admin-ui/views/*.ts");
    expect(fileOfPattern("model/tiers.ts")).toBe("model/tiers.ts");
  });

  it("narrows a file only to whole functions: each line range starts at a function and ends at its closing brace", () => {
    // Line ranges do not move with the code: an edit above one shifts it onto other lines, which this catches.
    for (const group of GROUPS) {
      for (const entry of group.mutate) {
        const range = /:(\d+)-(\d+)$/.exec(entry);
        if (!range) continue;
        const lines = readFileSync(path.join(ROOT, fileOfPattern(entry)), "utf8").split("\n");
        expect(lines[Number(range[1]) - 1], `${group.name}: ${entry} starts a function`).toMatch(/^(export )?(async )?function /);
        expect(lines[Number(range[2]) - 1], `${group.name}: ${entry} ends one`).toBe("}");
      }
    }
  });

  it("every incremental file kept in the repository belongs to a group", () => {
    const dir = path.join(ROOT, path.dirname(reportPaths("x").incremental));
    const files = existsSync(dir) ? readdirSync(dir) : [];
    for (const file of files) expect(GROUPS.map((g) => `${g.name}.json`)).toContain(file);
  });
});

const mutant = (id: string, status: ReportMutant["status"], line = 1): ReportMutant => ({
  id,
  mutatorName: "StringLiteral",
  replacement: '""',
  status,
  location: { start: { line, column: 11 }, end: { line, column: 17 } },
});

describe("the mutation score", () => {
  it("counts killed and timed-out mutants over the valid ones, as Stryker does", () => {
    const t = tally([mutant("1", "Killed"), mutant("2", "Timeout"), mutant("3", "Survived"), mutant("4", "NoCoverage"), mutant("5", "CompileError"), mutant("6", "Ignored")]);
    expect(t).toMatchObject({ killed: 1, timeout: 1, survived: 1, noCoverage: 1, compileErrors: 1, ignored: 1, valid: 4, score: 50 });
    expect(tally([mutant("1", "CompileError")]).score).toBeNull();
  });

  it("scores each file and the report, and lists the survivors with the code they replaced", () => {
    const report: MutationReport = {
      schemaVersion: "2",
      files: {
        "a.ts": { source: 'const a = "free";\n', mutants: [mutant("1", "Killed"), mutant("2", "Survived")] },
        "b.ts": { source: "x\n", mutants: [mutant("3", "Killed")] },
      },
    };
    const { files, total } = scores(report);
    expect(files.get("a.ts")!.score).toBe(50);
    expect(files.get("b.ts")!.score).toBe(100);
    expect(total.score).toBeCloseTo(66.67, 2);
    expect(survivors(report)).toEqual([{ file: "a.ts", line: 1, mutator: "StringLiteral", original: '"free"', replacement: '""', status: "Survived" }]);
  });
});
