/**
 * Profiling aid for the render goal: renders one tenant (BENCH_TIER, default
 * enterprise) as a render worker does, and runs the bare mock runtime with
 * the same resource count, in turns, BENCH_ROUNDS times. Run it under
 * --cpu-prof, with the workers' flags to see what a worker sees:
 *
 *   node --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts
 *   BENCH_ONLY=render node --max-semi-space-size=32 --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts
 */
import { performance } from "node:perf_hooks";
import { runRenderWorkerJob } from "../automation/render/worker-job.ts";
import type { RenderOutcome } from "../automation/isolation/protocol.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec } from "../model/spec.ts";
import type { Tier } from "../model/tiers.ts";
import { bareMockRuntime } from "./bare-mock.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const tier = (process.env.BENCH_TIER ?? "enterprise") as Tier;
const settings = resolvePlatformSettings();
const spec = validateTenantSpec({
  id: "550e8400-e29b-41d4-a716-446655440000", slug: "bench", displayName: "Bench", tier, region: "eastus",
  adminEmail: "admin@bench.example", requestedBy: "bench@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
}, { baseDomain: settings.baseDomain });
const context = { signal: new AbortController().signal, emit: () => {}, log: () => {} };
const render = async () => {
  const [outcome] = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase: 10 }] }, context)) as RenderOutcome[];
  if (!outcome?.ok) throw new Error("the tenant did not render");
  return outcome.result.resources.length;
};
/** BENCH_ONLY=render or bare keeps the other out of the profile; otherwise they alternate, so a slow moment hits both. */
const only = process.env.BENCH_ONLY;
const median = (values: number[]) => (values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]! : NaN);
const count = await render();
await bareMockRuntime(count);
const renders: number[] = [];
const bares: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  let t0 = performance.now();
  if (only !== "bare") {
    await render();
    renders.push(performance.now() - t0);
  }
  t0 = performance.now();
  if (only !== "render") {
    await bareMockRuntime(count);
    bares.push(performance.now() - t0);
  }
}
const renderMs = median(renders);
const bareMs = median(bares);
console.log(`${tier}: ${count} resources; median render ${renderMs.toFixed(1)} ms, bare mock runtime ${bareMs.toFixed(1)} ms, ratio ${(renderMs / bareMs).toFixed(2)}; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
