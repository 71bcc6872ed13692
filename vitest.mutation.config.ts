import { defineConfig } from "vitest/config";

// StrykerJS's vitest runner (stryker.config.mjs) runs a group's own test
// files, one mutant at a time: one plain project, without the parallel and
// serial projects of vitest.config.ts.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Pulumi's runtime keeps global state: each test file runs in its own process.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
