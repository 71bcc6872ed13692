/**
 * Fleet drift benchmark: one fleet drift run over BENCH_DRIFT_TENANTS ACTIVE
 * tenants (default 1000) with the render engine, against a fresh database on
 * the local PostgreSQL. Three tenants (one per tier) are provisioned through
 * the API; the rest are copies of them (tenant row and render record, slug
 * and id replaced), so that the fleet is real records of the real program
 * without rendering a thousand times. A tenth of the fleet is made to drift
 * through the simulated-drift API. Prints the run's time, checks per second
 * and the process's memory. Asserts nothing but the run's own counts.
 *
 *   BENCH_DRIFT_TENANTS=1000 MATIH_DRIFT_CONCURRENCY=8 node bench/drift.bench.ts
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { TIERS } from "../model/tiers.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus } from "../test/support/service.ts";

const TENANTS = Number(process.env.BENCH_DRIFT_TENANTS ?? 1000);
const CONCURRENCY = process.env.MATIH_DRIFT_CONCURRENCY ?? "8";
const DRIFTED_SHARE = 0.1;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

const db = await freshDatabase("matih_bench");
const service = await startService(db.url, { MATIH_DRIFT_CONCURRENCY: CONCURRENCY, MATIH_MAX_CONCURRENT_OPERATIONS: CONCURRENCY });
const client = new pg.Client({ connectionString: db.url });
await client.connect();
try {
  const templates: { id: string; slug: string }[] = [];
  for (const tier of TIERS) {
    const slug = `drifttmpl${tier}`;
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug, tier) });
    const id = created.json().tenant.id as string;
    const status = await waitForStatus(service.app, id, settled, 300_000);
    if (status.status !== "ACTIVE") throw new Error(`template tenant ${slug} ended ${status.status}`);
    templates.push({ id, slug });
  }

  const seeded = performance.now();
  for (const [t, template] of templates.entries()) {
    const count = Math.floor(TENANTS / templates.length) + (t < TENANTS % templates.length ? 1 : 0) - 1;
    if (count <= 0) continue;
    // Copies of the template: every occurrence of its slug and id replaced, in the tenant row and in the render record.
    await client.query(
      `WITH copies AS (SELECT gen_random_uuid()::text AS id, 'bd-' || $3 || '-' || lpad(i::text, 4, '0') AS slug FROM generate_series(1, $4) AS i),
            tenants_in AS (
              INSERT INTO tenants SELECT (jsonb_populate_record(NULL::tenants, replace(replace(to_jsonb(t)::text, $1, c.slug), $2, c.id)::jsonb)).*
              FROM tenants t, copies c WHERE t.id = $2::uuid RETURNING id)
       INSERT INTO render_states (slug, state)
       SELECT c.slug, replace(replace(r.state::text, $1, c.slug), $2, c.id)::jsonb FROM render_states r, copies c WHERE r.slug = $1`,
      [template.slug, template.id, t, count],
    );
  }
  const active = (await client.query(`SELECT slug FROM tenants WHERE status = 'ACTIVE' ORDER BY slug`)).rows.map((r) => r.slug as string);
  const toDrift = active.filter((_, i) => i % Math.round(1 / DRIFTED_SHARE) === 0);
  for (const slug of toDrift) {
    const res = await service.app.inject({
      method: "POST", url: `/api/v1/tenants/${slug}/simulated-drift`, headers: auth(),
      payload: { kind: "edit", resource: "namespace-namespace", path: `metadata.labels["matih.ai/edited-by"]`, value: "bench" },
    });
    if (res.statusCode !== 200) throw new Error(`simulated drift of ${slug}: ${res.statusCode} ${res.body}`);
  }
  const seedSeconds = (performance.now() - seeded) / 1000;

  globalThis.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  }, 50);
  const started = performance.now();
  const id = (await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json().id as string;
  let run: any;
  for (;;) {
    run = (await service.app.inject({ method: "GET", url: `/api/v1/drift/runs/${id}`, headers: auth() })).json();
    if (run.status === "SUCCEEDED" || run.status === "FAILED") break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const summary = (await service.app.inject({ method: "GET", url: "/api/v1/drift", headers: auth() })).json();

  console.log(`fleet drift benchmark: ${active.length} ACTIVE tenants (${toDrift.length} drifted), render engine, drift concurrency ${CONCURRENCY}, local Postgres`);
  console.log(`  seeding (copies and simulated drift)   ${seedSeconds.toFixed(1)} s`);
  console.log(`  fleet run ${run.status}: total ${run.total}, checked ${run.checked}, drifted ${run.drifted}, failed ${run.failed}, skipped ${run.skipped}`);
  console.log(`  fleet run took                         ${seconds.toFixed(1)} s  (${(run.checked / seconds).toFixed(0)} tenants/s, poll granularity 0.25 s)`);
  console.log(`  fleet summary                          ${JSON.stringify(summary.counts)}`);
  console.log(`  service process RSS                    before ${mb(before.rss)}, peak ${mb(peakRss)} (+${mb(peakRss - before.rss)})`);
  console.log(`  service process heap used              before ${mb(before.heapUsed)}, peak ${mb(peakHeap)}`);
  if (run.status !== "SUCCEEDED" || run.checked !== active.length || run.drifted !== toDrift.length) process.exitCode = 1;
} finally {
  await client.end();
  await service.close();
  await db.drop();
}
