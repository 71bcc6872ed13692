import { describe, expect, it } from "vitest";
import { loadServiceConfig, ServiceConfigError } from "../../server/config.ts";

const problemsOf = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    loadServiceConfig(env);
  } catch (error) {
    if (error instanceof ServiceConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("admin identities and change review settings", () => {
  it("gives named admin tokens their names as principals, beside MATIH_ADMIN_TOKEN's admin", () => {
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: "the-admin-token-0123456", MATIH_ADMIN_TOKENS: "alice:alice-token-0123456789, bob:bob-token-01234567890" });
    expect(config.tokens.filter((t) => t.scope === "admin").map((t) => t.principal)).toEqual(["admin", "alice", "bob"]);
    expect(config.tokens.find((t) => t.principal === "bob")!.token).toBe("bob-token-01234567890");
  });

  it("defaults to a 24-hour change window and no separate approver", () => {
    const config = loadServiceConfig({});
    expect(config.changeTtlHours).toBe(24);
    expect(config.requireSeparateApprover).toBe(false);
    expect(loadServiceConfig({ MATIH_CHANGE_TTL_HOURS: "0.5", MATIH_REQUIRE_SEPARATE_APPROVER: "true" })).toMatchObject({ changeTtlHours: 0.5, requireSeparateApprover: true });
  });

  it("reports bad entries by position and name without echoing a token", () => {
    const problems = problemsOf({
      MATIH_ADMIN_TOKENS: "alice:short,:nameless-token-0123456789,bob:bob-token-0123456789,bob:other-token-0123456789,carol:bob-token-0123456789",
      MATIH_CHANGE_TTL_HOURS: "0",
      MATIH_REQUIRE_SEPARATE_APPROVER: "maybe",
    });
    expect(problems).toEqual([
      "MATIH_ADMIN_TOKENS entry 1 (alice) needs a token of at least 16 characters",
      "MATIH_ADMIN_TOKENS entry 2 must be name:token with a name of letters, digits, dots, dashes, underscores or @",
      "MATIH_ADMIN_TOKENS names bob twice (or it clashes with MATIH_ADMIN_TOKEN's \"admin\")",
      "MATIH_ADMIN_TOKENS entry 5 (carol) repeats another token; each principal needs its own",
      'MATIH_CHANGE_TTL_HOURS must be a number of hours above 0 and at most 8760, got "0"',
      'MATIH_REQUIRE_SEPARATE_APPROVER must be true or false, got "maybe"',
    ]);
    expect(problems.join("\n")).not.toContain("token-0123456789");
  });
});
