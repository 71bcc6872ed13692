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

// Random enough for the token rule (32+ characters, no words or sequences).
const ADMIN = "Kp3vX9qLm2Wz7RbT5nYc8HdF4jGs6AeQ";
const ALICE = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
const BOB = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";
const OTHER = "tM6bQ1vZ8kR3pX5wN9cL2hY7jD4gF0sE";

describe("admin identities and change review settings", () => {
  it("gives named admin tokens their names as principals, beside MATIH_ADMIN_TOKEN's admin", () => {
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: ADMIN, MATIH_ADMIN_TOKENS: `alice:${ALICE}, bob:${BOB}` });
    expect(config.tokens.filter((t) => t.scope === "admin").map((t) => t.principal)).toEqual(["admin", "alice", "bob"]);
    expect(config.tokens.find((t) => t.principal === "bob")!.token).toBe(BOB);
  });

  it("defaults to a 24-hour change window and no separate approver", () => {
    const config = loadServiceConfig({});
    expect(config.changeTtlHours).toBe(24);
    expect(config.requireSeparateApprover).toBe(false);
    expect(loadServiceConfig({ MATIH_CHANGE_TTL_HOURS: "0.5", MATIH_REQUIRE_SEPARATE_APPROVER: "true" })).toMatchObject({ changeTtlHours: 0.5, requireSeparateApprover: true });
  });

  it("holds named admin tokens to the same token rule as every other token", () => {
    const problems = problemsOf({ MATIH_ADMIN_TOKENS: "alice:alice-token-0123456789abcdefgh,bob:passwordpasswordpasswordpassword12" });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^MATIH_ADMIN_TOKENS entry 1 \(alice\) is too easy to guess|^MATIH_ADMIN_TOKENS entry 1 \(alice\) is \d+ characters/);
    expect(problems[1]).toMatch(/^MATIH_ADMIN_TOKENS entry 2 \(bob\) is too easy to guess/);
  });

  it("reports bad entries by position and name without echoing a token", () => {
    const problems = problemsOf({
      MATIH_ADMIN_TOKEN: ADMIN,
      MATIH_ADMIN_TOKENS: `alice:short,:${OTHER},bob:${BOB},bob:${OTHER},carol:${BOB},admin:${ALICE},dave:${ADMIN}`,
      MATIH_CHANGE_TTL_HOURS: "0",
      MATIH_REQUIRE_SEPARATE_APPROVER: "maybe",
    });
    expect(problems).toEqual([
      expect.stringMatching(/^MATIH_ADMIN_TOKENS entry 1 \(alice\) is 5 characters; it needs at least 32 characters/),
      "MATIH_ADMIN_TOKENS entry 2 must be name:token with a name of letters, digits, dots, dashes, underscores or @",
      "MATIH_ADMIN_TOKENS entry 4 (bob) names bob, which another token already has; each principal needs its own name",
      "MATIH_ADMIN_TOKENS entry 5 (carol) is used twice; every token must be different",
      "MATIH_ADMIN_TOKENS entry 6 (admin) names admin, which another token already has; each principal needs its own name",
      "MATIH_ADMIN_TOKENS entry 7 (dave) is used twice; every token must be different",
      'MATIH_CHANGE_TTL_HOURS must be a number of hours above 0 and at most 8760, got "0"',
      'MATIH_REQUIRE_SEPARATE_APPROVER must be true or false, got "maybe"',
    ]);
    for (const token of [ADMIN, ALICE, BOB, OTHER]) expect(problems.join("\n")).not.toContain(token);
  });
});
