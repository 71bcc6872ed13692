/**
 * The tenant lifecycle (server/domain/tenant-status.ts) as the design states
 * it: every pair of statuses, allowed or refused, spelled out here rather than
 * read from the module's table, and the refusal's wording, which the API
 * answers with 409 as it is.
 */
import { describe, expect, it } from "vitest";
import type { TenantStatus } from "../../../server/db/tenants.ts";
import { assertTransition, canTransition, TransitionRefusedError, withArticle } from "../../../server/domain/tenant-status.ts";

const STATUSES: readonly TenantStatus[] = ["PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"];

/** The allowed changes: anything else is refused. */
const ALLOWED_PAIRS = [
  "PROVISIONING -> ACTIVE",
  "PROVISIONING -> FAILED",
  "ACTIVE -> UPDATING",
  "ACTIVE -> DEPROVISIONING",
  "UPDATING -> ACTIVE",
  "UPDATING -> FAILED",
  "FAILED -> PROVISIONING",
  "FAILED -> UPDATING",
  "FAILED -> DEPROVISIONING",
  // A teardown that exhausted its attempts may be asked for again.
  "DEPROVISIONING -> DEPROVISIONING",
  "DEPROVISIONING -> DELETED",
];

describe("the tenant lifecycle", () => {
  it("allows exactly the design's transitions among all 36 pairs of statuses, and nothing out of DELETED", () => {
    const allowed = STATUSES.flatMap((from) => STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from} -> ${to}`));
    expect(allowed.sort()).toEqual([...ALLOWED_PAIRS].sort());
    expect(STATUSES.filter((to) => canTransition("DELETED", to))).toEqual([]);
  });

  it("lets an allowed transition pass and refuses any other with a TransitionRefusedError naming both statuses", () => {
    expect(() => assertTransition("ACTIVE", "UPDATING")).not.toThrow();
    expect(() => assertTransition("DEPROVISIONING", "DEPROVISIONING", "ignored when allowed")).not.toThrow();

    let refused: unknown;
    try {
      assertTransition("ACTIVE", "PROVISIONING", "retry only a FAILED tenant");
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(TransitionRefusedError);
    expect(refused).toBeInstanceOf(Error);
    const error = refused as TransitionRefusedError;
    expect(error.name).toBe("TransitionRefusedError");
    expect(error.message).toBe("an ACTIVE tenant cannot become PROVISIONING: retry only a FAILED tenant");
    expect([error.from, error.to]).toEqual(["ACTIVE", "PROVISIONING"]);
  });

  it("says the refusal without a trailing colon when no hint is given", () => {
    expect(() => assertTransition("DELETED", "ACTIVE")).toThrow(/^a DELETED tenant cannot become ACTIVE$/);
    expect(new TransitionRefusedError("FAILED", "ACTIVE", "").message).toBe("a FAILED tenant cannot become ACTIVE");
  });

  it("reads a status aloud with the article its first letter takes, in either case", () => {
    expect(["ACTIVE", "UPDATING", "FAILED", "PROVISIONING", "DEPROVISIONING", "DELETED", "EXPIRED", "OPEN", "INACTIVE"].map(withArticle)).toEqual([
      "an ACTIVE", "an UPDATING", "a FAILED", "a PROVISIONING", "a DEPROVISIONING", "a DELETED", "an EXPIRED", "an OPEN", "an INACTIVE",
    ]);
    expect(withArticle("update")).toBe("an update");
    expect(withArticle("teardown")).toBe("a teardown");
    // Only the first letter counts: a vowel later in the word does not make it "an".
    expect(withArticle("RUNNING")).toBe("a RUNNING");
  });
});
