/**
 * The render goal's measurement, run by goals.bench.ts in a process started
 * with the worker processes' Node flags (WORKER_EXEC_ARGV), so the render is
 * timed as a render worker runs it. In turns, so that a slow moment of the
 * machine hits all three:
 *
 * - the render of one enterprise tenant, as a render job runs it (its lean runtime included);
 * - the bare Pulumi mock runtime registering as many resources in ten chained
 *   components, with the SDK as shipped: the goal's reference;
 * - the same bare runtime under the render job's lean runtime: how much of the
 *   gap is the program's own work rather than the SDK's debugging aids.
 *
 * Prints one JSON line of medians in milliseconds.
 */
import { performance } from "node:perf_hooks";
import { withLeanRuntime } from "../automation/render/lean-runtime.ts";
import { runRenderWorkerJob } from "../automation/render/worker-job.ts";
import type { RenderOutcome } from "../automation/isolation/protocol.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec } from "../model/spec.ts";
import { bareMockRuntime } from "./bare-mock.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const settings = resolvePlatformSettings();
const spec = validateTenantSpec({
  id: "550e8400-e29b-41d4-a716-446655440000", slug: "bench", displayName: "Bench", tier: "enterprise", region: "eastus",
  adminEmail: "admin@bench.example", requestedBy: "bench@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
}, { baseDomain: settings.baseDomain });
const context = { signal: new AbortController().signal, emit: () => {}, log: () => {} };
const render = async () => {
  const [outcome] = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase: 10 }] }, context)) as RenderOutcome[];
  if (!outcome?.ok) throw new Error(`the bench tenant did not render: ${outcome && !outcome.ok ? outcome.error.message : "no outcome"}`);
  return outcome.result.resources.length;
};

const resources = await render();
await bareMockRuntime(resources);
const timed = async (work: () => Promise<unknown>) => {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
};
const renders: number[] = [];
const bare: number[] = [];
const bareLean: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  renders.push(await timed(render));
  bare.push(await timed(() => bareMockRuntime(resources)));
  bareLean.push(await timed(() => withLeanRuntime(() => bareMockRuntime(resources))));
}
console.log(JSON.stringify({ resources, renderMs: median(renders), bareMs: median(bare), bareLeanMs: median(bareLean) }));
