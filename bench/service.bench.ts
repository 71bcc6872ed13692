/**
 * Service benchmark: N tenants requested at once against a fresh database on
 * the local Postgres, with the render engine. Prints create latency, time to
 * ACTIVE and the process's memory. Asserts nothing.
 *
 *   BENCH_TENANTS=10 node bench/service.bench.ts
 */
import { performance } from "node:perf_hooks";
import { auth, startBenchService, waitUntilSettled } from "./support.ts";

const TENANTS = Number(process.env.BENCH_TENANTS ?? 8);
const CONCURRENCY = process.env.MATIH_WORKER_CONCURRENCY ?? "2";

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
};

const service = await startBenchService({ MATIH_WORKER_CONCURRENCY: CONCURRENCY, MATIH_MAX_CONCURRENT_OPERATIONS: CONCURRENCY });
try {
  const tiers = ["free", "professional", "enterprise"];
  const started = performance.now();
  const creates = await Promise.all(Array.from({ length: TENANTS }, async (_, i) => {
    const t0 = performance.now();
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { slug: `bench-${i}`, displayName: `Bench ${i}`, tier: tiers[i % 3], region: "eastus", adminEmail: `admin@bench-${i}.example` } });
    const body = res.json() as { id?: string; tenant?: { id: string } };
    return { id: (body.tenant?.id ?? body.id)!, createMs: performance.now() - t0, status: res.statusCode };
  }));
  const active = await Promise.all(creates.map(async (c) => {
    const s = await waitUntilSettled(service.app, c.id, 600_000);
    return { ...c, doneMs: performance.now() - started, ok: s.status === "ACTIVE" };
  }));
  const total = performance.now() - started;
  const rss = process.memoryUsage().rss / 2 ** 20;
  console.log(`service benchmark: ${TENANTS} tenants at once, worker concurrency ${CONCURRENCY}, render engine, local Postgres`);
  console.log(`  create (202) latency   p50 ${pct(creates.map((c) => c.createMs), 50).toFixed(0)} ms   p95 ${pct(creates.map((c) => c.createMs), 95).toFixed(0)} ms`);
  console.log(`  time to ACTIVE         p50 ${(pct(active.map((a) => a.doneMs), 50) / 1000).toFixed(1)} s   p95 ${(pct(active.map((a) => a.doneMs), 95) / 1000).toFixed(1)} s`);
  console.log(`  all ACTIVE after       ${(total / 1000).toFixed(1)} s  (${(TENANTS / (total / 1000)).toFixed(2)} tenants/s); ${active.filter((a) => a.ok).length}/${TENANTS} ACTIVE`);
  console.log(`  service process RSS    ${rss.toFixed(0)} MB`);
} finally {
  await service.close();
}
