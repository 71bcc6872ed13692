import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * Suites that must have the machine to themselves: the real runs (the pulumi
 * CLI and Go providers against the local cluster), the soaks (several service
 * processes each) and the real-cluster install.
 * Run alone, one file at a time, after everything else: under the parallel
 * pool their waits on a 2-core machine would be measured against timeouts
 * made for an idle one.
 */
export const SERIAL_SUITES = ["test/real-run/**/*.test.ts", "test/soak/**/*.test.ts", "test/**/*.real.test.ts"];

/**
 * The browser tests: each file starts its own service and Chromium, which
 * mostly wait on each other; two at a time, apart from everything else.
 */
export const BROWSER_SUITES = ["test/**/*.browser.test.ts"];

/**
 * The other files mostly wait (on PostgreSQL, Kafka, spawned services,
 * Helm's JVM), so more files than cores run at once: vitest's default of
 * cores - 1 ran them one at a time on a 2-core machine. MATIH_TEST_WORKERS
 * overrides it.
 */
const parallelWorkers = Number(process.env.MATIH_TEST_WORKERS) || Math.max(3, availableParallelism());

const shared = {
  // Pulumi's runtime keeps global state: each test file runs in its own process.
  pool: "forks" as const,
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    ...shared,
    projects: [
      {
        test: {
          ...shared,
          name: "parallel",
          include: ["test/**/*.test.ts"],
          exclude: [...SERIAL_SUITES, ...BROWSER_SUITES],
          maxWorkers: parallelWorkers,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "browser",
          include: BROWSER_SUITES,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...shared,
          name: "serial",
          include: SERIAL_SUITES,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
