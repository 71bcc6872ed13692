import type { TenantStatus } from "../db/tenants.ts";

/**
 * The tenant lifecycle. Every status change goes through `assertTransition`,
 * so a refused change is one rule in one place (the API answers it with 409).
 */

const ALLOWED: Readonly<Record<TenantStatus, readonly TenantStatus[]>> = {
  PROVISIONING: ["ACTIVE", "FAILED"],
  // A FAILED update is retried by applying the same change again (UPDATING).
  FAILED: ["PROVISIONING", "UPDATING", "DEPROVISIONING"],
  ACTIVE: ["UPDATING", "DEPROVISIONING"],
  // An update that could not start (its plan went stale) leaves the tenant as it was.
  UPDATING: ["ACTIVE", "FAILED"],
  // A teardown that exhausted its attempts stays DEPROVISIONING and may be asked for again.
  DEPROVISIONING: ["DELETED", "DEPROVISIONING"],
  DELETED: [],
};

export class TransitionRefusedError extends Error {
  readonly from: TenantStatus;
  readonly to: TenantStatus;
  constructor(from: TenantStatus, to: TenantStatus, hint: string) {
    super(`${withArticle(from)} tenant cannot become ${to}${hint ? `: ${hint}` : ""}`);
    this.name = "TransitionRefusedError";
    this.from = from;
    this.to = to;
  }
}

export function canTransition(from: TenantStatus, to: TenantStatus): boolean {
  return ALLOWED[from].includes(to);
}

export function assertTransition(from: TenantStatus, to: TenantStatus, hint = ""): void {
  if (!canTransition(from, to)) throw new TransitionRefusedError(from, to, hint);
}

/** "an ACTIVE", "a FAILED": the article a status takes when read aloud. */
export function withArticle(word: string): string {
  return `${/^[AEIOU]/i.test(word) ? "an" : "a"} ${word}`;
}
