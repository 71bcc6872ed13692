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
const SPARE = "Rz8mC3vN6qT1wK9pL4xB7hY2jD5gF0sA";

describe("admin identities and change review settings", () => {
  it("gives named admin tokens their names as principals, beside MATIH_ADMIN_TOKEN's admin", () => {
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: ADMIN, MATIH_ADMIN_TOKENS: `alice:${ALICE}, bob:${BOB}` });
    expect(config.tokens.filter((t) => t.scope === "admin").map((t) => t.principal)).toEqual(["admin", "alice", "bob"]);
    expect(config.tokens.find((t) => t.principal === "bob")!.token).toBe(BOB);
  });

  it("makes a rotation's tokens one principal: every MATIH_ADMIN_TOKEN entry is admin, and a repeated name is one person", () => {
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: `${ADMIN},${OTHER}`, MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB},alice:${SPARE}` });
    expect(config.tokens.map((t) => t.principal)).toEqual(["admin", "admin", "alice", "bob", "alice"]);
    expect(config.tokens.filter((t) => t.principal === "alice").map((t) => t.token)).toEqual([ALICE, SPARE]);
  });

  it("defaults to a 24-hour change window and no separate approver", () => {
    const config = loadServiceConfig({});
    expect(config.changeTtlHours).toBe(24);
    expect(config.requireSeparateApprover).toBe(false);
    expect(loadServiceConfig({ MATIH_CHANGE_TTL_HOURS: "0.5", MATIH_REQUIRE_SEPARATE_APPROVER: "true", MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}` }))
      .toMatchObject({ changeTtlHours: 0.5, requireSeparateApprover: true });
  });

  it.each([
    ["no token (the generated one is the one principal admin)", {}, "none (a generated token is the one principal admin)"],
    ["two rotation tokens", { MATIH_ADMIN_TOKEN: `${ADMIN},${OTHER}` }, "only admin"],
    ["two tokens of one name", { MATIH_ADMIN_TOKENS: `alice:${ALICE},alice:${BOB}` }, "only alice"],
  ])("refuses a separate approver with %s: one person could never have a change approved", (_what, env, found) => {
    expect(problemsOf({ ...env, MATIH_REQUIRE_SEPARATE_APPROVER: "true" })).toEqual([
      `MATIH_REQUIRE_SEPARATE_APPROVER=true needs at least two admin principals, or nothing could ever be approved; found ${found}: ` +
      "name the admins with MATIH_ADMIN_TOKENS=alice:…,bob:… (every MATIH_ADMIN_TOKEN entry is the one principal admin)",
    ]);
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
      MATIH_ADMIN_TOKENS: `alice:short,:${OTHER},bob:${BOB},bob:${OTHER},carol:${BOB},admin:${ALICE},dave:${ADMIN},reader-1:${SPARE}`,
      MATIH_CHANGE_TTL_HOURS: "0",
      MATIH_REQUIRE_SEPARATE_APPROVER: "maybe",
    });
    expect(problems).toEqual([
      expect.stringMatching(/^MATIH_ADMIN_TOKENS entry 1 \(alice\) is 5 characters; it needs at least 32 characters/),
      "MATIH_ADMIN_TOKENS entry 2 must be name:token with a name of letters, digits, dots, dashes, underscores or @",
      // Entry 4 is bob's second token (a rotation) and entry 6 one more of admin's: both fine.
      "MATIH_ADMIN_TOKENS entry 5 (carol) is used twice; every token must be different",
      "MATIH_ADMIN_TOKENS entry 7 (dave) is used twice; every token must be different",
      "MATIH_ADMIN_TOKENS entry 8 (reader-1) takes a name of the read tokens (reader-1, reader-2, …); choose another",
      'MATIH_REQUIRE_SEPARATE_APPROVER must be true or false, got "maybe"',
      'MATIH_CHANGE_TTL_HOURS must be a number of hours above 0 and at most 8760, got "0"',
    ]);
    for (const token of [ADMIN, ALICE, BOB, OTHER, SPARE]) expect(problems.join("\n")).not.toContain(token);
  });
});
