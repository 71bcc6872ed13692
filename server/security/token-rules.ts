/**
 * What a bearer token must be: long, and hard to guess. Length alone lets
 * `aaaa…` or `password12345678…` through, so the guess count is estimated with
 * zxcvbn (dictionaries, keyboard walks, repeats and sequences), the same
 * estimator password forms use.
 */
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";

export const TOKEN_MIN_LENGTH = 32;
/** log10 of the guesses zxcvbn must estimate: 10^25 ≈ 2^83. Random tokens from `openssl rand` score 27 and up. */
export const TOKEN_MIN_GUESSES_LOG10 = 25;

/** The rule in words, for start-up logs and configuration errors. */
export const TOKEN_RULE = `at least ${TOKEN_MIN_LENGTH} characters and at least 10^${TOKEN_MIN_GUESSES_LOG10} estimated guesses (no words, repeats, sequences or keyboard walks); generate one with \`openssl rand -base64 32\``;

let estimator: ZxcvbnFactory | null = null;

/** Why `token` is too weak, or null when it follows the rule. */
export function tokenWeakness(token: string): string | null {
  if (token.length < TOKEN_MIN_LENGTH) return `is ${token.length} characters; it needs ${TOKEN_RULE}`;
  if (/\s|,/.test(token)) return "must not contain spaces or commas";
  estimator ??= new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
  const guesses = estimator.check(token).guessesLog10;
  if (guesses < TOKEN_MIN_GUESSES_LOG10) return `is too easy to guess (about 10^${Math.floor(guesses)} guesses); it needs ${TOKEN_RULE}`;
  return null;
}
