/**
 * What a bearer token must be: long, and hard to guess. Length alone lets
 * `aaaa…` or `password12345678…` through, so the guess count is estimated with
 * zxcvbn (dictionaries, keyboard walks, repeats and sequences), the same
 * estimator password forms use.
 *
 * zxcvbn's estimate alone still lets a phrase of ordinary words through
 * (`thequickbrownfoxjumpsoverthelazydog` scores about 10^28: it multiplies
 * the ranks of words an attacker would try together), and without the English
 * dictionaries it does not even see most words. So the English dictionaries
 * are loaded too, and a token must also take at most half of its characters
 * from dictionary words: the rest, which is random, has to carry the entropy.
 * Random tokens (`openssl rand`, UUIDs, hex) stay far below that share (at
 * most about a fifth, by sampling).
 */
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";
import * as en from "@zxcvbn-ts/language-en";

export const TOKEN_MIN_LENGTH = 32;
/** log10 of the guesses zxcvbn must estimate: 10^25 ≈ 2^83. Random tokens from `openssl rand` score 27 and up. */
export const TOKEN_MIN_GUESSES_LOG10 = 25;
/** The largest share of a token's characters that may belong to dictionary words (plain, l33t or reversed). */
export const TOKEN_MAX_WORD_SHARE = 0.5;

/** The rule in words, for start-up logs and configuration errors. */
export const TOKEN_RULE = `at least ${TOKEN_MIN_LENGTH} characters and at least 10^${TOKEN_MIN_GUESSES_LOG10} estimated guesses, with at most half of its characters in dictionary words (no words or phrases, repeats, sequences or keyboard walks); generate one with \`openssl rand -base64 32\``;

let estimator: ZxcvbnFactory | null = null;

function estimatorOf(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    // The l33t matcher's cost grows with the substitutions it tries (seconds per token at the default 100,
    // with the English lists); 10 finds the same words in l33t phrases at a tenth of the time.
    l33tMaxSubstitutions: 10,
  });
  return estimator;
}

/** Why `token` is too weak, or null when it follows the rule. */
export function tokenWeakness(token: string): string | null {
  if (token.length < TOKEN_MIN_LENGTH) return `is ${token.length} characters; it needs ${TOKEN_RULE}`;
  if (/\s|,/.test(token)) return "must not contain spaces or commas";
  const result = estimatorOf().check(token);
  if (result.guessesLog10 < TOKEN_MIN_GUESSES_LOG10) return `is too easy to guess (about 10^${Math.floor(result.guessesLog10)} guesses); it needs ${TOKEN_RULE}`;
  // Matches are the estimator's cheapest split of the token, so they do not overlap.
  const inWords = result.sequence.filter((match) => match.pattern === "dictionary").reduce((sum, match) => sum + match.token.length, 0);
  if (inWords > token.length * TOKEN_MAX_WORD_SHARE) {
    return `is mostly dictionary words (${inWords} of its ${token.length} characters); it needs ${TOKEN_RULE}`;
  }
  return null;
}
