/**
 * npm run bench: one table of the service's speed goals (issue 11), each
 * measured against a reference taken in the same run, so the ratio holds on a
 * noisy machine. Prints figures; asserts nothing (timing is never a test).
 *
 *   BENCH_ROUNDS=10 node bench/goals.bench.ts
 *   node --cpu-prof --cpu-prof-dir=.bench-profile bench/goals.bench.ts   (the profile command)
 */
import { performance } from "node:perf_hooks";
import { runRenderWorkerJob } from "../automation/render/worker-job.ts";
import type { RenderOutcome } from "../automation/isolation/protocol.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec } from "../model/spec.ts";
import { bareMockRuntime } from "./bare-mock.ts";
import { auth, startBenchService, waitUntilSettled } from "./support.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Row {
  figure: string;
  goal: string;
  measured: string;
  ratio: number | null;
  /** The ratio's limit; null for a row that is a reference only. */
  limit: number | null;
  higherIsBetter?: boolean;
}
const rows: Row[] = [];

// --- Render against the bare mock runtime, same process, same resource count.
{
  const settings = resolvePlatformSettings();
  const spec = validateTenantSpec({
    id: "550e8400-e29b-41d4-a716-446655440000", slug: "bench", displayName: "Bench", tier: "enterprise", region: "eastus",
    adminEmail: "admin@bench.example", requestedBy: "bench@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
  }, { baseDomain: settings.baseDomain });
  // As a render worker renders (its speed-ups included).
  const context = { signal: new AbortController().signal, emit: () => {}, log: () => {} };
  const renderInWorker = async () => {
    const [outcome] = (await runRenderWorkerJob({ kind: "render", renders: [{ spec, settings, lastPhase: 10 }] }, context)) as RenderOutcome[];
    if (!outcome?.ok) throw new Error(`the bench tenant did not render: ${outcome && !outcome.ok ? outcome.error.message : "no outcome"}`);
    return outcome.result;
  };
  const warm = await renderInWorker();
  const count = warm.resources.length;
  await bareMockRuntime(count);
  const render: number[] = [];
  const bare: number[] = [];
  // Interleaved, so a slow moment of the machine hits both.
  for (let i = 0; i < ROUNDS; i++) {
    let t0 = performance.now();
    await renderInWorker();
    render.push(performance.now() - t0);
    t0 = performance.now();
    await bareMockRuntime(count);
    bare.push(performance.now() - t0);
  }
  const r = median(render);
  const b = median(bare);
  rows.push({ figure: `bare mock runtime, ${count} resources in 10 chained components`, goal: "reference", measured: `${b.toFixed(0)} ms`, ratio: null, limit: null });
  rows.push({ figure: `render, enterprise tenant (${count} resources)`, goal: "<= 1.5 x bare", measured: `${r.toFixed(0)} ms`, ratio: r / b, limit: 1.5 });
}

// --- Run overhead: "attempt started" to "phase 1 started" in the audit log, render engine, warm workers.
async function runOverhead(workers: string, tenants: number): Promise<number[]> {
  const service = await startBenchService({ MATIH_WORKERS: workers, MATIH_WORKER_CONCURRENCY: "2", MATIH_MAX_CONCURRENT_OPERATIONS: "2" });
  try {
    // Let the pool warm up, as it does when the service starts well before its first request.
    await new Promise((r) => setTimeout(r, workers === "0" ? 0 : 8000));
    const overheads: number[] = [];
    for (let i = 0; i < tenants; i++) {
      const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { slug: `overhead-${i}`, displayName: `Overhead ${i}`, tier: "free", region: "eastus", adminEmail: `admin@overhead-${i}.example` } });
      const body = res.json() as { id?: string; tenant?: { id: string } };
      const id = (body.tenant?.id ?? body.id)!;
      await waitUntilSettled(service.app, id, 120_000);
      const audit = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${id}/audit`, headers: auth() })).json() as { items: { message: string; createdAt: string }[] };
      const started = audit.items.find((a) => /attempt 1 of \d+ started/.test(a.message));
      const phase = audit.items.find((a) => /^phase 1 .* started/i.test(a.message));
      if (!started || !phase) throw new Error(`audit log of ${id} lacks the attempt or phase 1 start: ${audit.items.map((a) => a.message).join(" | ")}`);
      overheads.push(Date.parse(phase.createdAt) - Date.parse(started.createdAt));
    }
    return overheads;
  } finally {
    await service.close();
  }
}
{
  const cold = median(await runOverhead("0", 2));
  const warm = median(await runOverhead("2", 5));
  rows.push({ figure: "run overhead, a fresh process per operation (MATIH_WORKERS=0)", goal: "reference", measured: `${cold.toFixed(0)} ms`, ratio: null, limit: null });
  rows.push({ figure: "run overhead, attempt start -> phase 1 event, warm workers", goal: "<= 300 ms", measured: `${warm.toFixed(0)} ms`, ratio: warm / 300, limit: 1 });
}

// --- The table.
const header = ["figure", "goal", "measured", "ratio", "result"];
const body = rows.map((row) => [
  row.figure,
  row.goal,
  row.measured,
  row.ratio === null ? "-" : row.ratio.toFixed(2),
  row.limit === null || row.ratio === null ? "-" : (row.higherIsBetter ? row.ratio >= row.limit : row.ratio <= row.limit) ? "pass" : "falls short",
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const b of body) console.log(line(b));
console.log(`\nprofile: node --cpu-prof --cpu-prof-dir=.bench-profile bench/goals.bench.ts  (then open the .cpuprofile in Chrome DevTools)`);
