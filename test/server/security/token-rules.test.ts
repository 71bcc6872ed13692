/**
 * The bearer token rule (server/security/token-rules.ts) at its edges: the
 * length floor, the forbidden separators, the guess floor with zxcvbn's
 * dictionaries and keyboard graphs, and the share of dictionary words, each
 * with the sentence a configuration error shows. (test/server/security.test.ts
 * has the weak tokens as the configuration refuses them.)
 */
import { describe, expect, it } from "vitest";
import { TOKEN_MAX_WORD_SHARE, TOKEN_MIN_GUESSES_LOG10, TOKEN_MIN_LENGTH, TOKEN_RULE, tokenWeakness } from "../../../server/security/token-rules.ts";

/** Random-looking, 32 characters, no words or sequences (the configuration tests use it too). */
const RANDOM_32 = "Kp3vX9qLm2Wz7RbT5nYc8HdF4jGs6AeQ";
const RULE =
  "at least 32 characters and at least 10^25 estimated guesses, with at most half of its characters in dictionary words (no words or phrases, repeats, sequences or keyboard walks); generate one with `openssl rand -base64 32`";

describe("the bearer token rule", () => {
  it("is stated in words with its numbers", () => {
    expect(TOKEN_RULE).toBe(RULE);
    expect([TOKEN_MIN_LENGTH, TOKEN_MIN_GUESSES_LOG10, TOKEN_MAX_WORD_SHARE]).toEqual([32, 25, 0.5]);
  });

  // First of the tests that call tokenWeakness: the estimator is built once, on the first call, so only this
  // test runs its construction (the dictionaries, the keyboard graphs) and must see what they change.
  it("refuses a phrase mostly of English words even when its estimate is high, and a keyboard walk, with the dictionaries and graphs loaded", () => {
    // zxcvbn alone estimates about 10^28 guesses for it.
    const weakness = tokenWeakness("thequickbrownfoxjumpsoverthelazydog");
    expect(weakness).toMatch(new RegExp(`^is mostly dictionary words \\((\\d+) of its 35 characters\\); it needs ${RULE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
    const words = Number(/\((\d+) of its/.exec(weakness!)![1]);
    expect(words).toBeGreaterThan(35 / 2);
    expect(words).toBeLessThanOrEqual(35);
    expect(tokenWeakness("qwertyuiopasdfghjklzxcvbnm123456")).toMatch(/^is too easy to guess/);
    expect(tokenWeakness(RANDOM_32)).toBeNull();
  });

  it("takes a token whose words are at most half of it, the rest random", () => {
    // "mountain" (8 of 40 characters) beside random characters.
    expect(tokenWeakness(`mountain${RANDOM_32}`)).toBeNull();
    // Exactly half: "mountain", "elephant" and "sunshine" are 24 of these 48 characters (about 10^32 guesses).
    expect(tokenWeakness("mountainKp3vX9qLm2Wzelephant7RbT5nYc8HdFsunshine")).toBeNull();
  });

  it("takes a random token of exactly 32 characters and refuses one of 31 by its length", () => {
    expect(tokenWeakness(RANDOM_32)).toBeNull();
    expect(tokenWeakness(RANDOM_32.slice(1))).toBe(`is 31 characters; it needs ${RULE}`);
    expect(tokenWeakness("")).toBe(`is 0 characters; it needs ${RULE}`);
  });

  it("refuses a space, a tab, a line break or a comma anywhere in a long token, as they separate token lists", () => {
    for (const token of [`${RANDOM_32} x`, `${RANDOM_32}\tx`, `x\n${RANDOM_32}`, `${RANDOM_32.slice(0, 16)},${RANDOM_32.slice(16)}`]) {
      expect(tokenWeakness(token), JSON.stringify(token)).toBe("must not contain spaces or commas");
    }
  });

  it("refuses repeats, sequences, keyboard walks and common passwords by their estimated guesses, with the estimate rounded down", () => {
    for (const token of ["a".repeat(40), "abcdefghijklmnopqrstuvwxyz0123456789", "qwertyuiopasdfghjklzxcvbnm123456", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9", "password".repeat(4)]) {
      expect(tokenWeakness(token), token).toMatch(new RegExp(`^is too easy to guess \\(about 10\\^\\d{1,2} guesses\\); it needs ${RULE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
    }
    const estimate = Number(/10\^(\d+) guesses/.exec(tokenWeakness("a".repeat(40))!)![1]);
    expect(estimate).toBeLessThan(25);
  });
});
