/**
 * A fleet preview of 1,000 tenants: what a settings change (a new image tag)
 * would do to each, rendered by the warm workers (MATIH_WORKERS=2, both
 * cores). One tenant per tier is provisioned; the rest are copies of their
 * render records with slug and id replaced, so the fleet is real records of
 * the real program. Memory is the resident memory of the service process
 * and its workers together, sampled every 250 ms; "flat" compares the last
 * fifth of the run with the second (the first is the workers warming to it).
 * The entries are taken as each chunk finishes and counted, as a caller that
 * writes them out would, rather than kept whole.
 */
import pg from "pg";
import { RenderEngine } from "../../automation/index.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { cpuSeconds, descendants, rssBytes } from "../processes.ts";
import { createTenant, startBenchService, waitForWarmWorkers, waitUntilSettled } from "../support.ts";
import { atMost, info, mb, type Row } from "./table.ts";

const FLEET = 1000;

export async function fleetPreviewGoal(): Promise<Row[]> {
  const service = await startBenchService({ MATIH_WORKERS: "2" });
  try {
    await waitForWarmWorkers(service.app, 2);
    const client = new pg.Client({ connectionString: service.databaseUrl });
    await client.connect();
    try {
      for (const [t, tier] of TIERS.entries()) {
        const slug = `fleettmpl${tier}`;
        const id = await createTenant(service.app, slug, tier);
        if ((await waitUntilSettled(service.app, id, 120_000)).status !== "ACTIVE") throw new Error(`${slug} did not become ACTIVE`);
        const count = Math.floor(FLEET / TIERS.length) + (t < FLEET % TIERS.length ? 1 : 0) - 1;
        await client.query(
          `INSERT INTO render_states (slug, state)
           SELECT c.slug, replace(replace(r.state::text, $1, c.slug), $2, c.id)::jsonb
           FROM render_states r, (SELECT 'fleet-' || $3 || '-' || lpad(i::text, 4, '0') AS slug, gen_random_uuid()::text AS id FROM generate_series(1, $4::int) AS i) c
           WHERE r.slug = $1`,
          [slug, id, t, count],
        );
      }
    } finally {
      await client.end();
    }
    const engine = service.app.engine;
    if (!(engine instanceof RenderEngine)) throw new Error("the fleet preview needs the render engine");

    const samples: number[] = [];
    const serviceSamples: number[] = [];
    const cpuByPid = new Map<number, { start: number; last: number }>();
    // Which processes are the workers is looked up once a second (a walk of /proc); their memory every 250 ms.
    // Both are kept cheap: the sampler's own garbage would count as the service's memory.
    let pids = [process.pid, ...descendants()];
    const lookup = setInterval(() => (pids = [process.pid, ...descendants()]), 1000);
    const sample = () => {
      samples.push(rssBytes(pids));
      serviceSamples.push(rssBytes([process.pid]));
      for (const pid of pids) {
        const used = cpuSeconds(pid);
        const seen = cpuByPid.get(pid);
        if (seen) seen.last = Math.max(seen.last, used);
        else cpuByPid.set(pid, { start: used, last: used });
      }
    };
    sample();
    const sampler = setInterval(sample, 250);
    const started = performance.now();
    // Entries are counted as they come, not kept: an answer kept whole is 40 KB a tenant, and not the preview's own memory.
    let answered = 0;
    let failed = 0;
    try {
      await engine.previewFleet(resolvePlatformSettings({ images: { defaultTag: "2.0.0" } }), {
        onEntries: (entries) => {
          answered += entries.length;
          failed += entries.filter((e) => !e.ok || e.changes.length === 0).length;
        },
      });
    } finally {
      clearInterval(sampler);
      clearInterval(lookup);
    }
    const seconds = (performance.now() - started) / 1000;
    sample();
    if (answered !== FLEET || failed > 0) throw new Error(`the fleet preview answered for ${answered} tenants, ${failed} failed or listed nothing`);
    const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + (cpuByPid.get(pid)!.last - cpuByPid.get(pid)!.start), 0) / seconds;
    const serviceCores = cpuOf([process.pid]);
    const workerCores = cpuOf([...cpuByPid.keys()].filter((pid) => pid !== process.pid));
    const serviceRss = Math.max(...serviceSamples);
    const peak = Math.max(...samples);
    const fifth = Math.max(1, Math.floor(samples.length / 5));
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const second = mean(samples.slice(fifth, 2 * fifth));
    const last = mean(samples.slice(-fifth));
    return [
      atMost(`fleet preview, ${FLEET.toLocaleString("en")} tenants, 2 warm workers`, "<= 60 s", `${seconds.toFixed(1)} s (${(seconds * 1000 / FLEET).toFixed(0)} ms/tenant)`, seconds / 60, 1),
      // The machine may be shared: what the workers got of it, and their CPU per tenant, say what two free cores would do.
      info("  CPU cores busy during it: service + workers", `${serviceCores.toFixed(2)} + ${workerCores.toFixed(2)} (workers ${((workerCores * seconds * 1000) / FLEET).toFixed(0)} ms CPU/tenant)`),
      atMost("  peak RSS, service + workers", "<= 1 GiB", `${mb(peak)} (service ${mb(serviceRss)}; ${mb(samples[0]!)} at the start)`, peak / 2 ** 30, 1),
      atMost("  memory flat: mean RSS, last fifth / second fifth", "<= 1.10", `${mb(last)} / ${mb(second)}`, last / second, 1.1),
    ];
  } finally {
    await service.close();
  }
}
