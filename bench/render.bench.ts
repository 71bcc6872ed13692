/**
 * npm run bench: how long one tenant's render takes once warm, and how many
 * resources each tier declares. Prints figures; asserts nothing.
 */
import { performance } from "node:perf_hooks";
import { renderUnderMocks } from "../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec } from "../model/spec.ts";
import { TIERS } from "../model/tiers.ts";

const settings = resolvePlatformSettings();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

console.log(`render benchmark: ${ROUNDS} warm renders per tier after one warm-up`);
console.log("tier          resources  components  median ms  p90 ms  heap MB");
for (const tier of TIERS) {
  const spec = validateTenantSpec({
    id: "550e8400-e29b-41d4-a716-446655440000", slug: "bench", displayName: "Bench", tier, region: "eastus",
    adminEmail: "admin@bench.example", requestedBy: "bench@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
  }, { baseDomain: settings.baseDomain });
  const warm = await renderUnderMocks(spec, settings);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await renderUnderMocks(spec, settings);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const custom = warm.resources.filter((r) => r.custom).length;
  const components = warm.resources.length - custom;
  const median = times[Math.floor(times.length / 2)]!;
  const p90 = times[Math.min(times.length - 1, Math.floor(times.length * 0.9))]!;
  const heap = process.memoryUsage().heapUsed / 2 ** 20;
  console.log(`${tier.padEnd(13)} ${String(custom).padStart(9)}  ${String(components).padStart(10)}  ${median.toFixed(0).padStart(9)}  ${p90.toFixed(0).padStart(6)}  ${heap.toFixed(0).padStart(7)}`);
}
