/**
 * The status read against the single-tenant read, both under autocannon (50
 * connections, in a process of its own) while ten runs are in flight: ten
 * tenants provisioning with the render engine paced to a fraction of the
 * seed's phase durations, so their runs write phase and progress rows the
 * whole time. The tenant read is one of them. The two reads alternate.
 *
 * All 50 connections reading one tenant is the goal's case (a tenant watched
 * by its dashboard and clients) and the one where reads arriving together
 * share a query (server/domain/status-answers.ts). A last round spreads both
 * reads over the ten tenants at random, where sharing rarely happens: its
 * figures show what a read costs without it.
 */
import { loadTest, type LoadResult } from "../processes.ts";
import { auth, createTenant, startBenchService, waitForWarmWorkers } from "../support.ts";
import { atLeast, atMost, info, ms, reference, type Row } from "./table.ts";

const RUNS_IN_FLIGHT = 10;
const LOAD = { connections: 50, seconds: 4 };
/** Rounds of the two reads in turn, so that a slow moment of the shared machine hits both. */
const ROUNDS = 3;
/** 0.08 of the seed's typical phase durations: a run takes about 55 s, longer than the measurement. */
const PACE = "0.08";

export async function statusReadGoal(): Promise<Row[]> {
  const service = await startBenchService({
    MATIH_RENDER_PACE: PACE,
    MATIH_WORKER_CONCURRENCY: String(RUNS_IN_FLIGHT),
    MATIH_MAX_CONCURRENT_OPERATIONS: String(RUNS_IN_FLIGHT),
  });
  try {
    await waitForWarmWorkers(service.app, 2);
    const url = await service.listen();
    const ids: string[] = [];
    for (let i = 0; i < RUNS_IN_FLIGHT; i++) ids.push(await createTenant(service.app, `inflight-${i}`));
    const inFlight = async () => {
      let running = 0;
      for (const id of ids) {
        const status = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${id}/provisioning/status`, headers: auth() })).json();
        if (status.run?.status === "RUNNING" && status.phases.some((p: { status: string }) => p.status !== "PENDING")) running += 1;
      }
      return running;
    };
    const deadline = Date.now() + 120_000;
    while ((await inFlight()) < RUNS_IN_FLIGHT) {
      if (Date.now() > deadline) throw new Error(`fewer than ${RUNS_IN_FLIGHT} runs got going`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const tenantUrl = `${url}/api/v1/tenants/${ids[0]}`;
    const single: LoadResult[] = [];
    const status: LoadResult[] = [];
    // The service's own CPU per answer: what a read costs here, whatever the shared machine gives the service.
    const cpuMicros = { single: 0, status: 0 };
    const measure = async (kind: "single" | "status", target: string, paths?: string[]) => {
      const before = process.cpuUsage();
      const result = await loadTest(target, { ...LOAD, headers: auth(), ...(paths ? { paths } : {}) });
      const used = process.cpuUsage(before);
      cpuMicros[kind] += used.user + used.system;
      return result;
    };
    for (let round = 0; round < ROUNDS; round++) {
      single.push(await measure("single", tenantUrl));
      status.push(await measure("status", `${tenantUrl}/provisioning/status`));
    }
    const answersBefore = service.app.tenants.statusAnswers.stats();
    const spreadSingle = await loadTest(url, { ...LOAD, headers: auth(), paths: ids.map((id) => `/api/v1/tenants/${id}`) });
    const spreadStatus = await loadTest(url, { ...LOAD, headers: auth(), paths: ids.map((id) => `/api/v1/tenants/${id}/provisioning/status`) });
    const answersAfter = service.app.tenants.statusAnswers.stats();
    const stillRunning = await inFlight();
    if (stillRunning < RUNS_IN_FLIGHT) throw new Error(`only ${stillRunning} of ${RUNS_IN_FLIGHT} runs were still in flight at the end; pace them slower`);
    for (const r of [...single, ...status, spreadSingle, spreadStatus]) if (r.failures > 0) throw new Error(`${r.failures} reads failed under load`);

    const mean = (results: LoadResult[]) => results.reduce((sum, r) => sum + r.requestsPerSecond, 0) / results.length;
    const singleRps = mean(single);
    const statusRps = mean(status);
    const statusP99 = Math.max(...status.map((r) => r.p99Ms));
    const rps = (value: number) => `${value.toFixed(0)} req/s`;
    const total = (results: LoadResult[]) => results.reduce((sum, r) => sum + r.requests, 0);
    const singleCpu = cpuMicros.single / total(single);
    const statusCpu = cpuMicros.status / total(status);
    const spread = (key: "reads" | "reused" | "built") => answersAfter[key] - answersBefore[key];
    const queried = spread("reused") + spread("built");
    return [
      reference(`single-tenant read, 50 connections, ${RUNS_IN_FLIGHT} runs in flight`, `${rps(singleRps)}, p99 ${ms(Math.max(...single.map((r) => r.p99Ms)))}`),
      atLeast(`status read throughput, same load`, ">= 0.8 x single read", rps(statusRps), statusRps / singleRps, 0.8),
      atMost(`status read p99, same load`, "<= 20 ms", ms(statusP99), statusP99 / 20, 1),
      info("  service CPU per answer: status read / single read (runs' share included)", `${statusCpu.toFixed(0)} us / ${singleCpu.toFixed(0)} us`, statusCpu / singleCpu),
      info(`  spread over the ${RUNS_IN_FLIGHT} tenants: status read / single read`, `${rps(spreadStatus.requestsPerSecond)} / ${rps(spreadSingle.requestsPerSecond)}, p99 ${ms(spreadStatus.p99Ms)} / ${ms(spreadSingle.p99Ms)}`, spreadStatus.requestsPerSecond / spreadSingle.requestsPerSecond),
      info("    status reads that queried; of those, answers built", `${queried} of ${spread("reads")}; ${spread("built")}`, queried / spread("reads")),
    ];
  } finally {
    await service.close();
  }
}
