/** The tier table's helpers (model/tiers.ts): which values are tiers, and which runs reach Azure. */
import { describe, expect, it } from "vitest";
import { FIRST_AZURE_PHASE, isTier, reachesAzure, tierProfile, TIER_PROFILES } from "../../model/tiers.ts";

describe("isTier", () => {
  it("accepts the three tiers and nothing else", () => {
    expect(["free", "professional", "enterprise"].every(isTier)).toBe(true);
    for (const value of ["", "Free", "premium", "free ", 1, null, undefined, ["free"], { tier: "free" }]) expect(isTier(value), String(value)).toBe(false);
  });
});

describe("reachesAzure", () => {
  it("from the DNS zone (phase 7) on, whatever the tier", () => {
    expect(FIRST_AZURE_PHASE).toBe(7);
    for (const tier of ["free", "professional", "enterprise"] as const) {
      expect(reachesAzure(tier, 7), tier).toBe(true);
      expect(reachesAzure(tier, 10), tier).toBe(true);
    }
  });

  it("before it, only for a tier with a dedicated database server, and only from phase 2", () => {
    expect(reachesAzure("free", 6)).toBe(false);
    expect(reachesAzure("professional", 6)).toBe(false);
    expect(reachesAzure("enterprise", 6)).toBe(true);
    expect(reachesAzure("enterprise", 2)).toBe(true);
    expect(reachesAzure("enterprise", 1)).toBe(false);
  });
});

it("tierProfile gives the table's row", () => {
  expect(tierProfile("professional")).toBe(TIER_PROFILES.professional);
});
