/**
 * Mutation-testing groups (issue 27, items 2 and 3): the modules where a
 * silent bug costs most, each with the test files that are meant to catch a
 * bug in it. Stryker mutates a group's `mutate` files and runs only its
 * `testFiles` (Stryker's `testFiles` option: the dry run and every mutant run
 * load those files and nothing else), so one group takes minutes rather than
 * the whole suite's half hour.
 *
 * `threshold` is the mutation score (killed + timed out over all valid
 * mutants, in %) below which `npm run mutation` fails for the group. It is set
 * from what the group measured (docs/testing.md); `null` means the group has
 * not been measured yet and is reported, not enforced.
 *
 * Read by stryker.config.mjs (under Node's type stripping) and by
 * scripts/mutation/run.ts.
 */
export interface MutationGroup {
  readonly name: string;
  readonly summary: string;
  /** Files Stryker mutates (repository-relative, globs allowed, or a file narrowed to line ranges: `file.ts:10-80`). */
  readonly mutate: readonly string[];
  /** The test files that run against the mutants. */
  readonly testFiles: readonly string[];
  /** Minimum mutation score in %, or null while unmeasured. */
  readonly threshold: number | null;
  /** What the group's tests need besides Node (PostgreSQL, Chromium), for the report. */
  readonly needs?: string;
}

export const GROUPS: readonly MutationGroup[] = [
  {
    name: "tiers",
    summary: "the tier table",
    mutate: ["model/tiers.ts"],
    testFiles: ["test/model/tiers.test.ts", "test/stacks/tier-numbers.test.ts", "test/stacks/workload-quota.test.ts"],
    // Measured 95.5 % (docs/testing.md); the one survivor is equivalent. The table itself is static (ignored).
    threshold: 90,
  },
  {
    // Apart from tiers: the table is static (every mutant of it runs every test of the group), and the
    // phase tests render whole programs, so the two together take several times longer than apart.
    name: "phases",
    summary: "the phase registry",
    mutate: ["model/phases.ts"],
    testFiles: ["test/model/phases.test.ts", "test/stacks/phase-completion.test.ts"],
    // Measured 92.0 % of the runtime code (docs/testing.md); the two survivors are equivalent. The registry is static.
    threshold: 90,
  },
  {
    name: "networking",
    summary: "network isolation (phase 4's NetworkPolicies)",
    mutate: ["components/04-networking.ts"],
    testFiles: [
      "test/components/04-networking.test.ts",
      "test/components/04-networking-egress.test.ts",
      "test/components/04-networking-args.test.ts",
      "test/components/04-networking-fields.test.ts",
    ],
    // Measured 100 % (docs/testing.md), after 04-networking-fields spelled out every policy, the check Job and its
    // options; under 100 so that a new, truly equivalent mutant can be justified in the docs rather than fail CI.
    threshold: 95,
  },
  {
    name: "runs",
    summary: "the run state machine and the sweeper",
    mutate: ["server/runs/run-sweeper.ts", "server/domain/tenant-status.ts"],
    // Not the end-to-end files (unfinished-runs, status-read): every service they start sweeps every 5 s and
    // checks transitions, so each mutant re-ran minutes of them (2.5 h estimated for the group); the sweeper is
    // driven directly instead, and the lifecycle is spelled out in a unit test.
    testFiles: [
      "test/server/runs/run-sweeper-job-states.test.ts",
      "test/server/runs/run-sweeper-direct.test.ts",
      "test/server/domain/tenant-status.test.ts",
    ],
    // Measured 98.4 % (docs/testing.md); the two survivors only keep a map of logged runs small.
    threshold: 95,
    needs: "PostgreSQL",
  },
  {
    name: "changes",
    summary: "change review and plans",
    // change-service.ts narrowed to its pure review logic (isDestructive, reviewOf, describeRequest): the
    // ChangeService methods run only inside a service, whose tests (changes, four-eyes) take minutes per mutant
    // (hours for the file); they stay in the suite, unmeasured here (docs/testing.md).
    // Line ranges follow the file: test/scripts/mutation.test.ts checks that each still spans whole functions.
    mutate: ["automation/core/plans.ts", "server/domain/change-service.ts:96-138", "server/domain/change-service.ts:493-501"],
    testFiles: ["test/automation/core/plans.test.ts", "test/server/domain/change-review.test.ts"],
    // Measured 96.6 % (docs/testing.md); the six survivors are equivalent or not observable.
    threshold: 93,
  },
  {
    name: "redaction-drift",
    summary: "secret redaction and drift state",
    mutate: ["automation/core/redact.ts", "automation/core/drift-values.ts"],
    testFiles: [
      "test/automation/core/redact.test.ts",
      "test/automation/core/redact-leaks.test.ts",
      "test/automation/core/secret-values.test.ts",
      "test/automation/core/drift-values.test.ts",
    ],
    // Measured 96.5 % (docs/testing.md), after redact-leaks put a canary at every place a secret can hide; the 13
    // survivors are equivalent (11) or a default list's made-up value (2), each named there.
    threshold: 94,
  },
  {
    name: "auth",
    summary: "bearer-token authentication and the token rule",
    mutate: ["server/plugins/auth.ts", "server/security/token-rules.ts"],
    // The plugin on a bare Fastify and the rule at its edges, not security.test.ts: every one of its services
    // passes each request through the plugin and loads its tokens through the rule, so each mutant re-ran it.
    testFiles: ["test/server/plugins/auth.test.ts", "test/server/security/token-rules.test.ts", "test/server/config.test.ts"],
    // Measured 90.2 % (docs/testing.md): the survivors are Node's own hang-up, Fastify's config and a float edge.
    threshold: 88,
  },
  {
    name: "audit",
    summary: "the hash-chained audit log",
    mutate: ["server/db/audit.ts"],
    // Not audit-verify.test.ts: its service appends audit rows for every action, so each mutant re-ran it.
    testFiles: ["test/server/db/audit-chain.test.ts"],
    // Measured 98.0 % (docs/testing.md); the two survivors are equivalent.
    threshold: 95,
    needs: "PostgreSQL",
  },
  {
    name: "admin-ui",
    summary: "the dashboard's views",
    mutate: ["admin-ui/views/*.ts"],
    // The fast view tests (lit-html's render() into happy-dom, no browser, no service), not the Chromium files:
    // each of those starts a service and a browser, so every mutant re-ran minutes of them (hours for the group).
    // They stay in the suite for what only a browser shows (focus, dialogs, the live stream, the CSP).
    testFiles: ["test/admin-ui/views/*.test.ts"],
    // Measured 99.41 % (docs/testing.md): the 13 mutants left are equivalent (lit-html renders undefined as nothing,
    // JSON.stringify(null) is "null", a first row shown only when there are rows) or not reachable from the pages.
    threshold: 95,
  },
];

/**
 * The file (or glob) of a `mutate` entry: an entry may narrow its file to line
 * ranges in Stryker's syntax (`file.ts:76-118`, or `file.ts:76:5-118:2` with
 * columns), which Stryker reads and a glob does not.
 */
export function fileOfPattern(pattern: string): string {
  return pattern.replace(/:\d+(:\d+)?-\d+(:\d+)?$/, "");
}

export function groupNamed(name: string): MutationGroup {
  const group = GROUPS.find((g) => g.name === name);
  if (!group) throw new Error(`no mutation group ${JSON.stringify(name)}; groups: ${GROUPS.map((g) => g.name).join(", ")}`);
  return group;
}

/** Where a group's reports go (git-ignored) and its incremental file (kept in the repository). */
export const reportPaths = (name: string) => ({
  json: `reports/mutation/${name}/mutation.json`,
  html: `reports/mutation/${name}/index.html`,
  incremental: `reports/stryker-incremental/${name}.json`,
});
