/**
 * The Azure provider is declared only where a run reaches Azure. A free or
 * professional tenant up to phase 6 touches only the cluster and the shared
 * PostgreSQL server: declaring the provider anyway made every such run load
 * the azure-native plugin and configure Azure credentials (found by the first
 * real run against the local cluster, which has neither).
 */
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import type { Tier } from "../../model/tiers.ts";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";

const settings = resolvePlatformSettings();

async function providerTypes(tier: Tier, lastPhase: number): Promise<string[]> {
  const rendered = await renderUnderMocks(acmeSpec(tier, {}, settings), settings, { lastPhase });
  return [...new Set(rendered.resources.map((r) => r.type).filter((type) => type.startsWith("pulumi:providers:")))].sort();
}

describe("the tenant program's providers", () => {
  it.each([
    ["free", 6, ["pulumi:providers:kubernetes", "pulumi:providers:postgresql"]],
    ["professional", 6, ["pulumi:providers:kubernetes", "pulumi:providers:postgresql"]],
    ["enterprise", 1, ["pulumi:providers:kubernetes"]],
    // The dedicated server of phase 2.
    ["enterprise", 2, ["pulumi:providers:azure-native", "pulumi:providers:kubernetes", "pulumi:providers:postgresql"]],
    // The DNS zone of phase 7.
    ["free", 7, ["pulumi:providers:azure-native", "pulumi:providers:kubernetes", "pulumi:providers:postgresql"]],
  ] as const)("%s up to phase %i declares %j", async (tier, lastPhase, expected) => {
    expect(await providerTypes(tier, lastPhase)).toEqual(expected);
  });
});
