/**
 * Run overhead (attempt started -> phase 1 started, from the audit log) with
 * warm workers against a process per operation, and whether the status read
 * and the run overhead stay flat as the database grows from 10 to 10,000
 * tenants: the same service measured, then given 9,990 more tenants, then
 * measured again.
 *
 * The extra tenants are copies of a provisioned one made in SQL (tenant row,
 * its provision run, ten phase rows, its audit rows: what the status read and
 * a run's bookkeeping touch), then ANALYZEd as autovacuum would.
 */
import pg from "pg";
import { loadTest } from "../processes.ts";
import { auth, createTenant, runOverheadMs, startBenchService, waitForWarmWorkers, waitUntilSettled } from "../support.ts";
import { atMost, median, ms, reference, type Row } from "./table.ts";

const TENANTS_LARGE = 10_000;
const RUNS_MEASURED = 8;
const READ = { connections: 50, seconds: 5 };

async function provisionAndMeasure(app: Parameters<typeof createTenant>[0], prefix: string, count: number): Promise<{ ids: string[]; overheads: number[] }> {
  const ids: string[] = [];
  const overheads: number[] = [];
  // One at a time: a run waiting for a busy worker would measure the queue, not the overhead.
  for (let i = 0; i < count; i++) {
    const id = await createTenant(app, `${prefix}-${i}`);
    const settled = await waitUntilSettled(app, id, 120_000);
    if (settled.status !== "ACTIVE") throw new Error(`${prefix}-${i} ended ${settled.status}`);
    const overhead = await runOverheadMs(app, id);
    if (overhead === null) throw new Error(`the audit log of ${prefix}-${i} lacks the attempt or the phase 1 start`);
    ids.push(id);
    overheads.push(overhead);
  }
  return { ids, overheads };
}

export async function coldOverhead(): Promise<Row[]> {
  const service = await startBenchService({ MATIH_WORKERS: "0" });
  try {
    const { overheads } = await provisionAndMeasure(service.app, "cold", 3);
    return [reference("run overhead, a fresh worker process per operation (MATIH_WORKERS=0)", ms(median(overheads)))];
  } finally {
    await service.close();
  }
}

async function copyTenants(databaseUrl: string, templateId: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `CREATE TEMP TABLE copies ON COMMIT DROP AS
         SELECT gen_random_uuid() AS tenant_id, gen_random_uuid() AS run_id, 'copy-' || lpad(i::text, 5, '0') AS slug
         FROM generate_series(1, $1::int) AS i`,
      [count],
    );
    await client.query(
      `INSERT INTO tenants
       SELECT (jsonb_populate_record(NULL::tenants, to_jsonb(t) || jsonb_build_object('id', c.tenant_id, 'slug', c.slug, 'display_name', c.slug || ' Inc', 'admin_email', 'admin@' || c.slug || '.example'))).*
       FROM tenants t, copies c WHERE t.id = $1`,
      [templateId],
    );
    await client.query(
      `INSERT INTO provisioning_runs
       SELECT (jsonb_populate_record(NULL::provisioning_runs, to_jsonb(r) || jsonb_build_object('id', c.run_id, 'tenant_id', c.tenant_id))).*
       FROM provisioning_runs r, copies c WHERE r.tenant_id = $1 AND r.kind = 'provision'`,
      [templateId],
    );
    await client.query(
      `INSERT INTO run_phases
       SELECT (jsonb_populate_record(NULL::run_phases, to_jsonb(p) || jsonb_build_object('run_id', c.run_id))).*
       FROM run_phases p JOIN provisioning_runs r ON r.id = p.run_id AND r.tenant_id = $1 AND r.kind = 'provision', copies c`,
      [templateId],
    );
    await client.query(
      // Each copy binds its actor as the service does (the audit log's trigger checks it) and is sealed into the hash chain at today's time.
      `INSERT INTO provisioning_audit_logs (tenant_id, run_id, entity, phase, actor, from_status, to_status, message, details)
       SELECT c.tenant_id, CASE WHEN a.run_id IS NULL THEN NULL ELSE c.run_id END, a.entity, a.phase, set_config('matih.audit_actor', a.actor, true), a.from_status, a.to_status, a.message, a.details
       FROM provisioning_audit_logs a, copies c WHERE a.tenant_id = $1`,
      [templateId],
    );
    await client.query("COMMIT");
    await client.query("ANALYZE");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

export async function overheadAndScale(): Promise<{ rows: Row[]; scaleRows: Row[] }> {
  const service = await startBenchService({ MATIH_WORKERS: "2" });
  try {
    await waitForWarmWorkers(service.app, 2);
    const url = await service.listen();
    const small = await provisionAndMeasure(service.app, "small", 10);
    const statusUrl = `${url}/api/v1/tenants/${small.ids[0]}/provisioning/status`;
    const smallRead = await loadTest(statusUrl, { ...READ, headers: auth() });

    const t0 = Date.now();
    await copyTenants(service.databaseUrl, small.ids[0]!, TENANTS_LARGE - 10);
    const seeded = (Date.now() - t0) / 1000;
    const large = await provisionAndMeasure(service.app, "large", RUNS_MEASURED);
    const largeRead = await loadTest(statusUrl, { ...READ, headers: auth() });
    for (const r of [smallRead, largeRead]) if (r.failures > 0) throw new Error(`${r.failures} status reads failed under load`);

    const warm = median(small.overheads);
    const warmLarge = median(large.overheads);
    return {
      rows: [atMost("run overhead, attempt start -> phase 1 event, warm workers", "<= 300 ms", ms(warm), warm / 300, 1)],
      scaleRows: [
        reference("status read p99 at 10 tenants (50 connections)", ms(smallRead.p99Ms)),
        atMost(`status read p99 at ${TENANTS_LARGE.toLocaleString("en")} tenants (seeded in ${seeded.toFixed(0)} s)`, "< 1.2 x at 10", ms(largeRead.p99Ms), largeRead.p99Ms / smallRead.p99Ms, 1.2),
        reference("run overhead at 10 tenants (median of 10)", ms(warm)),
        atMost(`run overhead at ${TENANTS_LARGE.toLocaleString("en")} tenants (median of ${RUNS_MEASURED})`, "< 1.2 x at 10", ms(warmLarge), warmLarge / warm, 1.2),
      ],
    };
  } finally {
    await service.close();
  }
}
