/**
 * Issue 23's figures at fleet scale, through the API of a service on its own
 * database (render engine, two warm workers):
 *
 * 1. a fleet impact preview of 1,000 tenants, `POST /api/v1/fleet/changes`
 *    with a chart version bump: its wall time and the peak resident memory of
 *    the service process and its workers;
 * 2. the rollout of that change, approved by a second admin (four eyes on):
 *    it completes, `GET /api/v1/fleet?behind=true` is empty, its duration and
 *    peak memory;
 * 3. while the rollout writes, the status read's throughput against the
 *    single-tenant read's, the status read bench's method (autocannon, 50
 *    connections, rounds in turn).
 *
 * The fleet: one tenant per tier provisioned through the API, then copies of
 * each made in SQL (tenant row, provision run, its phases, audit rows and the
 * render engine's record with slug and id replaced; fleet0x0001, …), so that every tenant is
 * real records of the real program that a preview and an update run act on.
 *
 * Memory is the service's process (this one: the app runs in it) plus every
 * process below it except the load generator (autocannon runs as a child
 * process and is not the service), sampled every 250 ms.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { TIERS } from "../../model/tiers.ts";
import { cpuSeconds, descendants, loadTest, rssBytes, type LoadResult } from "../processes.ts";
import { auth, BENCH_TOKEN, createTenant, startBenchService, waitForWarmWorkers, waitUntilSettled } from "../support.ts";
import { atLeast, atMost, info, mb, ms, reference, type Row } from "./table.ts";

const FLEET = 1000;
/** A chart version bump: every tenant's Helm releases change (the change issue 23 names). */
const PATCH = { charts: { version: "9.9.9" } };
/** Waves of the rollout: a canary of 10, then 30, 90, 270, 600; 25 tenants previewed or applied at once. */
const WAVES = { canary: 10, growth: 3, concurrency: 25 };
/**
 * Runs the service executes at once: its defaults (MATIH_WORKER_CONCURRENCY 2,
 * MATIH_MAX_CONCURRENT_OPERATIONS 4), as a service is run; a rollout keeps
 * `WAVES.concurrency` queued. (8 at once measured 1,049 MB at peak.)
 */
const RUNS_AT_ONCE = "2";
const LOAD = { connections: 50, seconds: 4 };
const ROUNDS = 3;
const APPROVER_TOKEN = `bench-approver-${randomBytes(24).toString("base64url")}`;

/** Resident memory of the service and its workers: this process and those below it, the load generator left out. */
class MemorySampler {
  readonly samples: number[] = [];
  /** CPU seconds each process used while sampled: what the shared machine gave the service and its workers. */
  readonly cpu = new Map<number, { start: number; last: number }>();
  private pids: number[] = [process.pid];
  private readonly timers: NodeJS.Timeout[] = [];

  /** CPU seconds of the service process (`service`) or of its workers while sampled. */
  cpuOf(which: "service" | "workers"): number {
    let total = 0;
    for (const [pid, c] of this.cpu) if ((pid === process.pid) === (which === "service")) total += c.last - c.start;
    return total;
  }

  start(): void {
    this.lookup();
    this.sample();
    // The walk of /proc once a second, the memory every 250 ms: both cheap, since the sampler's garbage counts as the service's memory.
    this.timers.push(setInterval(() => this.lookup(), 1000), setInterval(() => this.sample(), 250));
  }

  stop(): number {
    for (const t of this.timers) clearInterval(t);
    this.lookup();
    this.sample();
    return Math.max(...this.samples);
  }

  private lookup(): void {
    this.pids = [process.pid, ...descendants().filter((pid) => !isLoadGenerator(pid))];
    for (const pid of this.pids) {
      const used = cpuSeconds(pid);
      const seen = this.cpu.get(pid);
      if (seen) seen.last = Math.max(seen.last, used);
      else this.cpu.set(pid, { start: used, last: used });
    }
  }

  private sample(): void {
    this.samples.push(rssBytes(this.pids));
  }
}

function isLoadGenerator(pid: number): boolean {
  try {
    return /autocannon|load-runner/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/** `count` copies of a provisioned tenant, in one transaction, as scale.ts makes them plus the render engine's record. */
/** The mean of the `index`th fifth (0-4) of the samples. */
function fifthMean(samples: readonly number[], index: number): number {
  const fifth = Math.max(1, Math.floor(samples.length / 5));
  const part = samples.slice(index * fifth, index === 4 ? samples.length : (index + 1) * fifth);
  return part.reduce((a, b) => a + b, 0) / part.length;
}

async function copyTenant(client: pg.Client, template: { id: string; slug: string }, prefix: string, count: number): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(
      `CREATE TEMP TABLE copies ON COMMIT DROP AS
         SELECT gen_random_uuid() AS tenant_id, gen_random_uuid() AS run_id, $2 || lpad(i::text, 4, '0') AS slug
         FROM generate_series(1, $1::int) AS i`,
      [count, prefix],
    );
    await client.query(
      `INSERT INTO tenants
       SELECT (jsonb_populate_record(NULL::tenants, to_jsonb(t) || jsonb_build_object('id', c.tenant_id, 'slug', c.slug, 'display_name', c.slug || ' Inc', 'admin_email', 'admin@' || c.slug || '.example'))).*
       FROM tenants t, copies c WHERE t.id = $1`,
      [template.id],
    );
    await client.query(
      `INSERT INTO provisioning_runs
       SELECT (jsonb_populate_record(NULL::provisioning_runs, to_jsonb(r) || jsonb_build_object('id', c.run_id, 'tenant_id', c.tenant_id))).*
       FROM provisioning_runs r, copies c WHERE r.tenant_id = $1 AND r.kind = 'provision'`,
      [template.id],
    );
    await client.query(
      `INSERT INTO run_phases
       SELECT (jsonb_populate_record(NULL::run_phases, to_jsonb(p) || jsonb_build_object('run_id', c.run_id))).*
       FROM run_phases p JOIN provisioning_runs r ON r.id = p.run_id AND r.tenant_id = $1 AND r.kind = 'provision', copies c`,
      [template.id],
    );
    await client.query(
      // Each copy binds its actor as the service does (the audit log's trigger checks it) and is sealed into the hash chain.
      `INSERT INTO provisioning_audit_logs (tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details)
       SELECT c.tenant_id, CASE WHEN a.run_id IS NULL THEN NULL ELSE c.run_id END, a.entity, a.phase, set_config('matih.audit_actor', a.actor, true), a.from_status, a.to_status, a.message, a.details
       FROM provisioning_audit_logs a, copies c WHERE a.tenant_id = $1`,
      [template.id],
    );
    await client.query(
      `INSERT INTO render_states (slug, state)
       SELECT c.slug, replace(replace(r.state::text, $1, c.slug), $2, c.tenant_id::text)::jsonb
       FROM render_states r, copies c WHERE r.slug = $1`,
      [template.slug, template.id],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function seedFleet(app: FastifyInstance, databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const [t, tier] of TIERS.entries()) {
      // Copies' slugs are the template's length with no hyphen, so every name derived from one (cut to fit, hashed, _ for -) is the copy's own.
      const slug = `fleet${t}x0000`;
      const id = await createTenant(app, slug, tier);
      if ((await waitUntilSettled(app, id, 180_000)).status !== "ACTIVE") throw new Error(`${slug} did not become ACTIVE`);
      const count = Math.floor(FLEET / TIERS.length) + (t < FLEET % TIERS.length ? 1 : 0) - 1;
      await copyTenant(client, { id, slug }, `fleet${t}x`, count);
    }
    await client.query("ANALYZE");
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM tenants t JOIN render_states r ON r.slug = t.slug WHERE t.status = 'ACTIVE'`);
    if (rows[0].n !== FLEET) throw new Error(`seeded ${rows[0].n} active tenants with records, not ${FLEET}`);
  } finally {
    await client.end();
  }
}

/** A line on stderr as each step ends: the section runs for many minutes. */
const progress = (message: string) => process.stderr.write(`\n  fleet: ${message}`);

async function api(app: FastifyInstance, method: "GET" | "POST", url: string, expected: number, payload?: object, token = BENCH_TOKEN): Promise<any> {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
  if (res.statusCode !== expected) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body.slice(0, 2000)}`);
  return res.json();
}

export async function fleetScaleGoal(): Promise<Row[]> {
  const service = await startBenchService({
    MATIH_WORKERS: "2",
    MATIH_WORKER_CONCURRENCY: RUNS_AT_ONCE,
    MATIH_ADMIN_TOKENS: `bench-approver:${APPROVER_TOKEN}`,
    MATIH_REQUIRE_SEPARATE_APPROVER: "true",
  });
  try {
    const { app } = service;
    await waitForWarmWorkers(app, 2);
    const t0 = Date.now();
    await seedFleet(app, service.databaseUrl);
    const seeded = (Date.now() - t0) / 1000;
    progress(`${FLEET} tenants seeded in ${seeded.toFixed(0)} s`);
    const url = await service.listen();

    // 1. The impact preview, through the API.
    const previewMemory = new MemorySampler();
    previewMemory.start();
    let started = performance.now();
    let change: any;
    let previewPeak = 0;
    try {
      change = await api(app, "POST", "/api/v1/fleet/changes", 201, { settings: PATCH, reason: "bench: chart version bump" });
    } finally {
      previewPeak = previewMemory.stop();
    }
    const previewSeconds = (performance.now() - started) / 1000;
    progress(`preview ${previewSeconds.toFixed(1)} s, peak ${mb(previewPeak)}`);
    const preview = change.preview;
    // What the groups are, so that their count can be explained (a group per tier is expected of a chart bump).
    for (const g of preview.groups) progress(`  group of ${g.tenants} (first ${g.slugs[0]}): ${g.summary}; ${g.changes.map((c: any) => `${c.op} ${c.count} ${c.type.split(":").pop()} [${c.paths.join(", ")}]`).join("; ")}`.slice(0, 400));
    const changing = preview.groups.filter((g: any) => g.summary !== "no change").reduce((n: number, g: any) => n + g.tenants, 0);
    if (preview.selected !== FLEET || preview.failed.length > 0 || preview.notPreviewed.length > 0 || changing !== FLEET || preview.destructive.length > 0) {
      throw new Error(
        `the preview selected ${preview.selected}, changed ${changing}, failed ${preview.failed.length}, did not reach ${preview.notPreviewed.length}, ` +
        `destructive on ${preview.destructive.length} (first: ${JSON.stringify(preview.destructive[0] ?? preview.failed[0] ?? null)})`,
      );
    }

    // 2. The rollout, approved by the other admin.
    const rolloutMemory = new MemorySampler();
    rolloutMemory.start();
    started = performance.now();
    const approved = await api(app, "POST", `/api/v1/fleet/changes/${change.id}/approve`, 202, { waves: WAVES }, APPROVER_TOKEN);
    const rolloutUrl = `/api/v1/fleet/rollouts/${approved.id}`;
    const rollout = () => api(app, "GET", rolloutUrl, 200);
    const settledStatuses = new Set(["COMPLETED", "HALTED", "ABORTED"]);

    // 3. The reads, once the rollout is well under way (past its canary, tenants in flight).
    let r = await rollout();
    while (!settledStatuses.has(r.status) && !(r.currentWave >= 3 && (r.counts.PREVIEWING ?? 0) + (r.counts.APPLYING ?? 0) > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      r = await rollout();
    }
    if (r.status !== "RUNNING") throw new Error(`the rollout was ${r.status} before the reads: ${JSON.stringify(r.counts)} ${r.haltedReason ?? ""}`);
    const countsBefore = { ...r.counts };
    progress(`rollout in wave ${r.currentWave} of ${r.waveCount}, reads start: ${JSON.stringify(r.counts)}`);
    // One tenant for the goal's case (all 50 connections on it), as the status read bench: the newest tenant (a copy, rolled out in its turn); the rollout's writes land on the others meanwhile.
    const fleetPage = await api(app, "GET", "/api/v1/fleet?limit=200", 200);
    const someIds: string[] = fleetPage.items.map((e: { id: string }) => e.id);
    const tenantUrl = `${url}/api/v1/tenants/${someIds[0]}`;
    const single: LoadResult[] = [];
    const status: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      single.push(await loadTest(tenantUrl, { ...LOAD, headers: auth() }));
      status.push(await loadTest(`${tenantUrl}/provisioning/status`, { ...LOAD, headers: auth() }));
    }
    const spreadSingle = await loadTest(url, { ...LOAD, headers: auth(), paths: someIds.map((id) => `/api/v1/tenants/${id}`) });
    const spreadStatus = await loadTest(url, { ...LOAD, headers: auth(), paths: someIds.map((id) => `/api/v1/tenants/${id}/provisioning/status`) });
    r = await rollout();
    const stillRunning = r.status === "RUNNING";
    const countsAfter = { ...r.counts };
    for (const result of [...single, ...status, spreadSingle, spreadStatus]) if (result.failures > 0) throw new Error(`${result.failures} reads failed under load`);
    const done = (counts: Record<string, number>) => (counts.SUCCEEDED ?? 0) + (counts.UNCHANGED ?? 0) + (counts.FAILED ?? 0) + (counts.SKIPPED ?? 0) + (counts.HELD ?? 0);
    const finishedDuringReads = done(countsAfter) - done(countsBefore);

    // The rollout to its end.
    const deadline = Date.now() + 60 * 60_000;
    while (!settledStatuses.has(r.status)) {
      if (Date.now() > deadline) throw new Error(`the rollout did not finish within an hour: ${JSON.stringify(r.counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const before = r.currentWave;
      r = await rollout();
      if (r.currentWave !== before) progress(`rollout in wave ${r.currentWave} of ${r.waveCount} after ${((performance.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(r.counts)}`);
    }
    const rolloutSeconds = (performance.now() - started) / 1000;
    const rolloutPeak = rolloutMemory.stop();
    const behind = await api(app, "GET", "/api/v1/fleet?behind=true&limit=1", 200);
    const succeeded = r.counts.SUCCEEDED ?? 0;

    const mean = (results: LoadResult[]) => results.reduce((sum, x) => sum + x.requestsPerSecond, 0) / results.length;
    const singleRps = mean(single);
    const statusRps = mean(status);
    const rps = (value: number) => `${value.toFixed(0)} req/s`;
    const n = FLEET.toLocaleString("en");
    const rolloutOk = r.status === "COMPLETED" && behind.total === 0 && succeeded === FLEET;
    return [
      info(`fleet of ${n} tenants (${TIERS.length} provisioned, the rest copied in SQL)`, `seeded in ${seeded.toFixed(0)} s`),
      atMost(`fleet impact preview, ${n} tenants, POST /api/v1/fleet/changes`, "<= 60 s", `${previewSeconds.toFixed(1)} s (${preview.groups.length} groups)`, previewSeconds / 60, 1),
      // The machine may be shared: what the service and its workers got of it, and the workers' CPU per tenant, say what two free cores would do.
      info(
        "  CPU cores busy during it: service + workers",
        `${(previewMemory.cpuOf("service") / previewSeconds).toFixed(2)} + ${(previewMemory.cpuOf("workers") / previewSeconds).toFixed(2)} (workers ${((previewMemory.cpuOf("workers") * 1000) / FLEET).toFixed(0)} ms CPU/tenant)`,
      ),
      atMost("  peak RSS, service + workers", "<= 1 GiB", `${mb(previewPeak)} (${mb(previewMemory.samples[0]!)} at the start)`, previewPeak / 2 ** 30, 1),
      // Pass or fail on the outcome: every tenant applied and none behind; the ratio is the share of tenants on the new version.
      atLeast(
        `rollout of ${n} tenants (waves ${WAVES.canary} x${WAVES.growth}, ${WAVES.concurrency} at once, ${RUNS_AT_ONCE} runs at once)`,
        "COMPLETED, 0 behind",
        `${r.status}, ${behind.total} behind, ${succeeded} SUCCEEDED, in ${(rolloutSeconds / 60).toFixed(1)} min`,
        rolloutOk ? 1 : (FLEET - behind.total) / FLEET - 0.001, 1,
      ),
      atMost("  peak RSS over the rollout, service + workers", "<= 1 GiB", mb(rolloutPeak), rolloutPeak / 2 ** 30, 1),
      info("  CPU cores busy during it: service + workers", `${(rolloutMemory.cpuOf("service") / rolloutSeconds).toFixed(2)} + ${(rolloutMemory.cpuOf("workers") / rolloutSeconds).toFixed(2)}`),
      // Bounded rather than growing with the tenants done: the last fifth of the rollout against its second (the first is the workers warming).
      info("  mean RSS over the rollout, last fifth / second fifth", `${mb(fifthMean(rolloutMemory.samples, 4))} / ${mb(fifthMean(rolloutMemory.samples, 1))}`, fifthMean(rolloutMemory.samples, 4) / fifthMean(rolloutMemory.samples, 1)),
      reference(`single-tenant read during the rollout, 50 connections`, `${rps(singleRps)}, p99 ${ms(Math.max(...single.map((x) => x.p99Ms)))}`),
      atLeast("status read throughput during the rollout", ">= 0.8 x single read", `${rps(statusRps)}, p99 ${ms(Math.max(...status.map((x) => x.p99Ms)))}`, statusRps / singleRps, 0.8),
      info(
        "  the rollout during the reads",
        `${stillRunning ? "running" : r.status} throughout, ${finishedDuringReads} tenants finished in them (${countsBefore.PREVIEWING ?? 0} previewing, ${countsBefore.APPLYING ?? 0} applying at the start)`,
      ),
      info(`  spread over ${someIds.length} tenants: status read / single read`, `${rps(spreadStatus.requestsPerSecond)} / ${rps(spreadSingle.requestsPerSecond)}`, spreadStatus.requestsPerSecond / spreadSingle.requestsPerSecond),
    ];
  } finally {
    await service.close();
  }
}
