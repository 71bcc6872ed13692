/**
 * Whether a failure may go away by itself, judged by its cause rather than by
 * where it was raised. A program error such as "no external IP assigned yet"
 * is as transient as a provider timeout, and a provider error such as Helm's
 * "exists and cannot be imported into the current release" will fail the same
 * way on every retry. Both engines' messages pass through here, so the
 * service's job retries are spent only where waiting can help.
 */

/**
 * `transient`: something is not there yet or a remote end hiccuped (an IP, an
 * endpoint, a throttled or unavailable API); retrying later may succeed.
 * `conflict`: something else already owns the name; someone must change it.
 * `rejected`: the request is invalid or not allowed (validation, RBAC, quota).
 * `unknown`: none of the above could be recognised.
 */
export type FailureCause = "transient" | "conflict" | "rejected" | "unknown";

/** First match wins, so the specific transient cases precede the broad permanent ones. */
const RULES: readonly (readonly [FailureCause, RegExp])[] = [
  // Kubernetes optimistic concurrency: a 409 that a fresh read resolves.
  ["transient", /the object has been modified|please apply your changes to the latest version/i],
  ["conflict", /already exists|cannot be imported into the current release|is already in use|cannot re-use a name that is still in use|NameNotAvailable|already (?:taken|allocated)|another operation is in progress on/i],
  [
    "rejected",
    /\bforbidden\b|unauthori[sz]ed|AuthorizationFailed|AuthenticationFailed|InvalidAuthenticationToken|\binvalid\b|InvalidParameter|BadRequest|is not valid|admission webhook .* denied|denied the request|exceeded quota|QuotaExceeded|SkuNotAvailable|no matches for kind|not supported|chart .*not found|failed to download|unknown field/i,
  ],
  [
    "transient",
    /no (?:external )?IP (?:address )?(?:assigned|yet)|load[- ]?balancer .*(?:pending|not (?:yet )?(?:assigned|ready))|not (?:yet )?ready|not yet available|timed? ?out|timeout|deadline exceeded|ETIMEDOUT|ECONNRESET|ECONNREFUSED|EAI_AGAIN|EPIPE|connection (?:reset|refused)|i\/o timeout|unexpected EOF|TooManyRequests|\b429\b|throttl|rate limit|ServiceUnavailable|\b50[234]\b|Bad Gateway|InternalServerError|temporar(?:y|ily)|try again|RetryableError|etcdserver: (?:request timed out|leader changed)/i,
  ],
];

export function failureCause(message: string): FailureCause {
  for (const [cause, pattern] of RULES) if (pattern.test(message)) return cause;
  return "unknown";
}

/**
 * Whether running the same operation again may succeed without anyone
 * changing anything. `unknownIsTransient` is the default for failures whose
 * cause was not recognised: true for a resource operation (infrastructure
 * failures are mostly transient, and attempts are bounded), false for a
 * program error (a bug does not fix itself).
 */
export function isRetryable(message: string, unknownIsTransient: boolean): boolean {
  const cause = failureCause(message);
  return cause === "transient" || (cause === "unknown" && unknownIsTransient);
}
